"""Where the RFM summary runs, and what the pipeline asks of an engine.

:mod:`clvmodel.engines.sql` holds the one definition of the summary as SQL text, with the
few engine-specific spellings behind a :class:`~clvmodel.engines.sql.Dialect`;
:mod:`clvmodel.engines.duckdb` runs it in an in-memory DuckDB connection on DataFrames, CSV
and Parquet files; :mod:`clvmodel.engines.spark` runs it in Spark (``RunConfig.engine =
"spark"``, ``clvmodel run --engine spark``; Python API in :mod:`clvmodel.spark`). Users call
:func:`clvmodel.data.rfm_summary` or :func:`clvmodel.spark.summarise`, not the engines.

The engine seam
---------------
:func:`clvmodel.pipeline.run_pipeline` talks to an engine only through
:class:`SummaryEngine`. An engine answers three questions, and never hands the pipeline a
per-transaction or (apart from batches) a per-customer table:

1. **The summary with its ledger**: :meth:`~SummaryEngine.bounds`,
   :meth:`~SummaryEngine.row_counts` and :meth:`~SummaryEngine.rejects` account for every
   input row (``input = used + rejected``); :meth:`~SummaryEngine.build_summary` builds a
   named summary inside the engine (``"full"``: the whole log to the observation end;
   ``"calibration"``: to the calibration end, with holdout columns) and
   :meth:`~SummaryEngine.write_summary` writes it to a file (Parquet or CSV) without
   passing through Python. :meth:`~SummaryEngine.tracking` gives the repeat purchases per
   period.
2. **The collapsed fit table**: :meth:`~SummaryEngine.fit_table` returns the distinct rows
   of some columns with the number of customers on each (what every fit uses; with the
   summed spend, also what the interval of the run's totals uses).
3. **The scores**: :meth:`~SummaryEngine.score_to` runs the pipeline's scorer
   (:class:`clvmodel.pipeline.scoring.BatchScorer`, pure numpy on one Arrow record batch)
   over a summary where the engine keeps it and writes the scores: the DuckDB engine
   streams :meth:`~SummaryEngine.summary_batches` through it into one file, so memory is
   set by the batch size (and with ``summary_to`` writes the summary file from the same
   batches); the Spark engine runs it in ``mapInArrow`` on the executors,
   which write ``scores.parquet`` as a folder of part files.

The summary tables have the columns of :func:`clvmodel.engines.sql.summary_sql`
(``customer_id``, ``frequency`` BIGINT, ``recency``, ``T``, ``monetary_value`` DOUBLE, and
with a calibration end ``frequency_holdout``, ``monetary_value_holdout``,
``duration_holdout``). An engine is a context manager; ``close`` frees its resources.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

if TYPE_CHECKING:  # annotations only (see is_dataframe)
    import numpy as np
    import pandas as pd

#: DuckDB's memory limit when none is given: ``"auto"``, that is :data:`AUTO_MEMORY_FLOOR`
#: (256MB), or :data:`AUTO_BYTES_PER_ROW` (8) bytes a valid input row when that is more
#: (from 32M rows on; 2.5GB at 318M), at most :data:`AUTO_MEMORY_SHARE` of the memory
#: available. The summary spills to disk beyond it. At 10M
#: customers (31.8M transactions) 256MB costs no more CPU than 1GB (84 vs 80 s, the spill
#: is sequential) and takes the run's peak RSS from 1.21 GiB to 0.68 GiB (bench/RESULTS.md).
DEFAULT_MEMORY_LIMIT = "auto"
AUTO_MEMORY_FLOOR = 256_000_000
AUTO_BYTES_PER_ROW = 8
"""The memory limit ``"auto"``: the larger of ``AUTO_MEMORY_FLOOR`` bytes (DuckDB's
``"256MB"``, megabytes of 10^6 bytes) and ``AUTO_BYTES_PER_ROW`` bytes a valid input row
(:func:`auto_memory_limit`).

DuckDB spills its aggregations to disk, but part of what each needs grows with its input.
With 2 threads the same-day merge needs 48-56MB at 3.2M rows (1M customers) and 96-128MB at
31.8M (10M customers), and the per-customer aggregation 48-64MB and 64-96MB: about 50MB plus
2.5 bytes a row. At 318M rows (100M customers) that is about 0.85GB; the run failed at 256MB
and completed at 3GB (bench/RESULTS.md). Eight bytes a row give 2.5GB there, and leave
every log up to 32M rows at 256MB."""

AUTO_MEMORY_SHARE = 0.5
"""The limit ``"auto"`` takes at most this share of the memory available when the rows are
counted (:func:`clvmodel.machine.available_memory_mib`): the rest is for the fits, the
scoring and the report, and a limit beyond the machine's memory would have the kernel kill
the run rather than DuckDB spill. On this project's 24 GiB machine the cap binds from about
1.5 billion rows on."""

#: The rule of the limit ``"auto"`` in words, for help texts and messages.
AUTO_MEMORY_RULE = (
    "256MB, or 8 bytes a valid input row when that is more, at most half the memory available"
)


def is_auto(memory_limit: object) -> bool:
    """Whether a memory limit as given (``--memory-limit``) is ``"auto"``, in any case."""
    return str(memory_limit).strip().lower() == "auto"


def auto_memory_limit(rows: int, available_mib: float | None = None) -> str:
    """The memory limit ``"auto"`` for ``rows`` valid input rows, as DuckDB reads it
    (``"256MB"``; ``"2547MB"`` at 318M rows): see :data:`AUTO_BYTES_PER_ROW`.

    ``available_mib`` (MiB, e.g. :func:`clvmodel.machine.available_memory_mib`; ``None``:
    unknown, no cap) caps it at :data:`AUTO_MEMORY_SHARE` of that, never below
    :data:`AUTO_MEMORY_FLOOR`.
    """
    wanted = float(max(AUTO_MEMORY_FLOOR, AUTO_BYTES_PER_ROW * rows))
    if available_mib is not None and math.isfinite(available_mib):
        cap = AUTO_MEMORY_SHARE * available_mib * 2.0**20
        wanted = max(float(AUTO_MEMORY_FLOOR), min(wanted, cap))
    return f"{math.ceil(wanted / 1e6)}MB"


#: Threads of the engine when none is given (this project targets 2-core machines).
DEFAULT_THREADS = 2


def is_dataframe(data: object) -> TypeGuard[pd.DataFrame]:
    """Whether ``data`` is a pandas DataFrame, without importing pandas (a DataFrame means
    it is imported): the summary of a file starts before pandas is imported, which then
    loads beside DuckDB's first queries (:mod:`clvmodel.pipeline.run`), so pandas may be
    half-imported here, without its ``DataFrame`` yet."""
    frame = getattr(sys.modules.get("pandas"), "DataFrame", None)
    return frame is not None and isinstance(data, frame)


class SummaryEngine(Protocol):
    """What :func:`clvmodel.pipeline.run_pipeline` needs from an engine (see module doc).

    :class:`clvmodel.engines.duckdb.DuckDBSummaryEngine` is the reference implementation;
    its docstrings give each method's exact contract.
    """

    def bounds(self) -> Any:
        """``input_rows``, ``valid_rows``, ``first_date`` and ``last_date`` (valid rows)."""
        ...

    def row_counts(self, observation_end: _dt.date) -> dict[str | None, int]:
        """Input rows by reject reason; the key ``None`` counts the used rows."""
        ...

    def rejects(self, observation_end: _dt.date, *, none: bool = False) -> pd.DataFrame:
        """Rejected rows: ``row``, the id/date/amount columns as text, ``reason``
        (``none=True``: the ledger counted none, the empty table)."""
        ...

    def build_summary(
        self,
        name: str,
        *,
        observation_end: _dt.date,
        calibration_end: _dt.date | None,
        unit_days: float,
        ordered: bool = True,
    ) -> dict[str, int]:
        """Build summary ``name``; return ``customers``, ``excluded_customers``,
        ``n_transactions``. ``ordered``: by customer id (an engine without a row order may
        ignore it)."""
        ...

    def summary_columns(self, name: str) -> list[str]:
        """Column names of summary ``name``, ``customer_id`` first."""
        ...

    def write_summary(
        self, name: str, path: str | os.PathLike[str], *, metadata: dict[str, str] | None = None
    ) -> int:
        """Write summary ``name`` to ``path`` (``.csv`` or Parquet); return its rows."""
        ...

    def fit_table(
        self,
        name: str,
        columns: Sequence[str],
        *,
        where: str | None = None,
        spend_sum: bool = False,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Distinct rows of ``columns`` (float arrays by name) and their customer counts;
        with ``spend_sum`` also :data:`~clvmodel.engines.sql.SPEND_SUM`, each row's summed
        ``frequency × monetary_value`` (:func:`~clvmodel.engines.sql.fit_table_sql`)."""
        ...

    def summary_batches(
        self, name: str, columns: Sequence[str] | None = None, *, batch_rows: int = 500_000
    ) -> Iterator[Any]:
        """Summary ``name`` as ``pyarrow.RecordBatch`` es of up to ``batch_rows`` rows."""
        ...

    def score_to(
        self,
        name: str,
        scorer: Any,
        path: Any,
        *,
        metadata: dict[str, str],
        stage: Any = None,
        keep: Sequence[str] = (),
        batch_rows: int = 500_000,
        summary_to: Any = None,
    ) -> tuple[int, dict[str, np.ndarray]]:
        """Score summary ``name`` with ``scorer`` (a ``BatchScorer``) into ``path``; return
        the rows written and the ``keep`` score columns as arrays (for the CLV metrics).
        With ``summary_to``, also write the summary there (as :meth:`write_summary`), from
        the same pass where the engine can. Raises ``InputError`` for no customers or a
        non-finite prediction."""
        ...

    def tracking(
        self,
        *,
        observation_end: _dt.date,
        calibration_end: _dt.date | None,
        first_date: _dt.date,
        unit_days: float,
        name: str = "main",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Repeat occasions per period: (0-based period, count) arrays."""
        ...

    def release(self) -> None:
        """Free what only the summaries and tracking needed (called after both)."""
        ...

    def close(self) -> None:
        """Free the engine's resources."""
        ...
