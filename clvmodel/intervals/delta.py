"""The delta method: each prediction linearised in the fitted-scale parameters.

``g(pred) ± z sqrt(J Σ Jᵀ)`` with ``g`` the logit for P(alive) and the log for the positive
quantities, ``J = ∂g(pred)/∂θ`` on the scale the parameters were fitted on (logs of the
positive ones) and ``Σ`` the covariance there.

Two ways to get ``J``. :func:`numeric_jacobians` perturbs one parameter at a time and
re-evaluates every prediction (forward differences; any model). :func:`factorised_delta`
uses the structure of the models whose live-customer expectation factorises
(``E[X(t)] = P(alive) g(t; x, T)``, BG/NBD and MBG/NBD): ``log E = -log(1 + e^L) + log g``
with ``L`` the log death odds, whose gradient is in closed form
(``_log_death_odds_gradient_fn``), and ``g`` a function of the distinct ``(x, T)`` pairs
alone, so only those few rows are re-evaluated per parameter (forward differences of the
step sums); the Gamma-Gamma spend, ``p(γ + x m̄)/(px + q - 1)``, has a closed-form gradient
too and CLV's log is the sum of the three logs. The two agree to the error of the forward
differences (bounds within 1e-5 relative on CDNOW; the closed form is the more accurate,
see tests/test_intervals.py).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import block_diag
from scipy.special import expit, logit

from ..clv import _grid
from ..distinct import group_rows
from ..models.base import BaseModel, PurchaseModel
from ..models.gamma_gamma import GammaGammaModel, expected_spend_and_log_gradient
from ..models.optimize import natural

Array = NDArray[np.float64]
QUANTITIES = ("p_alive", "expected_purchases", "expected_spend", "clv")

#: Forward-difference step on the fitted scale (logs of positive parameters).
DELTA_STEP = 1e-6


def with_params(model: BaseModel, params: Array) -> Any:
    """A shallow copy of a fitted ``model`` with other parameter values."""
    out = copy.copy(model)
    out.result_ = dataclasses.replace(model.result_, params=np.asarray(params, dtype=np.float64))
    return out


def point_spend_of(spend_model: GammaGammaModel | None) -> Array | None:
    """The spend model's estimates, or None."""
    return None if spend_model is None else spend_model._params()


def steps(models: list[BaseModel]) -> list[tuple[int, Array]]:
    """``(which model, its natural parameters)`` moved one fitted-scale parameter forward
    by :data:`DELTA_STEP`, for each parameter of each model in turn."""
    out = []
    for which, m in enumerate(models):
        x, _ = m.result_.fitted_scale()
        mask = m.result_.is_log_scale
        for j in range(len(x)):
            xj = x.copy()
            xj[j] += DELTA_STEP
            out.append((which, natural(xj, mask)))
    return out


def numeric_jacobians(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel | None,
    predict: Any,
    point: dict[str, Array],
    sl: slice,
) -> dict[str, Array]:
    """d prediction / d fitted-scale parameter, purchase parameters first, ``(k, rows)``."""
    models: list[BaseModel] = [purchase_model] + ([spend_model] if spend_model else [])
    rows = []
    for which, moved in steps(models):
        if which == 0:
            out = predict(with_params(purchase_model, moved), point_spend_of(spend_model), sl)
        else:  # the purchase predictions do not move
            out = predict(purchase_model, moved, sl, reuse=point)
        rows.append({n: (out[n] - point[n]) / DELTA_STEP for n in point})
    return {n: np.stack([r[n] for r in rows]) for n in point if not n.startswith("_")}


def delta_sd(jac: Array, cov: Array, value: Array, name: str) -> Array:
    """Standard deviation of ``g(prediction)``, ``g`` logit for P(alive), log otherwise."""
    var = np.einsum("ir,ij,jr->r", jac, cov, jac)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = value * (1.0 - value) if name == "p_alive" else value
        sd = np.sqrt(np.clip(var, 0.0, None)) / scale
    return np.where(np.isfinite(sd), sd, 0.0)


def bounds(value: Array, sd: Array, z: float, name: str) -> tuple[Array, Array]:
    """``g^-1(g(value) ± z sd)``; a value at the edge (P(alive) = 1, 0 purchases) stays."""
    with np.errstate(divide="ignore"):
        if name == "p_alive":
            g = logit(value)
            return expit(g - z * sd), expit(g + z * sd)
        g = np.log(value)
        return np.exp(g - z * sd), np.exp(g + z * sd)


def total_summary(estimate: float, jac: Array, cov: Array, z: float) -> dict[str, float]:
    """Estimate and delta interval of a total over customers (log scale), ``jac`` its
    fitted-scale gradient."""
    tot = np.array([estimate])
    sd = delta_sd(np.asarray(jac, dtype=np.float64)[:, None], cov, tot, "total")
    lo, hi = (float(v[0]) for v in bounds(tot, sd, z, "total"))
    return {"estimate": estimate, "lower": lo, "upper": hi}


def _root(cov: Array) -> Array:
    """``R`` with ``R Rᵀ = cov`` (negative rounding eigenvalues clipped)."""
    w, v = np.linalg.eigh(0.5 * (cov + cov.T))
    return v * np.sqrt(np.clip(w, 0.0, None))


def _squares(v: Array) -> Array:
    """Squared Euclidean norm of each column."""
    return np.einsum("ir,ir->r", v, v)


def _linear_map(model: BaseModel) -> tuple[Array, Array, Array]:
    """``Rᵀ diag(dθ/dx)``, ``Σ`` and ``dθ/dx``, with ``Σ = R Rᵀ`` the fitted-scale
    covariance: natural-scale gradients ``∂/∂θ`` to ``Rᵀ J``, whose squared norm is the
    variance ``J Σ Jᵀ``."""
    result = model.result_
    cov = result.fitted_scale()[1]
    scale = np.where(result.is_log_scale, result.params, 1.0)
    return _root(cov).T * scale, cov, scale


def horizon_steps(
    horizon: float, step: float, per_unit_rate: float
) -> tuple[list[float], list[float]]:
    """The step ends and their discount factors, as :class:`clvmodel.clv.HorizonSums`."""
    times = [float(t) for t in _grid(horizon, step)]
    return times, [float(f) for f in (1.0 + per_unit_rate) ** (-np.asarray(times))]


def key_step_sums(
    model: PurchaseModel, key: tuple[Array, ...], times: list[float], factors: list[float]
) -> tuple[Array, Array] | None:
    """The discounted step sums of ``g(t; x, T)`` and ``g(t_K)`` at ``key = (x, T, T)``
    (``E[X(t)] / P(alive)`` there, as :class:`clvmodel.clv.HorizonSums`); ``None`` where
    P(alive) is not positive. A customer's sums are these times their P(alive)."""
    ref = model._p_alive(key)
    if not (np.all(np.isfinite(ref)) and np.all(ref > 0)):
        return None
    return model._step_sums(key, times, factors, scale=1.0 / ref)


def _key_sums(
    model: PurchaseModel, key: tuple[Array, ...], times: list[float], factors: list[float]
) -> tuple[tuple[Array, Array], Array, Array] | None:
    """Per distinct ``(x, T)`` (``key = (x, T, T)``): the discounted step sums of ``g`` and
    ``g(horizon)`` (as :class:`clvmodel.clv.HorizonSums`), and the forward differences of
    their logs in each fitted-scale parameter, ``(k, n_keys)`` each; ``None`` where a
    reference P(alive) is not positive."""

    point = key_step_sums(model, key, times, factors)
    if point is None:
        return None
    k_disc, k_last = [], []
    with np.errstate(divide="ignore", invalid="ignore"):
        for _, moved in steps([model]):
            out = key_step_sums(with_params(model, moved), key, times, factors)
            if out is None:
                return None
            k_disc.append((out[0] - point[0]) / (DELTA_STEP * point[0]))
            k_last.append((out[1] - point[1]) / (DELTA_STEP * point[1]))
    # An edge value (0 expected purchases) has no spread: its derivatives count as 0.
    k_disc_, k_last_ = (
        np.nan_to_num(np.array(k), nan=0.0, posinf=0.0, neginf=0.0) for k in (k_disc, k_last)
    )
    return point, k_disc_, k_last_


def factorised_delta(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel | None,
    arrays: tuple[Array, ...],
    monetary: Array | None,
    *,
    horizon: float,
    per_unit_rate: float,
    step: float,
    margin: float,
    z: float,
    chunk: int,
) -> tuple[Array, list[str], dict[str, dict[str, float]]] | None:
    """Delta intervals of every customer's predictions and of the totals, or ``None`` where
    the model does not have the structure (see the module docstring; the caller then uses
    :func:`numeric_jacobians`).

    Returns the columns of :func:`clvmodel.intervals.prediction_intervals` as the rows of
    one array (point values, then ``_lower``/``_upper`` of each, per customer), their
    names, and the totals. The point values are those of :func:`clvmodel.score` (the same
    step sums of ``g`` per distinct ``(x, T)``, times each customer's P(alive)). Customers
    are processed ``chunk`` at a time.
    """
    grad_fn = type(purchase_model)._log_death_odds_gradient_fn
    if (
        grad_fn is None
        or not purchase_model._alive_factorises
        or len(arrays) != 3
        or len(purchase_model.result_.params) != len(type(purchase_model).param_names)
        or not len(arrays[0])
    ):
        return None
    x, tx, T = arrays
    grouped = group_rows((x, T))
    if grouped is None:
        return None
    group, first = grouped
    key = (x[first], T[first], T[first])
    if spend_model is None:  # only E[X(horizon)] is needed
        times, factors = [float(horizon)], [1.0]
    else:
        times, factors = horizon_steps(horizon, step, per_unit_rate)

    sums = _key_sums(purchase_model, key, times, factors)
    if sums is None:
        return None
    point, K_disc, K_last = sums
    theta_p = purchase_model._params()
    A_p, cov_p, scale_p = _linear_map(purchase_model)
    root_p = _root(cov_p)
    W_disc, W_last = root_p.T @ K_disc, root_p.T @ K_last
    covs = [cov_p]
    names = QUANTITIES if spend_model is not None else QUANTITIES[:2]
    if spend_model is not None:
        assert monetary is not None
        theta_s = spend_model._params()
        A_s, cov_s, scale_s = _linear_map(spend_model)
        covs.append(cov_s)
    k_p = len(theta_p)
    jac = {n: np.zeros(sum(len(c) for c in covs)) for n in names}
    n_rows, nq = len(x), len(names)
    table = np.empty((3 * nq, n_rows))  # values, then (lower, upper) of each

    def put_log(i: int, sl: slice, value: Array, var: Array) -> None:
        """The bounds ``value e^(∓ z sd)`` of quantity ``i`` (log scale)."""
        e = np.exp(z * np.sqrt(var))
        np.divide(value, e, out=table[nq + 2 * i, sl])
        np.multiply(value, e, out=table[nq + 2 * i + 1, sl])

    for start in range(0, n_rows, chunk):
        sl = slice(start, min(start + chunk, n_rows))
        xs, g = x[sl], group[sl]
        odds, grad = grad_fn(theta_p, xs, tx[sl], T[sl])  # ∂ logit P(alive) = -grad
        alive = expit(-odds, out=table[0, sl])  # = the model's P(alive)
        dead = 1.0 - alive
        u = A_p @ grad  # -Rᵀ ∂ logit P(alive) / ∂x
        shift = z * np.sqrt(_squares(u))
        with np.errstate(over="ignore"):
            expit(-odds - shift, out=table[nq, sl])
            expit(shift - odds, out=table[nq + 1, sl])
        jac["p_alive"][:k_p] -= scale_p * (grad @ (alive * dead))
        u *= dead  # -Rᵀ ∂ log P(alive) / ∂x
        last = np.multiply(np.take(point[1], g), alive, out=table[1, sl])
        w = np.take(W_last, g, axis=1)
        w -= u
        put_log(1, sl, last, _squares(w))
        jac["expected_purchases"][:k_p] += K_last @ np.bincount(
            g, last, minlength=len(first)
        ) - scale_p * (grad @ (dead * last))
        if spend_model is None:
            continue
        spend, s_grad = expected_spend_and_log_gradient(theta_s, xs, monetary[sl])
        table[2, sl] = spend
        clv = np.multiply(margin * spend, np.take(point[0], g) * alive, out=table[3, sl])
        var_s = _squares(A_s @ s_grad)
        put_log(2, sl, spend, var_s)
        w = np.take(W_disc, g, axis=1)
        w -= u
        put_log(3, sl, clv, _squares(w) + var_s)
        jac["expected_spend"][k_p:] += scale_s * (s_grad @ spend)
        jac["clv"][:k_p] += K_disc @ np.bincount(g, clv, minlength=len(first)) - scale_p * (
            grad @ (dead * clv)
        )
        jac["clv"][k_p:] += scale_s * (s_grad @ clv)
    cov = block_diag(*covs)
    labels = [*names, *(f"{n}_{b}" for n in names for b in ("lower", "upper"))]
    totals = {
        n: total_summary(float(np.sum(table[i])), jac[n], cov, z) for i, n in enumerate(names)
    }
    return table, labels, totals
