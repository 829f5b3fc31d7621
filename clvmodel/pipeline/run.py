"""The run itself: stages over one engine, files into one folder (see the package doc)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..clv import _grid
from ..engines.duckdb import DuckDBSummaryEngine
from ..evaluation import weighted_holdout_metrics
from ..exceptions import InputError
from ..io import write_frame, write_json
from ..models import get_model_class
from ..models.base import PurchaseModel
from ..models.gamma_gamma import GammaGammaModel
from ..progress import Stages, peak_rss_mib
from ..units import UNIT_NAMES, check_unit, rate_per_unit, unit_days
from .config import RunConfig, default_horizon
from .scoring import BatchScorer, table_of

Log = Callable[[str], None]
FORMATS = ("parquet", "csv")


def _quiet(_: str) -> None:
    pass


def fit_purchase_model(
    key: str,
    summary: pd.DataFrame,
    *,
    weights: np.ndarray | None = None,
    allow_unconverged: bool = False,
    covariates: dict[str, Any] | None = None,
) -> PurchaseModel:
    """Fit the purchase model registered as ``key`` on ``summary`` (rows weighted);
    ``covariates``: its covariate settings (``purchase_covariates``, ...)."""
    cls = get_model_class(key)
    if not issubclass(cls, PurchaseModel):
        raise InputError(f"{key!r} is not a purchase model; choose one of the purchase models.")
    model = cls(allow_unconverged=allow_unconverged, **(covariates or {}))  # type: ignore[call-arg]
    return model.fit(summary, weights=weights)


def _frame(arrays: dict[str, np.ndarray], unit: str) -> pd.DataFrame:
    frame = pd.DataFrame(arrays)
    frame.attrs["time_unit"] = unit
    return frame


class _Fits:
    """Fit the purchase (and spend) model on one summary of the engine."""

    def __init__(self, engine: DuckDBSummaryEngine, config: RunConfig, unit: str) -> None:
        self.engine = engine
        self.config = config
        self.unit = unit

    def purchase(self, name: str) -> tuple[PurchaseModel, dict[str, PurchaseModel], str, Any]:
        """The chosen model, every fitted candidate, the reason and the comparison (or None)."""
        cfg = self.config
        if cfg.purchase_model == "auto":
            from ..compare import compare_models

            columns = [
                c
                for c in self.engine.summary_columns(name)
                if c in ("frequency", "recency", "T", "frequency_holdout", "duration_holdout")
            ]
            rows = table_of(self.engine.summary_batches(name, columns)).to_pandas()
            rows.attrs["time_unit"] = self.unit
            comparison = compare_models(rows, models=cfg.candidates)
            key, reason = comparison.choose()
            return comparison.models[key], dict(comparison.models), reason, comparison
        cls = get_model_class(cfg.purchase_model)
        columns = (*cls.columns, *cfg.covariate_columns)  # rows collapse on the covariates too
        arrays, weights = self.engine.fit_table(name, columns)
        model = fit_purchase_model(
            cfg.purchase_model,
            _frame(arrays, self.unit),
            weights=weights,
            allow_unconverged=cfg.allow_unconverged,
            covariates=cfg.covariate_settings,
        )
        return model, {model.name: model}, f"{model.name} as requested", None

    def spend(self, name: str) -> tuple[GammaGammaModel | None, dict[str, int]]:
        """The Gamma-Gamma fit and the customers it left out, by reason."""
        if self.config.amount_col is None:
            return None, {}
        arrays, weights = self.engine.fit_table(name, GammaGammaModel.columns)
        model = GammaGammaModel(allow_unconverged=self.config.allow_unconverged).fit(
            _frame(arrays, self.unit), weights=weights
        )
        x, m = arrays["frequency"], arrays["monetary_value"]
        left_out = {
            "gamma-gamma fit: no repeat purchase (scored with the mean spend)": round(
                float(weights[x == 0].sum())
            ),
            "gamma-gamma fit: mean spend <= 0": round(float(weights[(x > 0) & (m <= 0)].sum())),
        }
        return model, {k: n for k, n in left_out.items() if n}


def _fit_statistics(models: dict[str, PurchaseModel]) -> dict[str, dict[str, Any]]:
    return {
        key: {
            "log_likelihood": m.result_.log_likelihood,
            "aic": m.result_.aic,
            "bic": m.result_.bic,
        }
        for key, m in models.items()
    }


def _save(models: list[Any], folder: Path, run_id: str) -> None:
    for model in models:
        if model is not None:
            write_json(folder / f"{model.name}.json", {**model.to_dict(), "run_id": run_id})


def _holdout_check(
    engine: DuckDBSummaryEngine,
    purchase: PurchaseModel,
    models: dict[str, PurchaseModel],
    spend: GammaGammaModel | None,
    scorer: BatchScorer,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """Holdout accuracy of every calibration model and the CLV ranking metrics."""
    inputs = dict.fromkeys(c for m in models.values() for c in m.columns)  # with covariates
    columns = (*inputs, "frequency_holdout", "duration_holdout")
    arrays, weights = engine.fit_table("calibration", columns)
    accuracy = {}
    for key, model in models.items():
        accuracy[key] = weighted_holdout_metrics(
            model,
            tuple(arrays[c] for c in model.columns),
            arrays["frequency_holdout"],
            arrays["duration_holdout"],
            weights,
        )
    if spend is None:
        return accuracy, None
    from ..clv_metrics import clv_metrics

    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("clv", "spend", "pred", "fh", "mh")}
    wanted = (*scorer.inputs, "frequency_holdout", "monetary_value_holdout", "duration_holdout")
    for batch in engine.summary_batches("calibration", wanted):
        cols = scorer.columns(batch)
        x = tuple(np.asarray(batch.column(c).to_numpy(), np.float64) for c in purchase.columns)
        duration = batch.column("duration_holdout").to_numpy()
        parts["clv"].append(cols["clv"])
        parts["spend"].append(cols["expected_spend"])
        parts["pred"].append(purchase._expected_purchases(x, float(duration[0])))
        parts["fh"].append(batch.column("frequency_holdout").to_numpy())
        parts["mh"].append(batch.column("monetary_value_holdout").to_numpy())
    joined = {k: np.concatenate(v) for k, v in parts.items()}
    ids = np.arange(len(joined["clv"]))
    scores = pd.DataFrame(
        {"customer_id": ids, "clv": joined["clv"], "expected_spend": joined["spend"]}
    )
    summary = pd.DataFrame(
        {"frequency_holdout": joined["fh"], "monetary_value_holdout": joined["mh"]},
        index=pd.Index(ids, name="customer_id"),
    )
    predicted = pd.Series(joined["pred"], index=ids)
    return accuracy, clv_metrics(scores, summary, predicted_holdout_purchases=predicted)


def _forecast_clv_metrics(c: np.ndarray) -> dict[str, Any]:
    """The holdout-free figures of :func:`clvmodel.clv_metrics.clv_metrics` from the CLV
    array (sorted in place: one array in memory, no id alignment, no gains-curve arrays).

    With ``c`` sorted ascending and ``S`` its sum, the gains curve's points are
    ``(k/n, top_k/S)`` with ``top_k`` the sum of the ``k`` largest values; its trapezoid
    area is ``(Σ_k k c_(k) - S/2) / (n S)`` and the Gini ``2 area - 1``, as in
    :func:`clvmodel.clv_metrics.gini`; the top shares interpolate the curve as
    ``np.interp`` does there.
    """
    c.sort()
    n = len(c)
    total = float(c.sum())
    ranks = np.arange(1, n + 1, dtype=np.float64)
    area = (float(ranks @ c) - total / 2.0) / (n * total) if total > 0 else 0.5
    del ranks

    def top_share(f: float) -> float:
        if not total > 0:
            return f
        k = int(np.floor(f * n))
        low = float(c[n - k :].sum()) if k else 0.0
        high = low + (float(c[n - k - 1]) if k < n else 0.0)
        frac = f * n - k
        return (low + frac * (high - low)) / total

    return {
        "n_customers": n,
        "clv_total": total,
        "clv_mean": total / n,
        "clv_median": float((c[(n - 1) // 2] + c[n // 2]) / 2.0),
        "gini_predicted": 2.0 * area - 1.0,
        "top_10pct_share": top_share(0.1),
        "top_20pct_share": top_share(0.2),
        "holdout": False,
    }


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
        if isinstance(source, pd.DataFrame):
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

    with _open_engine(transactions if config.engine == "spark" else source, config) as engine:
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
        with stages.stage("write summary") as st:
            from ..io import atomic_path

            with atomic_path(summary_path) as tmp:
                target = tmp.with_name(tmp.name + summary_path.suffix)
                st.rows = engine.write_summary(
                    "calibration" if holdout else "full", target, metadata=meta
                )
                target.replace(tmp)
        fits = _Fits(engine, config, unit)
        comparison = None
        if holdout:
            with stages.stage("fit calibration") as st:
                cal_purchase, cal_models, choice_reason, comparison = fits.purchase("calibration")
                cal_spend, _ = fits.spend("calibration")
                _save([*cal_models.values(), cal_spend], out / "models" / "calibration", run_id)
                st.rows = cal_purchase.n_customers_
            with stages.stage("holdout check") as st:
                scorer = BatchScorer(
                    cal_purchase,
                    cal_spend,
                    horizon=horizon,
                    per_unit_rate=per_unit_rate,
                    margin=config.margin,
                )
                accuracy, clv_check = _holdout_check(
                    engine, cal_purchase, cal_models, cal_spend, scorer
                )
                stats = _fit_statistics(cal_models)
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
                purchase, fitted, _, _ = _Fits(engine, refit, unit).purchase("full")
            else:
                purchase, fitted, choice_reason, comparison = fits.purchase("full")
            spend, fit_exclusions = fits.spend("full")
            _save([*fitted.values(), spend], out / "models", run_id)
            if comparison is not None:
                write_json(out / "comparison.json", {**comparison.to_dict(), "run_id": run_id})
            st.rows = purchase.n_customers_
            st.detail = f"{purchase!r}" + (f"; {spend!r}" if spend is not None else "")
            metrics["models"] = _fit_statistics(fitted)
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
            )
        if spend is not None:
            with stages.stage("clv metrics") as st:
                metrics["clv"] = _forecast_clv_metrics(kept["clv"])
                del kept
                st.rows = n_scored
        with stages.stage("total interval") as st:
            from .uncertainty import run_totals

            metrics["totals"] = run_totals(
                engine,
                "full",
                purchase,
                spend,
                horizon=horizon,
                per_unit_rate=per_unit_rate,
                margin=config.margin,
                level=config.total_interval_level,
            )
            st.rows = metrics["totals"]["distinct_rows"]

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
    if report:
        with stages.stage("report") as st:
            from ..report import render_report, write_figures

            _write_run(out, run, stages)
            figures = write_figures(out)
            st.rows = len(figures)
            st.detail = f"{len(figures)} charts and {render_report(out).name}"
    run["files"] = stamp_run(out, run_id)
    return _write_run(out, run, stages)


def _write_run(out: Path, run: dict[str, Any], stages: Stages) -> dict[str, Any]:
    run["stages"] = stages.records()
    run["seconds"] = round(stages.elapsed(), 3)
    run["peak_rss_mib"] = round(peak_rss_mib(), 1)
    write_json(out / "run.json", run)
    return run
