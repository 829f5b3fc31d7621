"""clvmodel on Apache Spark: the summary, the fit table and scoring as Spark jobs.

The same job as the local engine, for logs that outgrow one machine. Functions take and
return Spark DataFrames::

    from clvmodel import BetaGeoModel, GammaGammaModel
    from clvmodel import spark as clv_spark

    result = clv_spark.summarise(spark.read.parquet("s3://bucket/transactions/"))
    summary = result.summary                      # a Spark DataFrame, one row per customer
    bgnbd = BetaGeoModel().fit(summary)           # collapsed in Spark, fitted on the driver
    spend = GammaGammaModel().fit(summary)
    scores = clv_spark.score(summary, bgnbd, spend_model=spend, horizon=52)
    scores.write.parquet("s3://bucket/scores/")

What runs where: classifying rows, the rejects ledger, the summary and the collapse to
distinct rows run in Spark (:mod:`clvmodel.engines.spark`); the fit runs on the driver on
the distinct rows with their counts (or, above
:data:`~clvmodel.engines.spark.fit.DRIVER_ROWS_LIMIT` distinct rows, with the likelihood
summed across partitions); scoring runs in Spark, in ``mapInPandas``, with the local
engine's prediction functions. An active SparkSession is used when there is one; otherwise
one is built (:func:`~clvmodel.engines.spark.session.get_session`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from .data import DateLike, _tracking_table, account_rows, check_arguments, check_summary
from .data import summary_attrs as _summary_attrs
from .engines.spark.session import SparkOptions, get_session
from .ledger import RowLedger
from .units import unit_days

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "SparkOptions",
    "SparkSummaryResult",
    "fit_table",
    "rfm_summary",
    "score",
    "summarise",
    "summary_attrs",
]

#: Key of the column metadata (on ``T``) that carries the summary's scalars.
METADATA_KEY = "clvmodel"


@dataclass(frozen=True, eq=False)
class SparkSummaryResult:
    """What :func:`summarise` knows about one run (compare :class:`clvmodel.data.SummaryResult`).

    Attributes
    ----------
    summary : pyspark.sql.DataFrame
        The RFM summary, one row per customer with a ``customer_id`` column; persisted.
    rejects : pandas.DataFrame
        The rejected rows, as in the local engine.
    ledger : RowLedger
        Input, used and rejected row counts, and rejects by reason.
    tracking : pandas.DataFrame
        Repeat purchase occasions per period (see :func:`clvmodel.data.tracking_counts`).
    attrs : dict
        The scalars of :func:`clvmodel.data.rfm_summary`'s ``attrs``.
    n_customers : int
        Rows of ``summary``.
    """

    summary: DataFrame
    rejects: pd.DataFrame
    ledger: RowLedger
    tracking: pd.DataFrame
    attrs: dict[str, Any]
    n_customers: int


def summarise(
    data: DataFrame | str | os.PathLike[str],
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = "amount",
    freq: str = "W",
    observation_end: DateLike = None,
    calibration_end: DateLike = None,
    date_format: str | None = None,
    spark: SparkSession | None = None,
    options: SparkOptions | None = None,
) -> SparkSummaryResult:
    """The RFM summary of a transaction log computed by Spark, with its rejects and ledger.

    Arguments and definitions are those of :func:`clvmodel.data.summarise`; the results are
    the same row for row. ``data`` is a Spark DataFrame, or a path, folder or glob of CSV or
    Parquet files that Spark reads (``s3://...`` and ``dbfs:/...`` included). ``spark`` is
    the session to use (default: the active one, else one built from ``options``).

    Raises
    ------
    MissingColumnError, InputError
        As the local engine.
    EngineUnavailableError
        pyspark or Java is missing.
    """
    from .engines.spark.summary import SparkSummaryEngine

    unit, obs_arg, cal_arg = check_arguments(
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        freq=freq,
        observation_end=observation_end,
        calibration_end=calibration_end,
        date_format=date_format,
    )
    session = spark or get_session(options)
    days = unit_days(unit)
    with SparkSummaryEngine(
        session,
        os.fspath(data) if isinstance(data, os.PathLike) else data,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        date_format=date_format,
    ) as engine:
        bounds, obs, ledger = account_rows(engine, None, obs_arg, cal_arg)
        frame, stats = engine.summary(observation_end=obs, calibration_end=cal_arg, unit_days=days)
        rejects = engine.rejects(obs)
        assert bounds.first_date is not None  # there are used rows
        periods, period_counts = engine.tracking(
            observation_end=obs,
            calibration_end=cal_arg,
            first_date=bounds.first_date,
            unit_days=days,
        )
        n_customers = stats["customers"] - stats["excluded_customers"]
        check_summary(
            len(rejects),
            n_customers,
            ledger,
            stats,
            bounds,
            cal_arg,
        )
        attrs = _summary_attrs(unit, obs, cal_arg, bounds, ledger, stats)
        summary = _with_attrs(frame, attrs).persist()
        summary.count()  # materialised before the engine releases its tables
    tracking = _tracking_table(periods, period_counts, bounds.first_date, obs, days)
    return SparkSummaryResult(summary, rejects, ledger, tracking, attrs, n_customers)


def rfm_summary(data: DataFrame | str, **kwargs: Any) -> DataFrame:
    """The RFM summary as a Spark DataFrame: :func:`summarise` without the rest.

    Takes the arguments of :func:`summarise`. The summary's scalars (time unit, dates, row
    counts) travel in the column metadata, see :func:`summary_attrs`. Rejected rows are
    reported by a :class:`~clvmodel.exceptions.RejectedRowsWarning`, as in the local engine.
    """
    import warnings

    from .exceptions import RejectedRowsWarning

    result = summarise(data, **kwargs)
    if result.ledger.rejected_rows:
        warnings.warn(
            f"{result.ledger.describe()}. clvmodel.spark.summarise() returns them with their "
            "row numbers.",
            RejectedRowsWarning,
            stacklevel=2,
        )
    return result.summary


def summary_attrs(summary: DataFrame) -> dict[str, Any]:
    """The scalars of a summary made by :func:`summarise` (``{}`` for any other frame)."""
    if "T" not in summary.columns:
        return {}
    return dict(summary.schema["T"].metadata.get(METADATA_KEY, {}))


def _with_attrs(frame: DataFrame, attrs: dict[str, Any]) -> DataFrame:
    return frame.withMetadata("T", {METADATA_KEY: attrs})


def fit_table(summary: DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """The distinct rows of ``columns`` with their counts (``weights``), on the driver.

    Rows come in the order of their first customer (the order in which the local fit path
    collapses a summary sorted by customer id), so a fit on this table equals the local fit.
    """
    from .engines.spark.fit import collapsed

    return collapsed(summary, columns)


def score(summary: DataFrame, model: Any, **kwargs: Any) -> DataFrame:
    """Scores of every customer of a Spark summary, computed in Spark.

    Keyword arguments are those of :func:`clvmodel.clv.score` (``horizon``, ``spend_model``,
    ``discount_rate``, ``margin``, ``step``); the columns are the same. See
    :func:`clvmodel.engines.spark.score.score`.
    """
    from .engines.spark.score import score as _score

    return _score(summary, model, **kwargs)
