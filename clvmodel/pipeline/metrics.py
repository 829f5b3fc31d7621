"""The run's checks of its own forecasts: holdout accuracy and the CLV concentration."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..engines.duckdb import DuckDBSummaryEngine
from ..evaluation import weighted_holdout_metrics
from ..models.base import PurchaseModel
from ..models.gamma_gamma import GammaGammaModel
from .scoring import BatchScorer


def holdout_check(
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


#: :func:`forecast_clv_metrics` weights the sorted CLV by its ranks this many at a time.
RANK_CHUNK = 1 << 20


def forecast_clv_metrics(c: np.ndarray) -> dict[str, Any]:
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
    ranked = 0.0  # Σ_k k c_(k), RANK_CHUNK ranks at a time (no array of n ranks)
    for start in range(0, n, RANK_CHUNK):
        part = c[start : start + RANK_CHUNK]
        ranked += float(np.arange(start + 1, start + len(part) + 1, dtype=np.float64) @ part)
    area = (ranked - total / 2.0) / (n * total) if total > 0 else 0.5

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
