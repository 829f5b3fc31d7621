"""The one fit path every model shares, and the base class models declare themselves on.

A model declares its registry key, its parameter names, the data columns it reads and its
per-row log-likelihood (a pure function in :mod:`clvmodel.likelihoods`). Fitting is the same
for all: identical rows collapse into weights, the weighted mean negative log-likelihood is
minimised over log-parameters by L-BFGS-B with the analytic gradient, one Newton step from
the numerical Hessian polishes the optimum, and the inverse Hessian gives standard errors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .. import __version__
from ..distinct import group_rows
from ..exceptions import (
    BoundaryWarning,
    ConvergenceWarning,
    FitError,
    HessianWarning,
    InputError,
    ModelFileError,
    NotFittedError,
    NotIdentifiedError,
)
from ..io import SCHEMA_VERSION
from ..results import FitResult
from ..units import check_unit
from ..validation import customer_index, plain, require_columns, resolve_weights

Array = NDArray[np.float64]
LogLik = Callable[..., Any]

#: Log-parameters are kept in [-LOG_BOUND, LOG_BOUND]; estimates there are on the boundary.
LOG_BOUND = 25.0
#: A fit whose mean-log-likelihood gradient (in log-parameters) is below this has converged.
GRAD_TOL = 1e-5
#: Log-parameters beyond this (estimates above 1.6e5 or below 6e-6) draw a BoundaryWarning.
EXTREME_LOG = 12.0
#: Above this many distinct rows, a subsample fit gives the starting point.
WARM_START_ROWS = 40_000
#: The log-likelihood is evaluated this many rows at a time (bounded temporaries).
CHUNK_ROWS = 1_000_000


def collapse_rows(columns: Sequence[Array], weights: Array) -> tuple[tuple[Array, ...], Array]:
    """Merge identical data rows into one row whose weight is the sum of theirs.

    Customers of the same cohort with no repeat purchase share ``(0, 0, T)``: a real data
    set of a million customers often has a few hundred thousand distinct rows or fewer.
    Rows are grouped by hashing (each column factorised, the codes combined into one key);
    the rows kept are the first of each group, in order of first appearance.
    """
    cols = [np.asarray(c, dtype=np.float64) for c in columns]
    n = len(cols[0])
    grouped = group_rows(cols)
    if grouped is None:  # the combined key could overflow: group by sorting instead
        return _collapse_sorted(cols, weights)
    group, first = grouped
    n_groups = len(first)
    if n_groups > 0.8 * n:
        return tuple(cols), weights
    w = np.bincount(group, weights=np.asarray(weights, dtype=np.float64), minlength=n_groups)
    return tuple(c[first] for c in cols), w


def _collapse_sorted(cols: list[Array], weights: Array) -> tuple[tuple[Array, ...], Array]:
    order = np.lexsort(cols[::-1])
    sorted_cols = [c[order] for c in cols]
    new_group = np.zeros(len(order), dtype=bool)
    new_group[0] = True
    for c in sorted_cols:
        new_group[1:] |= c[1:] != c[:-1]
    starts = np.flatnonzero(new_group)
    if len(starts) > 0.8 * len(order):
        return tuple(cols), weights
    w = np.add.reduceat(np.asarray(weights, dtype=np.float64)[order], starts)
    return tuple(c[starts] for c in sorted_cols), w


@dataclass
class _OptResult:
    x: Array
    success: bool
    message: str
    nit: int
    inv_hessian: Array | None = None


def _bfgs(
    fun: Callable[[Array], tuple[float, Array]],
    x0: Array,
    *,
    max_iter: int,
    gtol: float = 1e-6,
    inv_hessian: Array | None = None,
) -> _OptResult:
    """Dense BFGS with Armijo backtracking, for the handful of log-parameters of a model.

    Cheaper than scipy's L-BFGS-B on these problems (no per-iteration bookkeeping, and no
    import of scipy.optimize on the common path). It reports failure, rather than
    struggling, when it meets the parameter bounds or cannot make progress; the caller then
    falls back to L-BFGS-B.
    """
    x = np.asarray(x0, dtype=np.float64).copy()
    f, g = fun(x)
    k = len(x)
    first = inv_hessian is None
    inv_h = np.eye(k) if inv_hessian is None else inv_hessian.copy()
    for it in range(1, max_iter + 1):
        if np.max(np.abs(g)) < gtol:
            return _OptResult(x, True, "BFGS: gradient below tolerance", it - 1, inv_h)
        step = -inv_h @ g
        slope = float(g @ step)
        if not slope < 0:  # not a descent direction: restart from steepest descent
            inv_h = np.eye(k)
            step, slope = -g, -float(g @ g)
        longest = np.max(np.abs(step))
        if longest > 5.0:  # at most a factor e^5 per parameter per iteration
            step, slope = step * (5.0 / longest), slope * (5.0 / longest)
        t = 1.0
        while True:
            x_new = x + t * step
            if np.max(np.abs(x_new)) > LOG_BOUND:
                return _OptResult(x, False, "BFGS: a parameter reached its bound", it)
            f_new, g_new = fun(x_new)
            if np.isfinite(f_new) and f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
            if t < 1e-12:
                return _OptResult(x, False, "BFGS: line search failed", it)
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > 1e-16:
            if first:  # scale the first inverse-Hessian guess (Nocedal & Wright eq. 6.20)
                inv_h = np.eye(k) * (sy / float(y @ y))
                first = False
            rho = 1.0 / sy
            v = np.eye(k) - rho * np.outer(s, y)
            inv_h = v @ inv_h @ v.T + rho * np.outer(s, s)
        converged_f = abs(f - f_new) <= 1e-15 * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if converged_f and np.max(np.abs(g)) < 1e3 * gtol:
            return _OptResult(x, True, "BFGS: no further decrease", it, inv_h)
    return _OptResult(x, False, f"BFGS: {max_iter} iterations reached", max_iter)


def _numeric_gradient(f: Callable[[Array], float], theta: Array, h: float = 1e-6) -> Array:
    grad = np.empty_like(theta)
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = h * max(1.0, abs(theta[i]))
        grad[i] = (f(theta + e) - f(theta - e)) / (2 * e[i])
    return grad


def _hessian(grad: Callable[[Array], Array], theta: Array, h: float = 1e-5) -> Array:
    """Central-difference Hessian of a function given its gradient, symmetrised."""
    k = len(theta)
    hess = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        hess[:, i] = (grad(theta + e) - grad(theta - e)) / (2 * h)
    return 0.5 * (hess + hess.T)


def natural(x: Array, log_scale: Array) -> Array:
    """Parameters from the fitted scale: ``exp`` of the log-scale entries, others as they are."""
    return np.where(log_scale, np.exp(np.where(log_scale, x, 0.0)), x)


#: A Wald interval needs the log-likelihood to fall by about 1/2 one standard error away from
#: the estimate; where it falls by less than this along the flattest direction, the
#: likelihood is a ridge there and the curvature measures nothing.
RIDGE_DROP = 0.1


def _on_ridge(
    mean_ll: Callable[[Array], float], log_theta: Array, value: float, total_hess: Array, n: float
) -> bool:
    """Whether the estimate lies on a ridge rather than at a well-defined maximum.

    A finite-difference Hessian can look negative definite on a log-likelihood that is nearly
    flat along one direction (e.g. sBG on geometric survival, where only gamma / (gamma +
    delta) is identified and the maximum drifts towards infinity). Along the direction of
    least curvature, one standard error either way, a quadratic log-likelihood falls by 1/2;
    if the actual fall on either side is below ``RIDGE_DROP``, the quadratic approximation
    behind the standard errors does not hold.
    """
    try:
        eigvals, eigvecs = np.linalg.eigh(-total_hess)
    except np.linalg.LinAlgError:
        return True
    smallest = int(np.argmin(eigvals))
    if not eigvals[smallest] > 0:
        return True
    step = min(1.0 / np.sqrt(eigvals[smallest]), 2 * LOG_BOUND) * eigvecs[:, smallest]
    for sign in (1.0, -1.0):
        probe = np.clip(log_theta + sign * step, -LOG_BOUND, LOG_BOUND)
        probed = mean_ll(probe)
        if np.isfinite(probed) and (value - probed) * n < RIDGE_DROP:
            return True
    return False


class SummedLogLik(Protocol):
    """The weighted log-likelihood summed somewhere else (e.g. across Spark partitions).

    ``f(theta, gradient)`` returns ``Σ w ll`` over all rows and, with ``gradient``, also
    ``Σ w ∂ll/∂θ`` (natural-scale parameters, shape ``(k,)``); ``total_weight`` is ``Σ w``.
    """

    total_weight: float

    def __call__(self, theta: Array, gradient: bool) -> tuple[float, Array | None]: ...


@dataclass
class _ChunkSums:
    """The sum of the :class:`SummedLogLik` of each chunk of rows."""

    parts: list[SummedLogLik]

    def __call__(self, theta: Array, gradient: bool) -> tuple[float, Array | None]:
        sums = [part(theta, gradient) for part in self.parts]
        value = float(sum(v for v, _ in sums))
        return value, np.sum([g for _, g in sums], axis=0) if gradient else None

    @property
    def total_weight(self) -> float:
        return float(sum(part.total_weight for part in self.parts))


def _objectives(
    loglik: LogLik,
    data: Sequence[Array],
    weights: Array,
    analytic_gradient: bool,
    log_scale: Array | None = None,
    l2: Array | None = None,
    summed: SummedLogLik | None = None,
) -> tuple[
    Callable[[Array], float],
    Callable[[Array], tuple[float, Array]],
    Callable[[Array], tuple[float, Array]],
]:
    """Weighted mean log-likelihood over the fitted scale (log-parameters, and unbounded
    entries where ``log_scale`` is False), minus ``Σ l2_j θ_j²`` (lifetimes' penalizer, on
    the natural scale): value, value and gradient, and the optimiser's objective (negated,
    with non-finite values turned into a large penalty). With ``summed``, the sums come from
    it instead of ``data`` and ``weights``."""
    total_w = float(np.sum(weights)) if summed is None else float(summed.total_weight)
    # Rows are evaluated in chunks so that the likelihood's temporaries stay bounded.
    chunks = [slice(i, i + CHUNK_ROWS) for i in range(0, len(weights), CHUNK_ROWS)] or [slice(0, 0)]
    if summed is None and hasattr(loglik, "summed"):
        # The likelihood sums over the rows itself (work shared between rows, bookkeeping
        # done once): one SummedLogLik per chunk, e.g. likelihoods.PnbdSums.
        summed = _ChunkSums([loglik.summed(*(d[c] for d in data), weights[c]) for c in chunks])

    def mean_ll(log_theta: Array) -> float:
        mask = np.ones(len(log_theta), bool) if log_scale is None else log_scale
        theta = natural(log_theta, mask)
        with np.errstate(all="ignore"):
            if summed is not None:
                total = summed(theta, False)[0]
            else:
                total = sum(
                    float(weights[c] @ loglik(theta, *(d[c] for d in data))) for c in chunks
                )
            pen = 0.0 if l2 is None else float(l2 @ theta**2)
            return total / total_w - pen

    def mean_ll_grad(log_theta: Array) -> tuple[float, Array]:
        if not analytic_gradient:
            return mean_ll(log_theta), _numeric_gradient(mean_ll, log_theta)
        mask = np.ones(len(log_theta), bool) if log_scale is None else log_scale
        theta = natural(log_theta, mask)
        jac = np.where(mask, theta, 1.0)
        value, grad_sum = 0.0, np.zeros(len(theta))
        with np.errstate(all="ignore"):
            if summed is not None:
                value, grad_sum = summed(theta, True)
                assert grad_sum is not None
            else:
                for c in chunks:
                    ll, grad = loglik(theta, *(d[c] for d in data), gradient=True)
                    value += float(weights[c] @ ll)
                    grad_sum += grad @ weights[c]
            value, grad = value / total_w, grad_sum / total_w
            if l2 is not None:
                value, grad = value - float(l2 @ theta**2), grad - 2.0 * l2 * theta
            return value, grad * jac

    def objective(log_theta: Array) -> tuple[float, Array]:
        value, grad = mean_ll_grad(log_theta)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e10, np.zeros_like(log_theta)
        return -value, -grad

    return mean_ll, mean_ll_grad, objective


def maximize_likelihood(
    loglik: LogLik,
    data: Sequence[Array],
    weights: Array,
    x0: Array,
    *,
    model: str,
    param_names: tuple[str, ...],
    analytic_gradient: bool = True,
    time_unit: str | None = None,
    max_iter: int = 2000,
    notes: Sequence[str] = (),
    log_scale: Array | None = None,
    l2: Array | None = None,
    summed: SummedLogLik | None = None,
    allow_unconverged: bool = False,
    advice: str = "",
) -> FitResult:
    """Maximise ``sum(weights * loglik(params, *data))`` over positive parameters.

    Parameters
    ----------
    loglik : callable
        ``loglik(params, *data, gradient=False)`` returning per-row log-likelihoods, and
        with ``gradient=True`` also their derivatives of shape ``(k, n)``.
    data : sequence of arrays
        The model's data columns, already collapsed to distinct rows.
    weights : array
        How many customers each row stands for.
    x0 : array
        Starting parameters (natural scale, positive).
    model, param_names, time_unit, notes
        Carried into the :class:`FitResult`.
    analytic_gradient : bool
        Whether ``loglik`` supports ``gradient=True``; otherwise central differences.
    max_iter : int
        Optimiser iteration limit.
    log_scale : bool array, optional
        Which parameters are positive and optimised in logs (default: all); the others
        (covariate coefficients) are unbounded and optimised as they are.
    l2 : array, optional
        Ridge penalty per parameter: the fit maximises the mean log-likelihood minus
        ``Σ l2_j θ_j²`` (lifetimes' ``penalizer_coef`` when every entry is that value).
        The unpenalised log-likelihood is reported, the penalised one beside it.
    summed : SummedLogLik, optional
        The log-likelihood summed over all rows elsewhere (rows too many for this process);
        ``data`` and ``weights`` are then a sample of the rows, used only for the warm start.
    allow_unconverged : bool
        Return a fit that did not converge (flagged ``converged=False``, with a
        :class:`ConvergenceWarning`) instead of raising :class:`FitError`.
    advice : str
        What to try, in plain words, added to the error of a fit that stopped on the bound
        (a fit that ran out of iterations gets the generic hint).

    Raises
    ------
    FitError
        When the optimiser fails, or stops with an estimate on the bound of the parameter
        space (the data do not identify it); the optimiser's message is kept.
    """
    total_w = float(np.sum(weights)) if summed is None else float(summed.total_weight)
    if total_w <= 0:
        raise InputError("The data has no rows with positive weight: there is nothing to fit.")

    mask = np.ones(len(param_names), bool) if log_scale is None else np.asarray(log_scale, bool)
    fun_args = (analytic_gradient, mask, None if l2 is None or not np.any(l2) else l2)
    mean_ll, mean_ll_grad, objective = _objectives(loglik, data, weights, *fun_args, summed=summed)
    x0 = np.asarray(x0, dtype=np.float64)
    start = np.where(mask, np.log(np.where(mask, x0, 1.0)), x0)
    start = np.clip(start, -LOG_BOUND + 1, LOG_BOUND - 1)
    n_rows = len(weights)
    warm_inv_h = None
    if n_rows > WARM_START_ROWS or (summed is not None and n_rows > 1):
        # Warm start: the optimum of a fixed random subsample is close to the full one, and
        # its evaluations cost a fraction of the full data's.
        size = min(WARM_START_ROWS // 2, n_rows)
        rows = np.random.default_rng(0).choice(n_rows, size, replace=False)
        sub = _objectives(loglik, tuple(d[rows] for d in data), weights[rows], *fun_args)
        warm = _bfgs(sub[2], start, max_iter=max_iter)
        if warm.success:  # both objectives are means: the curvature carries over too
            start, warm_inv_h = warm.x, warm.inv_hessian
    opt = _bfgs(objective, start, max_iter=max_iter, inv_hessian=warm_inv_h)
    if not opt.success:  # the bounded, more forgiving optimiser from the best point reached
        from scipy.optimize import minimize

        opt = minimize(
            objective,
            opt.x,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * len(param_names),
            options={"maxiter": max_iter, "ftol": 1e-14, "gtol": 1e-10, "maxcor": 20},
        )
    log_theta = np.asarray(opt.x, dtype=np.float64)
    value = mean_ll(log_theta)

    def grad_only(lt: Array) -> Array:
        return mean_ll_grad(lt)[1]

    # Polish with Newton steps on the log-scale Hessian (quadratic convergence near the optimum).
    hess = _hessian(grad_only, log_theta)
    grad = grad_only(log_theta)  # kept at the current point throughout
    for _ in range(3):
        if not np.all(np.isfinite(hess)) or np.max(np.abs(grad)) < 1e-12:
            break
        live = np.any(hess != 0, axis=1)  # an unused coefficient (covariate all 0) has none
        step = np.zeros_like(grad)
        try:
            step[live] = np.linalg.solve(hess[np.ix_(live, live)], grad[live])
        except np.linalg.LinAlgError:
            break
        candidate = np.clip(log_theta - step, -LOG_BOUND, LOG_BOUND)
        cand_value = mean_ll(candidate)
        if not (np.isfinite(cand_value) and cand_value >= value):
            break
        log_theta, value = candidate, cand_value
        grad = grad_only(log_theta)
        if np.max(np.abs(step)) > 1e-3:  # the Hessian barely moves over smaller steps
            hess = _hessian(grad_only, log_theta)

    grad_norm = float(np.max(np.abs(grad))) if np.all(np.isfinite(grad)) else np.inf
    message = str(opt.message)
    if not np.isfinite(value):
        raise FitError(
            f"Fitting {model} failed: the log-likelihood is not finite at the estimates "
            f"({message}). Check that frequency, recency and T are in one time unit, or try "
            f"other initial_params.",
            message,
        )
    converged = bool(opt.success) or grad_norm < GRAD_TOL
    at_bound = np.abs(log_theta) >= LOG_BOUND - 1e-6
    theta = natural(log_theta, mask)
    bounded = at_bound & mask
    if not converged or bounded.any():
        why = (
            f"did not converge after {opt.nit} iterations: {message} "
            f"(largest gradient {grad_norm:.3g})"
            if not converged
            else "did not converge: "
            + ", ".join(
                f"{n}={v:.4g}" for n, v, b in zip(param_names, theta, bounded, strict=True) if b
            )
            + " reached the bound of the parameter space, so the data do not identify it"
        )
        hint = (advice if converged else "") or (
            "Try other initial_params, a larger max_iter, or a different time unit so that "
            "T is of order 1 to 100"
        )
        if not allow_unconverged:
            raise FitError(f"Fitting {model} {why}. {hint}.", message)
        warnings.warn(f"{model}: {why}. {hint}.", ConvergenceWarning, stacklevel=3)
        converged = False

    notes = list(notes)
    extreme = (np.abs(log_theta) > EXTREME_LOG) & mask
    if extreme.any():
        names = ", ".join(
            f"{n}={v:.4g}" for n, v, b in zip(param_names, theta, extreme, strict=True) if b
        )
        where = "on the boundary of" if at_bound.any() else "drifting to the edge of"
        note = (
            f"estimate of {names} is {where} the parameter space (towards 0 or infinity): "
            f"the data do not identify it (often only a ratio of two parameters is); the "
            f"model may be a poor fit, or a simpler one may do"
        )
        notes.append(note)
        warnings.warn(f"{model}: {note}. Optimiser: {message}", BoundaryWarning, stacklevel=3)

    total_hess = hess * total_w
    live = np.any(total_hess != 0, axis=1)
    cov_log = np.full(total_hess.shape, np.nan)
    try:
        cov_log[np.ix_(live, live)] = np.linalg.inv(-total_hess[np.ix_(live, live)])
        ok = np.all(np.isfinite(cov_log[np.ix_(live, live)])) and np.all(np.diag(cov_log)[live] > 0)
    except np.linalg.LinAlgError:
        ok = False
    problem = "the Hessian at the estimates is not negative definite"

    def live_ll(sub: Array) -> float:  # the likelihood along the identified coordinates
        full = log_theta.copy()
        full[live] = sub
        return mean_ll(full)

    if ok and _on_ridge(live_ll, log_theta[live], value, total_hess[np.ix_(live, live)], total_w):
        ok = False
        problem = (
            "the log-likelihood is nearly flat along a ridge through the estimates (only a "
            "combination of the parameters is identified)"
        )
    if ok:
        jac = np.where(mask, theta, 1.0)
        covariance = cov_log * np.outer(jac, jac)
        if not live.all():
            unused = [n for n, keep in zip(param_names, live, strict=True) if not keep]
            warnings.warn(
                f"{model}: {unused} do not change the likelihood (their covariates are 0 "
                f"for every customer): not identified, no standard errors.",
                HessianWarning,
                stacklevel=3,
            )
    else:
        covariance = np.full((len(theta), len(theta)), np.nan)
        warnings.warn(
            f"{model}: {problem}; standard errors are not available.",
            HessianWarning,
            stacklevel=3,
        )
    if not opt.success and converged:
        message = f"{message} (accepted: gradient norm {grad_norm:.2e} below {GRAD_TOL})"

    penalty = 0.0 if fun_args[2] is None else float(fun_args[2] @ theta**2) * total_w
    return FitResult(
        model=model,
        param_names=param_names,
        params=theta,
        covariance=covariance,
        log_likelihood=value * total_w + penalty,
        penalized_log_likelihood=value * total_w if penalty else None,
        log_scale=tuple(bool(v) for v in mask),
        n_obs=round(total_w),
        converged=converged,
        message=message,
        n_iter=int(opt.nit),
        time_unit=time_unit,
        notes=tuple(notes),
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
            advice=_bound_advice(self.columns, arrays),
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


def repeat_purchase_rate(arrays: tuple[Array, ...], weights: Array) -> float:
    """Weighted repeat purchases per unit of time, ``Σ w x / Σ w T``: a starting-value scale."""
    x, _, T = arrays
    return max(float(weights @ x) / max(float(weights @ T), 1e-12), 1e-6)


def identification_advice(columns: Sequence[str], arrays: tuple[Array, ...], weights: Array) -> str:
    """Why these data cannot identify a purchase model, in plain words; ``""`` when they can.

    Repeat-purchase models ``(frequency, recency, T)`` and ``(frequency, recency, periods)``
    need some repeat purchases (for the purchase rate), some time without one (for dropout)
    and some observed time at all.
    """
    if tuple(columns[:2]) != ("frequency", "recency") or len(arrays) < 3:
        return ""
    x, tx, age = arrays[:3]
    if not np.any(age > 0):
        return (
            "every customer was observed for no time at all (T or periods 0 for all): "
            "move the observation end after the first purchases, or use a finer --freq"
        )
    if not np.any(x > 0):
        return (
            "nobody in this log made a repeat purchase, so the purchase rate and dropout "
            "are not identified: use a longer log or a finer --freq"
        )
    if np.all(x > 0) and np.all(age - tx <= 0):
        return (
            "dropout is not identified: nobody in this log appears to have churned (every "
            "customer bought in the last period); use a longer log or a coarser --freq"
        )
    return ""


def _bound_advice(columns: Sequence[str], arrays: tuple[Array, ...]) -> str:
    """Plain-words hint for a fit that ran into the bound of the parameter space."""
    if tuple(columns[:2]) == ("frequency", "recency") and len(arrays) >= 3:
        x, tx = arrays[0], arrays[1]
        if np.any(x > 0) and np.all(tx[x > 0] == 0):
            return (
                "Every repeat buyer has recency 0: recency must be the time of the last "
                "purchase since the first (check the column, or use a finer --freq)"
            )
    return (
        "The data do not identify every parameter (often only a ratio of two is): try a "
        "simpler model, a longer log, or --allow-unconverged to keep the estimates"
    )
