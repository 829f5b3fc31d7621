"""The mean number of purchases until death of a customer with a Beta-distributed death
probability, E_p[(1 - (1 + κp)^-m) / p] (BG/NBD and MBG/NBD conditional expectations and
their CLV steps), in log space: a series for short horizons, Gauss-Jacobi quadrature, and
the log-concave integral where the Beta density is sharp."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .basic import _STIRLING, _log1p_minus, _minus_expm1, log_beta
from .quadrature import _gauss_jacobi, _gauss_legendre, logconcave_integral


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
