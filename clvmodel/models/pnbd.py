"""Pareto/NBD: Schmittlein, Morrison & Colombo (1987), "Counting Your Customers".

While alive, a customer buys at Poisson rate λ ~ Gamma(r, α); their lifetime is exponential
with rate μ ~ Gamma(s, β). The likelihood (:func:`clvmodel.likelihoods.pnbd_loglik`) holds a
Gauss hypergeometric function, computed in log space by :func:`clvmodel.special.log_hyp2f1`;
the closed-form predictions below are pure functions of the parameters and arrays, and
:class:`ParetoNBDModel` labels them by customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.special import exprel, gammaln

from ..exceptions import InputError
from ..likelihoods import pnbd_loglik
from ..special import logconcave_integral
from ..units import check_unit, units_per_year
from .base import Array, NewCustomerPredictions, PurchaseModel
from .covariates import CovariatesMixin

PARAMS = ("r", "alpha", "s", "beta")


def _log_alive_terms(params: Array, x: Array, tx: Array, T: Array) -> tuple[Array, Array]:
    """``log A_T`` and ``log`` of the likelihood bracket (see :func:`pnbd_loglik`).

    ``alpha`` and ``beta`` may be per-customer arrays (covariates), as in every prediction.
    """
    r, alpha, s, beta = params
    log_a_T = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return log_a_T, pnbd_loglik(params, x, tx, T) - head  # type: ignore[operator]


def p_alive(params: Array, x: Array, tx: Array, T: Array) -> Array:
    """P(alive at T | x, t_x, T), Fader, Hardie & Lee (2005, note) eq. (36)-(37).

    ``(α+T)^-(r+x) (β+T)^-s`` over the likelihood bracket; 1 when ``t_x = T``.
    """
    log_a_T, log_bracket = _log_alive_terms(params, x, tx, T)
    return np.minimum(np.exp(log_a_T - log_bracket), 1.0)


def _residual_lifetime(s: float, base: Array, t: ArrayLike) -> Array:
    """``∫_0^t (base/(base+τ))^s dτ = base/(s-1) [1 - (base/(base+t))^(s-1)]``, stable at s = 1."""
    span = np.log1p(np.asarray(t, dtype=np.float64) / base)
    return base * span * exprel(-(s - 1.0) * span)


def expected_purchases(params: Array, t: ArrayLike, x: Array, tx: Array, T: Array) -> Array:
    """E[X(T, T+t) | x, t_x, T], Fader, Hardie & Lee (2005, note) eq. (41)::

    (r+x)(β+T) / ((α+T)(s-1)) * [1 - ((β+T)/(β+T+t))^(s-1)] * P(alive)

    The bracket over ``s-1`` is evaluated with ``exprel``, so ``s`` near 1 is exact.
    """
    r, alpha, s, beta = params
    rate = (r + x) / (alpha + T)
    return rate * _residual_lifetime(s, beta + T, t) * p_alive(params, x, tx, T)


def expected_purchases_new(params: Array, t: ArrayLike) -> Array:
    """E[X(t)] for a customer just acquired, Fader, Hardie & Lee (2005, note) eq. (27)::

    r β / (α (s-1)) * [1 - (β/(β+t))^(s-1)]
    """
    r, alpha, s, beta = (float(v) for v in params)
    return r / alpha * _residual_lifetime(s, np.float64(beta), t)


def probability_of_purchases(params: Array, t: ArrayLike, n: ArrayLike) -> Array:
    """P(X(t) = n) for a customer just acquired.

    Fader & Hardie (2006), "Deriving an Expression for P(X(t) = x) Under the Pareto/NBD Model"
    give it as a difference of hypergeometric sums, which cancels badly for large ``n``. It is
    computed here from its definition (the customer dies at τ ~ Pareto(s, β) or is alive at
    ``t``)::

        NB(n; r, α, t) (β/(β+t))^s
          + Γ(r+n) α^r s β^s / (Γ(r) n!) ∫_0^t y^n (α+y)^-(r+n) (β+y)^-(s+1) dy

    The integrand is log-concave in ``log y``; the integral is done by
    :func:`clvmodel.special.logconcave_integral`. ``t``, ``n`` and the parameters broadcast
    (parameters may vary by customer, as in :func:`conditional_probability_of_purchases`).
    """
    t_, n_, *ps = np.broadcast_arrays(
        np.asarray(t, dtype=np.float64),
        np.asarray(n, dtype=np.float64),
        *(np.asarray(v, dtype=np.float64) for v in params),
    )
    shape = t_.shape
    tt, nn = t_.ravel(), n_.ravel()
    out = np.zeros(tt.shape)
    pos = tt > 0
    out[~pos] = (nn[~pos] == 0).astype(np.float64)
    if pos.any():
        tp, npos = tt[pos], nn[pos]
        r, alpha, s, beta = (v.ravel()[pos] for v in ps)
        coef = gammaln(r + npos) - gammaln(r) - gammaln(npos + 1.0)
        log_nb = (
            coef
            + r * (np.log(alpha) - np.log(alpha + tp))
            + npos * (np.log(tp) - np.log(alpha + tp))
        )
        alive = log_nb + s * (np.log(beta) - np.log(beta + tp))
        la, lb = np.log(alpha), np.log(beta)

        def logf(u: NDArray[np.float64], rows: NDArray[np.intp]) -> tuple[Array, Array, None]:
            k, rr, ss, ra, rb = npos[rows], r[rows], s[rows], la[rows], lb[rows]
            value = (
                (k + 1.0) * u - (rr + k) * np.logaddexp(ra, u) - (ss + 1.0) * np.logaddexp(rb, u)
            )
            slope = (
                (k + 1.0) - (rr + k) / (1.0 + np.exp(ra - u)) - (ss + 1.0) / (1.0 + np.exp(rb - u))
            )
            return value, slope, None

        with np.errstate(over="ignore"):
            log_int, _ = logconcave_integral(
                logf, -np.inf, np.log(tp), np.log(tp), points=np.stack([la, lb])
            )
        dead = coef + r * la + np.log(s) + s * lb + log_int
        out[pos] = np.exp(np.logaddexp(alive, dead))
    return out.reshape(shape)


def conditional_probability_of_purchases(
    params: Array, t: float, n: ArrayLike, x: Array, tx: Array, T: Array
) -> Array:
    """P(X(T, T+t) = n | x, t_x, T), the distribution of a customer's future purchases.

    Fader, Hardie & Shang (2006), "Deriving the Conditional PMF of the Pareto/NBD Model"
    (brucehardie.com note 028, eq. 16), in the form its derivation starts from: a customer
    dead at ``T`` (probability ``1 - P(alive)``) makes none; a live one has the posterior
    ``λ ~ Gamma(r+x, α+T)``, ``μ ~ Gamma(s, β+T)`` and, both processes being memoryless,
    buys like a customer just acquired with those parameters
    (:func:`probability_of_purchases`). ``n`` broadcasts against the customers.
    """
    r, alpha, s, beta = params
    alive = p_alive(params, x, tx, T)
    post = (r + x, alpha + T, np.broadcast_to(s, np.shape(x)), beta + T)
    new = probability_of_purchases(post, np.full(np.shape(x), float(t)), n)
    return alive * new + (1.0 - alive) * (np.asarray(n) == 0)


def _log_discounted_lifetime(s: float, z: Array) -> Array:
    """``log ∫_0^∞ e^(-z v) (1+v)^(-s) dv = log[z^(s-1) U(s, s, z)]`` (DLMF 13.4.4).

    scipy's ``hyperu`` returns NaN for ``s`` above about 50 or tiny ``z``; the integral, in
    ``u = log(1+v)`` where its log is concave (``(1-s) u - z (e^u - 1)``), is computed instead.
    """

    def logf(u: NDArray[np.float64], rows: NDArray[np.intp]) -> tuple[Array, Array, None]:
        zz = z[rows]
        with np.errstate(over="ignore"):
            return (1.0 - s) * u - zz * np.expm1(u), (1.0 - s) - zz * np.exp(u), None

    z = np.asarray(z, dtype=np.float64).ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        knee = np.log(np.maximum(1.0, np.abs(1.0 - s)) / z)  # where z e^u meets |1-s|
        out, _ = logconcave_integral(logf, 0.0, np.inf, np.zeros(len(z)), points=knee[None])
    return out


def dert(params: Array, delta: float, x: Array, tx: Array, T: Array) -> Array:
    """Discounted expected residual transactions, Fader, Hardie & Lee (2005), "RFM and CLV:
    Using Iso-Value Curves for Customer Base Analysis", eq. (2)::

        DERT = α^r β^s δ^(s-1) Γ(r+x+1) Ψ(s, s; δ(β+T)) / (Γ(r) (α+T)^(r+x+1) L)
             = P(alive) (r+x)/(α+T) (β+T)^s δ^(s-1) U(s, s; δ(β+T))

    with ``δ`` the continuously compounded discount rate per unit of time and ``U = Ψ`` the
    confluent hypergeometric function of the second kind, evaluated through its integral
    representation (see :func:`_log_discounted_lifetime`).
    """
    r, alpha, s, beta = params
    if not delta > 0:
        raise InputError(f"The discount rate delta must be > 0. Got {delta!r} instead.")
    base = beta + T
    life = np.exp(np.log(base) + _log_discounted_lifetime(s, delta * base))
    return p_alive(params, x, tx, T) * (r + x) / (alpha + T) * life.reshape(np.shape(base))


class ParetoNBDModel(CovariatesMixin, NewCustomerPredictions, PurchaseModel):
    """Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987), maximum likelihood.

    Parameters ``r, alpha`` (gamma heterogeneity of the purchase rate) and ``s, beta`` (gamma
    heterogeneity of the dropout rate); ``alpha`` and ``beta`` are in the data's time unit.
    The fit uses the analytic gradient through the stable log 2F1, so it is as fast as BG/NBD
    on typical data and stays finite for customers with thousands of purchases.

    Examples
    --------
    >>> from clvmodel.models import ParetoNBDModel                # doctest: +SKIP
    >>> model = ParetoNBDModel().fit(summary)
    >>> model.p_alive(summary)
    >>> model.discounted_expected_residual_transactions(summary, discount_rate=0.15)
    """

    name = "pnbd"
    param_names = PARAMS
    columns = ("frequency", "recency", "T")
    _loglik = staticmethod(pnbd_loglik)
    _p_alive_fn = staticmethod(p_alive)
    _expected_purchases_fn = staticmethod(expected_purchases)
    _alive_factorises = True  # E[X(t)] = P(alive) g(t; x, T), see PurchaseModel
    _expected_new_fn = staticmethod(expected_purchases_new)
    _probability_fn = staticmethod(probability_of_purchases)
    _conditional_probability_fn = staticmethod(conditional_probability_of_purchases)

    def _default_initial(self, arrays: tuple[Array, ...], weights: Array) -> Array:
        # Kept to the last bit: on a likelihood ridge (customers who never drop out) the
        # optimiser's path, and so the warning it ends with, depends on the start.
        x, _, T = arrays
        w = weights / weights.sum()
        # Weighted means by einsum, not BLAS (whose threads cost more than these sums).
        mean_x, mean_T = (float(np.einsum("i,i->", w, v)) for v in (x, T))
        rate = mean_x / max(mean_T, 1e-12)
        mean_T = max(mean_T, 1e-12)
        return np.array([1.0, 1.0 / max(rate, 1e-6), 1.0, mean_T])

    def discounted_expected_residual_transactions(
        self, data: pd.DataFrame, *, discount_rate: float
    ) -> pd.Series:
        """DERT of each customer (Fader, Hardie & Lee 2005, iso-value curves, eq. 2).

        Parameters
        ----------
        data : DataFrame
            ``frequency, recency, T`` in the model's time unit.
        discount_rate : float
            Annual discount rate (0.15 = 15 % a year), converted to the continuously
            compounded rate per time unit ``δ = log(1 + rate) / units per year`` (15 % a year
            is δ = 0.00268 a week, the rate of the paper).

        Returns
        -------
        Series
            Expected future transactions discounted to the end of the observation period,
            by customer id, named ``dert``.
        """
        delta = continuous_rate(discount_rate, self._unit(data))
        arrays, labels = self._arrays(data)
        params, arrays = self._inputs(arrays)
        return pd.Series(dert(params, delta, *arrays), index=labels, name="dert")

    def _unit(self, data: pd.DataFrame) -> str:
        self._check_fitted()
        unit = self.time_unit_ or data.attrs.get("time_unit")
        if unit is None:
            raise InputError(
                "A discount rate needs a time unit: fit the model on a summary with a time "
                "unit or pass time_unit= to fit."
            )
        return check_unit(unit, "time_unit")


def continuous_rate(annual_rate: float, unit: str) -> float:
    """Continuously compounded rate per ``unit`` equivalent to ``annual_rate`` a year."""
    if not annual_rate > 0:
        raise InputError(
            f"The 'discount_rate' parameter must be > 0 (per year). Got {annual_rate!r} instead."
        )
    return float(np.log1p(annual_rate) / units_per_year(unit))
