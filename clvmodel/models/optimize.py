"""The optimiser and the curvature behind :func:`clvmodel.models.fitting.maximize_likelihood`.

A dense BFGS with backtracking for the few log-parameters of a model, numerical gradients
and Hessians (the Hessian by differences of the analytic gradient), the map from
log-parameters to parameters, and the ridge check that withholds standard errors when only a
combination of the parameters is identified.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
LogLik = Callable[..., Any]

#: Log-parameters are kept in [-LOG_BOUND, LOG_BOUND]; estimates there are on the boundary.
LOG_BOUND = 25.0


#: BFGS gives up (the caller falls back to L-BFGS-B) after this many consecutive iterations
#: that change the objective by rounding only while the gradient is not small: a likelihood
#: flat along a ridge to the last digit (a Pareto/NBD fit of a log of a few rows, whose
#: parameters drift to 1e6 together) otherwise takes all ``max_iter`` iterations, each with
#: up to 40 backtracking steps (tens of thousands of evaluations, minutes).
FLAT_ITERATIONS = 20


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
    flat = 0  # consecutive iterations that changed f by rounding only
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
        flat = flat + 1 if converged_f else 0
        if flat >= FLAT_ITERATIONS:  # wandering along a ridge flat to rounding
            return _OptResult(x, False, "BFGS: no decrease along a flat ridge", it)
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
