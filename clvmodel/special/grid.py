"""2F1(1, b; c; z) at many z for the same (b, c), as the Pareto/NBD likelihood needs it over
a grid of customers: the power series summed by matrix products, the rest by
:func:`~.hypergeometric.log_hyp2f1_unit`."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .hypergeometric import log_hyp2f1_unit

#: The grid evaluation sums the power series by matrix products for columns up to this ``z``
#: (at most 410 terms); the columns beyond go to :func:`log_hyp2f1_unit`.
_GRID_MAX_Z = 0.9


#: Series coefficients and powers below this are dropped (their products would be denormal,
#: which slows the matrix product; each is below 1e-150 of the sum's first term, 1).
_GRID_TINY = 1e-150


#: OpenBLAS runs a matrix product of at most 2^18 multiply-adds on the calling thread and
#: larger ones on all cores; at the sizes of the grid's products its threads cost more than
#: they save (many times more on a busy machine), so the products go in blocks of columns.
_GEMM_BLOCK = 1 << 18


def _matmul(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """``a @ b`` in blocks of columns of ``b`` of at most :data:`_GEMM_BLOCK` multiply-adds."""
    out = np.empty((a.shape[0], b.shape[1]))
    step = max(1, _GEMM_BLOCK // max(1, a.size))
    for j in range(0, b.shape[1], step):
        out[:, j : j + step] = a @ b[:, j : j + step]
    return out


def _used(index: NDArray[np.intp], size: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The distinct values of ``index`` (ascending, all below ``size``) and the position of
    each entry among them."""
    mark = np.zeros(size, dtype=bool)
    mark[index] = True
    return np.flatnonzero(mark), (np.cumsum(mark) - 1)[index]


def _unit_series_terms(z: NDArray[np.float64]) -> NDArray[np.intp]:
    """Terms of ``Σ_k (b)_k / (c)_k z^k`` (``0 < b < c``) that leave a tail below 1e-17.

    Every term is at most ``z^k`` and the sum at least 1, so ``K`` terms leave at most
    ``z^K / (1 - z)`` relative to the sum: ``K = log(1e-17 (1 - z)) / log z`` (and at least
    2, the derivative in ``z`` starting at the term ``k = 1``).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.log(1e-17 * (1.0 - z)) / np.log(z)
    return np.where(z > 0, np.ceil(k), 0.0).astype(np.intp) + 2  # 2: d/dz needs C_1


def log_hyp2f1_unit_grid(
    b: ArrayLike,
    c: ArrayLike,
    z: ArrayLike,
    *,
    log1mz: ArrayLike | None = None,
    gradient: bool = False,
    cells: tuple[NDArray[np.intp], NDArray[np.intp]] | None = None,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`log_hyp2f1_unit` on the grid of rows ``(b_i, c_i)`` and columns ``z_j``.

    The Pareto/NBD likelihood with scalar parameters needs ``2F1(1, b; c; z)`` with ``b, c``
    functions of the purchase count and ``z`` a function of the time alone: on the grid of
    distinct counts and distinct times the power series is a matrix product,
    ``2F1 = C Z`` with ``C_ik = (b_i)_k / (c_i)_k`` and ``Z_kj = z_j^k``, and so are its
    derivatives (``d/db``: ``C_ik Σ_{l<k} 1/(b_i+l)``; ``d/dc``: ``-C_ik Σ_{l<k} 1/(c_i+l)``;
    ``d/dz``: ``k C_ik z_j^(k-1)``). Every term is positive (no cancellation) and the series
    is cut where its tail is below 1e-17 of the sum (:func:`_unit_series_terms`), columns
    grouped by the number of terms they need. Cells whose ``z`` is outside ``[0, 0.9]`` are
    evaluated by :func:`log_hyp2f1_unit`.

    Parameters
    ----------
    b, c : array-like, shape ``(m,)``
        ``0 < b < c``, ``c > 1``.
    z : array-like, shape ``(n,)``
        ``z < 1``.
    log1mz : array-like, shape ``(n,)``, optional
        ``log(1 - z)`` computed without cancellation (see :func:`log_hyp2f1`).
    gradient : bool
        Also return the derivatives in ``b``, ``c`` and ``z``.
    cells : (rows, cols), optional
        Only the cells ``(rows[i], cols[i])`` are returned (all, as a grid, by default).

    Returns
    -------
    value : ndarray, shape ``(m, n)`` (or ``(len(rows),)`` with ``cells``)
    gradient : ndarray, shape ``(3, m, n)`` (or ``(3, len(rows))``)
        Only with ``gradient=True``.
    """
    b_ = np.ravel(np.asarray(b, dtype=np.float64))
    c_ = np.ravel(np.asarray(c, dtype=np.float64))
    z_ = np.ravel(np.asarray(z, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        l1z = np.log1p(-z_) if log1mz is None else np.ravel(np.asarray(log1mz, dtype=np.float64))
    bad_rows = ~((b_ > 0) & (b_ < c_) & (c_ > 1))
    bad_cols = ~((z_ < 1) & np.isfinite(l1z))
    if bad_rows.any() or bad_cols.any():
        i = int(np.argmax(bad_rows)) if bad_rows.any() else 0
        j = int(np.argmax(bad_cols)) if bad_cols.any() else 0
        raise ValueError(
            f"log_hyp2f1_unit needs 0 < b < c, c > 1 and z < 1. Got b={b_[i]!r}, c={c_[i]!r}, "
            f"z={z_[j]!r} ({int(bad_rows.sum())} rows and {int(bad_cols.sum())} columns break "
            f"this rule)."
        )
    m, n = len(b_), len(z_)
    if cells is None:
        rows, cols = (v.ravel() for v in np.indices((m, n)))
    else:
        rows, cols = (np.asarray(v, dtype=np.intp) for v in cells)
    value = np.empty(len(rows))
    grad = np.zeros((3, len(rows)))
    series = (z_ >= 0) & (z_ <= _GRID_MAX_Z)
    on_series = series[cols]
    if on_series.any():
        need = np.zeros(n, dtype=np.intp)
        need[series] = _unit_series_terms(z_[series])
        k_max = int(need.max())
        k = np.arange(k_max, dtype=np.float64)
        coef = np.ones((m, k_max))
        coef[:, 1:] = np.cumprod((b_[:, None] + k[:-1]) / (c_[:, None] + k[:-1]), axis=1)
        coef[coef < _GRID_TINY] = 0.0
        if gradient:
            # The derivatives of C in b and c; k C_k multiplies z^(k-1) (for d/dz).
            lhs = np.zeros((2, m, k_max))
            lhs[0, :, 1:] = np.cumsum(1.0 / (b_[:, None] + k[:-1]), axis=1)
            lhs[1, :, 1:] = -np.cumsum(1.0 / (c_[:, None] + k[:-1]), axis=1)
            lhs *= coef
            slope = coef[:, 1:] * k[1:]
        # The cells in groups of columns needing about as many terms (within a factor 1.25),
        # each group a product over the rows its cells use and the span of their columns.
        group = np.full(n, np.iinfo(np.intp).max, dtype=np.intp)  # after the others
        group[series] = np.ceil(np.log(need[series]) / np.log(1.25))
        cell_group = group[cols]
        order = None  # cells in order of group, then column (as PnbdSums gives them)
        if np.any(np.diff(cell_group) < 0) or np.any(np.diff(cols)[np.diff(cell_group) == 0] < 0):
            order = np.lexsort((cols, cell_group))
            cell_group = cell_group[order]
        starts = np.flatnonzero(np.diff(cell_group, prepend=-1))
        for lo, hi in zip(starts, [*starts[1:], len(cell_group)], strict=True):
            if cell_group[lo] == np.iinfo(np.intp).max:
                break
            i = np.arange(lo, hi) if order is None else order[lo:hi]
            r_used, r_at = _used(rows[i], m)
            c_lo, c_hi = int(cols[i[0]]), int(cols[i[-1]]) + 1
            c_at = cols[i] - c_lo
            terms = int(need[c_lo:c_hi].max())
            with np.errstate(divide="ignore"):
                powers = np.exp(np.log(z_[c_lo:c_hi]) * k[1:terms, None])
            powers[powers < _GRID_TINY] = 0.0
            powers = np.concatenate([np.ones((1, c_hi - c_lo)), powers])
            total = _matmul(coef[r_used, :terms], powers)[r_at, c_at]
            value[i] = np.log(total)
            if gradient:
                left = lhs[:, r_used, :terms].reshape(2 * len(r_used), terms)
                d_bc = _matmul(left, powers).reshape(2, len(r_used), -1)[:, r_at, c_at]
                d_z = _matmul(slope[r_used, : terms - 1], powers[:-1])[r_at, c_at]
                grad[:, i] = d_bc[0] / total, d_bc[1] / total, d_z / total
    rest = np.flatnonzero(~on_series)
    if rest.size:
        rr, cc = rows[rest], cols[rest]
        out = log_hyp2f1_unit(b_[rr], c_[rr], z_[cc], log1mz=l1z[cc], gradient=gradient)
        if gradient:
            value[rest], grad[:, rest] = out
        else:
            value[rest] = out
    if cells is None:
        value, grad = value.reshape(m, n), grad.reshape(3, m, n)
    if not gradient:
        return value
    return value, grad
