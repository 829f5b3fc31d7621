"""Covariates for the continuous purchase models (BG/NBD, Pareto/NBD, MBG/NBD).

:class:`CovariatesMixin` adds ``purchase_covariates`` / ``dropout_covariates`` settings to a
model: the covariate columns are read from the data beside ``frequency, recency, T``, the
coefficients join the parameter vector (unbounded, not log-scale) and the one shared fit
path (:mod:`clvmodel.models.base`) fits them with the base parameters; predictions are
computed with each customer's own parameters. The mathematics is in
:mod:`clvmodel.covariates`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from ..covariates import LINKS, CovariateDesign, CovariateLikelihood, check_covariates
from .base import Array, LogLik


class CovariatesMixin:
    """Time-invariant covariates on the purchase and dropout processes.

    Parameters
    ----------
    purchase_covariates, dropout_covariates : sequence of str
        Numeric columns of the data acting on the purchase rate (``α_i = α exp(-γᵀz_i)``)
        and on dropout (see :mod:`clvmodel.covariates` for each model's parameterisation).
    equal_covariates : sequence of str
        Covariates in both lists whose two coefficients are constrained equal.
    fixed_coefficients : mapping, optional
        Coefficients held at a value, by name (``{"dropout:region": 0.0}``).
    coef_penalizer : float
        Ridge penalty on the coefficients: the fit maximises the mean log-likelihood minus
        ``coef_penalizer * Σ γ²`` (and ``penalizer_coef * Σ θ²`` on the base parameters).
    **kwargs
        The base model's settings (``initial_params``, ``max_iter``, ``penalizer_coef``...).
    """

    name: ClassVar[str]
    param_names: tuple[str, ...]
    columns: tuple[str, ...]
    penalizer_coef: float
    _loglik: ClassVar[LogLik]
    result_: Any

    def __init__(
        self,
        *,
        purchase_covariates: Sequence[str] = (),
        dropout_covariates: Sequence[str] = (),
        equal_covariates: Sequence[str] = (),
        fixed_coefficients: Mapping[str, float] | None = None,
        coef_penalizer: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.purchase_covariates = tuple(purchase_covariates)
        self.dropout_covariates = tuple(dropout_covariates)
        self.equal_covariates = tuple(equal_covariates)
        self.fixed_coefficients = dict(fixed_coefficients or {})
        self.coef_penalizer = coef_penalizer
        self.design = CovariateDesign(
            self.purchase_covariates,
            self.dropout_covariates,
            self.equal_covariates,
            self.fixed_coefficients,
        )
        if self.design.active:
            cls = type(self)
            self.columns = cls.columns + self.design.columns
            self.param_names = cls.param_names + self.design.free_names

    @property
    def coefficient_names(self) -> tuple[str, ...]:
        """Names of the free coefficients (``purchase:<column>``, ``dropout:<column>``)."""
        return self.design.free_names

    def _likelihood(self) -> CovariateLikelihood:
        cls = type(self)
        return CovariateLikelihood(cls._loglik, cls.param_names, LINKS[cls.name], self.design)

    def _fit_problem(self) -> tuple[LogLik, tuple[str, ...], Array, Array]:
        if not self.design.active:
            return super()._fit_problem()  # type: ignore[misc,no-any-return]
        k, m = len(type(self).param_names), len(self.design.free_names)
        log_scale = np.r_[np.ones(k, bool), np.zeros(m, bool)]
        l2 = np.r_[np.full(k, self.penalizer_coef), np.full(m, self.coef_penalizer)]
        return self._likelihood(), self.param_names, log_scale, l2

    def _fit_arrays(
        self, data: pd.DataFrame, weights: Array
    ) -> tuple[tuple[Array, ...], Array, list[str]]:
        if self.design.active:
            self._check_covariates(data)
        return super()._fit_arrays(data, weights)  # type: ignore[misc,no-any-return]

    def _check_covariates(self, data: pd.DataFrame) -> None:
        """Refuse covariates the fit cannot use (see :func:`check_covariates`).

        A constant column is allowed where all its coefficients are fixed, and an all-zero
        one always (its coefficient leaves the likelihood unchanged and gets no standard
        error); the CLI refuses both.
        """
        free = {n.split(":", 1)[1] for n in self.design.free_names}
        fixed_only = [c for c in self.design.columns if c not in free]
        check_covariates(
            data, self.design.columns, allow_constant=fixed_only, allow_zero=self.design.columns
        )

    def _params(self) -> Array:
        """Base parameters: those of a customer whose covariates are all 0."""
        self._check_fitted()  # type: ignore[attr-defined]
        return np.asarray(self.result_.params[: len(type(self).param_names)])

    def _inputs(self, arrays: tuple[Array, ...]) -> tuple[Any, tuple[Array, ...]]:
        if not self.design.active:
            return self._params(), arrays
        self._check_fitted()  # type: ignore[attr-defined]
        return self._likelihood().row_params(self.result_.params, arrays[3:]), arrays[:3]

    def customer_params(self, data: pd.DataFrame) -> pd.DataFrame:
        """Each customer's own parameters (``alpha_i``, ...), labelled by customer id."""
        arrays, labels = self._arrays(data)  # type: ignore[attr-defined]
        params, _ = self._inputs(arrays)
        names = type(self).param_names
        return pd.DataFrame(
            {n: np.broadcast_to(p, len(labels)) for n, p in zip(names, params, strict=True)},
            index=labels,
        )

    def _settings(self) -> dict[str, Any]:
        out = dict(super()._settings())  # type: ignore[misc]
        if self.design.active:
            out["covariates"] = self.design.to_dict()
            if self.coef_penalizer:
                out["coef_penalizer"] = self.coef_penalizer
        return out

    @classmethod
    def _from_settings(cls, payload: dict[str, Any]) -> Self:
        design = CovariateDesign.from_dict(payload.get("covariates"))
        return cls(
            penalizer_coef=float(payload.get("penalizer_coef", 0.0)),
            purchase_covariates=design.purchase,
            dropout_covariates=design.dropout,
            equal_covariates=design.equal,
            fixed_coefficients=design.fixed,
            coef_penalizer=float(payload.get("coef_penalizer", 0.0)),
        )
