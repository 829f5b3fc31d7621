"""Shifted-beta-geometric (sBG) retention model for contractual settings.

Fader & Hardie (2007), "How to Project Customer Retention", Journal of Interactive Marketing
21(1), 76-90; discounted lifetimes from Fader & Hardie (2010), "Customer-Base Valuation in a
Contractual Setting: The Perils of Ignoring Heterogeneity", Marketing Science 29(1), 85-93.

Each customer renews at the end of every period with probability ``1 - θ``; θ varies across
customers as Beta(γ, δ). The data is one cohort's survivor counts: customers still active at
the start of each period, period 0 being the cohort's start (its size). Predictions are pure
functions of the parameters; :class:`ShiftedBetaGeometricModel` adds units and labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln

from ..exceptions import InputError
from ..likelihoods import sbg_loglik
from ..special import log_hyp2f1
from ..units import check_unit, rate_per_unit
from ..validation import numeric_column, plain, require_columns
from .base import Array, BaseModel

PARAMS = ("gamma", "delta")


def survival(params: Array, t: ArrayLike) -> Array:
    """``S(t) = B(γ, δ+t)/B(γ, δ)``: share of a cohort still active after ``t`` periods (eq. 4)."""
    ga, de = (float(v) for v in params)
    return np.exp(betaln(ga, de + np.asarray(t, dtype=np.float64)) - betaln(ga, de))


def churn_probability(params: Array, t: ArrayLike) -> Array:
    """``P(T = t) = B(γ+1, δ+t-1)/B(γ, δ)``: share lost at the end of period ``t >= 1`` (eq. 3)."""
    ga, de = (float(v) for v in params)
    return np.exp(betaln(ga + 1.0, de + np.asarray(t, dtype=np.float64) - 1.0) - betaln(ga, de))


def retention_rate(params: Array, t: ArrayLike) -> Array:
    """``r(t) = S(t)/S(t-1) = (δ+t-1)/(γ+δ+t-1)``, rising with ``t`` (eq. 5)."""
    ga, de = (float(v) for v in params)
    t = np.asarray(t, dtype=np.float64)
    return (de + t - 1.0) / (ga + de + t - 1.0)


def expected_lifetime(params: Array) -> float:
    """Mean lifetime in periods, ``E[1/θ] = (γ+δ-1)/(γ-1)``; infinite when ``γ <= 1``."""
    ga, de = (float(v) for v in params)
    return (ga + de - 1.0) / (ga - 1.0) if ga > 1 else float("inf")


def derl(params: Array, d: float, renewals: ArrayLike = 0) -> Array:
    """Discounted expected residual lifetime, Fader & Hardie (2010) eq. (6)::

        DERL(d | γ, δ, n-1 renewals) = (δ+n-1)/(γ+δ+n-1) * 2F1(1, δ+n; γ+δ+n; 1/(1+d))

    for a customer who has made ``n-1 = renewals`` renewals and is about to decide on the
    ``n``-th: the expected number of future periods paid for, the next one undiscounted and
    each later one discounted by ``(1+d)`` per period. Multiply by the margin per period for
    the customer's residual value.
    """
    ga, de = (float(v) for v in params)
    if not d > 0:
        raise InputError(f"The discount rate d must be > 0. Got {plain(d)} instead.")
    n = np.asarray(renewals, dtype=np.float64) + 1.0
    c = de + n
    log_h = log_hyp2f1(1.0, c, ga + c, 1.0 / (1.0 + d), log1mz=np.log(d) - np.log1p(d))
    return (de + n - 1.0) / (ga + de + n - 1.0) * np.exp(log_h)


def discounted_expected_lifetime(params: Array, d: float) -> float:
    """DEL of a customer just acquired, ``2F1(1, δ; γ+δ; 1/(1+d))`` (Fader & Hardie 2010,
    eq. 5): the first period counted undiscounted."""
    ga, de = (float(v) for v in params)
    if not d > 0:
        raise InputError(f"The discount rate d must be > 0. Got {plain(d)} instead.")
    return float(
        np.exp(log_hyp2f1(1.0, de, ga + de, 1.0 / (1.0 + d), log1mz=np.log(d) - np.log1p(d)))
    )


def cohort_arrays(
    periods: NDArray[np.float64], customers: NDArray[np.float64]
) -> tuple[tuple[Array, Array], Array]:
    """Survivor counts -> (period, censored) rows and their weights for :func:`sbg_loglik`.

    ``n_{t-1} - n_t`` customers are lost in period ``t = 1..N``; ``n_N`` are still active.
    """
    lost = customers[:-1] - customers[1:]
    t = periods[1:]
    period = np.concatenate([t, t[-1:]])
    censored = np.concatenate([np.zeros(len(t)), [1.0]])
    weights = np.concatenate([lost, customers[-1:]])
    return (period, censored), weights


class ShiftedBetaGeometricModel(BaseModel):
    """Shifted-beta-geometric retention model (Fader & Hardie 2007), maximum likelihood.

    Fitted on one cohort's survivor counts: a DataFrame with ``period`` (0, 1, 2, ...; 0 is
    the cohort's start) and ``customers`` (still active at the start of that period).

    Examples
    --------
    >>> cohort = pd.DataFrame({"period": range(8),
    ...                        "customers": [1000, 631, 468, 382, 326, 289, 262, 241]})
    >>> model = ShiftedBetaGeometricModel().fit(cohort, time_unit="Y")  # doctest: +SKIP
    >>> model.params_                    # gamma 0.704, delta 1.182      # doctest: +SKIP
    """

    name = "sbg"
    kind = "retention"
    param_names = PARAMS
    columns = ("period", "customers")
    _loglik = staticmethod(sbg_loglik)

    def _cohort(self, data: pd.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        require_columns(data, self.columns, what="cohort table")
        frame = data.sort_values("period")
        period = numeric_column(frame, "period")
        customers = numeric_column(frame, "customers")
        n = len(period)
        if n < 2:
            raise InputError(
                f"The cohort table needs the start (period 0) and at least one later period. "
                f"Got {n} row(s)."
            )
        if not np.array_equal(period, np.arange(n)):
            raise InputError(
                f"The 'period' column must be 0, 1, ..., {n - 1} (one row per period from the "
                f"cohort's start). Got {period.tolist()[:10]} instead."
            )
        bad = (customers < 0) | (customers != np.floor(customers))
        if bad.any():
            raise InputError(
                f"The 'customers' column must hold whole numbers >= 0. Got "
                f"{customers[bad][0]!r} in period {int(period[bad][0])} "
                f"({int(bad.sum())} rows break this rule)."
            )
        rising = np.flatnonzero(np.diff(customers) > 0)
        if rising.size:
            i = int(rising[0]) + 1
            raise InputError(
                f"The 'customers' column must not increase from one period to the next (it "
                f"counts survivors of one cohort). Got {customers[i - 1]:g} in period {i - 1} "
                f"and {customers[i]:g} in period {i} ({rising.size} rows break this rule)."
            )
        if customers[0] <= 0:
            raise InputError("The cohort is empty: 'customers' in period 0 must be > 0.")
        return period, customers

    def _fit_arrays(
        self, data: pd.DataFrame, weights: Array
    ) -> tuple[tuple[Array, ...], Array, list[str]]:
        if not np.all(weights == 1.0):
            raise InputError(
                "The sBG model takes no 'weights': the survivor counts in 'customers' are the "
                "weights."
            )
        period, customers = self._cohort(data)
        if customers[-1] == customers[0] or customers[1] == 0:
            what = "loses no customer" if customers[-1] == customers[0] else "is lost at once"
            raise InputError(
                f"The cohort {what} (customers {customers.astype(np.int64).tolist()[:10]}): "
                f"the maximum-likelihood estimates are at the boundary (gamma or delta at 0 or "
                f"infinity) and cannot be computed. Fit a longer or larger cohort."
            )
        arrays, w = cohort_arrays(period, customers)
        return arrays, w, []

    def _default_initial(self, arrays: tuple[Array, ...], weights: Array) -> Array:
        return np.array([1.0, 1.0])

    def loglik(self, data: pd.DataFrame) -> pd.Series:
        """Log-likelihood contribution of each period (losses) and of the survivors."""
        period, customers = self._cohort(data)
        (t, censored), w = cohort_arrays(period, customers)
        ll = w * sbg_loglik(self._params(), t, censored)  # type: ignore[operator]
        labels = [f"lost in {int(v)}" for v in t[:-1]] + [f"active after {int(t[-1])}"]
        return pd.Series(ll, index=pd.Index(labels, name="outcome"), name="log_likelihood")

    # ---------------------------------------------------------------- predictions
    def survival(self, periods: ArrayLike) -> pd.Series:
        """Share of a new cohort still active after each of ``periods`` (``S(0) = 1``)."""
        t = np.atleast_1d(np.asarray(periods, dtype=np.float64))
        return pd.Series(
            survival(self._params(), t), index=pd.Index(t, name="period"), name="survival"
        )

    def retention(self, periods: ArrayLike) -> pd.Series:
        """Retention rate ``S(t)/S(t-1)`` at each of ``periods`` (``t >= 1``)."""
        t = np.atleast_1d(np.asarray(periods, dtype=np.float64))
        if np.any(t < 1):
            raise InputError(
                f"The 'periods' parameter of retention must be >= 1. Got {t[t < 1][0]!r}."
            )
        return pd.Series(
            retention_rate(self._params(), t), index=pd.Index(t, name="period"), name="retention"
        )

    def expected_survivors(self, periods: ArrayLike, *, cohort_size: float) -> pd.Series:
        """Expected active customers of a cohort of ``cohort_size`` after each of ``periods``."""
        return (cohort_size * self.survival(periods)).rename("customers")

    def expected_lifetime(self) -> float:
        """Mean lifetime in periods (infinite when ``gamma <= 1``)."""
        return expected_lifetime(self._params())

    def _rate(self, discount_rate: float) -> float:
        self._check_fitted()
        if self.time_unit_ is None:
            raise InputError(
                "A discount rate needs the length of a period: fit with time_unit= (for "
                "example 'Y' for yearly renewals)."
            )
        d = rate_per_unit(discount_rate, check_unit(self.time_unit_, "time_unit"))
        if not d > 0:
            raise InputError(
                f"The 'discount_rate' parameter must be > 0. Got {discount_rate!r} instead."
            )
        return d

    def discounted_expected_residual_lifetime(
        self, *, discount_rate: float, renewals: ArrayLike | Sequence[int] = 0
    ) -> pd.Series:
        """DERL (Fader & Hardie 2010, eq. 6) of customers who have made ``renewals`` renewals.

        Parameters
        ----------
        discount_rate : float
            Annual discount rate, converted to a rate per period with the model's time unit.
        renewals : int or array of int
            Renewals made so far (0 for a customer at the end of their first period).
        """
        n = np.atleast_1d(np.asarray(renewals, dtype=np.float64))
        return pd.Series(
            derl(self._params(), self._rate(discount_rate), n),
            index=pd.Index(n.astype(np.int64), name="renewals"),
            name="derl",
        )

    def discounted_expected_lifetime(self, *, discount_rate: float) -> float:
        """DEL of a customer just acquired (Fader & Hardie 2010, eq. 5), in periods."""
        return discounted_expected_lifetime(self._params(), self._rate(discount_rate))
