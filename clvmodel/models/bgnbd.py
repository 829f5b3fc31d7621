"""BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way".

While alive, a customer buys at Poisson rate λ ~ Gamma(r, α); after each repeat purchase
they drop out with probability p ~ Beta(a, b). The closed-form predictions below are pure
functions of the parameters and arrays; :class:`BetaGeoModel` labels them by customer.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betainc, betaln, expit, gammaln, hyp2f1

from ..likelihoods import bgnbd_loglik
from ..special import mean_purchases_until_death
from .base import Array, NewCustomerPredictions, PurchaseModel
from .covariates import CovariatesMixin
from .fitting import repeat_purchase_rate

PARAMS = ("r", "alpha", "a", "b")


def _log_death_odds(
    params: Array, x: Array, tx: Array, T: Array, span: Array | None = None
) -> Array:
    """log of ``δ(x>0) a/(b+x-1) ((α+T)/(α+t_x))^(r+x)``; -inf where x == 0. ``span`` is
    ``log(α+T) - log(α+t_x)`` where the caller has it."""
    r, alpha, a, b = params
    if span is None:
        span = np.log(alpha + T) - np.log(alpha + tx)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.log(a) - np.log(b + x - 1.0) + (r + x) * span
    return np.where(x > 0, odds, -np.inf)


def p_alive(params: Array, x: Array, tx: Array, T: Array) -> Array:
    """P(alive at T | x, t_x, T), FHL (2005) eq. (11)."""
    return expit(-_log_death_odds(params, x, tx, T))


def log_death_odds_gradient(params: Array, x: Array, tx: Array, T: Array) -> tuple[Array, Array]:
    """The log death odds ``L`` of :func:`p_alive` (``P(alive) = expit(-L)``) and its
    gradient in ``(r, α, a, b)``, shape ``(4, n)``: ``∂L/∂r = log((α+T)/(α+t_x))``,
    ``∂L/∂α = (r+x)(1/(α+T) - 1/(α+t_x))``, ``∂L/∂a = 1/a``, ``∂L/∂b = -1/(b+x-1)``;
    0 where ``x == 0`` (there ``L = -∞`` whatever the parameters)."""
    r, alpha, a, b = params
    grad = np.empty((4, len(x)))
    span = np.subtract(np.log(alpha + T), np.log(alpha + tx), out=grad[0])
    odds = _log_death_odds(params, x, tx, T, span)
    np.multiply(r + x, (tx - T) / ((alpha + T) * (alpha + tx)), out=grad[1])
    grad[2] = 1.0 / a
    with np.errstate(divide="ignore"):
        np.divide(-1.0, b + x - 1.0, out=grad[3])
    np.copyto(grad, 0.0, where=x <= 0)
    return odds, grad


#: The hypergeometric closed form is used where its bracket ``1 - (1-z)^m 2F1`` is at least
#: this far from 0 (below, the subtraction loses digits and the integral takes over).
_MIN_BRACKET = 1e-3


def _closed_form_or_integral(
    a: float | Array, b_post: Array, m: Array, kappa: Array
) -> NDArray[np.float64]:
    """``(a+b_post-1)/(a-1) [1 - (1+κ)^-m 2F1(m, b_post; a+b_post-1; κ/(1+κ))]``.

    The closed form (scipy's ``hyp2f1``, as in FHL 2005 and lifetimes) where it is finite,
    positive and free of cancellation; elsewhere (``a`` near 1, ``a + b_post < 1``, an
    overflowing 2F1, ``t`` near 0) the same quantity as the integral
    :func:`clvmodel.special.mean_purchases_until_death`, which has no singularity there.
    """
    a, b_post, m, kappa = (
        v.astype(np.float64)
        for v in np.broadcast_arrays(
            np.asarray(a, dtype=np.float64),
            np.asarray(b_post, dtype=np.float64),
            np.asarray(m, dtype=np.float64),
            np.asarray(kappa, dtype=np.float64),
        )
    )
    c = a + b_post - 1.0
    with np.errstate(all="ignore"):
        hyp = hyp2f1(m, b_post, c, kappa / (1.0 + kappa))
        # 2F1 is negative when c < 0 (a + b_post < 1, one-time buyers of a short log):
        # then 1 - (1+κ)^-m 2F1 > 1 and nothing cancels.
        log_ratio = -m * np.log1p(kappa)
        bracket = np.where(
            hyp > 0, -np.expm1(np.log(hyp) + log_ratio), 1.0 - hyp * np.exp(log_ratio)
        )
        closed = c / (a - 1.0) * bracket
    ok = (
        (np.abs(a - 1.0) > 1e-6)
        & np.isfinite(closed)
        & (closed >= 0)
        & (np.abs(bracket) > _MIN_BRACKET)
    )
    out = np.where(kappa > 0, closed, 0.0)
    redo = ~ok & (kappa > 0)
    if redo.any():
        out[redo] = mean_purchases_until_death(a[redo], b_post[redo], m[redo], kappa[redo])
    return out


def expected_purchases(params: Array, t: ArrayLike, x: Array, tx: Array, T: Array) -> Array:
    """E[X(T, T+t) | x, t_x, T], FHL (2005) eq. (10)::

    (a+b+x-1)/(a-1) * [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))]
    / (1 + δ(x>0) a/(b+x-1) ((α+T)/(α+t_x))^(r+x))

    The bracket over ``a - 1`` is ``E_p[(1 - (1 + p t/(α+T))^-(r+x)) / p]`` with the
    posterior ``p ~ Beta(a, b+x)`` of a live customer; where the closed form loses its
    accuracy (``a`` near 1, ``a + b + x < 1``, heavy buyers, ``t`` near 0) that integral is
    computed instead (see :func:`_closed_form_or_integral`). Finite for every input.
    """
    r, alpha, a, b = params  # alpha, a and b may vary by customer (covariates)
    t = np.asarray(t, dtype=np.float64)
    mean = _closed_form_or_integral(a, b + x, r + x, t / (alpha + T))
    return mean * p_alive(params, x, tx, T)


def expected_purchases_new(params: Array, t: ArrayLike) -> Array:
    """E[X(t)] for a customer just acquired, FHL (2005) eq. (9)::

    (a+b-1)/(a-1) [1 - (α/(α+t))^r 2F1(r, b; a+b-1; t/(α+t))]

    evaluated as :func:`expected_purchases` evaluates eq. (10), with ``x = 0, T = 0``.
    """
    r, alpha, a, b = (float(v) for v in params)
    t = np.asarray(t, dtype=np.float64)
    return _closed_form_or_integral(a, np.full(t.shape, b), np.full(t.shape, r), t / alpha)


def probability_of_purchases(params: Array, t: ArrayLike, n: ArrayLike) -> Array:
    """P(X(t) = n) for a customer just acquired, FHL (2005) eq. (8).

    The NBD tail ``1 - Σ_{j<n} NB(j)`` is the regularised incomplete beta
    ``I_{t/(α+t)}(n, r)``, so nothing cancels and the cost does not grow with ``n``.
    ``t`` and ``n`` broadcast against each other.
    """
    r, alpha, a, b = (float(v) for v in params)
    t, n = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(n, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_q = np.log(t) - np.log(alpha + t)  # log(t/(α+t))
        log_p0 = r * (np.log(alpha) - np.log(alpha + t))  # log((α/(α+t))^r)
        log_nb = gammaln(r + n) - gammaln(r) - gammaln(n + 1.0) + log_p0 + n * log_q
    log_nb = np.where(n == 0, log_p0, log_nb)
    first = np.exp(betaln(a, b + n) - betaln(a, b) + log_nb)
    tail = betainc(np.maximum(n, 1.0), r, t / (alpha + t))
    second = np.exp(betaln(a + 1.0, b + n - 1.0) - betaln(a, b)) * tail
    return first + np.where(n > 0, second, 0.0)


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
    r, alpha, a, _ = params  # alpha and a may vary by customer (covariates)
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
    b = params[3]
    return conditional_from_alive(p_alive(params, x, tx, T), params, b + x, t, n, x, T)


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
    _alive_factorises = True  # E[X(t)] = P(alive) g(t; x, T), see PurchaseModel
    _log_death_odds_gradient_fn = staticmethod(log_death_odds_gradient)
    _expected_new_fn = staticmethod(expected_purchases_new)
    _probability_fn = staticmethod(probability_of_purchases)
    _conditional_probability_fn = staticmethod(conditional_probability_of_purchases)

    def _default_initial(self, arrays: tuple[Array, ...], weights: Array) -> Array:
        return np.array([1.0, 1.0 / repeat_purchase_rate(arrays, weights), 1.0, 1.0])
