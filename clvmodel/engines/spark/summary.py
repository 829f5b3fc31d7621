"""Run the RFM summary SQL (:mod:`clvmodel.engines.sql`) in Spark.

The input reaches the same queries as in the DuckDB engine, in the :data:`~clvmodel.engines.
sql.SPARK` dialect:

- CSV files (a file, a folder or a glob; gzipped or not), read with every column as text,
  so customer ids keep their leading zeros;
- Parquet files (a file, a folder or a glob), read with their own column types;
- a Spark DataFrame.

Every row-by-row step runs in Spark; the driver sees a handful of counts, the per-period
tracking counts and the rejected rows. The input is read once for the summary: the
classified rows are grouped by reason, customer and day in one pass
(:func:`~clvmodel.engines.spark.exact.grouped_sql`, amounts summed exactly as integer limbs
rather than in Spark's slow DECIMAL(38, 18)), and that table, persisted (memory, spilling
to disk), answers the bounds, the ledger and the occasions; the per-customer aggregates and
the summaries are persisted too, and the grouped rows are released once they are built
(:meth:`SparkSummaryEngine.release`). The rejects read the input again, only when some row
is rejected. Queries on persisted tables use no CTEs: Spark 4 does not substitute a
persisted table read inside a CTE definition and would recompute it from the input.

Row numbers
-----------
``row`` in the rejects is the 1-based position of the row in the input: for files, in the
files sorted by path, then in file order; for a DataFrame, in the order of its partitions.
Spark gives each row a cheap unique key (``monotonically_increasing_id``: partition, then
position in it); keys are turned into positions only for the rejected rows, from the row
counts of each file block (a second, light pass over the input, made only when some row is
rejected).
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ...exceptions import InputError, MissingColumnError
from .. import sql
from ..duckdb import Bounds
from ..sql import SourceSpec
from . import exact
from .dialect import SPARK
from .sources import (
    _first_line,
    _local_missing,
    _to_pandas,
    column_kind,
    file_format,
    require_spark_columns,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


_SOURCES = ("src_id", "src_date", "src_amount")


class SparkSummaryEngine:
    """One input, classified once, summarised by the shared SQL in Spark.

    The same questions as :class:`~clvmodel.engines.duckdb.DuckDBSummaryEngine`:
    :meth:`bounds`, :meth:`row_counts`, :meth:`rejects`, :meth:`summary` (here a Spark
    DataFrame) and :meth:`tracking`. Use as a context manager: on exit the persisted tables
    are released and the temporary views dropped.

    Parameters
    ----------
    spark : SparkSession
        The session to run in.
    data : pyspark.sql.DataFrame or str
        The transactions: a Spark DataFrame, or a path, folder or glob Spark can read.
    customer_col, date_col, amount_col, date_format
        As for :func:`clvmodel.data.summarise`.
    """

    dialect = SPARK

    def __init__(
        self,
        spark: SparkSession,
        data: DataFrame | str,
        *,
        customer_col: str,
        date_col: str,
        amount_col: str | None,
        date_format: str | None,
    ) -> None:
        from pyspark.sql import functions as F

        self.spark = spark
        self.columns = tuple(c for c in (customer_col, date_col, amount_col) if c is not None)
        self.has_amount = amount_col is not None
        self._prefix = f"clv_{uuid.uuid4().hex[:12]}"
        self._persisted: list[DataFrame] = []
        self._views: list[str] = []
        self._is_file = isinstance(data, str)
        frame = self._read(data) if isinstance(data, str) else self._check_frame(data)
        q = self.dialect.quote
        keyed = frame.select(
            F.monotonically_increasing_id().alias("src_row"),
            *[F.col(q(c)).alias(n) for c, n in zip(self.columns, _SOURCES, strict=False)],
        )
        self._frame = frame
        types = {f.name: f.dataType for f in keyed.schema.fields}
        try:
            self.spec = SourceSpec(
                id_kind=column_kind(types["src_id"]),
                date_kind=column_kind(types["src_date"]),
                amount_kind=column_kind(types["src_amount"]) if self.has_amount else None,
                date_format=date_format,
            )
            self._source = self._view("source", keyed)
            self._rows = self._view(
                "rows", self.spark.sql(sql.rows_sql(self._source, self.spec, SPARK))
            )
        except BaseException:
            self.close()
            raise
        self._final_for: _dt.date | None = None
        self._grouped: DataFrame | None = None
        self._days_view: str | None = None
        self._occasions_for: _dt.date | None = None
        self._summaries: dict[str, DataFrame] = {}

    # -- loading -------------------------------------------------------------------------

    def _read(self, path: str) -> DataFrame:
        kind = file_format(path)
        if _local_missing(path):
            raise InputError(f"The 'data' file {path!r} does not exist.")
        from pyspark.errors import PySparkException

        try:
            reader = self.spark.read
            if kind == "csv":
                frame = reader.option("header", "true").option("inferSchema", "false").csv(path)
            else:
                frame = reader.parquet(path)
        except PySparkException as exc:
            raise InputError(f"Could not read {path!r}: {_first_line(exc)}") from exc
        present = list(frame.columns)
        missing = [c for c in self.columns if c not in present]
        if missing:
            names = ", ".join(map(repr, missing))
            listed = ", ".join(map(repr, present)) or "none"
            plural = "s" if len(missing) > 1 else ""
            raise MissingColumnError(
                f"The file {path!r} is missing the column{plural} {names}. "
                f"Columns present: {listed}."
            )
        # File order: by path, then by position in the file (see the module notes).
        return frame.select(
            *[frame[self.dialect.quote(c)] for c in self.columns],
            frame["_metadata.file_path"].alias("_clv_file"),
            frame["_metadata.file_block_start"].alias("_clv_block"),
        )

    def _check_frame(self, frame: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        require_spark_columns(frame, self.columns)
        present = list(frame.columns)
        for col in self.columns:
            if present.count(col) > 1:
                raise InputError(f"The data has more than one column named {col!r}.")
        return frame.select(
            *[frame[self.dialect.quote(c)] for c in self.columns],
            F.lit("").alias("_clv_file"),
            F.spark_partition_id().cast("long").alias("_clv_block"),
        )

    def _view(self, name: str, frame: DataFrame) -> str:
        view = f"{self._prefix}_{name}"
        frame.createOrReplaceTempView(view)
        self._views.append(view)
        return view

    def _table(self, name: str, query: str) -> str:
        """Persist ``query`` (memory, then disk) under a temporary view; its name."""
        return self._view(name, self._persist(self.spark.sql(query)))

    def _persist(self, frame: DataFrame) -> DataFrame:
        from pyspark import StorageLevel

        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        self._persisted.append(frame)
        return frame

    def _occasions_table(self) -> str:
        """The rows grouped by reason, customer and day (:func:`~clvmodel.engines.spark.
        exact.grouped_sql`), persisted: one pass over the input answers the bounds and the
        ledger of any observation end (through :meth:`_days`) and holds the purchase
        occasions of every valid row."""
        view = f"{self._prefix}_grouped"
        if self._grouped is None:
            query = exact.grouped_sql(self._rows, has_amount=self.has_amount)
            self._grouped = self._persist(self.spark.sql(query))
            self._view("grouped", self._grouped)
        return view

    def _days(self) -> str:
        """The rows counted by reason and day (a few thousand rows), persisted."""
        if self._days_view is None:
            self._days_view = self._table("days", exact.days_sql(self._occasions_table()))
        return self._days_view

    # -- queries ---------------------------------------------------------------------------

    def release(self) -> None:
        """Release the grouped rows (the occasions) once the summaries, their statistics
        and the tracking counts are built: the per-customer tables read from them are
        computed by then, and Spark keeps a persisted table whose blocks are all computed
        when a table it was built from is released."""
        if self._grouped is not None and self._summaries:
            self._grouped.unpersist()
            self._persisted.remove(self._grouped)

    def close(self) -> None:
        """Release the persisted tables and drop the temporary views."""
        for frame in self._persisted:
            frame.unpersist()
        for view in self._views:
            self.spark.catalog.dropTempView(view)
        self._persisted.clear()
        self._views.clear()

    def __enter__(self) -> SparkSummaryEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _one(self, query: str) -> Any:
        return self.spark.sql(query).collect()[0]

    def bounds(self) -> Bounds:
        """Input and valid row counts, first and last valid date."""
        n, valid, first, last = self._one(sql.bounds_of_days_sql(self._days()))
        return Bounds(int(n or 0), int(valid or 0), first, last)

    def last_date_until(self, day: _dt.date) -> _dt.date | None:
        """Last valid transaction date on or before ``day`` (None when there is none)."""
        query = (
            f"SELECT MAX(txn_date) FROM {self._days()} WHERE reason IS NULL AND txn_date <= "
            + SPARK.date_literal(day)
        )
        return self._one(query)[0]

    def _final(self, observation_end: _dt.date) -> str:
        if self._final_for != observation_end:
            query = sql.final_rows_sql(
                self._rows, observation_end, has_amount=self.has_amount, d=SPARK
            )
            self._view("final", self.spark.sql(query))
            self._final_for = observation_end
        return f"{self._prefix}_final"

    def row_counts(self, observation_end: _dt.date) -> dict[str | None, int]:
        """Rows by final reason (``None``: used rows)."""
        query = sql.ledger_of_days_sql(self._days(), observation_end, SPARK)
        rows = self.spark.sql(query).collect()
        return {reason: int(n) for reason, n in rows}

    def rejects(self, observation_end: _dt.date, *, none: bool = False) -> pd.DataFrame:
        """Rejected rows: ``row``, the original values as text, ``reason``; by row.

        ``none=True`` (the ledger counted no reject) returns the empty table without a job
        over the rows."""
        query = sql.rejects_sql(self._source, self._final(observation_end), self.columns, SPARK)
        if none:
            query += " LIMIT 0"
        frame = _to_pandas(self.spark.sql(query))
        if not frame.empty:
            frame["row"] = self._positions(frame["row"].to_numpy(dtype=np.int64))
            frame = frame.sort_values("row", kind="stable").reset_index(drop=True)
        frame["row"] = frame["row"].astype(np.int64)
        return frame

    def _positions(self, keys: np.ndarray) -> np.ndarray:
        """1-based input positions of the rows with these ``monotonically_increasing_id``
        keys, from the row counts of each (file, block)."""
        from pyspark.sql import functions as F

        keyed = self._frame.select(
            "_clv_file", "_clv_block", F.monotonically_increasing_id().alias("k")
        )
        blocks = _to_pandas(
            keyed.groupBy("_clv_file", "_clv_block").agg(
                F.min("k").alias("first_key"), F.count("*").alias("n")
            )
        ).sort_values(["_clv_file", "_clv_block"], kind="stable")
        offsets = np.cumsum(blocks["n"].to_numpy()) - blocks["n"].to_numpy()
        by_key = np.argsort(blocks["first_key"].to_numpy(), kind="stable")
        first = blocks["first_key"].to_numpy()[by_key]
        block = by_key[np.searchsorted(first, keys, side="right") - 1]
        return offsets[block] + (keys - blocks["first_key"].to_numpy()[block]) + 1

    def build_summary(
        self,
        name: str,
        *,
        observation_end: _dt.date,
        calibration_end: _dt.date | None,
        unit_days: float,
        ordered: bool = True,
    ) -> dict[str, int]:
        """Build (and persist) the summary ``name``; return ``customers``,
        ``excluded_customers`` and ``n_transactions`` (as the DuckDB engine).

        The per-customer aggregates are persisted, and the summary too; ``ordered`` sorts
        it by customer id (a distributed sort: the run asks for none, callers match rows by
        customer id)."""
        end = calibration_end or observation_end
        holdout = calibration_end is not None
        occasions = self._occasions(observation_end)
        customers = self._table(
            f"customers_{name}",
            exact.customers_sql(
                occasions, end, has_amount=self.has_amount, d=SPARK, holdout=holdout
            ),
        )
        amounts = self._view(
            f"amounts_{name}",
            self.spark.sql(
                exact.amounts_sql(customers, has_amount=self.has_amount, holdout=holdout)
            ),
        )
        query = sql.summary_sql(
            amounts,
            unit_days=unit_days,
            observation_end=observation_end,
            calibration_end=calibration_end,
            has_amount=self.has_amount,
            d=SPARK,
            ordered=ordered,
        )
        self._summaries[name] = self.spark.table(self._table(f"summary_{name}", query))
        n, excluded, occasions = self._one(sql.stats_sql(customers, end, SPARK))
        return {
            "customers": int(n),
            "excluded_customers": int(excluded or 0),
            "n_transactions": int(occasions or 0),
        }

    def _occasions(self, observation_end: _dt.date) -> str:
        """The purchase occasions on or before ``observation_end`` (a view)."""
        view = f"{self._prefix}_occasions"
        if self._occasions_for != observation_end:
            query = exact.occasions_sql(self._occasions_table(), observation_end, SPARK)
            self._view("occasions", self.spark.sql(query))
            self._occasions_for = observation_end
        return view

    def summary_frame(self, name: str) -> DataFrame:
        """The summary ``name`` as a Spark DataFrame (ordered by customer id)."""
        if name not in self._summaries:
            raise InputError(f"No summary {name!r} was built; call build_summary first.")
        return self._summaries[name]

    def summary(
        self,
        *,
        observation_end: _dt.date,
        calibration_end: _dt.date | None,
        unit_days: float,
    ) -> tuple[DataFrame, dict[str, int]]:
        """The summary as a Spark DataFrame and customer counts (summary ``"main"``)."""
        stats = self.build_summary(
            "main",
            observation_end=observation_end,
            calibration_end=calibration_end,
            unit_days=unit_days,
        )
        return self.summary_frame("main"), stats

    def summary_columns(self, name: str) -> list[str]:
        """Column names of summary ``name``, ``customer_id`` first."""
        return list(self.summary_frame(name).columns)

    def _arrow(self, name: str, columns: Sequence[str] | None = None) -> pa.Table:
        frame = self.summary_frame(name)
        if columns:
            frame = frame.select(*[self.dialect.quote(c) for c in columns])
        if hasattr(frame, "toArrow"):  # Spark 4
            return frame.toArrow()
        return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)

    def write_summary(
        self, name: str, path: str | os.PathLike[str], *, metadata: dict[str, str] | None = None
    ) -> int:
        """Write summary ``name`` to ``path`` as one Parquet file (CSV for ``.csv``), with
        ``metadata`` as Parquet key-value metadata, from the driver (as the DuckDB engine's
        file); return its rows. For a folder of part files written by the executors, use
        ``summary_frame(name).write.parquet(...)``."""
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        table = self._arrow(name)
        if str(path).lower().endswith(".csv"):
            pcsv.write_csv(table, str(path))
        else:
            if metadata:
                schema_meta = dict(table.schema.metadata or {})
                schema_meta.update({k.encode(): v.encode() for k, v in metadata.items()})
                table = table.replace_schema_metadata(schema_meta)
            pq.write_table(table, str(path), compression="snappy", row_group_size=1_000_000)
        return table.num_rows

    def fit_table(
        self,
        name: str,
        columns: Sequence[str],
        *,
        where: str | None = None,
        spend_sum: bool = False,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Distinct rows of ``columns`` of summary ``name`` and their customer counts (with
        ``spend_sum``, also their summed ``frequency × monetary_value``), collapsed in Spark
        and ordered by the columns (as the DuckDB engine orders them, so that a fit on them
        is the local fit)."""
        self.summary_frame(name)
        view = f"{self._prefix}_summary_{name}"
        query = sql.fit_table_sql(view, columns, where=where, spend_sum=spend_sum, d=SPARK)
        table = _to_pandas(self.spark.sql(query))
        weights = table.pop("clv_weight").to_numpy(dtype=np.float64)
        return {c: table[c].to_numpy(dtype=np.float64) for c in table.columns}, weights

    def summary_batches(
        self, name: str, columns: Sequence[str] | None = None, *, batch_rows: int = 500_000
    ) -> Iterator[pa.RecordBatch]:
        """Summary ``name`` in Arrow record batches of up to ``batch_rows`` rows, in order.

        The rows come to the driver (the pipeline's holdout check reads the calibration
        summary so); scoring runs on the executors (:meth:`score_to`)."""
        for batch in self._arrow(name, columns).to_batches(max_chunksize=batch_rows):
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
        """Score summary ``name`` on the executors and write the scores (Parquet: a folder
        of part files); see :func:`clvmodel.engines.spark.score.score_to`. ``batch_rows``
        is the local engine's knob: Spark's Arrow batches follow
        ``spark.sql.execution.arrow.maxRecordsPerBatch``. ``summary_to``: the summary is
        written there first (:meth:`write_summary`, atomically)."""
        from ...io import atomic_write_with
        from .score import score_to

        if summary_to is not None:
            atomic_write_with(
                summary_to, lambda tmp: self.write_summary(name, tmp, metadata=metadata)
            )
        frame = self.summary_frame(name)
        return score_to(frame, scorer, path, metadata=metadata, stage=stage, keep=keep)

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

        Call after :meth:`build_summary` with the same dates (it reads its tables);
        ``name`` is the summary whose customers count.
        """
        occasions = self._occasions(observation_end)
        customers = f"{self._prefix}_customers_{name}"
        if calibration_end is None:  # every customer counts: no join needed
            query = sql.tracking_all_sql(
                occasions, customers, first_date=first_date, unit_days=unit_days, d=SPARK
            )
        else:
            query = sql.tracking_sql(
                occasions,
                customers,
                first_date=first_date,
                end=calibration_end,
                unit_days=unit_days,
                d=SPARK,
            )
        rows = self.spark.sql(query).collect()
        return (
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=np.int64),
        )
