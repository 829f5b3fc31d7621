"""The whole job: transaction log -> summary -> fitted models -> scores, metrics, report files.

Everything :func:`run_pipeline` writes lands in one folder (the *run directory*), and every
later step (figures, the PDF report) reads only those files, so a report can be re-rendered
without refitting::

    DIR/run.json               what was run: run_id, input, unit, dates, forecast window,
                               row ledger, exclusions, models, settings, stage timings and
                               peak memory
    DIR/summary.parquet        the RFM summary written by the engine (with a calibration
                               end: the calibration summary with its holdout columns)
    DIR/rejects.csv            rejected input rows with their reason (header only when none)
    DIR/models/KEY.json        the models of the forecast, fitted on the whole log
    DIR/models/calibration/KEY.json   with a calibration end: the holdout-check models
    DIR/scores.parquet         one row per customer of the whole log: p_alive, expected
                               purchases, spend and CLV from the observation end on
    DIR/metrics.json           fit statistics and holdout accuracy (calibration models)
    DIR/tracking.csv           actual repeat transactions per time unit
    DIR/figures/*.png, DIR/report.pdf

With ``fmt="csv"`` the summary and scores are ``summary.csv`` and ``scores.csv``. With the
Spark engine ``scores.parquet`` is a folder of part files written by the executors
(:meth:`clvmodel.engines.SummaryEngine.score_to`).

The job streams: the engine (DuckDB, with a memory limit and spilling) summarises the log,
fits read the distinct rows with their counts, and scoring reads the summary in Arrow record
batches and writes each batch's scores before reading the next, so peak memory is set by
the batch size, not the number of customers.

Both cores: the engine runs its queries on its own threads (``RunConfig.threads``), and
work that needs only arrays already in memory runs beside the engine's: the imports of the
later stages (pandas, the models, scipy; :data:`clvmodel.pipeline.run.LATER_MODULES`)
beside the summary's queries, the Gamma-Gamma fit beside the purchase fit
(:mod:`clvmodel.pipeline.fits`), and the interval of the totals
beside the scoring (:meth:`clvmodel.progress.Stages.start`). The engine's connection is
used from one thread at a time. With ``threads=1`` every stage runs in turn.
"""

from typing import Any

from .config import DEFAULT_DISCOUNT_RATE, RunConfig, default_horizon


def __getattr__(name: str) -> Any:  # the run imports DuckDB: only when it is asked for
    if name == "fit_purchase_model":
        from .fits import fit_purchase_model

        return fit_purchase_model
    if name == "run_pipeline":
        from .run import run_pipeline

        return run_pipeline
    raise AttributeError(name)


__all__ = [
    "DEFAULT_DISCOUNT_RATE",
    "RunConfig",
    "default_horizon",
    "fit_purchase_model",
    "run_pipeline",
]
