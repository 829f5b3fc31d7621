"""``clvmodel run --engine spark``: the pipeline with the heavy stages in Spark.

What runs where:

- **Spark** (executors): reading the log, classifying rows, the rejects ledger, the summary,
  the collapse to distinct rows, scoring (``mapInPandas``), the holdout accuracy sums, and
  writing ``summary.parquet`` and ``scores.parquet`` (folders of part files).
- **Driver**: the ledger counts and rejected rows, the per-period tracking counts, the fits
  (on the distinct rows), and the small JSON and CSV files of the run folder.

The run folder has the local pipeline's files (:mod:`clvmodel.pipeline`), with the Parquet
outputs as folders, and ``run.json`` records ``"engine": "spark"``, the master and the
seconds of each stage.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ... import __version__
from ...exceptions import InputError
from ...io import save_model, write_frame, write_json
from ...units import UNIT_NAMES, units_per_year
from .session import SparkOptions, clvmodel_errors, get_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from ...models.base import PurchaseModel
    from ...pipeline import Log, RunConfig


def holdout_metrics(model: PurchaseModel, summary: DataFrame) -> dict[str, Any]:
    """:func:`clvmodel.evaluation.holdout_metrics` of a Spark summary, from partial sums.

    Each partition runs :func:`clvmodel.evaluation.holdout_predictions` on its rows and
    returns its sums; the driver combines them (equal to the local metrics up to rounding).
    """
    from pyspark.sql import types as T

    from ...evaluation import HOLDOUT_COLUMNS, holdout_predictions
    from .summary import require_spark_columns

    require_spark_columns(summary, HOLDOUT_COLUMNS, what="calibration/holdout summary")
    columns = [*model.columns, *HOLDOUT_COLUMNS]
    names = ("n", "a", "p", "abs", "sq", "aa", "pp", "ap")

    def sums(batches: Any) -> Any:
        for batch in batches:
            if not len(batch):
                continue
            pred = holdout_predictions(model, batch)
            a, p = pred["actual"].to_numpy(), pred["predicted"].to_numpy()
            e = p - a
            values = (len(a), a.sum(), p.sum(), np.abs(e).sum(), (e * e).sum())
            values += ((a * a).sum(), (p * p).sum(), (a * p).sum())
            yield pd.DataFrame({k: [float(v)] for k, v in zip(names, values, strict=True)})

    schema = T.StructType([T.StructField(k, T.DoubleType()) for k in names])
    rows = summary.select(*columns).mapInPandas(sums, schema).collect()
    s = {k: math.fsum(r[k] for r in rows) for k in names}
    n = s["n"]
    var_a, var_p = n * s["aa"] - s["a"] ** 2, n * s["pp"] - s["p"] ** 2
    corr = (
        (n * s["ap"] - s["a"] * s["p"]) / math.sqrt(var_a * var_p)
        if n > 2 and var_a > 0 and var_p > 0
        else float("nan")
    )
    return {
        "n_customers": round(n),
        "actual_purchases": s["a"],
        "predicted_purchases": s["p"],
        "mae": s["abs"] / n,
        "rmse": math.sqrt(s["sq"] / n),
        "correlation": corr,
        "aggregate_error": s["p"] / s["a"] - 1.0 if s["a"] else float("nan"),
    }


def run_spark(
    transactions: str,
    out_dir: str | Path,
    config: RunConfig,
    options: SparkOptions,
    *,
    log: Log,
) -> dict[str, Any]:
    """Run the pipeline on Spark and write the run folder; returns ``run.json``'s content."""
    from ... import spark as clv_spark
    from ...models.gamma_gamma import GammaGammaModel
    from ...pipeline import fit_purchase_model
    from .score import write_scores

    if config.purchase_model == "auto":
        raise InputError(
            "--model auto is not available with --engine spark yet: name a purchase model "
            "(e.g. --model bgnbd); `clvmodel compare` on a sample helps choose."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stages: list[dict[str, Any]] = []

    def stage(name: str, since: float, rows: int | None) -> float:
        now = time.perf_counter()
        stages.append({"name": name, "seconds": round(now - since, 3), "rows": rows})
        log(f"{name}: {now - since:.1f} s" + (f", {rows:,} rows" if rows is not None else ""))
        return now

    spark = get_session(options)
    t = stage("spark session", started, None)
    result = clv_spark.summarise(
        transactions,
        customer_col=config.customer_col,
        date_col=config.date_col,
        amount_col=config.amount_col,
        freq=config.freq,
        observation_end=config.observation_end,
        calibration_end=config.calibration_end,
        date_format=config.date_format,
        spark=spark,
    )
    summary, ledger, attrs = result.summary, result.ledger, result.attrs
    n_customers = result.n_customers
    t = stage("summary", t, ledger.input_rows)
    write_frame(result.rejects, out / "rejects.csv")
    write_frame(result.tracking, out / "tracking.csv")
    summary.write.mode("overwrite").parquet(str(out / "summary.parquet"))
    log(
        f"summarised {ledger.input_rows:,} rows: {ledger.used_rows:,} used, "
        f"{ledger.rejected_rows:,} rejected; {n_customers:,} customers "
        f"(unit: {UNIT_NAMES[attrs['time_unit']]})"
    )
    t = stage("write summary", t, n_customers)

    purchase = fit_purchase_model(config.purchase_model, summary)
    save_model(purchase, out / "models" / f"{purchase.name}.json")
    spend: GammaGammaModel | None = None
    if config.amount_col is not None:
        spend = GammaGammaModel().fit(summary)
        save_model(spend, out / "models" / f"{spend.name}.json")
    t = stage("fit", t, purchase.n_customers_)

    unit = attrs["time_unit"]
    horizon = config.horizon if config.horizon is not None else units_per_year(unit)
    scores = clv_spark.score(
        summary,
        purchase,
        horizon=horizon,
        spend_model=spend,
        discount_rate=config.discount_rate,
        margin=config.margin,
    )
    with clvmodel_errors():
        write_scores(scores, str(out / "scores.parquet"))
    t = stage("score", t, n_customers)

    entry: dict[str, Any] = {
        "log_likelihood": purchase.result_.log_likelihood,
        "aic": purchase.result_.aic,
        "bic": purchase.result_.bic,
    }
    holdout = config.calibration_end is not None
    if holdout:
        entry.update(holdout_metrics(purchase, summary))
    metrics = {"models": {purchase.name: entry}, "holdout": entry if holdout else None}
    write_json(out / "metrics.json", metrics)
    t = stage("metrics", t, n_customers)
    summary.unpersist()

    run = {
        "clvmodel_version": __version__,
        "engine": "spark",
        "spark_master": spark.sparkContext.master,
        "input": str(transactions),
        "time_unit": unit,
        "first_date": attrs.get("first_date"),
        "observation_end": attrs.get("observation_end"),
        "calibration_end": attrs.get("calibration_end"),
        "ledger": ledger.to_dict(),
        "excluded": {"first purchase after calibration end": attrs["excluded_customers"]}
        if attrs["excluded_customers"]
        else {},
        "excluded_customers": attrs.get("excluded_customers", 0),
        "n_customers": n_customers,
        "n_transactions": attrs.get("n_transactions"),
        "purchase_model": purchase.name,
        "spend_model": spend.name if spend is not None else None,
        "choice_reason": f"{purchase.name} as requested",
        "config": asdict(config),
        "horizon": horizon,
        "discount_rate": config.discount_rate,
        "margin": config.margin,
        "stages": stages,
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_json(out / "run.json", run)
    log(f"wrote scores for {n_customers:,} customers to {out / 'scores.parquet'}")
    return run
