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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .exceptions import InputError
from .validation import customer_index, require_columns

Array = NDArray[np.float64]

#: Up to this many ranks, :meth:`Ranking.top_totals` of another value than the score
#: compares scores with the runs' (a pass each) instead of sorting the customers.
FEW_RANKS = 16

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


def _runs(values: Array) -> tuple[Array, NDArray[np.intp]]:
    """``np.unique(values, return_counts=True)``, NaNs as one run at the end as there, in
    about 60% of its time at 10M values: one sort in place (``values`` is overwritten) and
    one comparison of neighbours."""
    values.sort()
    n = len(values)
    nans = int(np.count_nonzero(np.isnan(values))) if n and np.isnan(values[-1]) else 0
    m = n - nans
    starts = np.empty(m, dtype=bool)
    if m:
        starts[0] = True
        np.not_equal(values[1:m], values[: m - 1], out=starts[1:])
    first = np.flatnonzero(starts)
    distinct, counts = values[first], np.diff(first, append=m)
    if nans:
        distinct, counts = np.append(distinct, np.nan), np.append(counts, nans)
    return distinct, counts


class Ranking:
    """Customers ranked by a score, highest first, as runs of equal scores.

    ``edges`` are the rank positions where the runs start, then ``n`` (``edges[r]`` customers
    rank above run ``r``). The total of a value over the top ``k`` customers is
    :meth:`top_totals`: exact at the runs' edges and interpolated linearly inside a run of
    tied scores, which is its expectation over every order of the tied customers. So the
    gains curve, the Gini and any split by rank position do not depend on the order of the
    input rows (two engines may return the same customers in different orders), and nothing
    is computed per rank position: one sort of the scores, then sums by run (each run's
    score times its size for the score itself; a second pass, each customer's run, for any
    other value).
    """

    def __init__(self, score: Array) -> None:
        self.score = score
        negated, counts = _runs(np.negative(score))
        self.values = -negated  # the distinct scores, highest first
        self.counts = counts
        self.edges = np.concatenate([[0.0], np.cumsum(counts, dtype=np.float64)])
        self._run_of: NDArray[np.intp] | None = None

    @property
    def n(self) -> int:
        """Customers ranked."""
        return int(self.edges[-1])

    def run_of(self) -> NDArray[np.intp]:
        """Each customer's run (0: the highest score)."""
        if self._run_of is None:
            run_of = np.empty(self.n, dtype=np.intp)
            run_of[np.argsort(-self.score)] = np.repeat(np.arange(len(self.counts)), self.counts)
            self._run_of = run_of
        return self._run_of

    def run_totals(self, value: Array) -> Array:
        """Total of ``value`` over the customers ranked above each edge (``len(edges)``)."""
        if value is self.score:
            sums = self.values * self.counts
        else:
            sums = np.bincount(self.run_of(), weights=value, minlength=len(self.counts))
        return np.concatenate([[0.0], np.cumsum(sums)])

    def top_totals(self, value: Array, k: ArrayLike) -> Array:
        """Total of ``value`` over the top ``k`` customers (ties averaged), for each ``k``.

        For a few ``k`` (tiers, deciles) and another ``value`` than the score, the totals
        come from the runs at those ranks only: the customers above the run's score, plus
        the run's share ``(k - edges[r]) / counts[r]`` of its own customers' total (the
        same interpolation), one comparison pass per run; no customer's run is needed (the
        :meth:`run_of` sort). Otherwise interpolated in :meth:`run_totals`.
        """
        ks = np.asarray(k, dtype=np.float64)
        if (
            value is self.score
            or self._run_of is not None
            or ks.size > FEW_RANKS
            or np.isnan(ks).any()
            or np.isnan(self.values).any()
        ):
            return np.interp(ks, self.edges, self.run_totals(value))
        value = np.asarray(value, dtype=np.float64)
        runs = np.searchsorted(self.edges, ks, side="right") - 1
        total = float(np.sum(value))
        at_run: dict[int, tuple[float, float]] = {}  # run -> (total above it, its total)
        out = np.empty(ks.shape)
        for i, (rank, run) in enumerate(zip(ks.ravel(), runs.ravel(), strict=True)):
            if rank <= 0:
                out.flat[i] = 0.0
                continue
            if run >= len(self.counts):
                out.flat[i] = total
                continue
            if run not in at_run:
                cut = self.values[run]
                at_run[run] = (
                    float(np.sum(value, where=self.score > cut)),
                    float(np.sum(value, where=self.score == cut)),
                )
            above, tied = at_run[run]
            share = (rank - self.edges[run]) / self.counts[run]
            out.flat[i] = above + share * tied if share > 0 else above
        return out[()] if out.ndim == 0 else out  # a scalar k: a scalar, as np.interp gives

    def area(self, value: Array) -> float:
        """Area under the gains curve of ``value`` (:func:`gains_curve`), exactly: the curve
        is a straight line inside each run, so the trapezoids over the runs' edges are its
        area. 0.5 when ``value`` sums to 0 (the curve is the diagonal)."""
        totals = self.run_totals(value)
        if not totals[-1] > 0:
            return 0.5
        return float(np.trapezoid(totals / totals[-1], self.edges / self.n))

    def gini(self, value: Array) -> float:
        """Gini of the gains curve of ``value``: ``2 * area - 1`` (:func:`gini`)."""
        return 2.0 * self.area(value) - 1.0

    def gains(self, value: Array, points: int | None = None) -> tuple[Array, Array]:
        """The gains curve of ``value`` (:func:`gains_curve`, ``points`` as there)."""
        n = self.n
        ranks = np.arange(n + 1, dtype=np.float64)
        if points is not None and n + 1 > points:
            ranks = np.unique(np.linspace(0, n, points).round())
        cum = self.top_totals(value, ranks)
        total = float(cum[-1])
        share_value = cum / total if total > 0 else ranks / n
        return ranks / n, share_value

    def top_share(self, value: Array, fraction: float) -> float:
        """Share of ``value`` held by the top ``fraction`` of customers (a point of the
        gains curve, interpolated between ranks as ``np.interp`` does on it)."""
        totals = self.run_totals(value)
        if not totals[-1] > 0:
            return fraction
        return float(np.interp(fraction * self.n, self.edges, totals) / totals[-1])


def _score_value(score: ArrayLike, value: ArrayLike | None) -> tuple[Array, Array]:
    s = np.asarray(score, dtype=np.float64)
    v = s if value is None else np.asarray(value, dtype=np.float64)
    if v.shape != s.shape:
        raise InputError(
            f"score and value must have one entry per customer: {s.shape} vs {v.shape}."
        )
    if len(s) == 0:
        raise InputError("A gains curve needs at least one customer.")
    return s, v


def gains_curve(
    score: ArrayLike, value: ArrayLike | None = None, *, points: int | None = None
) -> tuple[Array, Array]:
    """Cumulative share of ``value`` captured by the top customers ranked by ``score``.

    Parameters
    ----------
    score : array-like
        What customers are ranked by (predicted CLV), highest first.
    value : array-like, optional
        What is accumulated (actual holdout spend); ``score`` itself when not given.
    points : int, optional
        At most this many points, evenly spaced by rank (the first and last kept), each
        exact; by default every rank.

    Returns
    -------
    share_customers, share_value : ndarray
        Both start at 0 and end at 1, one point per customer plus the origin (or
        ``points`` of them).
    """
    s, v = _score_value(score, value)
    return Ranking(s).gains(v, points)


def gini(score: ArrayLike, value: ArrayLike | None = None) -> float:
    """Gini of the gains curve: ``2 * area under it - 1``.

    With ``value`` omitted this is the concentration of ``score`` itself (0: everyone is
    equal; near 1: one customer holds everything). With ``value`` it says how well the
    ranking by ``score`` concentrates ``value`` at the top (0: no better than random).
    """
    s, v = _score_value(score, value)
    return Ranking(s).gini(v)


def decile_table(
    score: ArrayLike, value: ArrayLike | None = None, *, groups: int = 10
) -> pd.DataFrame:
    """Customers split into ``groups`` equal groups by ``score`` rank (group 1 = highest).

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
    ranking = Ranking(s)
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


def value_tiers(scores: pd.DataFrame, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customers grouped by predicted-CLV rank into the tiers of :data:`TIERS`.

    Returns
    -------
    DataFrame
        One row per tier: ``customers``, ``customer_share``, ``clv_total``, ``clv_share``,
        ``clv_mean``, and where present in ``scores`` ``p_alive_mean`` and
        ``expected_purchases_mean``; with a holdout, ``holdout_spend_share``.
    """
    clv, actual = align_clv(scores, summary)
    n = len(clv)
    c = clv.to_numpy()
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
    ranking = Ranking(c)
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
