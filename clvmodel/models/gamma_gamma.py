"""Gamma-Gamma spend model: Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value".

Each transaction's value is Gamma(p, ν); ν varies across customers as Gamma(q, γ). The model
is fitted on the mean spend of repeat purchases of customers with at least one.
"""

from __future__ import annotations

import warnings
from typing import Any, Self

import numpy as np
import pandas as pd

from ..exceptions import ConvergenceWarning, FitError, InputError, NotIdentifiedError
from ..likelihoods import gamma_gamma_loglik
from .base import Array, BaseModel, CustomerData, _labelled

PARAMS = ("p", "q", "gamma")


def expected_spend(params: Array, x: Array, m: Array) -> Array:
    """E[M | p, q, γ, x, m̄], Fader & Hardie (2013) eq. (5)::

        (q-1)/(px+q-1) * pγ/(q-1) + px/(px+q-1) * m̄  =  p(γ + x m̄) / (px + q - 1)

    For ``x == 0`` this is the population mean ``pγ/(q-1)``. Needs ``q > 1``.
    """
    p, q, g = params
    if q <= 1:
        raise InputError(
            f"Gamma-Gamma expected spend needs q > 1 (the mean spend is infinite otherwise). "
            f"Got q={q:.4g}."
        )
    mbar = np.where(x > 0, m, 0.0)
    return p * (g + x * mbar) / (p * x + q - 1.0)


def expected_spend_and_log_gradient(params: Array, x: Array, m: Array) -> tuple[Array, Array]:
    """:func:`expected_spend` and the gradient of its log in ``(p, q, γ)``, shape ``(3, n)``:
    ``1/p - x/(px+q-1)``, ``-1/(px+q-1)`` and ``1/(γ + x m̄)``."""
    p, q, g = params
    spend = expected_spend(params, x, m)
    grad = np.empty((3, len(x)))
    np.divide(-1.0, p * x + q - 1.0, out=grad[1])
    np.multiply(x, grad[1], out=grad[0])
    grad[0] += 1.0 / p
    np.divide(1.0, g + x * np.where(x > 0, m, 0.0), out=grad[2])
    return spend, grad


def _customers(n: int) -> str:
    return f"{n:,} customer{'' if n == 1 else 's'}"


class GammaGammaModel(BaseModel):
    """Gamma-Gamma model of spend per transaction (Fader & Hardie 2013).

    Fitted on customers with ``frequency > 0`` and ``monetary_value > 0`` (the model's
    support); ``n_excluded_`` says how many were left out and ``result_.notes`` why.
    The model assumes spend is independent of purchase frequency; check the correlation
    with :meth:`frequency_spend_correlation` before relying on it.
    """

    name = "gamma-gamma"
    kind = "spend"
    param_names = PARAMS
    columns = ("frequency", "monetary_value")
    _loglik = staticmethod(gamma_gamma_loglik)

    n_excluded_: int

    def _fit_arrays(
        self, data: pd.DataFrame, weights: Array
    ) -> tuple[tuple[Array, ...], Array, list[str]]:
        (x, m), _ = self._arrays(data)
        repeat = x > 0
        used = repeat & (m > 0)
        no_repeat = round(float(weights[~repeat].sum()))
        no_spend = round(float(weights[repeat & ~used].sum()))
        self.n_excluded_ = no_repeat + no_spend
        notes = []
        if no_repeat:
            notes.append(
                f"{_customers(no_repeat)} with no repeat purchase (frequency 0) left out of the fit"
            )
        if no_spend:
            notes.append(
                f"{_customers(no_spend)} with repeat purchases but mean spend <= 0 left out "
                f"of the fit (the model needs positive spend)"
            )
        if not used.any():
            raise NotIdentifiedError(
                "Fitting gamma-gamma cannot converge: it needs customers with frequency > 0 "
                "and monetary_value > 0 (repeat buyers with spend), and there are none."
            )
        return (x[used], m[used]), weights[used], notes

    def fit(self, data: pd.DataFrame, **options: Any) -> Self:
        """Estimate ``(p, q, γ)`` (see :meth:`clvmodel.models.base.BaseModel.fit`).

        An estimate ``q <= 1`` is a spend distribution with no finite mean: the expected
        spend of a customer with no repeat purchase, and so their CLV, is infinite. That fit
        raises :class:`FitError` (a warning with ``allow_unconverged=True``), rather than
        returning a model whose every CLV would fail later.

        Raises
        ------
        FitError
            Also when ``q <= 1``, unless ``allow_unconverged``.
        """
        super().fit(data, **options)
        q = float(self._params()[1])
        if q <= 1.0:
            why = (
                f"Fitting {self.name} gave q={q:.4g} <= 1: the fitted spend per transaction "
                f"has no finite mean, so expected spend and CLV are infinite. The "
                f"{self.n_customers_:,} repeat buyer(s) it used do not pin down the spread of "
                f"spend; a longer log with more repeat buyers usually does"
            )
            if not self.allow_unconverged:
                raise FitError(f"{why}.")
            warnings.warn(f"{why}.", ConvergenceWarning, stacklevel=2)
        return self

    def _default_initial(self, arrays: tuple[Array, ...], weights: Array) -> Array:
        _, m = arrays
        mean = float(weights @ m) / float(weights.sum())
        # p = 1, q = 2 gives population mean p*gamma/(q-1) = gamma.
        return np.array([1.0, 2.0, max(mean, 1e-6)])

    def expected_spend(self, data: CustomerData = None, **values: float) -> pd.Series | float:
        """Expected mean spend per transaction of each customer (population mean where x = 0).

        ``data`` is a summary, a dict of columns, or one customer's ``frequency`` and
        ``monetary_value`` as keywords (a float is returned for one customer).
        """
        (x, m), labels, one = self._customer_arrays(data, values)
        return _labelled(expected_spend(self._params(), x, m), labels, "expected_spend", one)

    def population_mean_spend(self) -> float:
        """Mean spend per transaction across customers, ``pγ/(q-1)``."""
        return float(expected_spend(self._params(), np.zeros(1), np.zeros(1))[0])

    def frequency_spend_correlation(self, data: pd.DataFrame) -> float:
        """Pearson correlation of frequency and monetary value among repeat buyers."""
        (x, m), _ = self._arrays(data)
        keep = x > 0
        return float(np.corrcoef(x[keep], m[keep])[0, 1]) if keep.sum() > 2 else float("nan")
