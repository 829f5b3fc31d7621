"""Holdout evaluation: how well a purchase model fitted on a calibration period predicts the rest.

The summary comes from :func:`clvmodel.rfm_summary` with ``calibration_end`` set, so it has
``frequency_holdout`` (purchase occasions after calibration, same-day purchases merged) and
``duration_holdout`` (the holdout length in the model's unit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

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
    return accuracy(pred["actual"].to_numpy(), pred["predicted"].to_numpy())


def weighted_holdout_metrics(
    model: PurchaseModel,
    arrays: tuple[NDArray[np.float64], ...],
    actual: NDArray[np.float64],
    duration: NDArray[np.float64],
    weights: NDArray[np.float64],
) -> dict[str, Any]:
    """:func:`holdout_metrics` on distinct rows: ``arrays`` (the model's columns),
    ``actual`` holdout purchases and ``duration`` of each row, ``weights`` customers each.

    What the pipeline uses, with the rows collapsed by the engine; the figures equal
    :func:`holdout_metrics` on the expanded customers.
    """
    if np.any(duration <= 0):
        raise InputError("The 'duration_holdout' column must be > 0.")
    predicted = np.empty(len(actual))
    for d in np.unique(duration):
        rows = duration == d
        predicted[rows] = model._expected_purchases(tuple(a[rows] for a in arrays), float(d))
    return accuracy(actual, predicted, weights)


def accuracy(
    actual: NDArray[np.float64],
    predicted: NDArray[np.float64],
    weights: NDArray[np.float64] | None = None,
) -> dict[str, Any]:
    """The figures of :func:`holdout_metrics` from actual and predicted purchases, each row
    standing for ``weights`` customers (one each by default)."""
    w = np.ones(len(actual)) if weights is None else np.asarray(weights, dtype=np.float64)
    n = float(w.sum())
    err = predicted - actual
    actual_total = float(w @ actual)
    predicted_total = float(w @ predicted)
    corr = float("nan")
    if n > 2:
        ma, mp = actual_total / n, predicted_total / n
        va = float(w @ (actual - ma) ** 2)
        vp = float(w @ (predicted - mp) ** 2)
        if va > 0 and vp > 0:
            corr = float(w @ ((actual - ma) * (predicted - mp))) / np.sqrt(va * vp)
    return {
        "n_customers": round(n),
        "actual_purchases": actual_total,
        "predicted_purchases": predicted_total,
        "mae": float(w @ np.abs(err)) / n,
        "rmse": float(np.sqrt(float(w @ err**2) / n)),
        "correlation": corr,
        "aggregate_error": predicted_total / actual_total - 1.0 if actual_total else float("nan"),
    }
