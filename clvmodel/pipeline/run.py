"""The run itself: stages over one engine, files into one folder (see the package doc)."""

from __future__ import annotations

import datetime as _dt
import importlib
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..engines import is_dataframe
from ..engines.duckdb import DuckDBSummaryEngine
from ..exceptions import InputError
from ..horizon import _grid
from ..io import atomic_write_with, write_frame, write_json
from ..progress import Stages, peak_rss_mib
from ..units import UNIT_NAMES, check_unit, rate_per_unit, unit_days
from .config import RunConfig, default_horizon

if TYPE_CHECKING:
    import pandas as pd

Log = Callable[[str], None]
FORMATS = ("parquet", "csv")

#: What the stages after the summary import (pandas, the models and scipy, the scorer, the
#: Parquet writer: about 1 s at start-up), in the order they need it; :func:`_import_beside`.
#: The path to the summary's first query imports none of them (only DuckDB and numpy).
LATER_MODULES = (
    "pandas",
    "clvmodel.pipeline.fits",
    "clvmodel.pipeline.metrics",
    "clvmodel.pipeline.uncertainty",
    "pyarrow.parquet",
)
#: What the report imports besides (when the run writes one): matplotlib's canvases and
#: PDF backend, scipy.stats (the mixing distributions), about 3 s at the report's start.
REPORT_MODULES = (
    "clvmodel.report",
    "scipy.stats",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "matplotlib.backends.backend_pdf",
)


def _import_beside(names: Sequence[str]) -> threading.Thread:
    """Import the modules ``names`` in a daemon thread, beside the summary's queries.

    DuckDB releases the GIL while a query runs, so these imports (mostly running Python:
    pandas, scipy.special, scipy.linalg, the models) get the interpreter while the summary
    runs on DuckDB's threads, rather than before it. A stage importing a module that this
    thread is still importing waits for it (Python's lock per module); code that looks in
    ``sys.modules`` instead may find it half-imported (:func:`clvmodel.engines.is_dataframe`
    copes). An import that fails here is ignored: the stage that needs the module imports it
    again and its error reaches the user there, as without this thread.
    """

    def run() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # raised again, and reported, where the module is used
                continue

    thread = threading.Thread(target=run, name="clvmodel-imports", daemon=True)
    thread.start()
    return thread


def _quiet(_: str) -> None:
    pass


def _open_engine(source: pd.DataFrame | str | Path, config: RunConfig) -> Any:
    """The summary engine of ``config.engine`` on ``source`` (see :mod:`clvmodel.engines`)."""
    columns = {
        "customer_col": config.customer_col,
        "date_col": config.date_col,
        "amount_col": config.amount_col,
        "date_format": config.date_format,
    }
    if config.engine == "spark":
        from ..engines.spark.session import SparkOptions, get_session
        from ..engines.spark.summary import SparkSummaryEngine

        options = SparkOptions(master=config.spark_master, driver_memory=config.spark_driver_memory)
        spark = get_session(options)
        if is_dataframe(source):
            return SparkSummaryEngine(spark, spark.createDataFrame(source), **columns)
        return SparkSummaryEngine(spark, str(source), **columns)
    if config.engine != "duckdb":
        raise InputError(
            f"The 'engine' setting must be 'duckdb' or 'spark'. Got {config.engine!r} instead."
        )
    return DuckDBSummaryEngine(
        source, **columns, memory_limit=config.memory_limit, threads=config.threads
    )


def run_pipeline(
    transactions: str | Path,
    out_dir: str | Path,
    config: RunConfig | None = None,
    *,
    report: bool = True,
    fmt: str = "parquet",
    log: Log = _quiet,
) -> dict[str, Any]:
    """Run the whole pipeline on a transaction log and write the run directory.

    Parameters
    ----------
    transactions : path-like
        The transaction log (CSV or Parquet).
    out_dir : path-like
        The run directory (created).
    config : RunConfig
        The settings.
    report : bool
        Render the charts (``DIR/figures/*.png``) and the PDF report (``DIR/report.pdf``)
        from the files just written, as :func:`clvmodel.report.render_report` would later.
    fmt : {"parquet", "csv"}
        Format of ``summary`` and ``scores``.
    log : callable
        Receives one line per finished stage (elapsed time and rows) and the exclusions.

    Returns
    -------
    dict
        The content of ``DIR/run.json``.
    """
    from ..rundir import new_run_id, staged_run_dir
    from .covariates import check_covariate_config

    config = config or RunConfig()
    check_covariate_config(config)
    if fmt not in FORMATS:
        raise InputError(f"The 'fmt' parameter must be one of {FORMATS}. Got {fmt!r} instead.")
    run_id = new_run_id()
    # Written into a temporary sibling and swapped in at the end: a run killed or failing
    # part-way leaves out_dir as it was (clvmodel.rundir).
    with staged_run_dir(out_dir, run_id) as stage:
        return _run_into(
            transactions, stage, config, report=report, fmt=fmt, log=log, run_id=run_id
        )


def _run_into(
    transactions: str | Path,
    out: Path,
    config: RunConfig,
    *,
    report: bool,
    fmt: str,
    log: Log,
    run_id: str,
) -> dict[str, Any]:
    """The body of :func:`run_pipeline`, writing into the (staged) folder ``out``."""
    from ..data import _as_date, _check_columns, _source, _tracking_table, account_rows
    from ..rundir import stamp_run

    meta = {"clvmodel.run_id": run_id}
    stages = Stages(log)
    unit = check_unit(config.freq)
    days = unit_days(unit)
    horizon = float(config.horizon) if config.horizon is not None else default_horizon(unit)
    if not horizon > 0:
        raise InputError(f"The 'horizon' parameter must be > 0. Got {config.horizon!r} instead.")
    per_unit_rate = rate_per_unit(config.discount_rate, unit) if config.discount_rate else 0.0
    _grid(horizon, 1.0)
    _check_columns(config.customer_col, config.date_col, config.amount_col)
    obs_arg = _as_date(config.observation_end, "observation_end", config.date_format)
    cal_arg = _as_date(config.calibration_end, "calibration_end", config.date_format)
    if obs_arg is not None and cal_arg is not None and obs_arg < cal_arg:
        raise InputError(
            f"The 'observation_end' parameter must be on or after calibration_end "
            f"({cal_arg.isoformat()}). Got {obs_arg.isoformat()} instead."
        )
    source = _source(transactions)
    summary_path = out / f"summary.{fmt}"
    scores_path = out / f"scores.{fmt}"
    holdout = cal_arg is not None
    metrics: dict[str, Any] = {"run_id": run_id, "models": {}, "holdout": None}
    excluded: dict[str, int] = {}

    imports = None
    with _open_engine(transactions if config.engine == "spark" else source, config) as engine:
        if config.threads > 1:  # until the fits, this thread mostly waits for the engine
            imports = _import_beside(LATER_MODULES + (REPORT_MODULES if report else ()))
        with stages.stage("summary") as st:
            bounds, obs, ledger = account_rows(engine, source, obs_arg, cal_arg)
            # Unordered: scores follow the engine's order; sorting 10M ids costs more than
            # it gives (sort the Parquet file when an order is wanted).
            full = engine.build_summary(
                "full", observation_end=obs, calibration_end=None, unit_days=days, ordered=False
            )
            cal_stats = None
            if holdout:
                cal_stats = engine.build_summary(
                    "calibration",
                    observation_end=obs,
                    calibration_end=cal_arg,
                    unit_days=days,
                    ordered=False,
                )
                if cal_stats["customers"] == cal_stats["excluded_customers"]:
                    raise InputError(
                        f"No customer made a first purchase on or before calibration_end "
                        f"({cal_arg}); the first transaction is dated {bounds.first_date}."
                    )
            assert bounds.first_date is not None
            periods, counts = engine.tracking(
                observation_end=obs,
                calibration_end=cal_arg,
                first_date=bounds.first_date,
                unit_days=days,
                name="calibration" if holdout else "full",
            )
            engine.release()
            tracking = _tracking_table(periods, counts, bounds.first_date, obs, days)
            write_frame(tracking, out / "tracking.csv")
            rejects = engine.rejects(obs, none=ledger.rejected_rows == 0)
            if len(rejects) != ledger.rejected_rows:
                raise AssertionError(
                    f"{len(rejects):,} rejected rows listed but {ledger.rejected_rows:,} counted."
                )
            rejects["row"] = rejects["row"].astype(np.int64)
            write_frame(rejects, out / "rejects.csv")
            st.rows = ledger.input_rows
            st.detail = (
                f"{ledger.used_rows:,} used, {ledger.rejected_rows:,} rejected; "
                f"{full['customers']:,} customers (unit: {UNIT_NAMES[unit]})"
            )
        if config.covariate_columns:
            with stages.stage("covariates") as st:
                from .covariates import join_covariates

                join_covariates(engine, config, ["full", "calibration"] if holdout else ["full"])
                st.rows = full["customers"]
                st.detail = f"{', '.join(config.covariate_columns)} from {config.covariates}"

        from .fits import Fits, beside, fit_statistics, save_models
        from .metrics import forecast_clv_metrics, holdout_check
        from .scoring import BatchScorer

        if holdout:  # the calibration summary; without a check, the scoring writes "full"

            def write_summary(st: Any) -> None:
                def write(tmp: Path) -> None:
                    st.rows = engine.write_summary("calibration", tmp, metadata=meta)

                atomic_write_with(summary_path, write)

            stages.start("write summary", write_summary, background=False).join()
        background = config.threads > 1
        fits = Fits(engine, config, unit)
        comparison = None
        if holdout:
            with stages.stage("fit calibration") as st:
                cal_purchase, cal_models, choice_reason, comparison = fits.purchase("calibration")
                cal_spend, _ = fits.spend("calibration")
                save_models(
                    [*cal_models.values(), cal_spend], out / "models" / "calibration", run_id
                )
                st.rows = cal_purchase.n_customers_
            with stages.stage("holdout check") as st:
                scorer = BatchScorer(
                    cal_purchase,
                    cal_spend,
                    horizon=horizon,
                    per_unit_rate=per_unit_rate,
                    margin=config.margin,
                )
                accuracy, clv_check = holdout_check(
                    engine, cal_purchase, cal_models, cal_spend, scorer
                )
                stats = fit_statistics(cal_models)
                for key in stats:
                    stats[key].update(accuracy[key])
                metrics["calibration_models"] = stats
                metrics["holdout"] = stats[cal_purchase.name]
                if clv_check is not None:
                    metrics["clv_holdout"] = clv_check
                st.rows = accuracy[cal_purchase.name]["n_customers"]
            key_for_forecast = cal_purchase.name
        with stages.stage("fit") as st:
            if holdout:  # refit the chosen model on the whole log
                refit = RunConfig(**{**asdict(config), "purchase_model": key_for_forecast})
                final = Fits(engine, refit, unit, fits.collapsed)
            else:
                final = fits
            # The engine's part first (one connection, one thread), then the two fits, the
            # spend model's beside the purchase model's.
            purchase_table, spend_table = final.purchase_table("full"), final.spend_table("full")
            spend_fit = beside(lambda: final.fit_spend(spend_table), background)
            purchase, fitted, reason, found = final.fit_purchase(purchase_table)
            spend, fit_exclusions = spend_fit()
            if not holdout:
                choice_reason, comparison = reason, found
            save_models([*fitted.values(), spend], out / "models", run_id)
            if comparison is not None:
                write_json(out / "comparison.json", {**comparison.to_dict(), "run_id": run_id})
            st.rows = purchase.n_customers_
            st.detail = f"{purchase!r}" + (f"; {spend!r}" if spend is not None else "")
            metrics["models"] = fit_statistics(fitted)
        from .fits import collapsed_rows
        from .uncertainty import run_totals

        collapsed = fits.collapsed.get(("full", *purchase.columns)) or collapsed_rows(
            engine, "full", tuple(purchase.columns), spend=spend is not None
        )

        def totals(st: Any) -> dict[str, Any]:
            out = run_totals(
                collapsed,
                purchase,
                spend,
                horizon=horizon,
                per_unit_rate=per_unit_rate,
                margin=config.margin,
                level=config.total_interval_level,
            )
            st.rows = out["distinct_rows"]
            return out

        # Pure numpy on the collapsed rows: beside the scoring, on the other core.
        total_job = stages.start("total interval", totals, background=config.threads > 1)
        with stages.stage("score", total=full["customers"]) as st:
            scoring: dict[str, Any] = {
                "horizon": horizon,
                "per_unit_rate": per_unit_rate,
                "margin": config.margin,
            }
            if config.intervals is not None:  # per-customer intervals (delta method)
                from .uncertainty import IntervalScorer

                scorer: BatchScorer = IntervalScorer(
                    purchase,
                    spend,
                    **scoring,
                    level=config.intervals,
                    unit=unit,
                    discount_rate=config.discount_rate,
                )
            else:
                scorer = BatchScorer(purchase, spend, **scoring)
            n_scored, kept = engine.score_to(
                "full",
                scorer,
                scores_path,
                metadata=meta,
                stage=st,
                keep=("clv",) if spend is not None else (),
                batch_rows=config.batch_rows,
                # One read of the summary for both files (in one customer order).
                summary_to=None if holdout else summary_path,
            )
            if not holdout:
                st.detail = f"with {summary_path.name}"
        if spend is not None:
            with stages.stage("clv metrics") as st:
                metrics["clv"] = forecast_clv_metrics(kept["clv"])
                del kept
                st.rows = n_scored
        metrics["totals"] = total_job.join()

    missing = int(full["customers"]) - n_scored
    if missing:
        excluded["not scored"] = missing
    forecast_end = obs + _dt.timedelta(days=round(horizon * days))
    write_json(out / "metrics.json", metrics)
    run: dict[str, Any] = {
        "run_id": run_id,
        "clvmodel_version": __version__,
        "input": str(transactions),
        "format": fmt,
        "time_unit": unit,
        "first_date": bounds.first_date.isoformat() if bounds.first_date else None,
        "observation_end": obs.isoformat(),
        "calibration_end": cal_arg.isoformat() if cal_arg is not None else None,
        "forecast_start": obs.isoformat(),
        "forecast_end": forecast_end.isoformat(),
        "horizon": horizon,
        "ledger": ledger.to_dict(),
        "n_customers": int(full["customers"]),
        "n_scored": n_scored,
        "memory_limit": getattr(engine, "memory_limit", None),  # "auto" resolved (DuckDB)
        "n_transactions": int(full["n_transactions"]),
        "excluded": excluded,
        "excluded_customers": sum(excluded.values()),
        "fit_exclusions": fit_exclusions,
        "holdout": None
        if cal_stats is None
        else {
            "customers": cal_stats["customers"] - cal_stats["excluded_customers"],
            "not_in_check": {
                "first purchase after calibration_end": cal_stats["excluded_customers"]
            },
            "models": "models/calibration/",
        },
        "purchase_model": purchase.name,
        "spend_model": spend.name if spend is not None else None,
        "choice_reason": choice_reason,
        "config": asdict(config),
        "discount_rate": config.discount_rate,
        "margin": config.margin,
    }
    log(
        f"scored {n_scored:,} of {full['customers']:,} customers"
        + (f"; excluded {excluded}" if excluded else "; none excluded")
        + (f"; left out of fits: {fit_exclusions}" if fit_exclusions else "")
        + (
            f"; holdout check on {run['holdout']['customers']:,} customers "
            f"({cal_stats['excluded_customers']:,} first bought after the calibration end)"
            if cal_stats is not None
            else ""
        )
    )
    if imports is not None:
        imports.join()  # done by now; no thread left when the report forks its children
    if report:
        with stages.stage("report") as st:
            from ..exceptions import InsufficientMemoryError
            from ..report import ReportWarning, write_report

            _write_run(out, run, stages)
            try:
                figures, pdf = write_report(out)
            except InsufficientMemoryError as exc:  # asked before any work: the run stands
                run["report"] = {"written": False, "reason": str(exc)}
                warnings.warn(f"no report written: {exc}", ReportWarning, stacklevel=2)
                st.detail = "not written: not enough memory"
            else:
                run["report"] = {"written": True}
                st.rows = len(figures)
                st.detail = f"{len(figures)} charts and {pdf.name}"
    run["files"] = stamp_run(out, run_id)
    return _write_run(out, run, stages)


def _write_run(out: Path, run: dict[str, Any], stages: Stages) -> dict[str, Any]:
    run["stages"] = stages.records()
    run["seconds"] = round(stages.elapsed(), 3)
    run["peak_rss_mib"] = round(peak_rss_mib(), 1)
    run["peak_rss_mib_children"] = round(peak_rss_mib(children=True), 1)
    write_json(out / "run.json", run)
    return run
