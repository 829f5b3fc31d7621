"""BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way".

While alive, a customer buys at Poisson rate λ ~ Gamma(r, α); after each repeat purchase
they drop out with probability p ~ Beta(a, b). The closed-form predictions below are pure
functions of the parameters and arrays; :class:`BetaGeoModel` labels them by customer.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betainc, betaln, expit, gammaln, hyp2f1

from ..likelihoods import bgnbd_loglik
from .base import Array, NewCustomerPredictions, PurchaseModel, repeat_purchase_rate

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


def future_purchase_probability(
    r_post: Array, alpha_post: Array, a: float, b_post: Array, t: float, n: float
) -> Array:
    """P(X(t) = n) of a customer alive now, with posterior λ ~ Gamma(r_post, alpha_post) and
    dropout probability p ~ Beta(a, b_post) after each purchase::

        n = 0:  NB(0)
        n > 0:  B(a+1, b_post+n-1)/B(a, b_post) P(NB >= n) + B(a, b_post+n)/B(a, b_post) NB(n)

    with NB the negative binomial count of purchases in ``t`` at rate λ, ``NB(n) =
    Γ(r+n)/(Γ(r) n!) (α/(α+t))^r (t/(α+t))^n``: the customer dies at the coin after the
    ``n``-th purchase having had time for at least ``n``, or survives ``n`` coins and makes
    exactly ``n``. The tail is the regularised incomplete beta ``I_{t/(α+t)}(n, r)``. Shared
    by BG/NBD and MBG/NBD, which differ only in the posterior ``b_post``.
    """
    with np.errstate(divide="ignore"):
        log_nb = (
            gammaln(r_post + n)
            - gammaln(r_post)
            - gammaln(n + 1.0)
            + r_post * (np.log(alpha_post) - np.log(alpha_post + t))
            + n * (np.log(t) - np.log(alpha_post + t))
        )
    if t == 0:
        log_nb = np.full(np.shape(r_post), 0.0 if n == 0 else -np.inf)
    if n == 0:
        return np.exp(log_nb)
    tail = betainc(n, r_post, t / (alpha_post + t))
    dies = np.exp(betaln(a + 1.0, b_post + n - 1.0) - betaln(a, b_post)) * tail
    survives = np.exp(betaln(a, b_post + n) - betaln(a, b_post) + log_nb)
    return dies + survives


def conditional_from_alive(
    alive: Array, params: Array, b_post: Array, t: float, n: float, x: Array, T: Array
) -> Array:
    """``P(alive) P(X(t) = n | alive) + (1 - P(alive)) δ(n = 0)``, the posterior of a live
    customer being λ ~ Gamma(r+x, α+T) and p ~ Beta(a, ``b_post``)."""
    r, alpha, a, _ = (float(v) for v in params)
    future = future_purchase_probability(r + x, alpha + T, a, b_post, float(t), float(n))
    return alive * future + (1.0 - alive) * (n == 0)


def conditional_probability_of_purchases(
    params: Array, t: float, n: float, x: Array, tx: Array, T: Array
) -> Array:
    """P(X(T, T+t) = n | x, t_x, T), Fader, Hardie & Lee, "Computing P(alive) and the
    conditional distribution of purchases" for the BG/NBD::

        P(alive) P(X(t) = n | alive) + (1 - P(alive)) δ(n = 0)

    A live customer's posterior is λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x) (see
    :func:`future_purchase_probability`).
    """
    b = float(params[3])
    return conditional_from_alive(p_alive(params, x, tx, T), params, b + x, t, n, x, T)


class BetaGeoModel(NewCustomerPredictions, PurchaseModel):
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
    _alive_factorises = True  # E[X(t)] = P(alive) g(t; x, T), see PurchaseModel
    _expected_new_fn = staticmethod(expected_purchases_new)
    _probability_fn = staticmethod(probability_of_purchases)
    _conditional_probability_fn = staticmethod(conditional_probability_of_purchases)

    def _default_initial(self, arrays: tuple[Array, ...], weights: Array) -> Array:
        return np.array([1.0, 1.0 / repeat_purchase_rate(arrays, weights), 1.0, 1.0])
