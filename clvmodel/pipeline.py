"""The whole job: transaction log -> summary -> fitted models -> scores, metrics, report files.

Everything :func:`run_pipeline` writes lands in one folder (the *run directory*), and every
later step (figures, the PDF report) reads only those files, so a report can be re-rendered
without refitting::

    DIR/run.json            what was run: input, unit, dates, row ledger, models, settings
    DIR/summary.csv         the RFM summary (with holdout columns when calibration_end is set)
    DIR/rejects.csv         rejected input rows with their reason (header only when none)
    DIR/models/KEY.json     every fitted model
    DIR/scores.csv          one row per customer: p_alive, expected purchases, spend, CLV
    DIR/metrics.json        fit statistics and holdout accuracy of every model
    DIR/tracking.csv        actual repeat transactions per time unit
    DIR/figures/*.png, DIR/report.pdf
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .clv import score
from .evaluation import holdout_metrics, holdout_predictions
from .exceptions import InputError
from .io import save_model, write_frame, write_json
from .models import get_model_class
from .models.base import PurchaseModel
from .models.gamma_gamma import GammaGammaModel
from .units import UNIT_NAMES, units_per_year

Log = Callable[[str], None]


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
        ISO dates; with ``calibration_end`` the models are fitted on the calibration period
        and the rest is the holdout.
    purchase_model : str
        Registry key of the purchase model, or ``"auto"``: fit every one of ``candidates``
        and keep the best by holdout RMSE (with a calibration end) or BIC (without); the
        reason is recorded in ``run.json``.
    candidates : tuple of str
        Purchase models compared by ``"auto"``.
    horizon : float, optional
        CLV horizon in ``freq`` units; default one year.
    discount_rate : float
        Annual discount rate.
    margin : float
        Profit margin applied to spend.
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
    discount_rate: float = 0.0
    margin: float = 1.0
    allow_unconverged: bool = False


def _quiet(_: str) -> None:
    pass


def fit_purchase_model(key: str, summary: Any, allow_unconverged: bool = False) -> PurchaseModel:
    """Fit the purchase model registered as ``key`` on ``summary``."""
    cls = get_model_class(key)
    if not issubclass(cls, PurchaseModel):
        raise InputError(f"{key!r} is not a purchase model; choose one of the purchase models.")
    return cls(allow_unconverged=allow_unconverged).fit(summary)


def run_pipeline(
    transactions: str | Path,
    out_dir: str | Path,
    config: RunConfig = RunConfig(),
    *,
    report: bool = True,
    log: Log = _quiet,
) -> dict[str, Any]:
    """Run the whole pipeline on a transaction log and write the run directory.

    With ``report`` (the default) the charts (``DIR/figures/*.png``) and the PDF report
    (``DIR/report.pdf``) are rendered from the files just written, as
    :func:`clvmodel.report.render_report` would later.

    The folder is written atomically (:mod:`clvmodel.rundir`): into a temporary sibling,
    swapped in at the end, so a run killed or failing part-way leaves ``out_dir`` as it was.

    Returns
    -------
    dict
        The content of ``DIR/run.json``.
    """
    from .rundir import new_run_id, staged_run_dir

    run_id = new_run_id()
    with staged_run_dir(out_dir, run_id) as stage:
        return _write_run(transactions, stage, config, report=report, log=log, run_id=run_id)


def _write_run(
    transactions: str | Path, out: Path, config: RunConfig, *, report: bool, log: Log, run_id: str
) -> dict[str, Any]:
    from .data import summarise, tracking_counts, write_rejects
    from .rundir import stamp_run

    started = time.perf_counter()
    result = summarise(
        str(transactions),
        customer_col=config.customer_col,
        date_col=config.date_col,
        amount_col=config.amount_col,
        freq=config.freq,
        observation_end=config.observation_end,
        calibration_end=config.calibration_end,
        date_format=config.date_format,
    )
    summary = result.summary
    ledger = result.ledger
    write_rejects(result, out / "rejects.csv")
    write_frame(summary, out / "summary.csv", index=True)
    log(
        f"summarised {ledger.input_rows:,} rows: {ledger.used_rows:,} used, "
        f"{ledger.rejected_rows:,} rejected; {len(summary):,} customers "
        f"(unit: {UNIT_NAMES[summary.attrs['time_unit']]})"
    )
    holdout = config.calibration_end is not None

    fitted: dict[str, Any]
    if config.purchase_model == "auto":
        from .compare import compare_models

        comparison = compare_models(summary, models=config.candidates)
        key, choice_reason = comparison.choose()
        fitted = dict(comparison.models)
        purchase = fitted[key]
        write_json(out / "comparison.json", comparison.to_dict())
        log(f"chose {key}: {choice_reason}")
    else:
        purchase = fit_purchase_model(config.purchase_model, summary, config.allow_unconverged)
        fitted = {purchase.name: purchase}
        choice_reason = f"{purchase.name} as requested"
    for model in fitted.values():
        save_model(model, out / "models" / f"{model.name}.json")
    log(f"fitted {purchase!r}")

    spend: GammaGammaModel | None = None
    if config.amount_col is not None:
        spend = GammaGammaModel().fit(summary)
        save_model(spend, out / "models" / f"{spend.name}.json")
        log(f"fitted {spend!r}; " + "; ".join(spend.result_.notes))

    unit = summary.attrs["time_unit"]
    horizon = config.horizon if config.horizon is not None else units_per_year(unit)
    scores = score(
        purchase,
        summary,
        horizon=horizon,
        spend_model=spend,
        discount_rate=config.discount_rate,
        margin=config.margin,
    )
    write_frame(scores, out / "scores.csv")

    model_metrics: dict[str, Any] = {}
    for key, model in fitted.items():
        entry = {
            "log_likelihood": model.result_.log_likelihood,
            "aic": model.result_.aic,
            "bic": model.result_.bic,
        }
        if holdout:
            entry.update(holdout_metrics(model, summary))
        model_metrics[key] = entry
    metrics: dict[str, Any] = {
        "models": model_metrics,
        "holdout": model_metrics[purchase.name] if holdout else None,
    }
    if spend is not None:
        from .clv_metrics import clv_metrics

        predicted = holdout_predictions(purchase, summary)["predicted"] if holdout else None
        metrics["clv"] = clv_metrics(scores, summary, predicted_holdout_purchases=predicted)
    write_json(out / "metrics.json", metrics)
    write_frame(tracking_counts(result), out / "tracking.csv")

    run = {
        "clvmodel_version": __version__,
        "input": str(transactions),
        "time_unit": unit,
        "first_date": summary.attrs.get("first_date"),
        "observation_end": summary.attrs.get("observation_end"),
        "calibration_end": summary.attrs.get("calibration_end"),
        "ledger": ledger.to_dict(),
        "excluded_customers": summary.attrs.get("excluded_customers", 0),
        "n_customers": len(summary),
        "n_transactions": summary.attrs.get("n_transactions"),
        "purchase_model": purchase.name,
        "spend_model": spend.name if spend is not None else None,
        "choice_reason": choice_reason,
        "config": asdict(config),
        "horizon": horizon,
        "discount_rate": config.discount_rate,
        "margin": config.margin,
        "seconds": round(time.perf_counter() - started, 3),
        "run_id": run_id,
    }
    run["files"] = stamp_run(out, run_id)
    write_json(out / "run.json", run)
    log(f"wrote scores for {len(scores):,} customers to {out / 'scores.csv'}")
    if report:
        from .report import render_report, write_figures

        figures = write_figures(out)
        log(f"wrote {len(figures)} charts to {out / 'figures'}")
        log(f"wrote {render_report(out)}")
    return run
