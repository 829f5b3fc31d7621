"""Predicted CLV beside holdout spend, by customer id, and the tables of customers ranked by
CLV: deciles and value tiers."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..exceptions import InputError
from ..validation import customer_index, require_columns
from .ranking import Ranking

HOLDOUT_SPEND_COLUMNS = ("frequency_holdout", "monetary_value_holdout")

#: Value tiers by predicted-CLV rank: (label, top share of customers where the tier ends).
TIERS: tuple[tuple[str, float], ...] = (
    ("Top 1%", 0.01),
    ("Next 4% (top 5%)", 0.05),
    ("Next 15% (top 20%)", 0.20),
    ("Next 30% (top 50%)", 0.50),
    ("Bottom 50%", 1.00),
)


def _text(labels: pd.Index) -> pd.Index:
    """Customer ids as text (a no-op for ids already read as text)."""
    if pd.api.types.is_string_dtype(labels.dtype) and not pd.api.types.is_object_dtype(
        labels.dtype
    ):
        return labels
    return labels.astype(str)


def has_holdout(summary: pd.DataFrame | None) -> bool:
    """Whether ``summary`` carries holdout purchases and spend."""
    return summary is not None and all(c in summary.columns for c in HOLDOUT_SPEND_COLUMNS)


def holdout_spend(summary: pd.DataFrame) -> pd.Series:
    """Actual holdout spend of each customer, ``frequency_holdout * monetary_value_holdout``.

    A customer with no holdout purchase has spend 0 whatever their (empty) mean value says.
    """
    require_columns(summary, HOLDOUT_SPEND_COLUMNS, what="calibration/holdout summary")
    labels = _text(customer_index(summary))
    freq = pd.to_numeric(summary["frequency_holdout"], errors="coerce").to_numpy(np.float64)
    value = pd.to_numeric(summary["monetary_value_holdout"], errors="coerce").to_numpy(np.float64)
    spend = np.where(freq > 0, freq * np.nan_to_num(value), 0.0)
    bad = ~np.isfinite(spend) | (spend < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"Holdout spend must be a finite number >= 0. Got frequency_holdout={freq[i]!r}, "
            f"monetary_value_holdout={value[i]!r} for customer {labels[i]!r} "
            f"({int(bad.sum()):,} rows break this rule)."
        )
    return pd.Series(spend, index=labels, name="holdout_spend")


def align_clv(
    scores: pd.DataFrame, summary: pd.DataFrame | None = None
) -> tuple[pd.Series, pd.Series | None]:
    """Predicted CLV by customer id and, where the summary has a holdout, actual spend.

    Customer ids are compared as strings (``summary.csv`` and ``scores.csv`` may be read with
    different dtypes); customers present in only one of the two are dropped from both.
    """
    require_columns(scores, ("clv",), what="scores")
    labels = _text(customer_index(scores))
    clv = pd.Series(
        pd.to_numeric(scores["clv"], errors="coerce").to_numpy(np.float64), index=labels, name="clv"
    )
    bad = ~np.isfinite(clv.to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"The 'clv' column of the scores must hold finite numbers. Got "
            f"clv={scores['clv'].iloc[i]!r} for customer {labels[i]!r} "
            f"({int(bad.sum()):,} rows break this rule)."
        )
    if not has_holdout(summary):
        return clv, None
    assert summary is not None
    actual = holdout_spend(summary)
    if clv.index.equals(actual.index):  # one run's files: same customers, same order
        return clv, actual
    common = clv.index.intersection(actual.index, sort=False)
    if len(common) == 0:
        raise InputError(
            "The scores and the summary share no customer_id: they do not come from one run."
        )
    return clv.loc[common], actual.loc[common]


class RankedCLV:
    """Predicted CLV and, with a holdout, actual spend, aligned by customer id
    (:func:`align_clv`), with the customers ranked by CLV (:attr:`ranking`, sorted on
    first use): what the value charts and tables of one run share, so that the sort of
    every customer is done once.

    Attributes
    ----------
    clv : Series
        Predicted CLV by customer id (text).
    actual : Series or None
        Actual holdout spend of the same customers, where the summary has a holdout.
    """

    def __init__(self, clv: pd.Series, actual: pd.Series | None = None) -> None:
        self.clv = clv
        self.actual = actual

    @classmethod
    def of(cls, scores: pd.DataFrame, summary: pd.DataFrame | None = None) -> RankedCLV:
        """:func:`align_clv` of ``scores`` and ``summary``."""
        return cls(*align_clv(scores, summary))

    @cached_property
    def ranking(self) -> Ranking:
        """The customers ranked by :attr:`clv`."""
        return Ranking(self.clv.to_numpy())

    def deciles(self) -> pd.DataFrame:
        """:func:`decile_table` of CLV and, with a holdout, actual spend."""
        actual = None if self.actual is None else self.actual.to_numpy()
        # The ranking's own array: decile_table then need not check it is the same scores.
        return decile_table(self.ranking.score, actual, ranking=self.ranking)


def decile_table(
    score: ArrayLike,
    value: ArrayLike | None = None,
    *,
    groups: int = 10,
    ranking: Ranking | None = None,
) -> pd.DataFrame:
    """Customers split into ``groups`` equal groups by ``score`` rank (group 1 = highest).

    ``ranking`` is ``Ranking(score)`` when already made (one sort for several tables).

    Returns
    -------
    DataFrame
        Indexed by ``decile`` (1..groups): ``customers``, ``predicted`` (sum of score),
        ``predicted_share`` and, with ``value``, ``actual`` (sum of value), ``actual_share``
        and ``lift`` (``actual_share`` over the group's share of customers: 1 is random).
    """
    s = np.asarray(score, dtype=np.float64)
    n = len(s)
    if n < groups:
        raise InputError(
            f"Splitting into {groups} groups needs at least {groups} customers. Got {n}."
        )
    # Rank position p (0 = the top) is in group p * groups // n: groups start at these.
    bounds = -(-np.arange(groups + 1) * n // groups)
    v = None if value is None else np.asarray(value, dtype=np.float64)
    if ranking is None:
        ranking = Ranking(s)
    elif ranking.n != n or not (
        ranking.score is s or np.array_equal(ranking.score, s, equal_nan=True)
    ):
        raise InputError("The 'ranking' parameter must be Ranking(score), of the same scores.")
    s = ranking.score  # the array the ranking sums (the score itself: no second pass)
    columns: dict[str, Any] = {
        "customers": np.diff(bounds),
        "predicted": np.diff(ranking.top_totals(s, bounds)),
    }
    if v is not None:
        columns["actual"] = np.diff(ranking.top_totals(v, bounds))
    table = pd.DataFrame(columns, index=pd.Index(np.arange(1, groups + 1), name="decile"))
    total = float(s.sum())
    table["predicted_share"] = table["predicted"] / total if total else np.nan
    if value is not None:
        total = table["actual"].sum()
        table["actual_share"] = table["actual"] / total if total else np.nan
        table["lift"] = table["actual_share"] / (table["customers"] / n)
    return table


def value_tiers(
    scores: pd.DataFrame, summary: pd.DataFrame | None = None, *, ranked: RankedCLV | None = None
) -> pd.DataFrame:
    """Customers grouped by predicted-CLV rank into the tiers of :data:`TIERS`.

    ``ranked`` is ``RankedCLV.of(scores, summary)`` when already made (one sort).

    Returns
    -------
    DataFrame
        One row per tier: ``customers``, ``customer_share``, ``clv_total``, ``clv_share``,
        ``clv_mean``, and where present in ``scores`` ``p_alive_mean`` and
        ``expected_purchases_mean``; with a holdout, ``holdout_spend_share``.
    """
    if ranked is None:
        ranked = RankedCLV.of(scores, summary)
    clv, actual = ranked.clv, ranked.actual
    n = len(clv)
    c = ranked.ranking.score
    bounds = np.array([b for _, b in TIERS])
    # The tier of each rank position 1..n (the top share it reaches).
    tier = np.searchsorted(bounds, (np.arange(n) + 1) / n - 1e-12, side="left")
    k = len(TIERS)
    counts = np.bincount(tier, minlength=k)
    del tier
    columns = {"clv": c}
    labels = _text(customer_index(scores))
    same_order = labels.equals(clv.index)
    for col in ("p_alive", "expected_purchases"):
        if col in scores.columns:
            values = scores[col].to_numpy(np.float64)
            if not same_order:
                values = pd.Series(values, index=labels).loc[clv.index].to_numpy()
            columns[col] = values
    if actual is not None:
        columns["holdout_spend"] = actual.to_numpy(np.float64)
    # Tiers take whole rank positions; customers tied across a tier's edge share it.
    edges = np.concatenate([[0], np.cumsum(counts)])
    ranking = ranked.ranking
    sums = {key: np.diff(ranking.top_totals(v, edges)) for key, v in columns.items()}
    total_clv = float(c.sum())
    total_actual = float(sums["holdout_spend"].sum()) if actual is not None else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = {
            key: np.where(counts > 0, v / np.maximum(counts, 1), np.nan) for key, v in sums.items()
        }
    rows = []
    for i, (label, _) in enumerate(TIERS):
        row: dict[str, Any] = {
            "tier": label,
            "customers": int(counts[i]),
            "customer_share": counts[i] / n,
            "clv_total": float(sums["clv"][i]),
            "clv_share": float(sums["clv"][i]) / total_clv if total_clv else np.nan,
            "clv_mean": float(mean["clv"][i]),
        }
        for col in ("p_alive", "expected_purchases"):
            if col in sums:
                row[f"{col}_mean"] = float(mean[col][i])
        if actual is not None:
            row["holdout_spend_share"] = (
                float(sums["holdout_spend"][i]) / total_actual if total_actual else np.nan
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("tier")
