"""Customers ranked by a score as runs of tied scores: gains curves and Ginis that do not
depend on the order of the rows (see :class:`Ranking`)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..exceptions import InputError

Array = NDArray[np.float64]

#: Up to this many ranks, :meth:`Ranking.top_totals` of another value than the score
#: compares scores with the runs' (a pass each) instead of sorting the customers.
FEW_RANKS = 16


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
        # The first NaN of the sorted values, sign and all, as np.unique keeps it.
        distinct, counts = np.append(distinct, values[m]), np.append(counts, nans)
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
        :meth:`run_of` sort). Otherwise interpolated in :meth:`run_totals`. The path depends
        on the arguments only, not on what was computed before, so that a ranking shared
        by several tables gives each the sums, to the last bit, that a fresh one would.
        """
        ks = np.asarray(k, dtype=np.float64)
        if (
            value is self.score
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
