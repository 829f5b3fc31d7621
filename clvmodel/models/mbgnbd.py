"""MBG/NBD: Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of
models for customer base analysis", International Journal of Research in Marketing 24(3).

As BG/NBD, a customer buys at Poisson rate λ ~ Gamma(r, α) while alive and drops out with
probability p ~ Beta(a, b) after each repeat purchase, but they also flip the coin once at
time 0: a customer with no repeat purchase may already be gone, so their P(alive) is below 1.
Predictions are pure functions of the parameters and arrays; :class:`ModifiedBetaGeoModel`
labels them by customer.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betainc, betaln, expit, gammaln

from ..likelihoods import mbgnbd_loglik
from ..special import logconcave_integral
from .base import Array, NewCustomerPredictions, PurchaseModel, repeat_purchase_rate
from .bgnbd import conditional_from_alive

PARAMS = ("r", "alpha", "a", "b")


def p_alive(params: Array, x: Array, tx: Array, T: Array) -> Array:
    """P(alive at T | x, t_x, T), Batislam et al. (2007) eq. (5)::

    1 / (1 + a/(b+x) ((α+T)/(α+t_x))^(r+x))
    """
    r, alpha, a, b = (float(v) for v in params)
    log_odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
    return expit(-log_odds)


def _mean_purchases_until_death(
    a: float, b_post: Array, m: Array, kappa: Array
) -> NDArray[np.float64]:
    """``E_p[(1 - (1 + κ p)^-m) / p]`` for ``p ~ Beta(a, b_post)``.

    For a live customer with ``λ | data ~ Gamma(m, α+T)`` and dropout probability ``p``, the
    expected purchases in the next ``t`` are ``E_λ[(1 - e^(-λ p t)) / p]`` (purchases at rate
    λ, dropout after each with probability p), which is the expression above with
    ``κ = t/(α+T)``. It equals the hypergeometric closed form of Batislam et al. (2007, eq. 6)
    and Wagner & Hoppe (2008), ``(a+b_post-1)/(a-1) [1 - 2F1(m, b_post; a+b_post-1; z)
    (1-z)^m]`` with ``z = κ/(1+κ)``, but stays finite for ``a`` near 1, ``z`` near 1 and ``m``
    in the thousands, where that 2F1 overflows. The integrand is log-concave in ``log p``.
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
    bb, mm, kk = bb[pos], mm[pos], kk[pos]

    def logf(u: NDArray[np.float64], rows: NDArray[np.intp]) -> tuple[Array, Array, None]:
        bp, mp, kp = bb[rows], mm[rows], kk[rows]
        log_y = np.log(kp) + u  # log κp, kept in logs: e^u underflows far left
        y = np.exp(log_y)
        grow = mp * np.log1p(y)  # -log (1+κp)^-m
        tiny = log_y < -40.0  # there 1 - (1+y)^-m = m y to 1e-14
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            log_q = np.log(-np.expm1(u))  # log(1 - p)
            log_g = np.where(tiny, np.log(mp) + log_y, np.log(-np.expm1(-grow))) - u
            value = a * u + (bp - 1.0) * log_q + log_g
            d_q = -(bp - 1.0) / np.expm1(-u)  # d/du (b-1) log(1 - e^u)
            d_g = np.where(tiny, 1.0, mp * y / (1.0 + y) / np.expm1(grow))
            slope = a - 1.0 + d_q + d_g
        value = np.where(u < 0, value, -np.inf)
        slope = np.where(u < 0, slope, -np.inf)
        return value, slope, None

    guess = np.log(a) - np.log(a + bb)
    log_int, _ = logconcave_integral(logf, -np.inf, 0.0, guess, points=-np.log(kk)[None])
    out[pos] = np.exp(log_int - betaln(a, bb))
    return out.reshape(shape)


def expected_purchases(params: Array, t: ArrayLike, x: Array, tx: Array, T: Array) -> Array:
    """E[X(T, T+t) | x, t_x, T], Batislam et al. (2007) eq. (6)::

    (a+b+x)/(a-1) [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(α+T+t))] * P(alive)

    computed as ``P(alive) E_p[(1 - (1 + p t/(α+T))^-(r+x)) / p]`` with the posterior
    ``p ~ Beta(a, b+x+1)`` of a live customer (see :func:`_mean_purchases_until_death`).
    """
    r, alpha, a, b = (float(v) for v in params)
    t = float(t) if np.ndim(t) == 0 else np.asarray(t, dtype=np.float64)
    mean = _mean_purchases_until_death(a, b + x + 1.0, r + x, t / (alpha + T))
    return mean * p_alive(params, x, tx, T)


def expected_purchases_new(params: Array, t: ArrayLike) -> Array:
    """E[X(t)] for a customer just acquired, Batislam et al. (2007) eq. (3)::

    b/(a-1) [1 - (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))]

    computed as ``b/(a+b) E_p[(1 - (1 + p t/α)^-r) / p]``, ``p ~ Beta(a, b+1)``: the customer
    survives the coin at time 0 with probability ``b/(a+b)``.
    """
    r, alpha, a, b = (float(v) for v in params)
    t = np.asarray(t, dtype=np.float64)
    mean = _mean_purchases_until_death(a, np.full(t.shape, b + 1.0), np.full(t.shape, r), t / alpha)
    return b / (a + b) * mean


def probability_of_purchases(params: Array, t: ArrayLike, n: ArrayLike) -> Array:
    """P(X(t) = n) for a customer just acquired (Batislam et al. 2007, eq. 2)::

    B(a, b+n+1)/B(a, b) NB(n; r, α, t) + B(a+1, b+n)/B(a, b) P(NB(r, α, t) >= n)

    The customer survives all ``n+1`` coins and makes exactly ``n`` purchases, or dies at the
    coin after the ``n``-th purchase (at time 0 for ``n = 0``) having had time for at least
    ``n``. The NBD tail is the regularised incomplete beta ``I_{t/(α+t)}(n, r)``, so nothing
    cancels for large ``n``. ``t`` and ``n`` broadcast.
    """
    r, alpha, a, b = (float(v) for v in params)
    t, n = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(n, dtype=np.float64))
    with np.errstate(divide="ignore"):
        log_nb = (
            gammaln(r + n)
            - gammaln(r)
            - gammaln(n + 1.0)
            + r * (np.log(alpha) - np.log(alpha + t))
            + n * (np.log(t) - np.log(alpha + t))
        )
    log_nb = np.where((t == 0) & (n == 0), 0.0, log_nb)
    alive = np.exp(betaln(a, b + n + 1.0) - betaln(a, b) + log_nb)
    tail = np.where(n > 0, betainc(np.maximum(n, 1.0), r, t / (alpha + t)), 1.0)
    dead = np.exp(betaln(a + 1.0, b + n) - betaln(a, b)) * tail
    return alive + dead


def conditional_probability_of_purchases(
    params: Array, t: float, n: float, x: Array, tx: Array, T: Array
) -> Array:
    """P(X(T, T+t) = n | x, t_x, T)::

        P(alive) P(X(t) = n | alive) + (1 - P(alive)) δ(n = 0)

    Given alive at T, the customer has survived ``x + 1`` coins (Batislam et al. 2007), so
    the posterior is λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x+1); the future is BG/NBD's (see
    :func:`clvmodel.models.bgnbd.future_purchase_probability`).
    """
    b = float(params[3])
    return conditional_from_alive(p_alive(params, x, tx, T), params, b + x + 1.0, t, n, x, T)


class ModifiedBetaGeoModel(NewCustomerPredictions, PurchaseModel):
    """MBG/NBD purchase model (Batislam, Denizel & Filiztekin 2007), maximum likelihood.

    Parameters ``r, alpha`` (gamma heterogeneity of the purchase rate; ``alpha`` in the data's
    time unit) and ``a, b`` (beta heterogeneity of the dropout probability, applied at time 0
    and after each repeat purchase).
    """

    name = "mbgnbd"
    param_names = PARAMS
    columns = ("frequency", "recency", "T")
    _loglik = staticmethod(mbgnbd_loglik)
    _p_alive_fn = staticmethod(p_alive)
    _expected_purchases_fn = staticmethod(expected_purchases)
    _alive_factorises = True  # E[X(t)] = P(alive) g(t; x, T), see PurchaseModel
    _expected_new_fn = staticmethod(expected_purchases_new)
    _probability_fn = staticmethod(probability_of_purchases)
    _conditional_probability_fn = staticmethod(conditional_probability_of_purchases)

    def _default_initial(self, arrays: tuple[Array, ...], weights: Array) -> Array:
        return np.array([1.0, 1.0 / repeat_purchase_rate(arrays, weights), 1.0, 1.0])
