"""Per-customer log-likelihoods of the purchase and spend models: pure numpy, no pandas.

Each function takes the model's parameters (in the literature's order) and the data arrays,
and returns the log-likelihood of every row, with every constant term kept, so that the sum
is comparable to published figures. With ``gradient=True`` it also returns the derivatives
with respect to each parameter, as an array of shape ``(n_params, n_rows)``.

Functions of the purchase count alone are evaluated once per distinct count
(:func:`clvmodel.special.count_index`); what remains per row is a handful of logs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import betaln, digamma, gammaln, logsumexp

from .distinct import group_rows
from .special import count_index, log_hyp2f1_unit, log_hyp2f1_unit_grid

Array = NDArray[np.float64]


def _unpack(params: Array) -> list[Array]:
    """The parameters as floats, or as per-row arrays where they vary by customer."""
    return [v if np.ndim(v) == 0 else np.asarray(v, dtype=np.float64) for v in params]


def _by_count(f: Callable[..., Array], xi: NDArray[np.intp], grid: Array, *params: Any) -> Array:
    """``f(*params, x)`` per row: once per distinct count when the parameters are scalars
    (gathered with ``xi``), per row when one of them varies by customer (covariates)."""
    if all(np.ndim(p) == 0 for p in params):
        return f(*params, grid)[xi]
    return f(*params, grid[xi])


def bgnbd_loglik(
    params: Array,
    frequency: Array,
    recency: Array,
    T: Array,
    *,
    gradient: bool = False,
) -> Array | tuple[Array, Array]:
    """BG/NBD log-likelihood of each customer.

    Fader, Hardie & Lee (2005), "Counting your customers the easy way", eq. (6)::

        L = B(a, b+x)/B(a, b) * Γ(r+x) α^r / Γ(r)
            * [ (α+T)^-(r+x) + δ(x>0) a/(b+x-1) (α+t_x)^-(r+x) ]

    computed as ``A1 + A2 + logaddexp(A3, A4)``, the last term through the log-odds
    ``d = A4 - A3`` as ``A3 + max(d, 0) + log1p(exp(-|d|))``.

    Parameters
    ----------
    params : array of 4 floats
        ``r, alpha, a, b``, all positive.
    frequency, recency, T : arrays
        Repeat purchases ``x``, time of the last purchase ``t_x`` and age ``T``, in one unit.
    gradient : bool
        Also return ``d log L / d(r, alpha, a, b)``, shape ``(4, n)``.
    """
    r, alpha, a, b = _unpack(params)
    xi, grid = count_index(frequency)
    rx = r + grid[xi]

    # Terms depending on x only, one evaluation per distinct count, gathered once (per row
    # where a, b vary by customer).
    a1 = _by_count(lambda r, g: gammaln(r + g) - gammaln(r), xi, grid, r)
    a2 = _by_count(
        lambda a, b, g: gammaln(b + g) - gammaln(a + b + g) + gammaln(a + b) - gammaln(b),
        xi,
        grid,
        a,
        b,
    )

    def death_odds(a: Array, b: Array, g: Array) -> Array:
        # No "dropped out after the last purchase" term when x == 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(g > 0, np.log(a) - np.log(b + g - 1.0), -np.inf)

    log_aT = np.log(alpha + T)
    log_gap = log_aT - np.log(alpha + recency)  # log((α+T)/(α+t_x)) >= 0
    # A4 - A3: log-odds that the customer dropped out after the last purchase; -inf if x == 0.
    d = _by_count(death_odds, xi, grid, a, b) + rx * log_gap
    e = np.exp(-np.abs(d))
    # logaddexp(A3, A4) = A3 + log(1 + exp(d)), computed without overflow.
    ll = a1 + a2 + r * np.log(alpha) - rx * log_aT + np.maximum(d, 0.0) + np.log1p(e)
    if not gradient:
        return ll

    w4 = np.where(d > 0, 1.0, e) / (1.0 + e)  # weight of the A4 term, sigmoid(d); 0 if x == 0
    d_rx = _by_count(lambda r, g: digamma(r + g) - digamma(r), xi, grid, r)
    d_abx = _by_count(lambda a, b, g: digamma(a + b) - digamma(a + b + g), xi, grid, a, b)
    d_bx = d_abx + _by_count(lambda b, g: digamma(b + g) - digamma(b), xi, grid, b)

    def inv_bx1(b: Array, g: Array) -> Array:
        with np.errstate(divide="ignore"):
            return np.where(g > 0, 1.0 / (b + g - 1.0), 0.0)

    d_r = d_rx + np.log(alpha) - log_aT + w4 * log_gap
    d_alpha = r / alpha - rx * ((1.0 - w4) / (alpha + T) + w4 / (alpha + recency))
    d_a = d_abx + w4 / a
    d_b = d_bx - w4 * _by_count(inv_bx1, xi, grid, b)
    return ll, np.stack([d_r, d_alpha, d_a, d_b])


def gamma_gamma_loglik(
    params: Array,
    frequency: Array,
    monetary_value: Array,
    *,
    gradient: bool = False,
) -> Array | tuple[Array, Array]:
    """Gamma-Gamma log-likelihood of each customer's mean spend per repeat purchase.

    Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value", eq. (4)::

        f(m | p, q, γ, x) = Γ(px+q) / (Γ(px) Γ(q)) * γ^q x^(px) m^(px-1) / (γ + x m)^(px+q)

    Parameters
    ----------
    params : array of 3 floats
        ``p, q, gamma``, all positive.
    frequency : array
        Number of repeat purchases ``x`` (all > 0).
    monetary_value : array
        Mean spend ``m`` over those purchases (all > 0).
    gradient : bool
        Also return ``d log f / d(p, q, gamma)``, shape ``(3, n)``.
    """
    p, q, g = (float(v) for v in params)
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary_value, dtype=np.float64)
    px = p * x
    log_m = np.log(m)
    log_den = np.log(x * m + g)
    # Terms of the count alone, once per distinct count (x >= 1 here), then gathered.
    xi, grid = count_index(x)
    pg = p * grid
    with np.errstate(divide="ignore", invalid="ignore"):  # x = 0 is outside the support: NaN
        head = (gammaln(pg + q) - gammaln(pg) + pg * np.log(grid))[xi]
    ll = head - gammaln(q) + q * np.log(g) + (px - 1.0) * log_m - (px + q) * log_den
    if not gradient:
        return ll
    dig_pxq_grid = digamma(pg + q)
    dig_pxq = dig_pxq_grid[xi]
    with np.errstate(divide="ignore", invalid="ignore"):
        d_head = (dig_pxq_grid - digamma(pg) + np.log(grid))[xi]
    d_p = x * (d_head + log_m - log_den)
    d_q = dig_pxq - digamma(q) + np.log(g) - log_den
    d_g = q / g - (px + q) / (x * m + g)
    return ll, np.stack([d_p, d_q, d_g])


_BELOW_ONE = np.nextafter(1.0, 0.0)
#: Counts and times of a grid (``x = counts[rows]``, ``t = times[cols]``), see _pnbd_log_f.
Grid = tuple[Array, Array, NDArray[np.intp], NDArray[np.intp]]


def _pnbd_log_f(
    params: Array, x: Array, t: Array, *, gradient: bool, grid: Grid | None = None
) -> tuple[Array, Array | None]:
    """``log F(t)`` with ``F(t) = ∫_t^∞ (α+τ)^-(r+x) (β+τ)^-(s+1) dτ``, and its gradient.

    Fader, Hardie & Lee (2005), "A Note on Deriving the Pareto/NBD Model and Related
    Expressions", eq. (19)-(20) give, for ``α >= β``,
    ``F(t) = 2F1(r+s+x, s+1; r+s+x+1; z) / ((r+s+x) (α+t)^(r+s+x))``, ``z = (α-β)/(α+t)``,
    and the same with α and β (and ``s+1`` and ``r+x``) swapped for ``α < β``, so that
    ``0 <= z < 1``. Euler's transformation turns both into ``2F1(1, b; r+s+x+1; z)``::

        α >= β:  F = (α+t)^-(r+x) (β+t)^-s 2F1(1, r+x; r+s+x+1; z) / (r+s+x)
        α <  β:  F = (α+t)^-(r+x) (β+t)^-s (1-z) 2F1(1, s+1; r+s+x+1; z) / (r+s+x)

    whose terms are positive and bounded (:func:`clvmodel.special.log_hyp2f1_unit`);
    ``log(1 - z)`` is passed on exactly as ``log(min+t) - log(max+t)``.

    With scalar parameters, ``b`` and ``c`` are functions of ``x`` alone and ``z`` of ``t``
    alone: given ``grid = (counts, times, rows, cols)`` with ``x = counts[rows]`` and
    ``t = times[cols]``, the 2F1 is summed on the grid of counts and times by
    :func:`clvmodel.special.log_hyp2f1_unit_grid` (matrix products) and read at the cells.
    """
    r, alpha, s, beta = _unpack(params)
    # The branch is chosen per row where alpha or beta vary by customer (covariates); with
    # scalar parameters only the one branch is computed.
    ab = np.asarray(alpha >= beta)

    def pick(if_ab: Callable[[], Any], if_not: Callable[[], Any]) -> Any:
        if ab.all():
            return if_ab()
        if not ab.any():
            return if_not()
        return np.where(ab, if_ab(), if_not())

    def arguments(x: Array, t: Array) -> tuple[Array, Array, Array, Array]:
        """``b, c`` (functions of ``x``), ``z`` and ``log(1 - z)`` (of ``t``)."""
        log_at, log_bt = np.log(alpha + t), np.log(beta + t)
        b = pick(lambda: r + x, lambda: s + 1.0 + 0.0 * x)
        z = pick(lambda: (alpha - beta) / (alpha + t), lambda: (beta - alpha) / (beta + t))
        log1mz = pick(lambda: log_bt - log_at, lambda: log_at - log_bt)
        # z rounds to 1 where min/max is below 1e-16; there (z > 0.999) the 2F1 reads only
        # the exact log(1 - z), and z is kept below 1.
        return b, r + s + x + 1.0, np.minimum(z, _BELOW_ONE), log1mz

    rsx = r + s + x
    log_at, log_bt = np.log(alpha + t), np.log(beta + t)
    head = -(r + x) * log_at - s * log_bt - np.log(rsx)
    if grid is None:
        b, c, z, log1mz = arguments(x, t)
        out = log_hyp2f1_unit(b, c, z, log1mz=log1mz, gradient=gradient)
    else:
        counts, times, rows, cols = grid
        b, c, z, log1mz = arguments(counts, times)
        out = log_hyp2f1_unit_grid(b, c, z, log1mz=log1mz, gradient=gradient, cells=(rows, cols))
        log1mz = log1mz[cols]
    head = pick(lambda: head, lambda: head + log1mz)
    if not gradient:
        return head + out, None  # type: ignore[operator]
    h, (gb, gc, gz) = out  # type: ignore[misc]
    d_r = -log_at - 1.0 / rsx + gc
    d_s = -log_bt - 1.0 / rsx + gc
    d_r = pick(lambda: d_r + gb, lambda: d_r)
    d_s = pick(lambda: d_s, lambda: d_s + gb)
    d_alpha = pick(
        lambda: -(r + x) / (alpha + t) + gz * (beta + t) / (alpha + t) ** 2,
        lambda: (1.0 - r - x) / (alpha + t) - gz / (beta + t),
    )
    d_beta = pick(
        lambda: -s / (beta + t) - gz / (alpha + t),
        lambda: -(s + 1.0) / (beta + t) + gz * (alpha + t) / (beta + t) ** 2,
    )
    return head + h, np.stack([d_r, d_alpha, d_s, d_beta])


def pnbd_loglik(
    params: Array,
    frequency: Array,
    recency: Array,
    T: Array,
    *,
    gradient: bool = False,
) -> Array | tuple[Array, Array]:
    """Pareto/NBD log-likelihood of each customer.

    Schmittlein, Morrison & Colombo (1987); in the form of Fader, Hardie & Lee (2005), "A Note
    on Deriving the Pareto/NBD Model and Related Expressions", eq. (18)::

        L = Γ(r+x) α^r β^s / Γ(r) * [ (α+T)^-(r+x) (β+T)^-s + s (F(t_x) - F(T)) ]

    with ``F`` the integral of :func:`_pnbd_log_f` (the ``A_0`` term of the note, which holds
    the Gauss hypergeometric function). Everything is in log space: with
    ``A_T = (α+T)^-(r+x) (β+T)^-s`` and ``ρ = s F(T) / A_T`` (always in ``[0, 1]``),
    ``log [..] = logaddexp(log A_T + log1p(-ρ), log s + log F(t_x))``, which has no
    cancellation whatever ``x``, ``T`` or ``α - β``; ``log F`` comes from
    :func:`clvmodel.special.log_hyp2f1_unit`, stable for x in the thousands and ``α ≈ β``.

    Parameters
    ----------
    params : array of 4 floats
        ``r, alpha, s, beta``, all positive.
    frequency, recency, T : arrays
        Repeat purchases ``x``, time of the last purchase ``t_x`` and age ``T``, in one unit.
    gradient : bool
        Also return ``d log L / d(r, alpha, s, beta)``, shape ``(4, n)``.
    """
    r, alpha, s, beta = _unpack(params)
    x = np.asarray(frequency, dtype=np.float64)
    tx = np.asarray(recency, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    n = len(x)
    # F is needed at (x, t_x) and (x, T): evaluate once per distinct pair (found by hashing),
    # or once per row and time where alpha or beta vary by customer.
    px, pt = np.concatenate([x, x]), np.concatenate([tx, T])
    grouped = None
    if all(np.ndim(v) == 0 for v in (r, alpha, s, beta)):
        grouped = group_rows((px, pt))
    if grouped is not None:
        inverse, first = grouped
        f_params = [r, alpha, s, beta]
        sx, st = px[first], pt[first]
    else:  # per-customer parameters, or more distinct pairs than a 64-bit key holds
        inverse = np.arange(2 * n)
        f_params = [
            v if np.ndim(v) == 0 else np.tile(np.broadcast_to(v, n), 2) for v in (r, alpha, s, beta)
        ]
        sx, st = px, pt
    log_f_u, grad_f_u = _pnbd_log_f(f_params, sx, st, gradient=gradient)
    log_fx, log_fT = log_f_u[inverse[:n]], log_f_u[inverse[n:]]

    xi, grid = count_index(x)
    log_aT_alpha = np.log(alpha + T)
    log_aT_beta = np.log(beta + T)
    log_a_T = -(r + x) * log_aT_alpha - s * log_aT_beta
    log_s = np.log(s)
    rho = np.minimum(np.exp(log_s + log_fT - log_a_T), 1.0)
    with np.errstate(divide="ignore"):
        alive_part = log_a_T + np.log1p(-rho)
    log_bracket = np.logaddexp(alive_part, log_s + log_fx)
    head = _by_count(lambda r, g: gammaln(r + g) - gammaln(r), xi, grid, r)
    head = head + r * np.log(alpha) + s * np.log(beta)
    ll = head + log_bracket
    if not gradient:
        return ll
    assert grad_f_u is not None
    g_fx, g_fT = grad_f_u[:, inverse[:n]], grad_f_u[:, inverse[n:]]
    w_a = np.exp(log_a_T - log_bracket)  # P(alive)
    w_T = rho * w_a
    w_x = np.exp(log_s + log_fx - log_bracket)
    zero = np.zeros(n)
    d_log_s = np.stack([zero, zero, zero + 1.0 / s, zero])
    d_log_a_T = np.stack([-log_aT_alpha, -(r + x) / (alpha + T), -log_aT_beta, -s / (beta + T)])
    d_bracket = w_a * d_log_a_T - w_T * (d_log_s + g_fT) + w_x * (d_log_s + g_fx)
    d_head = np.stack(
        [
            _by_count(lambda r, g: digamma(r + g) - digamma(r), xi, grid, r) + np.log(alpha),
            np.broadcast_to(r / alpha, n),
            np.broadcast_to(np.log(beta), n),
            np.broadcast_to(s / beta, n),
        ]
    )
    return ll, d_head + d_bracket


#: The whole grid of distinct counts and times is evaluated when it has at most this many
#: times the cells the rows use; otherwise ``F`` is evaluated per distinct ``(x, t)`` pair.
GRID_SPARSITY = 8


class PnbdSums:
    """``Σ w ll`` and ``Σ w ∂ll/∂θ`` of :func:`pnbd_loglik` over weighted rows, for the fit.

    The same sums as ``w @ pnbd_loglik(θ, x, t_x, T, gradient=True)``, arranged so that each
    piece is computed once per distinct value it depends on, with the bookkeeping done once
    for all evaluations: ``log F`` and ``log A_T`` once per cell ``(x, t)`` (``t`` a
    recency or an age), their 2F1 summed on the grid of distinct counts and times by
    :func:`clvmodel.special.log_hyp2f1_unit_grid` when the grid is not much larger than the
    cells used (:data:`GRID_SPARSITY`); ``Γ(r+x)/Γ(r)`` once per distinct count. Per row
    are left the bracket's ``logaddexp`` and its weights ``P(alive)`` and
    ``s F(t_x) / bracket``, summed into their cells (``bincount``) before they meet the
    cells' gradients.

    Satisfies :class:`clvmodel.models.base.SummedLogLik` for scalar parameters ``r, alpha,
    s, beta``; :func:`clvmodel.models.base.maximize_likelihood` builds one per chunk of rows
    through ``pnbd_loglik.summed``.
    """

    def __init__(self, frequency: Array, recency: Array, T: Array, weights: Array) -> None:
        x = np.asarray(frequency, dtype=np.float64)
        times_of = np.concatenate([np.asarray(recency, np.float64), np.asarray(T, np.float64)])
        self.weights = np.asarray(weights, dtype=np.float64)
        self.total_weight = float(self.weights.sum())
        n = len(x)
        counts, x_index = np.unique(x, return_inverse=True)
        # Times in decreasing order (z increases along the columns: the cells in order of
        # column are in the order of the terms their series needs, see log_hyp2f1_unit_grid).
        times, t_index = np.unique(times_of, return_inverse=True)
        times, t_index = times[::-1], len(times) - 1 - t_index
        m, n_t = len(counts), len(times)
        code = t_index * m + np.tile(x_index, 2)  # column-major: cells in order of column
        if m * n_t <= 1 << 24:
            mark = np.zeros(m * n_t, dtype=bool)
            mark[code] = True
            used, cell_of = np.flatnonzero(mark), (np.cumsum(mark) - 1)[code]
        else:
            used, cell_of = np.unique(code, return_inverse=True)
        rows, cols = (used % m).astype(np.intp), (used // m).astype(np.intp)
        self.cell_x, self.cell_T = cell_of[:n], cell_of[n:]
        self.counts, self.x_cells, self.t_cells = counts, counts[rows], times[cols]
        self.grid: Grid | None = None
        if m * n_t <= GRID_SPARSITY * len(used):
            self.grid = (counts, times, rows, cols)
        self.count_weight = np.bincount(x_index, weights=self.weights, minlength=len(counts))

    def __call__(self, params: Array, gradient: bool) -> tuple[float, Array | None]:
        r, alpha, s, beta = (float(v) for v in params)
        xc, tc = self.x_cells, self.t_cells
        log_f, grad_f = _pnbd_log_f([r, alpha, s, beta], xc, tc, gradient=gradient, grid=self.grid)
        log_at, log_bt = np.log(alpha + tc), np.log(beta + tc)
        log_a = -(r + xc) * log_at - s * log_bt  # log A_T where t is an age
        log_s = np.log(s)
        rho = np.minimum(np.exp(log_s + log_f - log_a), 1.0)
        with np.errstate(divide="ignore"):
            alive = log_a + np.log1p(-rho)
        log_sfx = log_s + log_f[self.cell_x]
        log_bracket = np.logaddexp(alive[self.cell_T], log_sfx)
        w, total = self.weights, self.total_weight
        head = self.count_weight @ (gammaln(r + self.counts) - gammaln(r))
        # Dot products by einsum, not BLAS: OpenBLAS would start its threads for these sizes.
        value = float(head + total * (r * np.log(alpha) + s * np.log(beta)) + _dot(w, log_bracket))
        if not gradient:
            return value, None
        assert grad_f is not None
        # Weights of the cells: P(alive) of the rows at (x, T), s F(t_x) / bracket at (x, t_x).
        n_cells = len(xc)
        w_a = np.bincount(
            self.cell_T, w * np.exp(log_a[self.cell_T] - log_bracket), minlength=n_cells
        )
        w_x = np.bincount(self.cell_x, w * np.exp(log_sfx - log_bracket), minlength=n_cells)
        w_f = w_x - w_a * rho  # of d log s + d log F, from s F(t_x) - s F(T)
        d_log_a = np.array(
            [
                -_dot(w_a, log_at),
                -_dot(w_a, (r + xc) / (alpha + tc)),
                -_dot(w_a, log_bt),
                -_dot(w_a, s / (beta + tc)),
            ]
        )
        d_head = np.array(
            [
                self.count_weight @ (digamma(r + self.counts) - digamma(r)) + total * np.log(alpha),
                total * r / alpha,
                total * np.log(beta),
                total * s / beta,
            ]
        )
        d_f = np.einsum("kc,c->k", grad_f, w_f)
        d_f[2] += w_f.sum() / s
        return value, d_head + d_log_a + d_f


pnbd_loglik.summed = PnbdSums  # type: ignore[attr-defined]


def _dot(a: Array, b: Array) -> float:
    return float(np.einsum("i,i->", a, b))


def mbgnbd_loglik(
    params: Array,
    frequency: Array,
    recency: Array,
    T: Array,
    *,
    gradient: bool = False,
) -> Array | tuple[Array, Array]:
    """MBG/NBD log-likelihood of each customer.

    Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of models for
    customer base analysis", eq. (4): as BG/NBD, but a customer can also drop out at time 0
    (right after the first purchase), so the death term has no ``δ(x>0)``::

        L = B(a, b+x+1)/B(a, b) * Γ(r+x) α^r / Γ(r)
            * [ (α+T)^-(r+x) + a/(b+x) (α+t_x)^-(r+x) ]

    Parameters
    ----------
    params : array of 4 floats
        ``r, alpha, a, b``, all positive.
    frequency, recency, T : arrays
        Repeat purchases ``x``, time of the last purchase ``t_x`` and age ``T``, in one unit.
    gradient : bool
        Also return ``d log L / d(r, alpha, a, b)``, shape ``(4, n)``.
    """
    r, alpha, a, b = _unpack(params)
    xi, grid = count_index(frequency)
    x = grid[xi]
    rx = r + x
    g_rx = _by_count(lambda r, g: gammaln(r + g) - gammaln(r), xi, grid, r)
    g_b = _by_count(
        lambda a, b, g: (
            gammaln(b + g + 1.0) - gammaln(a + b + g + 1.0) + gammaln(a + b) - gammaln(b)
        ),
        xi,
        grid,
        a,
        b,
    )
    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + recency)
    a3 = -rx * log_aT
    a4 = _by_count(lambda a, b, g: np.log(a) - np.log(b + g), xi, grid, a, b) - rx * log_atx
    tail = np.logaddexp(a3, a4)
    ll = g_rx + r * np.log(alpha) + g_b + tail
    if not gradient:
        return ll
    w4 = np.exp(a4 - tail)
    w3 = 1.0 - w4
    d_abx = _by_count(lambda a, b, g: digamma(a + b) - digamma(a + b + g + 1.0), xi, grid, a, b)
    d_rx = _by_count(lambda r, g: digamma(r + g) - digamma(r), xi, grid, r)
    d_bx = _by_count(lambda b, g: digamma(b + g + 1.0) - digamma(b), xi, grid, b)
    d_r = d_rx + np.log(alpha) - w3 * log_aT - w4 * log_atx
    d_alpha = r / alpha - rx * (w3 / (alpha + T) + w4 / (alpha + recency))
    d_a = d_abx + w4 / a
    d_b = d_abx + d_bx - w4 / (b + x)
    return ll, np.stack([d_r, d_alpha, d_a, d_b])


def bgbb_loglik(
    params: Array,
    frequency: Array,
    recency: Array,
    periods: Array,
    *,
    gradient: bool = False,
) -> Array | tuple[Array, Array]:
    """BG/BB log-likelihood of each customer's history of discrete purchase opportunities.

    Fader, Hardie & Shang (2010), "Customer-Base Analysis in a Discrete-Time Noncontractual
    Setting", Marketing Science 29(6), eq. (5)::

        L = B(α+x, β+n-x)/B(α, β) * B(γ, δ+n)/B(γ, δ)
            + Σ_{i=0}^{n-t_x-1} B(α+x, β+t_x-x+i)/B(α, β) * B(γ+1, δ+t_x+i)/B(γ, δ)

    summed in log space (``logsumexp`` over the terms).

    Parameters
    ----------
    params : array of 4 floats
        ``alpha, beta`` (beta heterogeneity of the purchase probability) and
        ``gamma, delta`` (beta heterogeneity of the dropout probability), all positive.
    frequency, recency, periods : arrays
        ``x`` purchases in the ``n`` opportunities after the first, the last one in
        opportunity ``t_x`` (0 if none).
    gradient : bool
        Also return ``d log L / d(alpha, beta, gamma, delta)``, shape ``(4, n)``.
    """
    al, be, ga, de = (float(v) for v in params)
    x = np.asarray(frequency, dtype=np.float64)
    tx = np.asarray(recency, dtype=np.float64)
    n = np.asarray(periods, dtype=np.float64)
    rows = len(x)
    gaps = (n - tx).astype(np.int64)
    width = int(gaps.max()) + 1 if rows else 1
    # Chunk the (rows x terms) grid so that it stays small whatever n is.
    chunk = max(1, 4_000_000 // width)
    ll = np.empty(rows)
    grad = np.empty((4, rows)) if gradient else None
    base_ab = betaln(al, be)
    base_gd = betaln(ga, de)
    for start in range(0, rows, chunk):
        sl = slice(start, min(rows, start + chunk))
        xs, ts, ns, gs = x[sl, None], tx[sl, None], n[sl, None], gaps[sl, None]
        i = np.arange(width - 1, dtype=np.float64)[None, :]
        # Column 0: alive through n; columns 1..: died at the start of opportunity t_x+i+1.
        k = np.concatenate([ns, ts + i], axis=1)  # opportunities survived
        valid = np.concatenate([np.ones_like(ns, dtype=bool), i < gs], axis=1)
        alive = np.zeros(k.shape, dtype=bool)
        alive[:, 0] = True
        g_shift = np.where(alive, 0.0, 1.0)  # B(γ+1, ...) for the death terms
        terms = betaln(al + xs, be + k - xs) - base_ab + betaln(ga + g_shift, de + k) - base_gd
        terms = np.where(valid, terms, -np.inf)
        total = logsumexp(terms, axis=1)
        ll[sl] = total
        if grad is not None:
            w = np.where(valid, np.exp(terms - total[:, None]), 0.0)
            sab = digamma(al + be + k)
            sgd = digamma(ga + de + k + g_shift)
            d_al = digamma(al + xs) - sab - digamma(al) + digamma(al + be)
            d_be = digamma(be + k - xs) - sab - digamma(be) + digamma(al + be)
            d_ga = digamma(ga + g_shift) - sgd - digamma(ga) + digamma(ga + de)
            d_de = digamma(de + k) - sgd - digamma(de) + digamma(ga + de)
            for j, d in enumerate((d_al, d_be, d_ga, d_de)):
                grad[j, sl] = np.sum(w * np.where(valid, d, 0.0), axis=1)
    if grad is None:
        return ll
    return ll, grad


def sbg_loglik(
    params: Array,
    period: Array,
    censored: Array,
    *,
    gradient: bool = False,
) -> Array | tuple[Array, Array]:
    """Shifted-beta-geometric log-likelihood of one customer's lifetime.

    Fader & Hardie (2007), "How to Project Customer Retention", J. Interactive Marketing
    21(1), eq. (4)-(6): the churn probability θ ~ Beta(γ, δ) is fixed per customer, and a
    customer lost in period ``t`` has ``P(T = t) = B(γ+1, δ+t-1)/B(γ, δ)``; one still active
    after period ``t`` contributes ``S(t) = B(γ, δ+t)/B(γ, δ)``.

    Parameters
    ----------
    params : array of 2 floats
        ``gamma, delta``, both positive.
    period : array
        ``t >= 1``: the period of loss, or the last period observed active.
    censored : array
        1 where the customer is still active after ``period`` (right-censored), else 0.
    gradient : bool
        Also return ``d log L / d(gamma, delta)``, shape ``(2, n)``.
    """
    ga, de = (float(v) for v in params)
    t = np.asarray(period, dtype=np.float64)
    c = np.asarray(censored, dtype=bool)
    g1 = np.where(c, 0.0, 1.0)  # γ+1 for a loss, γ for a survivor
    d1 = np.where(c, t, t - 1.0)
    ll = betaln(ga + g1, de + d1) - betaln(ga, de)
    if not gradient:
        return ll
    s = digamma(ga + g1 + de + d1)
    d_ga = digamma(ga + g1) - s - digamma(ga) + digamma(ga + de)
    d_de = digamma(de + d1) - s - digamma(de) + digamma(ga + de)
    return ll, np.stack([d_ga, d_de])
