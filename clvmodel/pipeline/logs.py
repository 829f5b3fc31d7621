"""``clvmodel score``, ``fit`` and ``compare`` on a transaction log, streaming as the run does.

:func:`clvmodel.inputs.load_input` summarises a log into a pandas DataFrame, a row per
customer (about 2 GB at 10M customers before scoring starts). Here the summary stays in
the engine (DuckDB, with its memory limit and spilling): :func:`score_log` reads it in
Arrow record batches and writes each batch's scores before reading the next
(:func:`clvmodel.pipeline.scoring.score_to_file`), and :func:`fit_rows_of_log` reads only
the distinct rows a fit needs, with their customer counts. The rows are accounted for as
in :func:`clvmodel.data.summarise`: the same ledger, the same rejected rows.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data import _engine_errors, account_rows, check_summary, open_log
from ..engines import DEFAULT_MEMORY_LIMIT
from ..engines.duckdb import DuckDBSummaryEngine
from ..exceptions import InputError
from ..ledger import RowLedger
from ..progress import Stages
from ..units import rate_per_unit, unit_days

if TYPE_CHECKING:
    import pandas as pd

    from ..models.base import PurchaseModel
    from ..models.gamma_gamma import GammaGammaModel

#: The summary table inside the engine.
NAME = "full"


@dataclass(frozen=True)
class LogRows:
    """How a transaction log was read: every row accounted for.

    Attributes
    ----------
    ledger : RowLedger
        Input rows = used + rejected, by reason.
    rejects : DataFrame
        The rejected rows (``row``, the values as text, ``reason``).
    customers : int
        Customers summarised.
    unit : str
        The summary's time unit.
    observation_end : datetime.date
    """

    ledger: RowLedger
    rejects: pd.DataFrame
    customers: int
    unit: str
    observation_end: _dt.date


@contextmanager
def summarised_log(
    path: str | Path,
    *,
    freq: str,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = "amount",
    date_format: str | None = None,
    observation_end: str | None = None,
    calibration_end: str | None = None,
    stages: Stages | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> Iterator[tuple[DuckDBSummaryEngine, LogRows]]:
    """Summarise the log at ``path`` inside a DuckDB engine (ordered by customer id, as
    :func:`clvmodel.data.summarise`), yield the engine and how its rows were read, and
    close the engine on exit. The arguments are those of :func:`clvmodel.data.summarise`;
    with ``calibration_end`` the summary is the calibration period's, with its holdout
    columns; ``memory_limit`` is DuckDB's (``--memory-limit``)."""
    engine, source, unit, obs_arg, cal_arg = open_log(
        str(path),
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        freq=freq,
        observation_end=observation_end,
        calibration_end=calibration_end,
        date_format=date_format,
        memory_limit=memory_limit,
    )
    stages = stages or Stages()
    with engine:
        with stages.stage("summary") as st, _engine_errors():
            bounds, obs, ledger = account_rows(engine, source, obs_arg, cal_arg)
            stats = engine.build_summary(
                NAME, observation_end=obs, calibration_end=cal_arg, unit_days=unit_days(unit)
            )
            rejects = engine.rejects(obs, none=ledger.rejected_rows == 0)
            customers = stats["customers"] - stats["excluded_customers"]
            check_summary(len(rejects), customers, ledger, stats, bounds, cal_arg)
            rejects["row"] = rejects["row"].astype(np.int64)
            engine.release()
            st.rows = ledger.input_rows
            st.detail = f"{customers:,} customers"
        yield engine, LogRows(ledger, rejects, customers, unit, obs)


def check_scoring(
    purchase: PurchaseModel, spend: GammaGammaModel | None, *, horizon: float, step: float
) -> None:
    """The checks of :func:`clvmodel.clv.score` on its models and horizon, which
    :func:`score_log` makes too: call it before :func:`summarised_log` to fail before the
    summary rather than after it."""
    from ..clv import _check_models
    from ..horizon import _grid

    _check_models(purchase, spend)
    purchase._check_fitted()
    _grid(horizon, step)


def score_log(
    engine: DuckDBSummaryEngine,
    rows: LogRows,
    purchase: PurchaseModel,
    spend: GammaGammaModel | None,
    target: str | Path,
    *,
    horizon: float,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    step: float = 1.0,
    stages: Stages | None = None,
    intervals: float | None = None,
) -> tuple[int, dict[str, Any] | None]:
    """Score the summary of :func:`summarised_log` into ``target`` (Parquet or CSV),
    batch by batch, atomically; return the customers scored and, with ``intervals``, the
    totals with their interval.

    The columns and values are those of :func:`clvmodel.clv.score` on the same summary
    (the two share :func:`clvmodel.clv.score_arrays`), in the same order (by customer id).
    ``intervals`` (a level, e.g. 0.9) adds each prediction's delta-method interval, as
    :func:`clvmodel.intervals.prediction_intervals` gives it
    (:class:`~clvmodel.pipeline.uncertainty.IntervalScorer`); the totals' interval comes
    from the summary's distinct rows (:func:`~clvmodel.pipeline.uncertainty.run_totals`).
    """
    from .scoring import BatchScorer

    check_scoring(purchase, spend, horizon=horizon, step=step)
    model_unit = purchase.time_unit_
    if model_unit and model_unit != rows.unit:
        raise InputError(
            f"The data is in unit {rows.unit!r} but the model was fitted in {model_unit!r}: "
            f"summarise the data with freq={model_unit!r}."
        )
    rate = rate_per_unit(discount_rate, rows.unit) if discount_rate != 0 else 0.0
    options = {"horizon": horizon, "per_unit_rate": rate, "margin": margin, "step": step}
    if intervals is None:
        scorer = BatchScorer(purchase, spend, **options)
    else:
        from .uncertainty import IntervalScorer

        scorer = IntervalScorer(
            purchase, spend, **options, level=intervals, unit=rows.unit, discount_rate=discount_rate
        )
    stages = stages or Stages()
    with stages.stage("score", total=rows.customers) as st:
        n, _ = engine.score_to(NAME, scorer, Path(target), metadata={}, stage=st)
    if n != rows.customers:
        raise AssertionError(f"{n:,} customers scored of {rows.customers:,} summarised.")
    if intervals is None:
        return n, None
    from .fits import collapsed_rows
    from .uncertainty import run_totals

    collapsed = collapsed_rows(engine, NAME, tuple(purchase.columns), spend=spend is not None)
    totals = run_totals(collapsed, purchase, spend, **options, level=intervals)
    if "unavailable" in totals:
        raise InputError(totals["unavailable"])
    return n, totals


def fit_rows_of_log(
    engine: DuckDBSummaryEngine, columns: Sequence[str], *, time_unit: str
) -> pd.DataFrame:
    """The distinct rows of ``columns`` of the summary with their customer counts in a
    ``weights`` column: what a model's ``fit`` reads (it would collapse a full summary to
    these rows itself), with the summary's time unit in ``attrs``."""
    import pandas as pd

    arrays, weights = engine.fit_table(NAME, columns)
    frame = pd.DataFrame({**arrays, "weights": weights})
    if "frequency" in frame:
        frame["frequency"] = frame["frequency"].astype(np.int64)
    frame.attrs["time_unit"] = time_unit
    return frame


def compared_rows_of_log(engine: DuckDBSummaryEngine, *, time_unit: str) -> pd.DataFrame:
    """:func:`fit_rows_of_log` on the columns a model comparison reads (the calibration
    columns, and the holdout columns when the summary has them), for
    :func:`clvmodel.compare.compare_models` with ``weights="weights"``."""
    from .fits import COMPARED_COLUMNS

    columns = [c for c in engine.summary_columns(NAME) if c in COMPARED_COLUMNS]
    return fit_rows_of_log(engine, columns, time_unit=time_unit)


def log_stages(say: Callable[[str], None], command: str) -> Stages:
    """One line per finished stage, ``clvmodel COMMAND: stage: seconds, rows``, as the run
    prints them (a bar as well on a terminal)."""
    return Stages(lambda message: say(f"clvmodel {command}: {message}"))
