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
from numpy.typing import ArrayLike
from scipy.special import betainc, betaln, expit, gammaln

from ..likelihoods import mbgnbd_loglik
from ..special import mean_purchases_until_death
from .base import Array, NewCustomerPredictions, PurchaseModel
from .bgnbd import conditional_from_alive
from .covariates import CovariatesMixin
from .fitting import repeat_purchase_rate

PARAMS = ("r", "alpha", "a", "b")


def p_alive(params: Array, x: Array, tx: Array, T: Array) -> Array:
    """P(alive at T | x, t_x, T), Batislam et al. (2007) eq. (5)::

    1 / (1 + a/(b+x) ((α+T)/(α+t_x))^(r+x))
    """
    return expit(-_log_death_odds(params, x, tx, T))


def _log_death_odds(params: Array, x: Array, tx: Array, T: Array) -> Array:
    """log of ``a/(b+x) ((α+T)/(α+t_x))^(r+x)``."""
    r, alpha, a, b = params
    return np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))


def log_death_odds_gradient(params: Array, x: Array, tx: Array, T: Array) -> tuple[Array, Array]:
    """The log death odds ``L`` of :func:`p_alive` (``P(alive) = expit(-L)``) and its
    gradient in ``(r, α, a, b)``, shape ``(4, n)`` (as BG/NBD's with ``b+x`` for ``b+x-1``)."""
    r, alpha, a, b = params
    grad = np.stack(
        [
            np.log(alpha + T) - np.log(alpha + tx),
            (r + x) * (1.0 / (alpha + T) - 1.0 / (alpha + tx)),
            np.full(np.shape(x), 1.0 / a),
            -1.0 / (b + x),
        ]
    )
    return _log_death_odds(params, x, tx, T), grad


def expected_purchases(params: Array, t: ArrayLike, x: Array, tx: Array, T: Array) -> Array:
    """E[X(T, T+t) | x, t_x, T], Batislam et al. (2007) eq. (6)::

    (a+b+x)/(a-1) [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(α+T+t))] * P(alive)

    computed as ``P(alive) E_p[(1 - (1 + p t/(α+T))^-(r+x)) / p]`` with the posterior
    ``p ~ Beta(a, b+x+1)`` of a live customer (see :func:`mean_purchases_until_death`).
    """
    r, alpha, a, b = params
    t = float(t) if np.ndim(t) == 0 else np.asarray(t, dtype=np.float64)
    mean = mean_purchases_until_death(a, b + x + 1.0, r + x, t / (alpha + T))
    return mean * p_alive(params, x, tx, T)


def expected_purchases_new(params: Array, t: ArrayLike) -> Array:
    """E[X(t)] for a customer just acquired, Batislam et al. (2007) eq. (3)::

    b/(a-1) [1 - (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))]

    computed as ``b/(a+b) E_p[(1 - (1 + p t/α)^-r) / p]``, ``p ~ Beta(a, b+1)``: the customer
    survives the coin at time 0 with probability ``b/(a+b)``.
    """
    r, alpha, a, b = (float(v) for v in params)
    t = np.asarray(t, dtype=np.float64)
    mean = mean_purchases_until_death(a, np.full(t.shape, b + 1.0), np.full(t.shape, r), t / alpha)
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
    b = params[3]
    return conditional_from_alive(p_alive(params, x, tx, T), params, b + x + 1.0, t, n, x, T)


class ModifiedBetaGeoModel(CovariatesMixin, NewCustomerPredictions, PurchaseModel):
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
    _log_death_odds_gradient_fn = staticmethod(log_death_odds_gradient)
    _expected_new_fn = staticmethod(expected_purchases_new)
    _probability_fn = staticmethod(probability_of_purchases)
    _conditional_probability_fn = staticmethod(conditional_probability_of_purchases)

    def _default_initial(self, arrays: tuple[Array, ...], weights: Array) -> Array:
        return np.array([1.0, 1.0 / repeat_purchase_rate(arrays, weights), 1.0, 1.0])
