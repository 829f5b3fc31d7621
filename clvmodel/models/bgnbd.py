"""BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way".

While alive, a customer buys at Poisson rate λ ~ Gamma(r, α); after each repeat purchase
they drop out with probability p ~ Beta(a, b). The closed-form predictions below are pure
functions of the parameters and arrays; :class:`BetaGeoModel` labels them by customer.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, expit, gammaln, hyp2f1

from ..likelihoods import bgnbd_loglik
from .base import Array, NewCustomerPredictions, PurchaseModel, repeat_purchase_rate
from .covariates import CovariatesMixin

PARAMS = ("r", "alpha", "a", "b")


def _log_death_odds(params: Array, x: Array, tx: Array, T: Array) -> Array:
    """log of ``δ(x>0) a/(b+x-1) ((α+T)/(α+t_x))^(r+x)``; -inf where x == 0."""
    r, alpha, a, b = params
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.log(a) - np.log(b + x - 1.0) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
    return np.where(x > 0, odds, -np.inf)


def p_alive(params: Array, x: Array, tx: Array, T: Array) -> Array:
    """P(alive at T | x, t_x, T), FHL (2005) eq. (11)."""
    return expit(-_log_death_odds(params, x, tx, T))


def expected_purchases(params: Array, t: ArrayLike, x: Array, tx: Array, T: Array) -> Array:
    """E[X(T, T+t) | x, t_x, T], FHL (2005) eq. (10)::

    (a+b+x-1)/(a-1) * [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))]
    / (1 + δ(x>0) a/(b+x-1) ((α+T)/(α+t_x))^(r+x))
    """
    r, alpha, a, b = params
    t = np.asarray(t, dtype=np.float64)
    z = t / (alpha + T + t)
    log_ratio = (r + x) * (np.log(alpha + T) - np.log(alpha + T + t))
    hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, z)
    bracket = -np.expm1(log_ratio + np.log(hyp))
    return (a + b + x - 1.0) / (a - 1.0) * bracket * p_alive(params, x, tx, T)


def expected_purchases_new(params: Array, t: ArrayLike) -> Array:
    """E[X(t)] for a customer just acquired, FHL (2005) eq. (9)."""
    r, alpha, a, b = params
    t = np.asarray(t, dtype=np.float64)
    log_ratio = r * (np.log(alpha) - np.log(alpha + t))
    hyp = hyp2f1(r, b, a + b - 1.0, t / (alpha + t))
    return (a + b - 1.0) / (a - 1.0) * -np.expm1(log_ratio + np.log(hyp))


def probability_of_purchases(params: Array, t: ArrayLike, n: ArrayLike) -> Array:
    """P(X(t) = n) for a customer just acquired, FHL (2005) eq. (8).

    ``t`` and ``n`` broadcast against each other.
    """
    r, alpha, a, b = params
    t, n = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(n, dtype=np.float64))
    log_q = np.log(t) - np.log(alpha + t)  # log(t/(α+t))
    log_p0 = r * (np.log(alpha) - np.log(alpha + t))  # log((α/(α+t))^r)
    first = np.exp(
        betaln(a, b + n)
        - betaln(a, b)
        + gammaln(r + n)
        - gammaln(r)
        - gammaln(n + 1.0)
        + log_p0
        + n * log_q
    )
    # Σ_{j<n} Γ(r+j)/(Γ(r) j!) (t/(α+t))^j, the NBD cdf up to n-1 without its p0 factor.
    top = int(np.max(n)) if n.size else 0
    out = np.array(first, dtype=np.float64)
    if top > 0:
        j = np.arange(top, dtype=np.float64)
        shape = (top,) + (1,) * t.ndim
        jj = j.reshape(shape)
        terms = np.exp(
            gammaln(r + jj) - gammaln(r) - gammaln(jj + 1.0) + jj * log_q[None] + log_p0[None]
        )
        cum = np.cumsum(terms, axis=0)  # cum[k] = Σ_{j<=k}
        idx = np.clip(n.astype(np.intp) - 1, 0, top - 1)
        partial = np.take_along_axis(cum, idx[None], axis=0)[0]
        second = np.exp(betaln(a + 1.0, b + n - 1.0) - betaln(a, b)) * (1.0 - partial)
        out = out + np.where(n > 0, second, 0.0)
    return out


def conditional_probability_of_purchases(
    params: Array, t: float, n: ArrayLike, x: Array, tx: Array, T: Array
) -> Array:
    """P(X(T, T+t) = n | x, t_x, T), the distribution of a customer's future purchases.

    A customer dead at ``T`` (probability ``1 - P(alive)``, eq. 11 of FHL 2005) makes none;
    a live one has the posterior ``λ ~ Gamma(r+x, α+T)``, ``p ~ Beta(a, b+x)`` (``x`` coins
    survived) and, purchases being Poisson, buys from ``T`` on like a customer just acquired
    with those parameters (eq. 8, :func:`probability_of_purchases`). ``n`` broadcasts.
    """
    r, alpha, a, b = params
    alive = p_alive(params, x, tx, T)
    post = (r + x, alpha + T, np.broadcast_to(a, np.shape(x)), b + x)
    new = probability_of_purchases(post, np.full(np.shape(x), float(t)), n)
    return alive * new + (1.0 - alive) * (np.asarray(n) == 0)


class BetaGeoModel(CovariatesMixin, NewCustomerPredictions, PurchaseModel):
    """BG/NBD purchase model (Fader, Hardie & Lee 2005), fitted by maximum likelihood.

    Parameters ``r, alpha`` (gamma heterogeneity of the purchase rate; ``alpha`` in the
    data's time unit) and ``a, b`` (beta heterogeneity of the dropout probability).

    Examples
    --------
    >>> from clvmodel import BetaGeoModel, rfm_summary          # doctest: +SKIP
    >>> summary = rfm_summary(transactions, freq="W", customer_col="id", date_col="date")
    >>> model = BetaGeoModel().fit(summary)
    >>> model.expected_purchases(summary, t=52)
    """

    name = "bgnbd"
    param_names = PARAMS
    columns = ("frequency", "recency", "T")
    _loglik = staticmethod(bgnbd_loglik)
    _p_alive_fn = staticmethod(p_alive)
    _expected_purchases_fn = staticmethod(expected_purchases)
    _expected_new_fn = staticmethod(expected_purchases_new)
    _probability_fn = staticmethod(probability_of_purchases)
    _conditional_probability_fn = staticmethod(conditional_probability_of_purchases)

    def _default_initial(self, arrays: tuple[Array, ...], weights: Array) -> Array:
        return np.array([1.0, 1.0 / repeat_purchase_rate(arrays, weights), 1.0, 1.0])
