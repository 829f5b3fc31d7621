"""Run the RFM summary SQL (:mod:`clvmodel.engines.sql`) in an in-memory DuckDB connection.

Inputs reach the same queries three ways:

- a CSV file (optionally ``.csv.gz``), read by DuckDB with every column as text
  (``all_varchar``), so customer ids keep their leading zeros;
- a Parquet file, read by DuckDB with its own column types;
- a pandas DataFrame, registered in the connection without copying the data.

Everything row-by-row happens inside DuckDB; Python only sees the per-customer result, the
rejected rows and a handful of counts. The connection runs with a memory limit, a thread
count and its own temporary folder: beyond the limit DuckDB spills to disk, so a summary of
any size fits in bounded memory. The pipeline reads the summary back in Arrow record
batches (:meth:`DuckDBSummaryEngine.summary_batches`) or collapsed to distinct rows with
counts (:meth:`DuckDBSummaryEngine.fit_table`). The summary file is written from the
scoring's batches (:meth:`DuckDBSummaryEngine.score_to` with ``summary_to``), or by DuckDB
itself (:meth:`DuckDBSummaryEngine.write_summary`).
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from ..exceptions import InputError, MissingColumnError
from . import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_THREADS,
    auto_memory_limit,
    is_auto,
    is_dataframe,
    sql,
)
from .sql import DUCKDB, ColumnKind, SourceSpec

if TYPE_CHECKING:  # pandas only for a DataFrame input: a file's summary starts without it
    import pandas as pd
    import pyarrow as pa

CSV_SUFFIXES = (".csv", ".csv.gz")

SCAN_MEMORY_LIMIT = "64MB"
"""DuckDB's memory limit while :meth:`DuckDBSummaryEngine.score_to` reads the summary (when
the connection's own is higher). The scan holds one batch at a time, but DuckDB keeps the
pages it has read in memory up to its limit: at 10M customers 243 MiB at the end of the
scoring with the default 256MB, the run's peak (698 MiB; 635 MiB, in the fits, with this)."""

_SIZE_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}

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
    memory_limit : str
        DuckDB's ``memory_limit`` (e.g. ``"1GB"``); work beyond it spills to a temporary
        folder, removed on close. ``"auto"`` (the default) sets it from the number of valid
        input rows once they are counted (:func:`auto_memory_limit`; 256MB until then).
    threads : int
        DuckDB's ``threads``.
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
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        self.columns = tuple(c for c in (customer_col, date_col, amount_col) if c is not None)
        self.has_amount = amount_col is not None
        self._auto = is_auto(memory_limit)
        self._memory_limit = auto_memory_limit(0) if self._auto else str(memory_limit)
        self._summaries: dict[str, bool] = {}  # summary tables built: name -> has holdout
        self._spill: str | None = None
        self.con: Any = None
        try:  # from the folder's creation on, close() removes it (also on a signal)
            self._spill = tempfile.mkdtemp(prefix="clvmodel-duckdb-")
            self.con = duckdb.connect(":memory:")
            try:
                self.con.execute(f"SET memory_limit = {self.dialect.literal(self._memory_limit)}")
            except duckdb.Error as exc:
                raise InputError(
                    f"The memory limit must be a size such as 512MB or 4GB, or auto. "
                    f"Got {memory_limit!r} instead."
                ) from exc
            self.con.execute(f"SET threads = {int(threads)}")
            self.con.execute(f"SET temp_directory = {self.dialect.literal(self._spill)}")
            self.con.execute("SET enable_progress_bar = false")  # stages report progress
            self.con.execute("SET TimeZone = 'UTC'")
            self.con.execute("SET preserve_insertion_order = true")  # CSV row numbers
            if is_dataframe(data):
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
                # A view: each of the few passes over the rows (bounds, ledger, occasions)
                # re-reads the input, rather than holding every classified row in memory.
                "CREATE TEMP VIEW clv_rows AS " + sql.rows_sql("clv_source", self.spec)
            )
        except BaseException:
            self.close()
            raise
        self._final_for: _dt.date | None = None
        self._days_built = False

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
        import pandas as pd

        from ..validation import require_columns

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
        except duckdb.OutOfMemoryException:
            raise  # not the file's fault: the CLI says to raise --memory-limit
        except duckdb.Error as exc:
            raise InputError(f"Could not read {str(path)!r}: {exc}") from exc

    # -- queries ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection and remove its temporary folder."""
        try:
            if self.con is not None:
                self.con.close()
        finally:
            if self._spill is not None:
                shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> DuckDBSummaryEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _days(self) -> str:
        """The rows counted by reason and day (:func:`~clvmodel.engines.sql.day_counts_sql`),
        built on first use: bounds, ledger and last dates read this small table instead of
        each re-reading the input."""
        if not self._days_built:
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE clv_days AS " + sql.day_counts_sql("clv_rows")
            )
            self._days_built = True
            if self._auto:  # the rows are counted: the limit the aggregations need
                ((valid,),) = self.con.execute(
                    "SELECT SUM(n_rows) FROM clv_days WHERE reason IS NULL"
                ).fetchall()
                from ..machine import available_memory_mib

                self._memory_limit = auto_memory_limit(int(valid or 0), available_memory_mib())
                self.con.execute(f"SET memory_limit = {self.dialect.literal(self._memory_limit)}")
        return "clv_days"

    @property
    def memory_limit(self) -> str:
        """The memory limit in force (``"auto"`` resolved once the rows are counted)."""
        return self._memory_limit

    def bounds(self) -> Bounds:
        """Input and valid row counts, first and last valid date."""
        query = sql.bounds_of_days_sql(self._days())
        n, valid, first, last = self.con.execute(query).fetchone()  # type: ignore[misc]
        return Bounds(int(n or 0), int(valid or 0), first, last)

    def last_date_until(self, day: _dt.date) -> _dt.date | None:
        """Last valid transaction date on or before ``day`` (None when there is none)."""
        query = (
            f"SELECT MAX(txn_date) FROM {self._days()} WHERE reason IS NULL AND txn_date <= "
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
        rows = self.con.execute(sql.ledger_of_days_sql(self._days(), observation_end)).fetchall()
        return {reason: int(n) for reason, n in rows}

    def rejects(self, observation_end: _dt.date, *, none: bool = False) -> pd.DataFrame:
        """Rejected rows: ``row``, the original values as text, ``reason``; by row.

        ``none=True`` (the ledger counted no reject) returns the empty table without
        reading the rows again.
        """
        query = sql.rejects_sql("clv_source", self._final(observation_end), self.columns)
        return self.con.execute(query + (" LIMIT 0" if none else "")).df()

    def build_summary(
        self,
        name: str,
        *,
        observation_end: _dt.date,
        calibration_end: _dt.date | None,
        unit_days: float,
        ordered: bool = True,
    ) -> dict[str, int]:
        """Build the summary table ``name`` (ordered by customer id unless not ``ordered``)
        inside the connection.

        ``calibration_end=None`` summarises the whole log to the observation end; otherwise
        the calibration period, with holdout columns. Returns ``customers`` (with a used
        row), ``excluded_customers`` (first occasion after the calibration end) and
        ``n_transactions`` (occasions of the customers kept).
        """
        end = calibration_end or observation_end
        if self._auto:
            self._days()  # the rows counted, for the limit "auto" (once; usually done already)
        if not self._summaries:  # occasions do not depend on the split
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE clv_occasions AS "
                + sql.occasions_sql(self._final(observation_end), has_amount=self.has_amount)
            )
        table = f"clv_summary_{name}"
        summary = partial(
            sql.summary_sql,
            unit_days=unit_days,
            observation_end=observation_end,
            calibration_end=calibration_end,
            has_amount=self.has_amount,
            ordered=ordered,
        )
        if calibration_end is None:
            # One statement, no per-customer table: every customer is kept, and the stats
            # and tracking read the summary (at 10M customers 3 s less than two tables).
            aggregates = sql.customers_sql(
                "clv_occasions", end, has_amount=self.has_amount, holdout=False
            )
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS "
                + summary(f"({aggregates}) AS clv_aggregates")
            )
            stats = sql.summary_stats_sql(table)
        else:
            customers = f"clv_customers_{name}"
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {customers} AS "
                + sql.customers_sql("clv_occasions", end, has_amount=self.has_amount)
            )
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS " + summary(customers))
            stats = sql.stats_sql(customers, end)
        self._summaries[name] = calibration_end is not None
        n, excluded, occasions = self.con.execute(stats).fetchone()  # type: ignore[misc]
        return {
            "customers": int(n),
            "excluded_customers": int(excluded or 0),
            "n_transactions": int(occasions or 0),
        }

    def release(self) -> None:
        """Drop the occasions and per-customer tables (after the summaries and tracking are
        built), so that their memory goes to the steps that follow."""
        self.con.execute("DROP TABLE IF EXISTS clv_occasions")
        for name in self._summaries:
            self.con.execute(f"DROP TABLE IF EXISTS clv_customers_{name}")

    def _summary_table(self, name: str) -> str:
        if name not in self._summaries:
            raise AssertionError(f"Summary {name!r} was not built (call build_summary first).")
        return f"clv_summary_{name}"

    def summary_columns(self, name: str) -> list[str]:
        """Column names of summary ``name``, ``customer_id`` first."""
        rows = self.con.execute(f"DESCRIBE {self._summary_table(name)}").fetchall()
        return [row[0] for row in rows]

    def summary(
        self,
        *,
        observation_end: _dt.date,
        calibration_end: _dt.date | None,
        unit_days: float,
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        """The summary (``customer_id`` a column, ordered) and customer counts."""
        stats = self.build_summary(
            "main",
            observation_end=observation_end,
            calibration_end=calibration_end,
            unit_days=unit_days,
        )
        frame = self.con.execute(f"SELECT * FROM {self._summary_table('main')}").df()
        return frame, stats

    def write_summary(
        self, name: str, path: str | os.PathLike[str], *, metadata: dict[str, str] | None = None
    ) -> int:
        """Write summary ``name`` to ``path`` (Parquet, or CSV for ``.csv``) by DuckDB itself,
        streaming, with ``metadata`` as Parquet key-value metadata; return its row count.

        ``path`` is written as given: write to a temporary name and rename for atomicity.
        """
        table = self._summary_table(name)
        lit = self.dialect.literal(str(path))
        if str(path).lower().endswith(".csv"):
            options = "FORMAT CSV, HEADER true"
        else:
            options = "FORMAT PARQUET, COMPRESSION snappy, ROW_GROUP_SIZE 1000000"
            if metadata:
                pairs = ", ".join(
                    f"{self.dialect.literal(k)}: {self.dialect.literal(v)}"
                    for k, v in metadata.items()
                )
                options += f", KV_METADATA {{{pairs}}}"
        self.con.execute(f"COPY (SELECT * FROM {table}) TO {lit} ({options})")
        (n,) = self.con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # type: ignore[misc]
        return int(n)

    def fit_table(
        self,
        name: str,
        columns: Sequence[str],
        *,
        where: str | None = None,
        spend_sum: bool = False,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Distinct rows of ``columns`` of summary ``name`` and how many customers each has
        (with ``spend_sum``, also their summed ``frequency × monetary_value`` under
        :data:`~clvmodel.engines.sql.SPEND_SUM`).

        What a fit needs: the models collapse identical rows into weights anyway, and here
        the collapse happens in the engine, so only the distinct rows reach Python.
        ``where`` is an optional SQL condition on the summary's columns.
        """
        query = sql.fit_table_sql(
            self._summary_table(name), columns, where=where, spend_sum=spend_sum
        )
        arrays = self.con.execute(query).fetchnumpy()
        weights = np.asarray(arrays.pop("clv_weight"), dtype=np.float64)
        return {c: np.asarray(arrays[c], dtype=np.float64) for c in arrays}, weights

    def summary_batches(
        self, name: str, columns: Sequence[str] | None = None, *, batch_rows: int = 500_000
    ) -> Iterator[pa.RecordBatch]:
        """Summary ``name`` in Arrow record batches of up to ``batch_rows`` rows, in order."""
        q = self.dialect.quote
        cols = ", ".join(q(c) for c in columns) if columns else "*"
        reader = self.con.sql(f"SELECT {cols} FROM {self._summary_table(name)}").to_arrow_reader(
            batch_rows
        )
        for batch in reader:
            if batch.num_rows:
                yield batch

    def score_to(
        self,
        name: str,
        scorer: Any,
        path: Path,
        *,
        metadata: dict[str, str],
        stage: Any = None,
        keep: Sequence[str] = (),
        batch_rows: int = 500_000,
        summary_to: Path | None = None,
    ) -> tuple[int, dict[str, np.ndarray]]:
        """Score summary ``name`` batch by batch into one file (the seam's
        :meth:`~clvmodel.engines.SummaryEngine.score_to`, by
        :func:`clvmodel.pipeline.scoring.score_to_file`); with ``summary_to``, the summary
        streams into that file from the same batches (in the scores' order)."""
        from ..pipeline.scoring import score_to_file

        table = self._summary_table(name)
        ((rows,),) = self.con.execute(f"SELECT COUNT(*) FROM {table}").fetchall()
        columns = scorer.inputs if summary_to is None else self.summary_columns(name)
        with self._memory_at_most(SCAN_MEMORY_LIMIT):
            batches = self.summary_batches(name, columns, batch_rows=batch_rows)
            return score_to_file(
                batches,
                scorer,
                path,
                metadata=metadata,
                stage=stage,
                keep=keep,
                expected_rows=int(rows) if keep else 0,
                summary_to=summary_to,
            )

    def _limit_bytes(self) -> float | None:
        """The connection's memory limit in bytes (None when DuckDB spells it otherwise)."""
        ((text,),) = self.con.execute("SELECT current_setting('memory_limit')").fetchall()
        number, _, unit = str(text).partition(" ")
        try:
            return float(number) * _SIZE_UNITS[unit]
        except (KeyError, ValueError):
            return None

    @contextmanager
    def _memory_at_most(self, limit: str) -> Iterator[None]:
        """Lower the memory limit to ``limit`` inside the block when it is higher, then set
        the engine's own again."""
        own = f"SET memory_limit = {self.dialect.literal(self._memory_limit)}"
        current = self._limit_bytes()
        self.con.execute(f"SET memory_limit = {self.dialect.literal(limit)}")
        lowered = self._limit_bytes()
        if current is None or lowered is None or lowered >= current:
            self.con.execute(own)
            yield
            return
        try:
            yield
        except BaseException:
            # A scan stopped part-way leaves its result open, and the connection refuses
            # other statements until it is closed: the engine is closing with the error.
            with suppress(duckdb.Error):
                self.con.execute(own)
            raise
        self.con.execute(own)

    def tracking(
        self,
        *,
        observation_end: _dt.date,
        calibration_end: _dt.date | None,
        first_date: _dt.date,
        unit_days: float,
        name: str = "main",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Repeat occasions per period since ``first_date``: (0-based period, count) arrays.

        Call after :meth:`summary` or :meth:`build_summary` with the same dates (it reads
        their tables); ``name`` is the summary whose customers count.
        """
        if calibration_end is None:  # every customer counts: no join needed
            if self._summaries.get(name) is not False:
                raise AssertionError(f"Summary {name!r} was not built without a calibration end.")
            query = sql.tracking_of_summary_sql(
                "clv_occasions",
                self._summary_table(name),
                first_date=first_date,
                observation_end=observation_end,
                unit_days=unit_days,
            )
        else:
            query = sql.tracking_sql(
                "clv_occasions",
                f"clv_customers_{name}",
                first_date=first_date,
                end=calibration_end,
                unit_days=unit_days,
            )
        arrays = self.con.execute(query).fetchnumpy()
        return (
            np.asarray(arrays["period"], dtype=np.int64),
            np.asarray(arrays["actual"], dtype=np.int64),
        )
