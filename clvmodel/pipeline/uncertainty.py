"""Uncertainty in a pipeline run: intervals on each customer's scores and on the totals.

:class:`IntervalScorer` adds ``<name>_lower``/``<name>_upper`` columns to each scoring
batch (:func:`clvmodel.intervals.prediction_intervals`, delta method, on the batch's
distinct rows). :func:`run_totals` gives the interval of the run's totals (active
customers, purchases, CLV) from collapsed rows: the engine collapses the summary on the
purchase model's columns (``frequency, recency, T`` and any covariates) with the number of
customers and their summed ``frequency × monetary_value`` per row;
:func:`clvmodel.intervals.total_intervals` needs nothing else (Gamma-Gamma's expected
spend is linear in ``x m̄`` at a given ``x``), so the cost is a few predictions on the
distinct rows, however many customers there are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..clv import expected_buyers
from ..exceptions import InputError
from ..intervals import prediction_intervals, total_intervals
from ..models.base import PurchaseModel
from ..models.gamma_gamma import GammaGammaModel
from .fits import Collapsed
from .scoring import BatchScorer, _floats


class IntervalScorer(BatchScorer):
    """A :class:`BatchScorer` whose scores carry delta-method intervals at ``level``.

    ``discount_rate`` is the annual rate (``per_unit_rate`` its value per ``unit``).
    """

    def __init__(
        self, *args: Any, level: float, unit: str, discount_rate: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.level = float(level)
        self.unit = unit
        self.discount_rate = float(discount_rate)

    def columns(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        out = super().columns(batch)
        frame = pd.DataFrame({c: _floats(batch, c) for c in self.inputs[1:]})
        frame.attrs["time_unit"] = self.unit
        bounds = prediction_intervals(
            self.purchase,
            frame,
            horizon=self.horizon,
            spend_model=self.spend,
            discount_rate=self.discount_rate,
            margin=self.margin,
            step=self.step,
            level=self.level,
            method="delta",
        )
        for name in bounds.columns:
            if name.endswith(("_lower", "_upper")):
                out[name] = bounds[name].to_numpy()
        return out


def run_totals(
    collapsed: Collapsed,
    purchase: PurchaseModel,
    spend: GammaGammaModel | None,
    *,
    horizon: float,
    per_unit_rate: float,
    margin: float,
    level: float,
    step: float = 1.0,
) -> dict[str, Any]:
    """``metrics.json`` ``totals``: estimate and delta-method interval of each total, or
    the reason there is none (a fit without a covariance matrix).

    ``collapsed``: the rows of :func:`clvmodel.pipeline.fits.collapsed_rows` (the purchase
    fit's own, when it has them). Pure numpy: the run computes it beside the scoring.
    Also ``customers`` (the rows' customers) and ``buyers_expected``
    (:func:`clvmodel.clv.expected_buyers` over the horizon; ``None`` for a model without a
    conditional distribution of purchases), which the report shows."""
    rows, count, spend_sum = collapsed
    out: dict[str, Any] = {"level": level, "method": "delta", "distinct_rows": len(count)}
    # The report's expected buyers, from the same rows (not from every customer's scores).
    out["customers"] = int(np.sum(count))
    out["buyers_expected"] = expected_buyers(
        purchase, dict(zip(purchase.columns, rows, strict=True)), t=horizon, weights=count
    )
    try:
        out.update(
            total_intervals(
                purchase,
                rows,
                count,
                horizon=horizon,
                spend_model=spend,
                spend_sum=spend_sum,
                per_unit_rate=per_unit_rate,
                margin=margin,
                step=step,
                level=level,
            )
        )
    except InputError as exc:
        out["unavailable"] = str(exc)
    return out
