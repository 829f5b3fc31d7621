"""Numerically delicate helpers, kept in one place with their own tests at extreme inputs.

Everything here works in log space: products of gamma functions become sums of ``gammaln``,
and sums of terms of very different size go through :func:`numpy.logaddexp`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def count_index(x: ArrayLike) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Map non-negative integer counts to indices into the grid ``0, 1, ..., max(x)``.

    Functions of a count alone (``gammaln(r + x)``, ``digamma(b + x)``) are then evaluated
    once per distinct count and gathered with ``values[index]``: a large saving when
    millions of customers share a few hundred purchase counts.

    Returns
    -------
    index : ndarray of intp
        ``x`` as integer indices.
    grid : ndarray of float
        ``0.0, 1.0, ..., max(x)``.
    """
    xi = np.asarray(x).astype(np.intp, copy=False)
    top = int(xi.max()) if xi.size else 0
    return xi, np.arange(top + 1, dtype=np.float64)


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
