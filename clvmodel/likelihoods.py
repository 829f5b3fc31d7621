"""Per-customer log-likelihoods of the purchase and spend models: pure numpy, no pandas.

Each function takes the model's parameters (in the literature's order) and the data arrays,
and returns the log-likelihood of every row, with every constant term kept, so that the sum
is comparable to published figures. With ``gradient=True`` it also returns the derivatives
with respect to each parameter, as an array of shape ``(n_params, n_rows)``.

Functions of the purchase count alone are evaluated once per distinct count
(:func:`clvmodel.special.count_index`); what remains per row is a handful of logs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import digamma, gammaln

from .special import count_index

Array = NDArray[np.float64]


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

    computed as ``A1 + A2 + logaddexp(A3, A4)``.

    Parameters
    ----------
    params : array of 4 floats
        ``r, alpha, a, b``, all positive.
    frequency, recency, T : arrays
        Repeat purchases ``x``, time of the last purchase ``t_x`` and age ``T``, in one unit.
    gradient : bool
        Also return ``d log L / d(r, alpha, a, b)``, shape ``(4, n)``.
    """
    r, alpha, a, b = (float(v) for v in params)
    xi, grid = count_index(frequency)
    x = grid[xi]
    rx = r + x

    # Terms depending on x only, one evaluation per distinct count.
    g_rx = gammaln(r + grid) - gammaln(r)
    g_b = gammaln(b + grid) - gammaln(a + b + grid) + gammaln(a + b) - gammaln(b)
    a1 = g_rx[xi] + r * np.log(alpha)
    a2 = g_b[xi]

    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + recency)
    a3 = -rx * log_aT
    has = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio_grid = np.log(a) - np.log(b + grid - 1.0)
    log_ratio_grid[0] = -np.inf
    a4 = np.where(has, log_ratio_grid[xi] - rx * log_atx, -np.inf)
    tail = np.logaddexp(a3, a4)
    ll = a1 + a2 + tail
    if not gradient:
        return ll

    w4 = np.exp(a4 - tail)  # share of the "alive at t_x, dead since" term; 0 where x == 0
    w3 = 1.0 - w4
    d_rx_grid = digamma(r + grid) - digamma(r)
    d_abx_grid = digamma(a + b) - digamma(a + b + grid)
    d_bx_grid = digamma(b + grid) - digamma(b)
    with np.errstate(divide="ignore"):
        inv_bx1_grid = 1.0 / (b + grid - 1.0)
    inv_bx1_grid[0] = 0.0

    d_r = d_rx_grid[xi] + np.log(alpha) - w3 * log_aT - w4 * log_atx
    d_alpha = r / alpha - rx * (w3 / (alpha + T) + w4 / (alpha + recency))
    d_a = d_abx_grid[xi] + w4 / a
    d_b = d_abx_grid[xi] + d_bx_grid[xi] - w4 * inv_bx1_grid[xi]
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
    log_x = np.log(x)
    log_m = np.log(m)
    log_den = np.log(x * m + g)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1.0) * log_m
        + px * log_x
        - (px + q) * log_den
    )
    if not gradient:
        return ll
    dig_pxq = digamma(px + q)
    d_p = x * (dig_pxq - digamma(px) + log_m + log_x - log_den)
    d_q = dig_pxq - digamma(q) + np.log(g) - log_den
    d_g = q / g - (px + q) / (x * m + g)
    return ll, np.stack([d_p, d_q, d_g])
