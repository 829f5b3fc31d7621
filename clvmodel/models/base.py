"""The base classes models declare themselves on: settings, data, predictions, files.

A model declares its registry key, its parameter names, the data columns it reads and its
per-row log-likelihood (a pure function in :mod:`clvmodel.likelihoods`); :meth:`BaseModel.fit`
hands them to the one fit path, :func:`clvmodel.models.fitting.maximize_likelihood`.
:class:`PurchaseModel` adds P(alive) and expected purchases over a horizon;
:class:`NewCustomerPredictions` the predictions for a customer just acquired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .. import __version__
from ..distinct import group_rows
from ..exceptions import (
    InputError,
    ModelFileError,
    NotFittedError,
    NotIdentifiedError,
)
from ..io import SCHEMA_VERSION
from ..results import FitResult
from ..units import check_unit
from ..validation import customer_index, plain, require_columns, resolve_weights
from .fitting import (
    Array,
    LogLik,
    bound_advice,
    collapse_rows,
    identification_advice,
    maximize_likelihood,
)

#: What predictions accept: a summary frame, or a dict of columns (arrays or scalars).
CustomerData = pd.DataFrame | Mapping[str, Any] | None


def as_frame(data: Mapping[str, Any]) -> pd.DataFrame:
    """A dict of columns (arrays, or scalars for one customer) as a summary frame."""
    columns = {k: np.atleast_1d(np.asarray(v)) for k, v in data.items()}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise InputError(
            f"The columns of a dict must have one length. Got lengths "
            f"{ {k: len(v) for k, v in columns.items()} } instead."
        )
    return pd.DataFrame(columns)


def rename_columns(data: pd.DataFrame, columns: Mapping[str, str] | None) -> pd.DataFrame:
    """``data`` with its columns renamed to the model's (``{model name: data name}``).

    A renamed copy (the caller's frame is not modified), with the same ``attrs``.
    """
    if not columns:
        return data
    missing = [v for v in columns.values() if v not in data.columns]
    if missing:
        raise InputError(
            f"The 'columns' mapping names columns the data does not have: {missing}. "
            f"Columns present: {list(map(str, data.columns))}."
        )
    renamed = data.rename(columns={v: k for k, v in columns.items()})
    renamed.attrs = dict(data.attrs)
    return renamed


def _labelled(values: Array, labels: pd.Index, name: str, one: bool) -> pd.Series | float:
    if one:
        return float(np.asarray(values).ravel()[0])
    return pd.Series(values, index=labels, name=name)


class BaseModel:
    """Base of every clvmodel model: settings in ``__init__``, data in :meth:`fit`.

    Subclasses declare ``name``, ``kind``, ``param_names``, ``columns`` and ``_loglik``, and
    implement :meth:`_fit_arrays` when they filter or transform the data before fitting.

    Parameters
    ----------
    initial_params : dict, optional
        Starting values by parameter name; defaults are chosen from the data.
    max_iter : int
        Optimiser iteration limit.
    collapse : bool
        Merge identical data rows into weights before fitting (same estimates, faster).
    penalizer_coef : float
        Ridge penalty on the (natural-scale) parameters, as lifetimes' ``penalizer_coef``:
        the fit maximises the mean log-likelihood minus ``penalizer_coef * Σ θ²``.
    allow_unconverged : bool
        Keep a fit that did not converge (``result_.converged`` is then False) instead of
        raising :class:`FitError`.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""  # "purchase", "spend" or "retention"
    param_names: ClassVar[tuple[str, ...]] = ()
    columns: ClassVar[tuple[str, ...]] = ()
    _loglik: ClassVar[Callable[..., Any]]
    _analytic_gradient: ClassVar[bool] = True

    result_: FitResult
    time_unit_: str | None

    def __init__(
        self,
        *,
        initial_params: dict[str, float] | None = None,
        max_iter: int = 2000,
        collapse: bool = True,
        penalizer_coef: float = 0.0,
        allow_unconverged: bool = False,
    ) -> None:
        self.initial_params = initial_params
        self.max_iter = max_iter
        self.collapse = collapse
        self.allow_unconverged = allow_unconverged
        self.penalizer_coef = penalizer_coef

    def _fit_problem(self) -> tuple[LogLik, tuple[str, ...], Array, Array]:
        """The likelihood, parameter names, which are log-scale, and the ridge per parameter.

        A model with covariates extends this (coefficients are not log-scale).
        """
        k = len(self.param_names)
        return (
            type(self)._loglik,
            self.param_names,
            np.ones(k, bool),
            np.full(k, self.penalizer_coef),
        )

    # ----------------------------------------------------------------- fitting
    def _fit_arrays(
        self, data: pd.DataFrame, weights: Array
    ) -> tuple[tuple[Array, ...], Array, list[str]]:
        """Arrays the likelihood reads, their weights, and notes; subclasses may filter."""
        arrays, _ = self._arrays(data)
        return arrays, weights, []

    def _default_initial(self, arrays: tuple[Array, ...], weights: Array) -> Array:
        return np.ones(len(self.param_names))

    def fit(
        self,
        data: pd.DataFrame,
        *,
        weights: str | Sequence[float] | Array | None = None,
        time_unit: str | None = None,
        columns: Mapping[str, str] | None = None,
    ) -> Self:
        """Estimate the parameters by maximum likelihood.

        Parameters
        ----------
        data : DataFrame
            One row per customer with the model's columns (see ``columns``), for example the
            output of :func:`clvmodel.rfm_summary`; or a Spark DataFrame (the summary of
            :func:`clvmodel.spark.summarise`, or distinct rows with ``weights`` naming their
            counts), collapsed in Spark, see :func:`clvmodel.engines.spark.fit.fit_spark`.
        weights : str or array-like, optional
            A column name or one weight per row: how many customers the row stands for.
        time_unit : str, optional
            Unit of the data (``"D"``, ``"W"``, ``"M"``, ``"Y"``); read from
            ``data.attrs["time_unit"]`` when not given.
        columns : mapping, optional
            The model's column names to the data's, for data named otherwise, e.g.
            lifetimes' calibration summary: ``{"frequency": "frequency_cal", "recency":
            "recency_cal", "T": "T_cal"}``. ``data`` is not modified.

        Returns
        -------
        self
        """
        if not isinstance(data, pd.DataFrame) and type(data).__module__.startswith("pyspark"):
            from ..engines.spark.fit import fit_spark  # a Spark summary: collapsed in Spark

            if columns:
                data = data.withColumnsRenamed({v: k for k, v in columns.items()})
            return fit_spark(self, data, weights=weights, time_unit=time_unit)
        if not isinstance(data, pd.DataFrame):
            raise InputError(
                f"{type(self).__name__}.fit needs a pandas DataFrame with columns "
                f"{list(self.columns)}. Got {type(data).__name__} instead."
            )
        data = rename_columns(data, columns)
        unit = time_unit if time_unit is not None else data.attrs.get("time_unit")
        unit = check_unit(unit, "time_unit") if unit is not None else None
        w = resolve_weights(data, weights)
        arrays, w, notes = self._fit_arrays(data, w)
        keep = w > 0
        if not keep.all():
            arrays, w = tuple(a[keep] for a in arrays), w[keep]
        if self.collapse and len(w) > 1:
            arrays, w = collapse_rows(arrays, w)
        x0 = self._initial(arrays, w)
        advice = identification_advice(self.columns, arrays, w)
        if advice and (not self.allow_unconverged or "no time at all" in advice):
            raise NotIdentifiedError(f"Fitting {self.name} cannot converge: {advice}.")
        loglik, names, log_scale, l2 = self._fit_problem()
        self.result_ = maximize_likelihood(
            loglik,
            arrays,
            w,
            x0,
            model=self.name,
            param_names=names,
            analytic_gradient=self._analytic_gradient,
            time_unit=unit,
            max_iter=self.max_iter,
            notes=notes,
            log_scale=log_scale,
            l2=l2,
            allow_unconverged=self.allow_unconverged,
            advice=bound_advice(self.columns, arrays),
        )
        self.time_unit_ = unit
        return self

    def _initial(self, arrays: tuple[Array, ...], weights: Array) -> Array:
        x0 = self._default_initial(arrays[: len(type(self).columns)], weights)
        x0 = np.r_[x0, np.zeros(len(self.param_names) - len(x0))]  # coefficients start at 0
        if self.initial_params:
            unknown = set(self.initial_params) - set(self.param_names)
            if unknown:
                raise InputError(
                    f"The 'initial_params' parameter of {type(self).__name__} takes "
                    f"{list(self.param_names)}. Got unknown {sorted(unknown)} instead."
                )
            for i, n in enumerate(self.param_names):
                if n in self.initial_params:
                    x0[i] = float(self.initial_params[n])
        positive = self._fit_problem()[2]
        if np.any(~np.isfinite(x0)) or np.any(x0[positive] <= 0):
            raise InputError(f"Initial parameters must be positive. Got {x0.tolist()} instead.")
        return x0

    # ------------------------------------------------------------ data access
    def _arrays(
        self, data: pd.DataFrame, columns: Sequence[str] | None = None
    ) -> tuple[tuple[Array, ...], pd.Index]:
        """Validated float arrays of ``columns`` (default: the model's) and customer labels."""
        from ..validation import check_rfm, numeric_column

        cols = tuple(columns or self.columns)
        if isinstance(data, Mapping):
            data = as_frame(data)
        require_columns(data, cols)
        labels = customer_index(data)
        arrays = tuple(numeric_column(data, c, labels) for c in cols)
        named = dict(zip(cols, arrays, strict=True))
        if "frequency" in named:
            check_rfm(
                labels,
                named["frequency"],
                named.get("recency"),
                named.get("T"),
                named.get("monetary_value"),
            )
        return arrays, labels

    def _customer_arrays(
        self, data: CustomerData, values: Mapping[str, Any]
    ) -> tuple[tuple[Array, ...], pd.Index, bool]:
        """Arrays and labels of ``data`` or of one customer given as scalars; and whether the
        input was one customer (a dict of scalars or keywords), whose result is a float."""
        if data is not None and values:
            raise InputError(
                f"Give the customers as data or as keyword columns, not both. Got data and "
                f"{sorted(values)}."
            )
        source: Any = dict(values) if data is None else data
        if data is None and not values:
            raise InputError(
                f"Give the customers: a summary frame, a dict or keywords "
                f"{', '.join(f'{c}=...' for c in self.columns)}."
            )
        one = isinstance(source, Mapping) and all(np.ndim(v) == 0 for v in source.values())
        arrays, labels = self._arrays(source)
        return arrays, labels, one

    # ---------------------------------------------------------- fitted state
    def _check_fitted(self) -> None:
        if not hasattr(self, "result_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet. Call 'fit' with data first, "
                f"or load a fitted model with clvmodel.load_model."
            )

    @property
    def params_(self) -> pd.Series:
        """Estimates by literature name."""
        self._check_fitted()
        return pd.Series(self.result_.params, index=list(self.param_names), name="estimate")

    @property
    def standard_errors_(self) -> pd.Series:
        """Standard errors by parameter name."""
        self._check_fitted()
        return pd.Series(
            self.result_.standard_errors, index=list(self.param_names), name="std_error"
        )

    @property
    def log_likelihood_(self) -> float:
        """Total log-likelihood at the estimates."""
        self._check_fitted()
        return self.result_.log_likelihood

    @property
    def n_customers_(self) -> int:
        """Customers the fit used."""
        self._check_fitted()
        return self.result_.n_obs

    def _params(self) -> Array:
        self._check_fitted()
        return self.result_.params

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Estimates, standard errors and Wald intervals; fit statistics in ``attrs``."""
        self._check_fitted()
        return self.result_.summary(level)

    def loglik(self, data: pd.DataFrame) -> pd.Series:
        """Per-customer log-likelihood at the fitted parameters."""
        arrays, labels = self._arrays(data)
        self._check_fitted()
        ll = self._fit_problem()[0](self.result_.params, *arrays)
        return pd.Series(ll, index=labels, name="log_likelihood")

    def __repr__(self) -> str:
        if not hasattr(self, "result_"):
            return f"{type(self).__name__}()"
        inner = ", ".join(
            f"{n}={v:.4g}" for n, v in zip(self.param_names, self.result_.params, strict=True)
        )
        return f"{type(self).__name__}({inner}, log_likelihood={self.result_.log_likelihood:.2f})"

    def _repr_html_(self) -> str:
        """Notebook display: estimates, standard errors, intervals and fit statistics."""
        from ..display import model_html

        return model_html(self)

    # ------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        """The model-file content (see :mod:`clvmodel.io`)."""
        self._check_fitted()
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.name,
            "kind": self.kind,
            "time_unit": self.time_unit_,
            **self._settings(),
            **self.result_.to_dict(),
            "clvmodel_version": __version__,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Self:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        version = payload.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ModelFileError(
                f"unsupported schema_version {version!r}; this clvmodel {__version__} reads "
                f"version {SCHEMA_VERSION}."
            )
        params = payload.get("params")
        model = cls._from_settings(payload)
        if not isinstance(params, dict) or set(params) != set(model.param_names):
            raise ModelFileError(
                f"a {cls.name} model file must have params {list(model.param_names)}. "
                f"Got {params!r} instead."
            )
        unit = payload.get("time_unit")
        model.time_unit_ = check_unit(unit, "time_unit") if unit is not None else None
        model.result_ = FitResult.from_dict(
            cls.name, model.param_names, payload, model.time_unit_, model._fit_problem()[2]
        )
        return model

    def _settings(self) -> dict[str, Any]:
        """Model-file entries beyond the fit results (a model with covariates adds them)."""
        return {"penalizer_coef": self.penalizer_coef} if self.penalizer_coef else {}

    @classmethod
    def _from_settings(cls, payload: dict[str, Any]) -> Self:
        """An unfitted model with the settings of a model file."""
        return cls(penalizer_coef=float(payload.get("penalizer_coef", 0.0)))

    @classmethod
    def from_params(cls, params: dict[str, float], *, time_unit: str | None = None) -> Self:
        """A model with given parameters and no fit (for simulation or known-value scoring)."""
        missing = set(cls.param_names) - set(params)
        if missing:
            raise InputError(
                f"{cls.__name__}.from_params needs {list(cls.param_names)}; "
                f"missing {sorted(missing)}."
            )
        k = len(cls.param_names)
        model = cls()
        model.time_unit_ = check_unit(time_unit, "time_unit") if time_unit is not None else None
        model.result_ = FitResult(
            model=cls.name,
            param_names=cls.param_names,
            params=np.array([float(params[n]) for n in cls.param_names]),
            covariance=np.full((k, k), np.nan),
            log_likelihood=float("nan"),
            n_obs=0,
            message="parameters given, not fitted",
            time_unit=model.time_unit_,
        )
        return model


class PurchaseModel(BaseModel):
    """A model of repeat purchases: labelled predictions on top of two array-level methods.

    Subclasses implement :meth:`_expected_purchases` and :meth:`_p_alive` as pure functions
    of the fitted parameters and the data arrays (in ``columns`` order); the public methods
    validate the data once and label the result by customer id.
    """

    kind = "purchase"
    #: The model module's pure prediction functions, ``f(params, *arrays)`` and
    #: ``f(params, t, *arrays)``; declaring them is all a model needs for the methods below.
    _p_alive_fn: ClassVar[Callable[..., Array]]
    _expected_purchases_fn: ClassVar[Callable[..., Array]]

    #: True when ``E[X(T, T+t) | x, t_x, T] = P(alive | x, t_x, T) g(t; x, T)``: the expected
    #: purchases of a live customer do not depend on ``t_x`` (BG/NBD, MBG/NBD, Pareto/NBD).
    #: Multi-horizon predictions then evaluate ``g`` once per distinct ``(x, T)``.
    _alive_factorises: ClassVar[bool] = False
    #: ``f(params, x, t_x, T) -> (L, ∂L/∂params)`` with ``P(alive) = expit(-L)``, where the
    #: model has it in closed form (the fast delta-method intervals use it).
    _log_death_odds_gradient_fn: ClassVar[Callable[..., tuple[Array, Array]] | None] = None

    def _inputs(self, arrays: tuple[Array, ...]) -> tuple[Any, tuple[Array, ...]]:
        """Parameters and data arrays for the prediction functions (per customer with
        covariates, see :mod:`clvmodel.models.covariates`)."""
        return self._params(), arrays

    def _expected_purchases(self, arrays: tuple[Array, ...], t: float) -> Array:
        params, data = self._inputs(arrays)
        return type(self)._expected_purchases_fn(params, t, *data)

    def _horizon_sums(
        self, arrays: tuple[Array, ...], times: Sequence[float], factors: Sequence[float]
    ) -> tuple[Array, Array]:
        """``Σ_k f_k (E[X(t_k)] - E[X(t_{k-1})])`` per row, and ``E[X(t_K)]``.

        ``times`` are increasing horizons ``t_1 < ... < t_K`` (``t_0 = 0``) and ``factors``
        their weights (discount factors). The predictions are computed once per distinct
        row and scattered back; with :attr:`_alive_factorises`, once per distinct
        ``(x, T)``: ``g(t; x, T)`` is ``E[X(t)] / P(alive)`` at ``t_x = T`` (where P(alive)
        is largest), and every row gets its own ``P(alive)`` times the sums of ``g``. So a
        52-step CLV of a million customers costs 52 evaluations on a few thousand rows.
        """
        times = [float(t) for t in times]
        factors = [float(f) for f in factors]
        if len(times) != len(factors):
            raise InputError("_horizon_sums needs one factor per horizon.")
        if self._alive_factorises and len(arrays) == 3:
            x, _, T = arrays
            grouped = group_rows((x, T))
            if grouped is not None:
                group, first = grouped
                key = (x[first], T[first], T[first])
                ref_alive = self._p_alive(key)
                if np.all(np.isfinite(ref_alive)) and np.all(ref_alive > 0):
                    total, last = self._step_sums(key, times, factors, scale=1.0 / ref_alive)
                    alive = self._p_alive(arrays)
                    return total[group] * alive, last[group] * alive
        grouped = group_rows(arrays) if len(arrays[0]) else None
        if grouped is None or len(grouped[1]) > 0.8 * len(arrays[0]):
            return self._step_sums(arrays, times, factors)
        group, first = grouped
        total, last = self._step_sums(tuple(a[first] for a in arrays), times, factors)
        return total[group], last[group]

    def _step_sums(
        self,
        arrays: tuple[Array, ...],
        times: Sequence[float],
        factors: Sequence[float],
        scale: Array | float = 1.0,
    ) -> tuple[Array, Array]:
        total = np.zeros(len(arrays[0]))
        previous = np.zeros(len(arrays[0]))
        for t, f in zip(times, factors, strict=True):
            cumulative = self._expected_purchases(arrays, t) * scale
            total += (cumulative - previous) * f
            previous = cumulative
        return total, previous

    def _p_alive(self, arrays: tuple[Array, ...]) -> Array:
        params, data = self._inputs(arrays)
        return type(self)._p_alive_fn(params, *data)

    def p_alive(self, data: CustomerData = None, **values: float) -> pd.Series | float:
        """P(alive) of each customer at the end of their observation period.

        ``data`` is a summary frame (a Series by customer id is returned), a dict of columns,
        or the columns of one customer as keywords (``frequency=2, recency=30, T=40``) or a
        dict of scalars, for which a float is returned.
        """
        arrays, labels, one = self._customer_arrays(data, values)
        return _labelled(self._p_alive(arrays), labels, "p_alive", one)

    def expected_purchases(
        self, data: CustomerData = None, *, t: float, **values: float
    ) -> pd.Series | float:
        """Expected repeat purchases of each customer in the next ``t`` time units.

        ``data`` as for :meth:`p_alive`.
        """
        if not np.isscalar(t) or not float(t) >= 0:
            raise InputError(f"The 't' parameter must be a number >= 0. Got {plain(t)} instead.")
        arrays, labels, one = self._customer_arrays(data, values)
        return _labelled(
            self._expected_purchases(arrays, float(t)), labels, "expected_purchases", one
        )


class NewCustomerPredictions:
    """Closed-form predictions for a customer just acquired (continuous-time models).

    A model declares ``_expected_new_fn(params, t)`` and ``_probability_fn(params, t, n)``,
    and may declare ``_conditional_probability_fn(params, t, n, *arrays)`` for
    ``P(X(T, T+t) = n | history)``.
    """

    _expected_new_fn: ClassVar[Callable[..., Array]]
    _probability_fn: ClassVar[Callable[..., Array]]
    _conditional_probability_fn: ClassVar[Callable[..., Array]]
    _params: Callable[[], Array]
    _customer_arrays: Callable[..., tuple[tuple[Array, ...], pd.Index, bool]]
    _inputs: Callable[..., tuple[Any, tuple[Array, ...]]]

    def expected_purchases_new_customer(self, t: ArrayLike) -> Array:
        """Expected repeat purchases in ``(0, t]`` of a customer acquired at 0."""
        return type(self)._expected_new_fn(self._params(), t)

    def probability_of_purchases(
        self, data: CustomerData = None, *, t: ArrayLike, n: ArrayLike, **values: float
    ) -> Array | pd.Series | float:
        """P(X(t) = n): probability of ``n`` repeat purchases in the next ``t`` time units.

        Without ``data``: of a customer just acquired (``t`` and ``n`` broadcast; an array).
        With ``data`` (a summary, a dict, or one customer's columns as keywords): of each
        customer given their history, ``P(X(T, T+t) = n | x, t_x, T)`` (a Series by
        customer id, or a float for one customer), for models that declare the conditional
        distribution (BG/NBD, MBG/NBD, Pareto/NBD).
        """
        if data is None and not values:
            return type(self)._probability_fn(self._params(), t, n)
        conditional = getattr(type(self), "_conditional_probability_fn", None)
        if conditional is None:
            raise InputError(
                f"{type(self).__name__} has no conditional P(X(t) = n | history); call "
                f"probability_of_purchases(t=, n=) for a new customer."
            )
        if not np.isscalar(t) or not np.isscalar(n) or not float(t) >= 0 or not float(n) >= 0:
            raise InputError(
                f"The 't' and 'n' parameters must be numbers >= 0 for customers with a history. "
                f"Got t={t!r}, n={n!r} instead."
            )
        arrays, labels, one = self._customer_arrays(data, values)
        params, arrays = self._inputs(arrays)
        p = conditional(params, float(t), float(int(n)), *arrays)
        return _labelled(p, labels, "probability_of_purchases", one)
