"""Numerically delicate helpers, kept in one place with their own tests at extreme inputs.

Everything here works in log space: products of gamma functions become sums of ``gammaln``,
and sums of terms of very different size go through :func:`numpy.logaddexp`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

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


def mean_purchases_until_death(
    a: float | ArrayLike, b_post: ArrayLike, m: ArrayLike, kappa: ArrayLike
) -> NDArray[np.float64]:
    """:func:`_mean_until_death` for ``a`` a scalar or, with covariates, one value per row
    (evaluated once per distinct ``a``)."""
    if np.ndim(a) == 0:
        return _mean_until_death(float(a), b_post, m, kappa)  # type: ignore[arg-type]
    a_, b_post, m, kappa = (
        np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(a, b_post, m, kappa)
    )
    out = np.empty(a_.shape)
    for value in np.unique(a_):
        rows = a_ == value
        out[rows] = _mean_until_death(float(value), b_post[rows], m[rows], kappa[rows])
    return out


def _mean_until_death(
    a: float, b_post: ArrayLike, m: ArrayLike, kappa: ArrayLike
) -> NDArray[np.float64]:
    """``E_p[(1 - (1 + κ p)^-m) / p]`` for ``p ~ Beta(a, b_post)``, finite for every ``a > 0``.

    For a live customer with ``λ | data ~ Gamma(m, α+T)`` and dropout probability ``p``
    after each purchase, the expected purchases in the next ``t`` are
    ``E_λ[(1 - e^(-λ p t)) / p]`` (FHL 2005 eq. 6), which is the expression above with
    ``κ = t/(α+T)``. It equals the hypergeometric closed forms of FHL (2005, eq. 10; BG/NBD,
    ``b_post = b + x``) and Batislam et al. (2007, eq. 6; MBG/NBD, ``b_post = b + x + 1``),
    ``(a+b_post-1)/(a-1) [1 - 2F1(m, b_post; a+b_post-1; z) (1-z)^m]`` with
    ``z = κ/(1+κ)``, but has no removable singularity at ``a = 1``, no negative third
    argument when ``a + b_post < 1``, and stays finite for ``z`` near 1 and ``m`` in the
    millions, where that 2F1 overflows. The integrand is log-concave in ``log p``; it is
    integrated by :func:`logconcave_integral`, the Beta density's part relative to its mode
    (:class:`_BetaInLogP`).
    """
    b_post, m, kappa = np.broadcast_arrays(
        np.asarray(b_post, dtype=np.float64),
        np.asarray(m, dtype=np.float64),
        np.asarray(kappa, dtype=np.float64),
    )
    shape = b_post.shape
    bb, mm, kk = b_post.ravel(), m.ravel(), kappa.ravel()
    out = np.zeros(bb.shape)
    pos = kk > 0
    if not pos.any():
        return out.reshape(shape)
    small = pos & (kk * np.maximum(0.5 * (mm + 1.0), 1.0) <= SERIES_RATIO)
    if small.any():
        out[small] = _mean_until_death_series(a, bb[small], mm[small], kk[small])
        pos &= ~small
        if not pos.any():
            return out.reshape(shape)
    jac = pos & (bb < 1.0)
    if jac.any():
        out[jac] = _mean_until_death_jacobi(a, bb[jac], mm[jac], kk[jac])
    pos &= ~jac
    if not pos.any():
        return out.reshape(shape)
    bb, mm, kk = bb[pos], mm[pos], kk[pos]
    beta = _BetaInLogP(a, bb)

    def logf(u: NDArray[np.float64], rows: NDArray[np.intp]) -> tuple[Any, Any, None]:
        mp, kp = mm[rows], kk[rows]
        log_y = np.log(kp) + u  # log κp, kept in logs: e^u underflows far left
        y = np.exp(log_y)
        grow = mp * np.log1p(y)  # -log (1+κp)^-m
        tiny = log_y < -40.0  # there 1 - (1+y)^-m = m y to 1e-14
        value, slope = beta(u, rows)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            log_g = np.where(tiny, np.log(mp) + log_y, np.log(-np.expm1(-grow))) - u
            d_g = np.where(tiny, 1.0, mp * y / (1.0 + y) / np.expm1(grow))
        return value + log_g, slope - 1.0 + d_g, None

    log_int, _ = logconcave_integral(logf, -np.inf, 0.0, beta.mode, points=-np.log(kk)[None])
    mean = np.exp(log_int + beta.log_peak_density)
    if a > 1.0:
        # Near saturation ((1 + κp)^-m negligible over the posterior) the mean is E[1/p] =
        # (a+b-1)/(a-1) less E[(1+κp)^-m / p], a small positive term that falls with κ:
        # that difference is exact to rounding and increasing in the horizon, where two
        # quadratures of the whole integrand at two horizons differ by their 1e-12 error
        # in either direction.
        full = (a + bb - 1.0) / (a - 1.0)  # E[1/p]
        # The mean is at most m κ (1 - (1+y)^-m <= m y), so the rest, full - mean, can be
        # within 1e-2 of full only where m κ >= 0.99 full: elsewhere its quadrature is not
        # needed (and for a just above 1, where full is astronomically large and the rest's
        # integrand is nearly flat in log p far to the left, it would bisect to its cap).
        maybe = mm * kk >= 0.98 * full
        near = np.zeros(len(bb), dtype=bool)
        rest = np.zeros(len(bb))
        if maybe.any():
            rest[maybe] = _saturation_rest(a, bb[maybe], mm[maybe], kk[maybe])
            near = maybe & (rest <= 1e-2 * full)
        mean = np.where(near, full - rest, mean)
    out[pos] = mean
    return out.reshape(shape)


def _saturation_rest(
    a: float, bb: NDArray[np.float64], mm: NDArray[np.float64], kk: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``E[(1+κp)^-m / p]`` for ``p ~ Beta(a, bb)``, ``a > 1``: what the mean of
    :func:`_mean_until_death` falls short of ``E[1/p]`` by (log-concave in ``log p``)."""
    beta = _BetaInLogP(a, bb)

    def log_rest(u: NDArray[np.float64], rows: NDArray[np.intp]) -> tuple[Any, Any, None]:
        mp, kp = mm[rows], kk[rows]
        y = np.exp(np.log(kp) + u)
        value, slope = beta(u, rows)
        return value - u - mp * np.log1p(y), slope - 1.0 - mp * y / (1.0 + y), None

    log_r, _ = logconcave_integral(log_rest, -np.inf, 0.0, beta.mode, points=-np.log(kk)[None])
    return np.exp(log_r + beta.log_peak_density)


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


class _BetaInLogP:
    """``log`` of the Beta(a, b) density's kernel ``p^a (1-p)^(b-1)`` in ``u = log p``,
    ``b >= 1``, relative to its mode ``u0 = log(a/(a+b-1))``, with its slope in ``u``.

    With ``e^(u-u0) = 1 + ε`` and ``ρ = a/(b-1)`` (the odds at the mode), the kernel's
    log is ``a (log(1+ε) - ε) + (b-1) (log(1-ρε) + ρε)`` above its value at the mode (the
    linear terms cancel, ``a = (b-1) ρ``): two non-positive terms, each computed without
    cancellation (:func:`_minus_expm1`, :func:`_log1p_minus`), and its slope
    ``-a ε (1+ρ) / (1-ρε)``. Written as ``a u + (b-1) log(1 - e^u)`` the two terms are each
    about ``10^10`` for the parameters of a degenerate fit, and their rounding noise
    (``10^-6``) keeps an adaptive quadrature bisecting to its cap. For ``b = 1`` the kernel
    is ``e^(a u)`` with its mode at the end ``u = 0``.

    ``log_peak_density`` is the kernel's log at the mode less ``log B(a, b)``
    (:func:`_log_beta_peak`): since ``p^a (1-p)^(b-1) du = p^(a-1) (1-p)^(b-1) dp``,
    ``log E[h(p)] = log ∫ e^value h du + log_peak_density``.
    """

    def __init__(self, a: float, b: NDArray[np.float64]) -> None:
        self.a = a
        self.bm1 = b - 1.0
        self.flat = b == 1.0
        self.rho = np.where(self.flat, 0.0, a / np.where(self.flat, 1.0, self.bm1))
        self.mode = _beta_mode_logs(a, self.bm1)[0]
        self.log_peak_density = _log_beta_peak(a, b)

    def __call__(
        self, u: NDArray[np.float64], rows: NDArray[np.intp]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        a, bm1, rho, flat = self.a, self.bm1[rows], self.rho[rows], self.flat[rows]
        d = u - self.mode[rows]
        eps = np.expm1(d)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            value = a * _minus_expm1(d) + bm1 * _log1p_minus(-rho * eps)
            slope = -a * eps * (1.0 + rho) / (1.0 - rho * eps)
        value = np.where(flat, a * u, value)
        slope = np.where(flat, a, slope)
        inside = (u < 0) | (flat & (u <= 0))
        return np.where(inside, value, -np.inf), np.where(inside, slope, -np.inf)


def _beta_mode_logs(
    a: float, bm1: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``log p0`` and ``log(1-p0)`` at the mode ``p0 = a/(a+b-1)`` of ``p^a (1-p)^(b-1)``,
    each from its ratio (by ``log1p`` of the other above 1/2, so that ``a log p0`` keeps its
    digits when ``p0`` is near 1)."""
    with np.errstate(divide="ignore"):
        p0, q0 = a / (a + bm1), bm1 / (a + bm1)
        return (
            np.where(p0 > 0.5, np.log1p(-q0), np.log(p0)),
            np.where(q0 > 0.5, np.log1p(-p0), np.log(q0)),
        )


def _log_beta_peak(a: float, b: NDArray[np.float64]) -> NDArray[np.float64]:
    """``a log p0 + (b-1) log(1-p0) - log B(a, b)`` at ``p0 = a/(a+b-1)`` (``b >= 1``).

    For ``a, b >= 8`` by Stirling's series (``log Γ(x) = (x-1/2) log x - x + log(2π)/2 +
    S(x)``), which leaves ``(log a - log b + log(a+b))/2 + (b-1) log(1-1/b) - (a+b-1)
    log(1-1/(a+b)) - log(2π)/2 - S(a) - S(b) + S(a+b)``: terms of the order of ``log a``,
    where the two sides are each about ``a + b`` in size (``10^10`` for a degenerate
    fit: their difference would keep only 6 digits). Otherwise directly, with
    :func:`log_beta` and ``log p0``, ``log(1-p0)`` from the ratios (by ``log1p`` above 1/2).
    """
    bm1 = b - 1.0
    log_p0, log_q0 = _beta_mode_logs(a, bm1)
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = a * log_p0 + np.where(bm1 > 0, bm1 * log_q0, 0.0) - log_beta(a, b)
        big = (a >= 8.0) & (b >= 8.0)
        ab = a + b
        stirling = (
            0.5 * (np.log(a) - np.log(b) + np.log(ab))
            + bm1 * np.log1p(-1.0 / b)
            - (ab - 1.0) * np.log1p(-1.0 / ab)
            - 0.5 * np.log(2.0 * np.pi)
        )
        for k, coef in enumerate(_STIRLING, start=1):
            stirling += coef * (ab ** (1 - 2 * k) - a ** (1 - 2 * k) - b ** (1 - 2 * k))
    return np.where(big, stirling, direct)


#: The series of :func:`_mean_until_death_series` is used where its terms fall at least this
#: fast (``κ max((m+1)/2, 1)``): 40 terms then reach 1e-21 of the first.
SERIES_RATIO = 0.3


def _mean_until_death_series(
    a: float, b_post: NDArray[np.float64], m: NDArray[np.float64], kappa: NDArray[np.float64]
) -> NDArray[np.float64]:
    """:func:`mean_purchases_until_death` for small ``κ`` by its power series in ``κ``.

    ``(1 - (1+κp)^-m) / p = Σ_{j≥1} (-1)^(j+1) C(m+j-1, j) κ^j p^(j-1)`` (the binomial
    series, ``κp < 1``), and ``E[p^(j-1)] = Π_{i<j-1} (a+i)/(a+b+i)`` for ``p ~ Beta(a, b)``,
    so each term is the previous one times ``-κ (m+j-1)/j (a+j-2)/(a+b+j-2)``. The terms
    alternate and shrink by at least :data:`SERIES_RATIO`, so nothing cancels: this is the
    short-horizon case (the first discounting steps of a CLV) where the closed form's
    bracket ``1 - (1+κ)^-m 2F1`` loses its digits. No singularity at ``a = 1``.
    """
    term = m * kappa
    total = term.copy()
    for j in range(2, 60):
        term = term * (-kappa * (m + j - 1.0) / j * (a + j - 2.0) / (a + b_post + j - 2.0))
        total += term
        if np.all(np.abs(term) <= 1e-17 * np.abs(total)):
            break
    return total


def _mean_until_death_jacobi(
    a: float, b_post: NDArray[np.float64], m: NDArray[np.float64], kappa: NDArray[np.float64]
) -> NDArray[np.float64]:
    """:func:`mean_purchases_until_death` by 160-point Gauss-Jacobi quadrature.

    For ``b_post < 1`` the Beta density has an integrable pole at ``p = 1`` and the
    integrand is no longer log-concave; the Jacobi weight ``p^(a-1) (1-p)^(b-1)`` absorbs
    both end-point singularities, and ``(1 - (1+κp)^-m) / p`` is smooth and positive, so
    the result is positive and increasing in ``κ``. Accurate while ``m κ`` is moderate
    (the callers use the closed form elsewhere).
    """
    out = np.empty(len(b_post))
    for value in np.unique(b_post):
        rows = b_post == value
        y, w = _gauss_jacobi(160, float(value) - 1.0, a - 1.0)
        p = 0.5 * (1.0 + y)[None, :]
        log_y = np.log(kappa[rows])[:, None] + np.log(p)
        with np.errstate(over="ignore"):
            g = -np.expm1(-m[rows][:, None] * np.log1p(np.exp(log_y))) / p
        out[rows] = (g @ w) / w.sum()
    bad = ~np.isfinite(out)
    if bad.any():  # Jacobi nodes of extreme parameters (a in the thousands) overflow
        out[bad] = _mean_until_death_power(a, b_post[bad], m[bad], kappa[bad])
    return out


def _mean_until_death_power(
    a: float, b_post: NDArray[np.float64], m: NDArray[np.float64], kappa: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The same mean in ``v = (1-p)^b`` (which absorbs the pole at ``p = 1``), by
    400-point Gauss-Legendre quadrature self-normalised in log space."""
    v, w = _gauss_legendre(400)
    v = 0.5 * (v + 1.0)
    out = np.empty(len(b_post))
    for i in range(len(b_post)):
        log_p = np.log1p(-np.exp(np.log(v) / b_post[i]))
        log_w = np.log(w) + (a - 1.0) * np.where(np.isfinite(log_p), log_p, -np.inf)
        log_w -= np.max(log_w)
        p = np.exp(log_p)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            y = kappa[i] * p
            g = np.where(p > 0, -np.expm1(-m[i] * np.log1p(y)) / p, m[i] * kappa[i])
        weight = np.exp(log_w)
        out[i] = float(weight @ g / weight.sum())
    return out


@functools.lru_cache(maxsize=4)
def _gauss_legendre(n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gauss-Legendre nodes and weights, computed once per ``n`` (an eigenproblem of size
    ``n``: the CLV sums ask for the same rule at every discounting step)."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


@functools.lru_cache(maxsize=256)
def _gauss_jacobi(
    n: int, alpha: float, beta: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gauss-Jacobi nodes and weights for the weight ``(1-y)^alpha (1+y)^beta``, computed
    once per rule (a model's parameters are the same at every discounting step)."""
    from scipy.special import roots_jacobi

    nodes, weights = roots_jacobi(n, alpha, beta)
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


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


# --------------------------------------------------------------------------------------
# Integrals of log-concave functions, vectorised over rows
# --------------------------------------------------------------------------------------

# Gauss-Kronrod 7/15 rule on [-1, 1] (QUADPACK qk15): Kronrod nodes, their weights, and the
# weights of the embedded 7-point Gauss rule (on the odd-indexed nodes).
_XK = np.array(
    [
        0.991455371120812639206854697526329,
        0.949107912342758524526189684047851,
        0.864864423359769072789712788640926,
        0.741531185599394439863864773280788,
        0.586087235467691130294144845693013,
        0.405845151377397166906606412076961,
        0.207784955007898467600689403773245,
        0.0,
    ]
)
_WK = np.array(
    [
        0.022935322010529224963732008058970,
        0.063092092629978553290700663189204,
        0.104790010322250183839876322541518,
        0.140653259715525918745189590510238,
        0.169004726639267902826583426598550,
        0.190350578064785409913256402421014,
        0.204432940075298892414161999234649,
        0.209482141084727828012999174891714,
    ]
)
_WG = np.array(
    [
        0.129484966168869693270611432679082,
        0.279705391489276667901467771423780,
        0.381830050505118944950369775488975,
        0.417959183673469387755102040816327,
    ]
)
_GK_NODES = np.concatenate([-_XK[:-1], _XK[::-1]])  # 15 nodes, ascending
_GK_WK = np.concatenate([_WK[:-1], _WK[::-1]])
_GK_WG = np.zeros(15)
_GK_WG[[1, 3, 5, 9, 11, 13]] = np.concatenate([_WG[:-1], _WG[:-1][::-1]])
_GK_WG[7] = _WG[-1]

#: ``logf(u, rows)`` returns ``(log f(u), d log f / du, h)`` where ``rows`` indexes the
#: parameters of each element of ``u`` and ``h`` (shape ``(m, len(u))`` or ``None``) holds
#: functions whose ``f``-weighted means are wanted.
LogDensity = Callable[
    [NDArray[np.float64], NDArray[np.intp]],
    tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None],
]


def _find_mode(
    logf: LogDensity,
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    guess: NDArray[np.float64],
    scale: float,
) -> NDArray[np.float64]:
    """Arg-max of a concave ``log f`` on ``[lo, hi]``: bracket by doubling, then bisect."""
    n = len(lo)
    rows = np.arange(n)

    def slope(u: NDArray[np.float64], idx: NDArray[np.intp]) -> NDArray[np.float64]:
        return logf(u, idx)[1]

    u0 = np.clip(guess, lo, hi)
    d0 = slope(u0, rows)
    up = d0 > 0  # the mode lies to the right of u0
    mode = np.where(d0 == 0, u0, np.nan)
    below = u0.copy()  # a point with slope > 0 (left of the mode)
    above = u0.copy()  # a point with slope <= 0 (right of the mode)
    step = np.full(n, scale)
    todo = np.flatnonzero(d0 != 0)
    for _ in range(1100):
        if todo.size == 0:
            break
        sgn = np.where(up[todo], 1.0, -1.0)
        cand = np.clip(u0[todo] + sgn * step[todo], lo[todo], hi[todo])
        d = slope(cand, todo)
        crossed = np.where(up[todo], d <= 0, d > 0)
        at_end = ~crossed & (cand == np.where(up[todo], hi[todo], lo[todo]))
        mode[todo[at_end]] = cand[at_end]
        below[todo] = np.where(up[todo] & ~crossed, cand, below[todo])
        above[todo] = np.where(~up[todo] & ~crossed, cand, above[todo])
        below[todo] = np.where(~up[todo] & crossed, cand, below[todo])
        above[todo] = np.where(up[todo] & crossed, cand, above[todo])
        step[todo] *= 2.0
        todo = todo[~crossed & ~at_end]
    todo = np.flatnonzero(np.isnan(mode))
    for _ in range(2100):
        if todo.size == 0:
            break
        a, b = below[todo], above[todo]
        mid = 0.5 * (a + b)
        d = slope(mid, todo)
        below[todo] = np.where(d > 0, mid, a)
        above[todo] = np.where(d > 0, b, mid)
        close = np.abs(b - a) <= MODE_RTOL * np.maximum(np.abs(mid), 1.0)
        done = (d == 0) | (mid == a) | (mid == b) | close
        mode[todo[done]] = mid[done]
        todo = todo[~done]
    return mode


#: Precision of the mode of :func:`logconcave_integral`, relative to ``max(|u|, 1)``: the mode
#: is a cut point and the reference value, not a result (log f is flat there to O(gap²)).
MODE_RTOL = 1e-8
#: Relative precision of the window ends of :func:`logconcave_integral` (see _find_level).
LEVEL_RTOL = 1e-4


def _find_level(
    logf: LogDensity,
    start: NDArray[np.float64],
    end: NDArray[np.float64],
    target: NDArray[np.float64],
    scale: float,
    rows: NDArray[np.intp],
) -> NDArray[np.float64]:
    """Point between ``start`` (the mode) and ``end`` where ``log f`` has fallen to ``target``.

    Returns ``end`` where ``log f(end) >= target``. ``log f`` is monotone on the way.
    """
    sgn = np.where(end >= start, 1.0, -1.0)
    out = end.copy()
    finite = np.isfinite(end)
    val_end = np.full(len(end), -np.inf)
    if finite.any():
        val_end[finite] = logf(end[finite], rows[finite])[0]
    near = start.copy()
    far = end.copy()
    todo = np.flatnonzero(~(val_end >= target))  # the level is crossed before the end
    # Bracket: double a step from the mode until log f < target (or the end is passed).
    step = np.full(len(end), scale)
    search = todo[~finite[todo]]
    for _ in range(1100):
        if search.size == 0:
            break
        cand = start[search] + sgn[search] * step[search]
        below = logf(cand, rows[search])[0] < target[search]
        far[search[below]] = cand[below]
        near[search[~below]] = cand[~below]
        step[search] *= 2.0
        search = search[~below]
    # Bisect until the bracket is a 1e-4 part of its distance from the mode: ``far`` (where
    # log f < target) is returned, so the window always holds the level, a little wider.
    for _ in range(2100):
        if todo.size == 0:
            break
        a, b = near[todo], far[todo]
        mid = 0.5 * (a + b)
        above = logf(mid, rows[todo])[0] >= target[todo]
        near[todo] = np.where(above, mid, a)
        far[todo] = np.where(above, b, mid)
        gap = np.abs(far[todo] - near[todo])
        done = (mid == a) | (mid == b) | (gap <= LEVEL_RTOL * np.abs(far[todo] - start[todo]))
        todo = todo[~done]
    out[~(val_end >= target)] = far[~(val_end >= target)]
    return out


def logconcave_integral(
    logf: LogDensity,
    lo: ArrayLike,
    hi: ArrayLike,
    guess: ArrayLike,
    *,
    rtol: float = 1e-13,
    drop: float = 46.0,
    scale: float = 1.0,
    points: ArrayLike | None = None,
    max_rounds: int = 80,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """``log ∫_lo^hi f(u) du`` for a log-concave ``f``, one integral per row, and f-weighted means.

    The mode of ``log f`` is found by bisection on its slope; the integral is restricted to the
    window where ``f`` is within ``exp(-drop)`` of its peak (the rest is below
    ``rtol``), cut at the mode, at ``points`` and at geometric distances from the mode, and
    computed by vectorised adaptive Gauss-Kronrod (7/15) quadrature of ``f / f(mode)``,
    bisecting every interval whose error estimate is above its share of ``rtol``. Working
    relative to the peak keeps every value in ``[e^-drop, 1]``,
    whatever the scale of ``f`` (``10^-40000`` is fine).

    Parameters
    ----------
    logf : callable
        ``logf(u, rows) -> (log f, d log f / du, h)`` for points ``u`` of the rows ``rows``;
        ``h`` is ``None`` or an array ``(m, len(u))`` of functions whose means under ``f`` are
        returned. ``log f`` must be concave in ``u``.
    lo, hi : array-like
        Limits per row; ``-inf``/``inf`` allowed where ``f`` decays there.
    guess : array-like
        A finite starting point per row for the mode search (a rough mode).
    rtol : float
        Relative accuracy asked of each integral.
    drop : float
        Where ``log f`` is ``drop`` below its peak, the rest of the tail is ignored.
    scale : float
        Initial step of the bracketing searches and length of the first intervals either
        side of the mode, in units of ``u``.
    points : array-like, optional
        ``(m, rows)`` (or ``(m,)``) places where ``f`` changes shape, cut at from the start.

    Returns
    -------
    log_integral : ndarray
        Per row.
    means : ndarray or None
        ``(m, rows)`` f-weighted means of ``h``, if ``logf`` returns any.
    """
    lo_, hi_, g_ = np.broadcast_arrays(
        np.asarray(lo, dtype=np.float64),
        np.asarray(hi, dtype=np.float64),
        np.asarray(guess, dtype=np.float64),
    )
    lo_, hi_, g_ = (np.ravel(v).astype(np.float64) for v in (lo_, hi_, g_))
    n = len(lo_)
    rows = np.arange(n)
    mode = _find_mode(logf, lo_, hi_, g_, scale)
    peak = logf(mode, rows)[0]
    target = peak - drop
    left = _find_level(logf, mode, lo_, target, scale, rows)
    right = _find_level(logf, mode, hi_, target, scale, rows)

    # Initial intervals: the window is cut at the mode, at ``points`` (the caller's known
    # features, such as the knees of a softplus) and at distances scale * (1, 2, 4, ...) from
    # the mode, so that no feature near the mode hides between the nodes of one wide interval
    # (where the Gauss-Kronrod error estimate would miss it). Intervals are then bisected
    # while their error estimate is above their share of ``rtol``, or until bisecting no
    # longer shrinks it, which then measures rounding in ``log f`` rather than quadrature
    # error (accepted up to 1e4 * rtol).
    span = np.maximum(mode - left, right - mode)
    top = int(np.ceil(np.log2(max(float(np.max(span, initial=0.0)) / scale, 1.0)))) + 1
    steps = scale * (2.0 ** np.arange(top))
    cuts = [left, right, mode]
    cuts += [mode - h for h in steps] + [mode + h for h in steps]
    if points is not None:
        pts = np.asarray(points, dtype=np.float64)
        pts = pts.reshape(len(pts), -1) if pts.ndim else pts.reshape(1, 1)
        cuts += [np.broadcast_to(p, (n,)) for p in pts]
    grid = np.sort(np.clip(np.stack(cuts), left, right), axis=0)
    a = grid[:-1].T.ravel()
    b = grid[1:].T.ravel()
    owner = np.repeat(rows, len(grid) - 1)
    keep = b > a
    a, b, owner = a[keep], b[keep], owner[keep]
    width = np.zeros(n)
    np.add.at(width, owner, b - a)
    parent_err = np.full(len(a), np.inf)
    done_k = np.zeros(n)
    done_h: NDArray[np.float64] | None = None
    for round_ in range(max_rounds):
        if a.size == 0:
            break
        half = 0.5 * (b - a)
        u = (0.5 * (a + b))[:, None] + half[:, None] * _GK_NODES[None, :]
        idx = np.repeat(owner, 15)
        lv, _, h = logf(u.ravel(), idx)
        with np.errstate(invalid="ignore", over="ignore"):
            f = np.exp(lv - peak[idx]).reshape(u.shape)
        f = np.where(np.isfinite(f), f, 0.0)
        k = half * (f @ _GK_WK)
        # QUADPACK's qk15 error estimate: |K15 - G7| scaled by (200 |K - G| / resasc)^1.5,
        # which is realistic once the rule converges (pessimistic |K - G| is not).
        diff = np.abs(k - half * (f @ _GK_WG))
        resasc = half * (np.abs(f - (k / (2.0 * half))[:, None]) @ _GK_WK)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.where(
                resasc > 0, resasc * np.minimum(1.0, (200.0 * diff / resasc) ** 1.5), diff
            )
        total = done_k.copy()
        np.add.at(total, owner, k)
        # Its share of rtol: by length or by its own mass, whichever is larger (the shares add
        # up to at most 2 rtol of the row's integral), and never below rtol / 1e4 of the
        # whole (an interval that small cannot matter, however long the window).
        share = np.maximum((b - a) / np.maximum(width[owner], 1e-300), 1e-4)
        allowed = rtol * np.maximum(total[owner] * share, k)
        ok = (
            (err <= allowed)
            | ((err <= 1e4 * allowed) & (err > parent_err / 8.0))
            | ((b - a) <= 1e-15 * np.maximum(1.0, np.abs(a)))
            | (round_ == max_rounds - 1)
            | (len(a) > 500_000)
        )
        np.add.at(done_k, owner[ok], k[ok])
        if h is not None:
            hk = np.einsum("mij,j->mi", h.reshape(len(h), *u.shape) * f, _GK_WK) * half
            if done_h is None:
                done_h = np.zeros((len(h), n))
            for j in range(len(hk)):
                np.add.at(done_h[j], owner[ok], hk[j][ok])
        split = ~ok
        mid = 0.5 * (a[split] + b[split])
        a = np.concatenate([a[split], mid])
        b = np.concatenate([mid, b[split]])
        owner = np.tile(owner[split], 2)
        parent_err = np.tile(err[split] / 2.0, 2)
    means = None if done_h is None else done_h / np.where(done_k > 0, done_k, 1.0)
    with np.errstate(divide="ignore"):
        log_integral = peak + np.log(done_k)
    return log_integral, means


# --------------------------------------------------------------------------------------
# Gauss hypergeometric function in log space
# --------------------------------------------------------------------------------------

#: Below this argument the power series is summed; above it (or when the series would need
#: more than ``_SERIES_TERMS`` terms) the Euler integral is integrated numerically.
_SERIES_MAX_Z = 0.6
_SERIES_TERMS = 400
#: Continued-fraction levels allowed for 2F1(1, b; c; z) with 0.6 < z <= 0.999.
_CF_LEVELS = 1200
_CF_MAX_Z = 0.999


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


def _hyp2f1_series(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    z: NDArray[np.float64],
    gradient: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Σ_k (a)_k (b)_k / ((c)_k k!) z^k for a, b > 0, c > 0, 0 <= z < 1 (all terms > 0).

    Returns the log of the sum, its derivatives ``(4, n)`` in ``(a, b, c, z)`` (zeros unless
    ``gradient``), and which rows converged (tail bound below 1e-17 of the sum) within
    ``_SERIES_TERMS`` terms. Rows leave the loop as they converge.
    """
    n = len(z)
    # state rows: total, term, Σ1/(a+j), Σ1/(b+j), Σ1/(c+j), d/da, d/db, d/dc, d/dz
    state = np.zeros((9, n))
    state[0] = state[1] = 1.0
    out = state.copy()
    done = np.zeros(n, dtype=bool)
    act = np.arange(n)
    aa, bb, cc, zz = a, b, c, z
    for k in range(_SERIES_TERMS):
        q = (aa + k) * (bb + k) / ((cc + k) * (k + 1.0))
        st = state
        if gradient:
            st[8] += (k + 1.0) * st[1] * q
            st[2] += 1.0 / (aa + k)
            st[3] += 1.0 / (bb + k)
            st[4] += 1.0 / (cc + k)
        st[1] *= q * zz
        st[0] += st[1]
        if gradient:
            st[5] += st[1] * st[2]
            st[6] += st[1] * st[3]
            st[7] -= st[1] * st[4]
        # Later term ratios stay below max(q z, z) < 1 (q_k tends to 1 monotonically): the
        # tail is at most term * rho / (1 - rho).
        rho = np.maximum(q * zz, zz)
        fin = (rho < 1.0) & (st[1] * rho <= 1e-17 * st[0] * (1.0 - rho))
        if fin.any() or k == _SERIES_TERMS - 1:
            out[:, act] = st
            done[act[fin]] = True
            keep = ~fin
            act, state = act[keep], st[:, keep]
            aa, bb, cc, zz = aa[keep], bb[keep], cc[keep], zz[keep]
            if act.size == 0:
                break
    grad = out[5:9] / out[0]
    return np.log(out[0]), grad, done


def _hyp2f1_unit_cf(
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    z: NDArray[np.float64],
    gradient: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """``log 2F1(1, b; c; z)`` by Gauss's continued fraction, for 0 < b < c, c > 1, z < 1.

    With ``F(b, 1; c; z) = 1 / (1 - k_1 z / (1 - k_2 z / (1 - ...)))``,
    ``k_{2n+1} = (b+n)(c-1+n) / ((c-1+2n)(c+2n))`` and
    ``k_{2n} = n(c-1-b+n) / ((c-2+2n)(c-1+2n))`` (Gauss's continued fraction with one
    numerator parameter 0; all ``k > 0``, a Stieltjes fraction, convergent off ``[1, ∞)``),
    evaluated forward by the modified Lentz method with forward-mode derivatives in
    ``(b, c, z)``. It needs about ``10 / sqrt(1 - z)`` levels where the power series needs
    ``37 / (1 - z)`` terms. Returns the log, its gradient ``(3, n)`` and which rows converged
    within ``_CF_LEVELS`` levels.
    """
    n_rows = len(z)
    cm = c - 1.0
    f_log = np.zeros(n_rows)
    cur_c = np.ones(n_rows)
    cur_d = np.zeros(n_rows)
    d_c = np.zeros((3, n_rows))
    d_d = np.zeros((3, n_rows))
    d_log = np.zeros((3, n_rows))
    done = np.zeros(n_rows, dtype=bool)
    act = np.arange(n_rows)
    bb, cc, zz = b, cm, z
    for j in range(1, _CF_LEVELS):
        if j % 2:
            m = (j - 1) // 2
            den = (cc + 2 * m) * (cc + 2 * m + 1)
            k = (bb + m) * (cc + m) / den
            dk_b = (cc + m) / den
            dk_c = k * (1.0 / (cc + m) - 1.0 / (cc + 2 * m) - 1.0 / (cc + 2 * m + 1))
        else:
            m = j // 2
            den = (cc + 2 * m - 1) * (cc + 2 * m)
            k = m * (cc - bb + m) / den
            dk_b = -m / den
            dk_c = k * (1.0 / (cc - bb + m) - 1.0 / (cc + 2 * m - 1) - 1.0 / (cc + 2 * m))
        a = -k * zz
        new_d = 1.0 / (1.0 + a * cur_d)
        new_c = 1.0 + a / cur_c
        delta = new_c * new_d
        f_log[act] += np.log(delta)
        if gradient:
            da = np.stack([-dk_b * zz, -dk_c * zz, -k])
            nd_d = -(new_d**2) * (da * cur_d + a * d_d)
            nd_c = da / cur_c - a * d_c / cur_c**2
            d_log[:, act] += nd_c / new_c + nd_d / new_d
            d_c, d_d = nd_c, nd_d
        cur_c, cur_d = new_c, new_d
        fin = np.abs(delta - 1.0) < 1e-16
        if fin.any():
            done[act[fin]] = True
            keep = ~fin
            act, bb, cc, zz = act[keep], bb[keep], cc[keep], zz[keep]
            cur_c, cur_d = cur_c[keep], cur_d[keep]
            if gradient:
                d_c, d_d = d_c[:, keep], d_d[:, keep]
            if act.size == 0:
                break
    return -f_log, -d_log, done


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


def _hyp2f1_quad_centre(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    log1mz: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The mode of the exponent of :func:`_hyp2f1_quad` in closed form.

    With ``y = e^u`` and ``w = 1 - z``, ``b σ(-u) - (c-a-b) σ(u) - a σ(u + log w) = 0`` is
    ``w (c-b) y² - (b (1+w) - (c-a) - a w) y - b = 0``, whose one positive root is taken in
    the form without cancellation. Where it is not finite (``w`` underflows with
    ``c - a - b <= 0``), the mode of the Beta part, ``log b - log(c-b)``.
    """
    w = np.exp(log1mz)
    lin = b * (1.0 + w) - (c - a) - a * w
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        disc = np.sqrt(lin * lin + 4.0 * w * (c - b) * b)
        y = np.where(lin > 0, (lin + disc) / (2.0 * w * (c - b)), 2.0 * b / (disc - lin))
        centre = np.log(y)
    return np.where(np.isfinite(centre), centre, np.log(b) - np.log(c - b))


def _hyp2f1_quad(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    log1mz: NDArray[np.float64],
    gradient: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Euler's integral (DLMF 15.6.1) in ``u = logit(t)``, for 0 < b < c, 0 <= a <= c, z < 1.

    ``2F1 = ∫ exp(b u - (c-a) softplus(u) - a softplus(u + log(1-z))) du / B(b, c-b)``; the
    exponent is concave in ``u``, so :func:`logconcave_integral` applies. It is evaluated
    as ``-b softplus(-u) - (c-a-b) softplus(u) - a softplus(u + log(1-z))`` (the log of the
    Beta density ``t^b (1-t)^(c-b)`` and the ``(1-zt)^-a`` factor) relative to its value at
    the mode ``m`` (:func:`_hyp2f1_quad_centre`), each difference of softplus by
    :func:`_softplus_step`: for parameters in the millions (a Pareto/NBD fit of a log of a
    few rows wanders there) ``b u`` and ``(c-a) softplus(u)`` are each about ``10^9`` and
    their difference would carry a rounding noise of ``10^-7`` that no quadrature rule can
    resolve to 1e-13, while the differences from the mode are of the order of the window's
    ``sqrt(b)``.
    """
    from scipy.special import digamma

    e = c - a - b  # may be negative
    centre = _hyp2f1_quad_centre(a, b, c, log1mz)

    def logf(
        u: NDArray[np.float64], rows: NDArray[np.intp]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]:
        aa, bb, ee, ll, mm = a[rows], b[rows], e[rows], log1mz[rows], centre[rows]
        d = u - mm
        value = (
            -bb * _softplus_step(-mm, -d)
            - ee * _softplus_step(mm, d)
            - aa * _softplus_step(mm + ll, d)
        )
        sg1 = _sigmoid(u + ll)
        slope = bb * _sigmoid(-u) - ee * _sigmoid(u) - aa * sg1
        if not gradient:
            return value, slope, None
        sp0, sp1 = _softplus(u), _softplus(u + ll)
        return value, slope, np.stack([sp0 - sp1, u, -sp0, aa * sg1])

    log_int, means = logconcave_integral(
        logf, -np.inf, np.inf, centre, points=np.stack([np.zeros_like(log1mz), -log1mz])
    )
    at_centre = -b * _softplus(-centre) - e * _softplus(centre) - a * _softplus(centre + log1mz)
    value = at_centre + log_int - log_beta(b, c - b)
    if not gradient or means is None:
        return value, None
    d_a = means[0]
    d_b = means[1] - digamma(b) + digamma(c - b)
    d_c = means[2] - digamma(c - b) + digamma(c)
    d_z = means[3] * np.exp(-log1mz)
    return value, np.stack([d_a, d_b, d_c, d_z])


def log_hyp2f1(
    a: ArrayLike,
    b: ArrayLike,
    c: ArrayLike,
    z: ArrayLike,
    *,
    log1mz: ArrayLike | None = None,
    gradient: bool = False,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``log 2F1(a, b; c; z)`` for real ``z < 1``, accurate where scipy's ``hyp2f1`` is not.

    Domain: ``a, b >= 0`` with one of them strictly between 0 and ``c`` and the other at most
    ``c`` (every Pareto/NBD, BG/BB and sBG use). Then the Euler integral
    ``2F1 = ∫_0^1 t^(b-1) (1-t)^(c-b-1) (1-zt)^(-a) dt / B(b, c-b)`` (DLMF 15.6.1) has a
    log-concave integrand in ``logit(t)``.

    For ``0 <= z <= 0.6`` the power series is summed (in the form of the Euler transformation
    ``(1-z)^(c-a-b) 2F1(c-a, c-b; c; z)`` when that has the smaller numerator parameters;
    every term is non-negative, so there is no cancellation). For ``2F1(1, b; c; z)`` up to
    ``z = 0.999`` Gauss's continued fraction follows (values only; see
    :func:`log_hyp2f1_unit` for its gradient). Otherwise, or when the series
    would need more than 400 terms (numerator parameters in the thousands), the Euler integral
    is computed by adaptive Gauss-Kronrod quadrature around its mode
    (:func:`logconcave_integral`), to about 1e-13 relative. The result never overflows:
    ``2F1(10^4, 1; 10^4 + 1; 1 - 10^-9)`` is about ``e^20``, while the series terms of
    ``2F1(r+s+x, s+1; r+s+x+1; z)`` for heavy buyers overflow scipy.

    Parameters
    ----------
    a, b, c, z : array-like
        Broadcast against each other.
    log1mz : array-like, optional
        ``log(1 - z)`` computed by the caller without cancellation (for ``z`` within
        ``1e-8`` of 1 pass it: ``1 - z`` as a difference keeps only 8 digits).
    gradient : bool
        Also return the derivatives in ``(a, b, c, z)``, shape ``(4, n)``.

    Raises
    ------
    ValueError
        Outside the domain above.
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, z)))
    shape = arrays[0].shape
    a_, b_, c_, z_ = (np.ravel(v).astype(np.float64) for v in arrays)
    with np.errstate(divide="ignore", invalid="ignore"):
        l1z_default = np.log1p(-z_)
    l1z = (
        l1z_default
        if log1mz is None
        else np.ravel(np.broadcast_to(np.asarray(log1mz, dtype=np.float64), shape)).copy()
    )
    # Put in b the parameter with 0 < b < c (the Euler integral needs it).
    swap = ~((b_ > 0) & (b_ < c_) & (a_ >= 0) & (a_ <= c_))
    a_, b_ = np.where(swap, b_, a_), np.where(swap, a_, b_)
    bad = ~((b_ > 0) & (b_ < c_) & (a_ >= 0) & (a_ <= c_) & (z_ < 1) & np.isfinite(l1z))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            "log_hyp2f1 needs z < 1 and a, b >= 0 with one of them in (0, c) and the other "
            f"<= c. Got a={a_[i]!r}, b={b_[i]!r}, c={c_[i]!r}, z={z_[i]!r} "
            f"({int(bad.sum())} values break this rule)."
        )
    n = len(z_)
    value = np.empty(n)
    grad = np.empty((4, n))
    solved = (z_ >= 0) & (z_ <= _SERIES_MAX_Z)  # rows done by series or fraction
    if solved.any():
        i = np.flatnonzero(solved)
        aa, bb, cc, zz, ll = a_[i], b_[i], c_[i], z_[i], l1z[i]
        # Euler's transformation when its numerator parameters are smaller (faster series).
        euler = (cc - aa) + (cc - bb) < aa + bb
        pa, pb = np.where(euler, cc - aa, aa), np.where(euler, cc - bb, bb)
        with np.errstate(divide="ignore", invalid="ignore"):
            v, g, ok = _hyp2f1_series(pa, pb, cc, zz, gradient)
        ok &= (pa > 0) & (pb > 0)  # a zero parameter goes to the integral (its derivative)
        e = euler.astype(np.float64)
        m = cc - aa - bb
        value[i] = v + e * m * ll
        dz_pref = -e * m * np.exp(-ll)
        grad[0, i] = np.where(euler, -ll - g[0], g[0])
        grad[1, i] = np.where(euler, -ll - g[1], g[1])
        grad[2, i] = np.where(euler, ll + g[0] + g[1] + g[2], g[2])
        grad[3, i] = g[3] + dz_pref
        solved[i[~ok]] = False
    # 2F1(1, b; c; z) above the series range: the continued fraction (values only; its
    # gradient in the unit parameter would need the integral, see log_hyp2f1_unit).
    unit = ~solved & (z_ >= 0) & (z_ <= _CF_MAX_Z) & (c_ > 1) & ((a_ == 1.0) | (b_ == 1.0))
    if unit.any() and not gradient:
        i = np.flatnonzero(unit)
        other = np.where(a_[i] == 1.0, b_[i], a_[i])
        ok = other < c_[i]
        v, _, conv = _hyp2f1_unit_cf(other[ok], c_[i][ok], z_[i][ok], False)
        value[i[ok]] = v
        solved[i[ok][conv]] = True
    rest = np.flatnonzero(~solved)
    if rest.size:
        v, g = _hyp2f1_quad(a_[rest], b_[rest], c_[rest], l1z[rest], gradient)
        value[rest] = v
        if g is not None:
            grad[:, rest] = g
    grad[[0, 1]] = np.where(swap, grad[[1, 0]], grad[[0, 1]])
    value = value.reshape(shape)
    if not gradient:
        return value
    return value, grad.reshape((4, *shape))


def log_hyp2f1_unit(
    b: ArrayLike,
    c: ArrayLike,
    z: ArrayLike,
    *,
    log1mz: ArrayLike | None = None,
    gradient: bool = False,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``log 2F1(1, b; c; z)`` for ``0 < b < c``, ``c > 1``, ``z < 1``, with ``d/d(b, c, z)``.

    The form every Pareto/NBD likelihood term takes after Euler's transformation
    (``2F1(r+s+x, s+1; r+s+x+1; z) = (1-z)^-s 2F1(1, r+x; r+s+x+1; z)``), and the BG/BB and
    sBG discounting sums. Power series for ``0 <= z <= 0.6`` (terms decrease at least as
    fast as ``z^k``), Gauss's continued fraction up to ``z = 0.999`` (about
    ``10 / sqrt(1-z)`` levels), the Euler integral by quadrature beyond and for ``z < 0``.

    Returns
    -------
    value : ndarray
    gradient : ndarray, shape ``(3, ...)``
        Only with ``gradient=True``: derivatives in ``b``, ``c`` and ``z``.
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (b, c, z)))
    shape = arrays[0].shape
    b_, c_, z_ = (np.ravel(v).astype(np.float64) for v in arrays)
    with np.errstate(divide="ignore", invalid="ignore"):
        l1z_default = np.log1p(-z_)
    l1z = (
        l1z_default
        if log1mz is None
        else np.ravel(np.broadcast_to(np.asarray(log1mz, dtype=np.float64), shape)).copy()
    )
    bad = ~((b_ > 0) & (b_ < c_) & (c_ > 1) & (z_ < 1) & np.isfinite(l1z))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"log_hyp2f1_unit needs 0 < b < c, c > 1 and z < 1. Got b={b_[i]!r}, c={c_[i]!r}, "
            f"z={z_[i]!r} ({int(bad.sum())} values break this rule)."
        )
    n = len(z_)
    value = np.empty(n)
    grad = np.zeros((3, n))
    left = np.ones(n, dtype=bool)
    ser = (z_ >= 0) & (z_ <= _SERIES_MAX_Z)
    if ser.any():
        i = np.flatnonzero(ser)
        with np.errstate(divide="ignore", invalid="ignore"):
            v, g, ok = _hyp2f1_series(np.ones(len(i)), b_[i], c_[i], z_[i], gradient)
        value[i], grad[:, i] = v, g[1:]
        left[i[ok]] = False
    cf = left & (z_ >= 0) & (z_ <= _CF_MAX_Z)
    if cf.any():
        i = np.flatnonzero(cf)
        v, g, ok = _hyp2f1_unit_cf(b_[i], c_[i], z_[i], gradient)
        value[i], grad[:, i] = v, g
        left[i[ok]] = False
    rest = np.flatnonzero(left)
    if rest.size:
        v, g = _hyp2f1_quad(np.ones(rest.size), b_[rest], c_[rest], l1z[rest], gradient)
        value[rest] = v
        if g is not None:
            grad[:, rest] = g[1:]
    value = value.reshape(shape)
    if not gradient:
        return value
    return value, grad.reshape((3, *shape))


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
