"""Settings of a pipeline run and their defaults, shared by ``clvmodel run`` and ``demo``."""

from __future__ import annotations

from dataclasses import dataclass

from ..engines import DEFAULT_MEMORY_LIMIT, DEFAULT_THREADS
from ..units import check_unit

#: Annual discount rate of the CLV when none is given (10 % a year).
DEFAULT_DISCOUNT_RATE = 0.1

#: The default horizon: one year in whole units of the time unit.
YEAR_IN_UNITS = {"D": 365.0, "W": 52.0, "M": 12.0, "Y": 1.0}

#: Customers per scoring batch: the pipeline's memory is set by this, not by the data. At
#: 1M customers, batches of 500,000 took the scoring's peak to 506 MiB and these to 440 MiB
#: (below the summary's), at the same speed.
DEFAULT_BATCH_ROWS = 131_072


def default_horizon(unit: str) -> float:
    """The CLV horizon when none is given: a year in whole units of ``unit``.

    52 weeks, 365 days, 12 months or 1 year. (A year of 365.25 days is 52.18 weeks; the
    whole-unit year keeps the forecast end on the same weekday as its start.)
    """
    return YEAR_IN_UNITS[check_unit(unit)]


@dataclass(frozen=True)
class RunConfig:
    """Settings of a pipeline run.

    Attributes
    ----------
    customer_col, date_col, amount_col : str
        Columns of the transaction log (``amount_col=None``: no spend model, no CLV).
    date_format : str, optional
        strptime format of the dates when they are not ISO.
    freq : str
        Time unit of the summary and the models.
    observation_end, calibration_end : str, optional
        ISO dates. With ``calibration_end`` the models are first fitted on the calibration
        period and checked on the rest (the holdout); the forecast then comes from models
        refitted on the whole log, scored from the observation end.
    purchase_model : str
        Registry key of the purchase model, or ``"auto"``: fit every one of ``candidates``
        and keep the best by holdout RMSE (with a calibration end) or BIC (without); the
        reason is recorded in ``run.json``.
    candidates : tuple of str
        Purchase models compared by ``"auto"``.
    horizon : float, optional
        CLV horizon in ``freq`` units; default :func:`default_horizon` (one year).
    discount_rate : float
        Annual discount rate (default 10 %).
    margin : float
        Profit margin applied to spend.
    memory_limit : str
        Memory limit of the summary engine (DuckDB spills to disk beyond it); ``"auto"``
        (the default): 256MB, or 8 bytes a valid input row when that is more, at most half
        the memory available
        (:func:`clvmodel.engines.auto_memory_limit`). ``run.json`` records the
        limit used (``memory_limit``).
    threads : int
        Threads of the summary engine; above 1, the run also fits the spend model, writes
        the summary and computes the totals' interval beside the other stages.
    batch_rows : int
        Customers scored per batch.
    currency : str, optional
        Currency of the amounts (``"EUR"``, ``"$"``), shown on the report's money figures.
    allow_unconverged : bool
        Write models whose fit did not converge (flagged ``converged=false``) instead of
        failing the run.
    engine : {"duckdb", "spark"}
        Where the summary runs (:mod:`clvmodel.engines`); ``"spark"`` reads the input with
        Spark (a file, folder or glob) in the active SparkSession or one on ``spark_master``.
    spark_master : str
        Spark master of the session built when none is active.
    spark_driver_memory : str, optional
        ``spark.driver.memory`` of that session (e.g. ``"4g"``; on a ``local`` master the
        executors run in the driver and share it); ``None``: Spark's default.
    covariates : str, optional
        CSV/Parquet file with ``customer_col`` and numeric covariate columns, one row per
        customer (every customer of the log needs one), joined onto the summary by the
        engine (:mod:`clvmodel.pipeline.covariates`).
    purchase_covariates, dropout_covariates : tuple of str
        Covariate columns acting on the purchase and the dropout process of the purchase
        model (BG/NBD, Pareto/NBD or MBG/NBD; see :mod:`clvmodel.covariates`).
    intervals : float, optional
        Level of the per-customer intervals in the scores (``<name>_lower``/``_upper``,
        delta method, :func:`clvmodel.intervals.prediction_intervals`); ``None``: none.
    total_interval_level : float
        Level of the interval of the total predicted purchases and CLV written to
        ``metrics.json`` ``totals`` (from the collapsed rows; cheap at any size).
    """

    customer_col: str = "customer_id"
    date_col: str = "date"
    amount_col: str | None = "amount"
    date_format: str | None = None
    freq: str = "W"
    observation_end: str | None = None
    calibration_end: str | None = None
    purchase_model: str = "bgnbd"
    candidates: tuple[str, ...] = ("bgnbd", "pnbd", "mbgnbd")
    horizon: float | None = None
    discount_rate: float = DEFAULT_DISCOUNT_RATE
    margin: float = 1.0
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    threads: int = DEFAULT_THREADS
    batch_rows: int = DEFAULT_BATCH_ROWS
    currency: str | None = None
    allow_unconverged: bool = False
    engine: str = "duckdb"
    spark_master: str = "local[*]"
    spark_driver_memory: str | None = None
    covariates: str | None = None
    purchase_covariates: tuple[str, ...] = ()
    dropout_covariates: tuple[str, ...] = ()
    intervals: float | None = None
    total_interval_level: float = 0.90

    @property
    def covariate_columns(self) -> tuple[str, ...]:
        """Every covariate column, purchase ones first, each once."""
        return tuple(dict.fromkeys(self.purchase_covariates + self.dropout_covariates))

    @property
    def covariate_settings(self) -> dict[str, tuple[str, ...]]:
        """The purchase model's covariate settings (empty without covariates)."""
        if not self.covariate_columns:
            return {}
        return {
            "purchase_covariates": tuple(self.purchase_covariates),
            "dropout_covariates": tuple(self.dropout_covariates),
        }
