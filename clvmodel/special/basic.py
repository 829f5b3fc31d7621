"""Small log-space pieces the other modules share: log(1 - e^x), log(e^a - e^b), softplus
and its derivatives, ratios of gamma functions and log B(p, q) without cancellation, and
the counting of repeated values."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def count_index(x: ArrayLike) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Map non-negative integer counts to indices into a grid of the distinct counts.

    Functions of a count alone (``gammaln(r + x)``, ``digamma(b + x)``) are then evaluated
    once per distinct count and gathered with ``values[index]``: a large saving when
    millions of customers share a few hundred purchase counts. The grid is
    ``0, 1, ..., max(x)`` when that is short (at most ``4 n + 1024`` values), otherwise the
    sorted distinct counts with 0 first, so the work is bounded by the data, not by the
    size of its largest value (a frequency of 1e18 costs what 18 does).

    Returns
    -------
    index : ndarray of intp
        Position of each ``x`` in ``grid``.
    grid : ndarray of float
        The counts, ascending; ``grid[0] == 0`` always.
    """
    xa = np.asarray(x)
    top = float(xa.max()) if xa.size else 0.0
    if top + 1 <= 4 * xa.size + 1024:
        xi = xa.astype(np.intp, copy=False)
        return xi, np.arange(int(top) + 1, dtype=np.float64)
    values = np.asarray(xa, dtype=np.float64).ravel()
    grid, inverse = np.unique(np.concatenate([[0.0], values]), return_inverse=True)
    return inverse[1:].reshape(xa.shape).astype(np.intp), grid


def _log1p_minus(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(1 + x) - x`` for ``x > -1``, to a few ulps of itself however small ``x``.

    For ``|x| < 1/2``: with ``s = x / (2 + x)``, ``log(1 + x) = 2 atanh(s)`` and
    ``x - 2s = x s``, so it is ``2 Σ_{k≥1} s^(2k+1) / (2k+1) - x s`` (``|s| <= 1/3``,
    18 terms).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.log1p(x) - x
        s = x / (2.0 + x)
        s2 = s * s
        acc = np.zeros_like(s)
        for k in range(18, 0, -1):
            acc = acc * s2 + 1.0 / (2 * k + 1)
        series = 2.0 * s * s2 * acc - x * s
    return np.where(np.abs(x) < 0.5, series, direct)


def _minus_expm1(d: NDArray[np.float64]) -> NDArray[np.float64]:
    """``d - (e^d - 1)`` (``<= 0``) without cancellation: ``-Σ_{k≥2} d^k / k!`` for
    ``|d| < 1/2`` (18 terms)."""
    acc = np.zeros_like(d)
    for k in range(19, 1, -1):
        acc = (acc * d + 1.0) / k
    return np.where(np.abs(d) < 0.5, -d * d * acc, d - np.expm1(d))


def log1mexp(x: ArrayLike) -> NDArray[np.float64]:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate near 0 and for very negative ``x``.

    Mächler (2012), "Accurately computing log(1 - exp(-|a|))".
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_diff_exp(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """``log(exp(a) - exp(b))`` for ``a >= b``; ``-inf`` where they are equal."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return a + log1mexp(b - a)


def _softplus(u: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.logaddexp(0.0, u)


def _sigmoid(u: NDArray[np.float64]) -> NDArray[np.float64]:
    from scipy.special import expit

    return np.asarray(expit(u), dtype=np.float64)


_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)


def log_gamma_ratio(x: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
    """``log Γ(x+a) - log Γ(x)`` for ``x > 0, a >= 0``, without the cancellation of two gammaln.

    ``gammaln(10^4)`` is about 8e4, so a difference of two loses 11 digits of absolute
    accuracy; here Stirling's series is differenced term by term (after shifting ``x`` above
    8 by the recurrence), ``(x - 1/2) log1p(a/x) + a log(x+a) - a + Σ B_2k / (2k(2k-1))
    ((x+a)^(1-2k) - x^(1-2k))``, accurate to a few ulps of the result.
    """
    x_, a_ = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(a, dtype=np.float64))
    x_, a_ = x_.astype(np.float64), a_.astype(np.float64)
    shift = np.zeros(x_.shape)
    n = np.maximum(np.ceil(8.0 - x_), 0.0)
    for j in range(int(n.max()) if n.size else 0):
        use = j < n
        shift += np.where(use, np.log(x_ + j) - np.log(x_ + a_ + j), 0.0)
    y = x_ + n
    out = (y - 0.5) * np.log1p(a_ / y) + a_ * np.log(y + a_) - a_
    for k, coef in enumerate(_STIRLING, start=1):
        out += coef * ((y + a_) ** (1 - 2 * k) - y ** (1 - 2 * k))
    return out + shift


def log_beta(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """``log B(p, q)``, accurate when one argument is large (see :func:`log_gamma_ratio`)."""
    from scipy.special import gammaln

    p_, q_ = np.broadcast_arrays(np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64))
    small, big = np.minimum(p_, q_), np.maximum(p_, q_)
    return gammaln(small) - log_gamma_ratio(big, small)


def _softplus_step(m: NDArray[np.float64], d: NDArray[np.float64]) -> NDArray[np.float64]:
    """``softplus(m + d) - softplus(m)`` to a few ulps of itself, however small.

    ``(1 + e^(m+d)) / (1 + e^m) = 1 + σ(m) (e^d - 1) = σ(-m) + σ(m) e^d``: the first form
    by ``log1p``/``expm1`` (no cancellation while ``σ(m) (1 - e^d)`` stays below 1/2), the
    second, a sum of two positive terms below 0.9, for ``d <= -1`` with ``m > 0``, and the
    plain difference where ``e^d`` would overflow.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        near = np.log1p(_sigmoid(m) * np.expm1(np.minimum(d, 700.0)))
        far_left = np.logaddexp(-_softplus(m), d - _softplus(-m))
    out = np.where((d <= -1.0) & (m > 0), far_left, near)
    return np.where(d < 700.0, out, _softplus(m + d) - _softplus(m))
