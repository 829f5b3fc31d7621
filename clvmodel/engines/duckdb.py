"""Run the RFM summary SQL (:mod:`clvmodel.engines.sql`) in an in-memory DuckDB connection.

Inputs reach the same queries three ways:

- a CSV file (optionally ``.csv.gz``), read by DuckDB with every column as text
  (``all_varchar``), so customer ids keep their leading zeros;
- a Parquet file, read by DuckDB with its own column types;
- a pandas DataFrame, registered in the connection without copying the data.

Everything row-by-row happens inside DuckDB; Python only sees the per-customer result, the
rejected rows and a handful of counts.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ..exceptions import InputError, MissingColumnError
from ..validation import require_columns
from . import sql
from .sql import DUCKDB, ColumnKind, SourceSpec

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

_TEMPORAL_TYPES = {
    "DATE",
    "TIMESTAMP",
    "TIMESTAMP_S",
    "TIMESTAMP_MS",
    "TIMESTAMP_NS",
    "TIMESTAMP WITH TIME ZONE",
}
_NUMERIC_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
}


def column_kind(duckdb_type: str) -> ColumnKind:
    """Map a DuckDB column type to how :mod:`clvmodel.engines.sql` parses it."""
    name = duckdb_type.upper()
    if name == "VARCHAR" or name.startswith("VARCHAR("):
        return "text"
    if name in _TEMPORAL_TYPES:
        return "temporal"
    if name in _NUMERIC_TYPES or name.startswith("DECIMAL"):
        return "numeric"
    return "other"


def file_format(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from the file name; anything else raises :class:`InputError`."""
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    allowed = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
    raise InputError(
        f"The 'data' argument must be a DataFrame or a file ending in {allowed}. "
        f"Got {str(path)!r} instead."
    )


@dataclass(frozen=True)
class Bounds:
    """Counts and date range of the classified rows (before the observation-end cut)."""

    input_rows: int
    valid_rows: int
    first_date: _dt.date | None
    last_date: _dt.date | None


class DuckDBSummaryEngine:
    """One input, classified once, summarised by the shared SQL.

    Use as a context manager; the in-memory connection is closed on exit.

    Parameters
    ----------
    data : pandas.DataFrame or pathlib.Path
        The transactions.
    customer_col, date_col : str
        Column names of the customer id and the purchase date.
    amount_col : str or None
        Column name of the amount; ``None`` for none.
    date_format : str, optional
        strptime format of text dates; ``None`` for ISO 8601.
    """

    dialect = DUCKDB

    def __init__(
        self,
        data: pd.DataFrame | Path,
        *,
        customer_col: str,
        date_col: str,
        amount_col: str | None,
        date_format: str | None,
    ) -> None:
        self.columns = tuple(c for c in (customer_col, date_col, amount_col) if c is not None)
        self.has_amount = amount_col is not None
        self.con = duckdb.connect(":memory:")
        try:
            self.con.execute("SET TimeZone = 'UTC'")
            self.con.execute("SET preserve_insertion_order = true")  # CSV row numbers
            if isinstance(data, pd.DataFrame):
                self._register_frame(data)
            else:
                self._read_file(Path(data))
            described = self.con.execute("DESCRIBE clv_source").fetchall()
            types = {row[0]: row[1] for row in described}
            self.spec = SourceSpec(
                id_kind=column_kind(types["src_id"]),
                date_kind=column_kind(types["src_date"]),
                amount_kind=column_kind(types["src_amount"]) if self.has_amount else None,
                date_format=date_format,
            )
            self.con.execute(
                "CREATE TEMP TABLE clv_rows AS " + sql.rows_sql("clv_source", self.spec)
            )
        except BaseException:
            self.con.close()
            raise
        self._final_for: _dt.date | None = None

    # -- loading -------------------------------------------------------------------------

    def _source_columns(self, relation: str, row_expr: str | None) -> str:
        """``SELECT [row_expr AS src_row,] <id> AS src_id, ... FROM relation``."""
        q = self.dialect.quote
        names = ("src_id", "src_date", "src_amount")
        picked = [f"{q(c)} AS {n}" for c, n in zip(self.columns, names, strict=False)]
        if row_expr is not None:
            picked.insert(0, f"{row_expr} AS src_row")
        return f"SELECT {', '.join(picked)} FROM {relation}"

    def _register_frame(self, frame: pd.DataFrame) -> None:
        require_columns(frame, self.columns, what="data")
        names = ("src_id", "src_date", "src_amount")
        compact: dict[str, Any] = {"src_row": np.arange(1, len(frame) + 1, dtype=np.int64)}
        for col, name in zip(self.columns, names, strict=False):
            values = frame[col]
            if isinstance(values, pd.DataFrame):
                raise InputError(f"The data has more than one column named {col!r}.")
            if name == "src_date" and isinstance(values.dtype, pd.DatetimeTZDtype):
                values = values.dt.tz_localize(None)  # the wall-clock date in its own zone
            compact[name] = values.reset_index(drop=True)
        self.con.register("clv_frame", pd.DataFrame(compact))
        self.con.execute("CREATE TEMP VIEW clv_source AS SELECT * FROM clv_frame")

    def _read_file(self, path: Path) -> None:
        kind = file_format(path)
        if not path.is_file():
            raise InputError(f"The 'data' file {str(path)!r} does not exist.")
        lit = self.dialect.literal(str(path))
        if kind == "csv":
            reader = f"read_csv({lit}, all_varchar = true, header = true)"
        else:
            reader = f"read_parquet({lit}, file_row_number = true)"
        try:
            present = [
                row[0] for row in self.con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
            ]
            if kind == "parquet":
                present.remove("file_row_number")
            missing = [c for c in self.columns if c not in present]
            if missing:
                names = ", ".join(map(repr, missing))
                listed = ", ".join(map(repr, present)) or "none"
                plural = "s" if len(missing) > 1 else ""
                raise MissingColumnError(
                    f"The file {str(path)!r} is missing the column{plural} {names}. "
                    f"Columns present: {listed}."
                )
            if kind == "csv":
                # A table keeps the file's row order in its rowid, which gives row numbers.
                self.con.execute(
                    "CREATE TEMP TABLE clv_file AS " + self._source_columns(reader, None)
                )
                self.con.execute(
                    "CREATE TEMP VIEW clv_source AS SELECT rowid + 1 AS src_row, * FROM clv_file"
                )
            else:
                self.con.execute(
                    "CREATE TEMP VIEW clv_source AS "
                    + self._source_columns(reader, "file_row_number + 1")
                )
        except duckdb.Error as exc:
            raise InputError(f"Could not read {str(path)!r}: {exc}") from exc

    # -- queries ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> DuckDBSummaryEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bounds(self) -> Bounds:
        """Input and valid row counts, first and last valid date."""
        n, valid, first, last = self.con.execute(sql.bounds_sql("clv_rows")).fetchone()  # type: ignore[misc]
        return Bounds(int(n), int(valid or 0), first, last)

    def last_date_until(self, day: _dt.date) -> _dt.date | None:
        """Last valid transaction date on or before ``day`` (None when there is none)."""
        query = (
            "SELECT MAX(txn_date) FROM clv_rows WHERE reason IS NULL AND txn_date <= "
            + sql.DUCKDB.date_literal(day)
        )
        row = self.con.execute(query).fetchone()
        return row[0] if row else None

    def _final(self, observation_end: _dt.date) -> str:
        if self._final_for != observation_end:
            self.con.execute(
                "CREATE OR REPLACE TEMP VIEW clv_final AS "
                + sql.final_rows_sql("clv_rows", observation_end, has_amount=self.has_amount)
            )
            self._final_for = observation_end
        return "clv_final"

    def row_counts(self, observation_end: _dt.date) -> dict[str | None, int]:
        """Rows by final reason (``None``: used rows)."""
        rows = self.con.execute(sql.ledger_sql(self._final(observation_end))).fetchall()
        return {reason: int(n) for reason, n in rows}

    def rejects(self, observation_end: _dt.date) -> pd.DataFrame:
        """Rejected rows: ``row``, the original values as text, ``reason``; by row."""
        query = sql.rejects_sql("clv_source", self._final(observation_end), self.columns)
        return self.con.execute(query).df()

    def summary(
        self,
        *,
        observation_end: _dt.date,
        calibration_end: _dt.date | None,
        unit_days: float,
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        """The summary (``customer_id`` a column, ordered) and customer counts."""
        end = calibration_end or observation_end
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE clv_occasions AS "
            + sql.occasions_sql(self._final(observation_end), has_amount=self.has_amount)
        )
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE clv_customers AS "
            + sql.customers_sql("clv_occasions", end, has_amount=self.has_amount)
        )
        frame = self.con.execute(
            sql.summary_sql(
                "clv_customers",
                unit_days=unit_days,
                observation_end=observation_end,
                calibration_end=calibration_end,
                has_amount=self.has_amount,
            )
        ).df()
        customers, excluded, occasions = self.con.execute(  # type: ignore[misc]
            sql.stats_sql("clv_customers", end)
        ).fetchone()
        stats = {
            "customers": int(customers),
            "excluded_customers": int(excluded or 0),
            "n_transactions": int(occasions or 0),
        }
        return frame, stats

    def tracking(
        self,
        *,
        observation_end: _dt.date,
        calibration_end: _dt.date | None,
        first_date: _dt.date,
        unit_days: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Repeat occasions per period since ``first_date``: (0-based period, count) arrays.

        Call after :meth:`summary` with the same dates (it reads its tables).
        """
        query = sql.tracking_sql(
            "clv_occasions",
            "clv_customers",
            first_date=first_date,
            end=calibration_end or observation_end,
            unit_days=unit_days,
        )
        arrays = self.con.execute(query).fetchnumpy()
        return (
            np.asarray(arrays["period"], dtype=np.int64),
            np.asarray(arrays["actual"], dtype=np.int64),
        )
