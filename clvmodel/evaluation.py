"""Holdout evaluation: how well a purchase model fitted on a calibration period predicts the rest.

The summary comes from :func:`clvmodel.rfm_summary` with ``calibration_end`` set, so it has
``frequency_holdout`` (purchase occasions after calibration, same-day purchases merged) and
``duration_holdout`` (the holdout length in the model's unit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .exceptions import InputError
from .models.base import PurchaseModel
from .validation import numeric_column, require_columns

HOLDOUT_COLUMNS = ("frequency_holdout", "duration_holdout")


def holdout_predictions(model: PurchaseModel, summary: pd.DataFrame) -> pd.DataFrame:
    """Actual and predicted holdout purchases of each customer.

    Returns
    -------
    DataFrame
        ``actual`` and ``predicted`` by customer id.
    """
    require_columns(summary, HOLDOUT_COLUMNS, what="calibration/holdout summary")
    arrays, labels = model._arrays(summary)
    actual = numeric_column(summary, "frequency_holdout", labels)
    duration = numeric_column(summary, "duration_holdout", labels)
    if np.any(duration <= 0):
        raise InputError("The 'duration_holdout' column must be > 0.")
    durations = np.unique(duration)
    predicted = np.empty(len(labels))
    for d in durations:  # one holdout length in practice; vectorised per distinct length
        rows = duration == d
        sub = tuple(a[rows] for a in arrays)
        predicted[rows] = model._expected_purchases(sub, float(d))
    return pd.DataFrame({"actual": actual, "predicted": predicted}, index=labels)


def holdout_metrics(model: PurchaseModel, summary: pd.DataFrame) -> dict[str, Any]:
    """Per-customer and aggregate accuracy of holdout purchase predictions.

    Returns
    -------
    dict
        ``n_customers``, ``actual_purchases`` and ``predicted_purchases`` (totals),
        ``mae``, ``rmse`` (per customer), ``correlation`` (Pearson, per customer) and
        ``aggregate_error`` (predicted / actual - 1).
    """
    pred = holdout_predictions(model, summary)
    err = pred["predicted"].to_numpy() - pred["actual"].to_numpy()
    actual_total = float(pred["actual"].sum())
    predicted_total = float(pred["predicted"].sum())
    corr = (
        float(np.corrcoef(pred["actual"], pred["predicted"])[0, 1])
        if len(pred) > 2 and pred["actual"].std() > 0
        else float("nan")
    )
    return {
        "n_customers": len(pred),
        "actual_purchases": actual_total,
        "predicted_purchases": predicted_total,
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "correlation": corr,
        "aggregate_error": predicted_total / actual_total - 1.0 if actual_total else float("nan"),
    }
