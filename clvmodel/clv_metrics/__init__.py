"""How well predicted CLV ranks customers: gains curve, Gini, decile lift, value tiers.

Every metric is one sort and a few bincounts over whole numpy arrays (no per-group pandas
work), so ten million customers cost a few seconds.

Maths on saved outputs only (a scores table and a summary), so that metrics can be
recomputed from a run directory without refitting. Holdout spend of a customer is
``frequency_holdout * monetary_value_holdout``: purchase occasions after the calibration end
times their mean value.

The gains curve ranks customers by predicted CLV, highest first, and plots the cumulative
share of a value (predicted CLV, or actual holdout spend) against the share of customers
ranked. Its Gini is ``2 * area - 1``: 0 for a random ranking; for actual spend ranked by
actual spend it is the concentration of spend (the best any ranking can do).

Modules: :mod:`.ranking` (customers ranked by a score: gains curve, Gini) and
:mod:`.tables` (CLV beside holdout spend; deciles, value tiers); :func:`clv_metrics` here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..validation import customer_index
from .ranking import FEW_RANKS, Ranking, gains_curve, gini
from .tables import (
    HOLDOUT_SPEND_COLUMNS,
    TIERS,
    RankedCLV,
    _text,
    align_clv,
    decile_table,
    has_holdout,
    holdout_spend,
    value_tiers,
)

__all__ = [
    "FEW_RANKS",
    "HOLDOUT_SPEND_COLUMNS",
    "TIERS",
    "RankedCLV",
    "Ranking",
    "align_clv",
    "clv_metrics",
    "decile_table",
    "gains_curve",
    "gini",
    "has_holdout",
    "holdout_spend",
    "value_tiers",
]


def clv_metrics(
    scores: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    *,
    predicted_holdout_purchases: pd.Series | None = None,
) -> dict[str, Any]:
    """Concentration of predicted CLV and, with a holdout, how well it ranks actual spend.

    Parameters
    ----------
    scores : DataFrame
        ``customer_id`` and ``clv`` (as written to ``scores.csv``); ``expected_spend`` is
        used for the aggregate comparison.
    summary : DataFrame, optional
        The RFM summary; with ``frequency_holdout`` and ``monetary_value_holdout`` the
        holdout metrics are computed, otherwise they are ``None``.
    predicted_holdout_purchases : Series, optional
        The purchase model's expected holdout purchases by customer id (``predicted`` of
        :func:`clvmodel.evaluation.holdout_predictions`). With it (and ``expected_spend`` in
        ``scores``) the predicted holdout spend ``Σ_i E[X_i] E[M_i]`` is compared with the
        actual; CLV itself covers the scoring horizon, discounted, so it is not comparable.

    Returns
    -------
    dict
        ``n_customers``, ``clv_total``, ``clv_mean``, ``clv_median``, ``gini_predicted``
        (concentration of predicted CLV), ``top_10pct_share`` and ``top_20pct_share`` (of
        predicted CLV); with a holdout ``holdout``: True, ``holdout_spend_total``, ``gini``
        (of holdout spend ranked by predicted CLV), ``gini_perfect`` (ranked by actual spend),
        ``gini_normalized`` (their ratio), ``spearman`` (rank correlation of CLV and holdout
        spend), ``top_10pct_holdout_share``, ``decile_lift`` (one dict per predicted-CLV
        decile: ``decile``, ``customers``, ``predicted_share``, ``actual_share``, ``lift``) and,
        given ``predicted_holdout_purchases``, ``predicted_holdout_spend`` and
        ``aggregate_spend_error`` (predicted / actual - 1).
    """
    clv, actual = align_clv(scores, summary)
    c = clv.to_numpy()
    if len(c) == 0:
        raise InputError("A gains curve needs at least one customer.")
    ranking = Ranking(c)
    out: dict[str, Any] = {
        "n_customers": len(c),
        "clv_total": float(c.sum()),
        "clv_mean": float(c.mean()),
        "clv_median": float(np.median(c)),
        "gini_predicted": ranking.gini(c),
        "top_10pct_share": ranking.top_share(c, 0.1),
        "top_20pct_share": ranking.top_share(c, 0.2),
        "holdout": actual is not None,
        "holdout_spend_total": None,
        "gini": None,
        "gini_perfect": None,
        "gini_normalized": None,
        "spearman": None,
        "top_10pct_holdout_share": None,
        "decile_lift": None,
        "predicted_holdout_spend": None,
        "aggregate_spend_error": None,
    }
    if actual is None:
        return out
    a = actual.to_numpy()
    g = ranking.gini(a)
    g_best = gini(a, a)
    table = decile_table(c, a) if len(c) >= 10 else None
    out.update(
        holdout_spend_total=float(a.sum()),
        gini=g,
        gini_perfect=g_best,
        gini_normalized=g / g_best if g_best > 0 else None,
        spearman=float(pd.Series(c).corr(pd.Series(a), method="spearman"))
        if np.std(a) > 0 and np.std(c) > 0
        else None,
        top_10pct_holdout_share=ranking.top_share(a, 0.1),
        decile_lift=None
        if table is None
        else [
            {
                "decile": int(d),
                "customers": int(row["customers"]),
                "predicted_share": float(row["predicted_share"]),
                "actual_share": float(row["actual_share"]),
                "lift": float(row["lift"]),
            }
            for d, row in table.iterrows()
        ],
    )
    if predicted_holdout_purchases is not None and "expected_spend" in scores.columns:
        labels = _text(customer_index(scores))
        spend = pd.Series(scores["expected_spend"].to_numpy(np.float64), index=labels)
        pred = pd.Series(
            predicted_holdout_purchases.to_numpy(np.float64),
            index=predicted_holdout_purchases.index.astype(str),
        )
        common = actual.index.intersection(pred.index, sort=False)
        predicted = float((pred.loc[common] * spend.loc[common]).sum())
        actual_total = float(actual.loc[common].sum())
        out["predicted_holdout_spend"] = predicted
        out["aggregate_spend_error"] = predicted / actual_total - 1.0 if actual_total else None
    return out
