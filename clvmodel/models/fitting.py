"""The one fit path every model shares (:func:`maximize_likelihood`) and its diagnostics.

Identical rows collapse into weights, the weighted mean negative log-likelihood is minimised
over log-parameters by BFGS with the analytic gradient (:mod:`clvmodel.models.optimize`),
one Newton step from the numerical Hessian polishes the optimum, and the inverse Hessian
gives standard errors. Fits that do not converge, or end on a bound, say why and what to try.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..distinct import group_rows
from ..exceptions import (
    BoundaryWarning,
    ConvergenceWarning,
    FitError,
    HessianWarning,
    InputError,
)
from ..results import FitResult
from .optimize import (
    LOG_BOUND,
    Array,
    LogLik,
    _bfgs,
    _hessian,
    _numeric_gradient,
    _on_ridge,
    natural,
)

#: A fit whose mean-log-likelihood gradient (in log-parameters) is below this has converged.
GRAD_TOL = 1e-5
#: Log-parameters beyond this (estimates above 1.6e5 or below 6e-6) draw a BoundaryWarning.
EXTREME_LOG = 12.0
#: Above this many distinct rows, a subsample fit gives the starting point.
WARM_START_ROWS = 40_000
#: The log-likelihood is evaluated this many rows at a time: bounded temporaries, and arrays
#: that stay in the CPU cache (a BG/NBD gradient over 241k rows: 21 ms in chunks of 65,536,
#: 40-78 ms in one piece, on the same loaded machine).
CHUNK_ROWS = 65_536


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


def bound_advice(columns: Sequence[str], arrays: tuple[Array, ...]) -> str:
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
