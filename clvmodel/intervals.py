"""Intervals on predictions and CLV: parametric draws from the estimates' covariance, or
the bootstrap.

Parametric (the default): parameter vectors are drawn from the normal approximation of the
maximum-likelihood estimates on the scale they were fitted on (logs of the positive
parameters, covariate coefficients as they are), where that approximation is best; every
prediction is recomputed for each draw on the distinct data rows only and scattered back;
the interval at ``level`` is the central quantile range of the draws. Bootstrap: customers
are resampled with replacement (multinomial weights), both models refitted, and the refits
used as the draws. The purchase and spend models are drawn independently (they are fitted
separately), or from the same resample for the bootstrap.

Delta (``method="delta"``, the fast one): the same normal approximation, with each
prediction linearised in the fitted-scale parameters (forward differences, one evaluation
per parameter) on the scale where it is closest to normal (logit for P(alive), log for the
positive quantities): ``g(pred) ± z sqrt(J Σ Jᵀ)``. It is the limit of the parametric draws
when the covariance is small, and costs ``1 + k`` evaluations instead of ``1 + n_draws``.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.linalg import block_diag
from scipy.special import expit, logit, ndtri

from .clv import _purchase_sums, _unit_of
from .distinct import group_rows
from .exceptions import InputError
from .models.base import BaseModel, PurchaseModel
from .models.gamma_gamma import GammaGammaModel, expected_spend
from .models.optimize import natural
from .units import rate_per_unit

Array = NDArray[np.float64]
QUANTITIES = ("p_alive", "expected_purchases", "expected_spend", "clv")


def parameter_draws(model: BaseModel, n_draws: int, seed: int | np.random.Generator = 0) -> Array:
    """``n_draws`` parameter vectors (natural scale) from ``N(estimate, covariance)`` on the
    fitted scale, shape ``(n_draws, k)``."""
    model._check_fitted()
    result = model.result_
    x, cov = result.fitted_scale()
    if not np.all(np.isfinite(cov)):
        raise InputError(
            f"The {result.model} fit has no covariance matrix (its Hessian was not negative "
            f"definite): parametric intervals need one. Use method='bootstrap'."
        )
    rng = np.random.default_rng(seed)
    w, v = np.linalg.eigh(0.5 * (cov + cov.T))
    root = v * np.sqrt(np.clip(w, 0.0, None))
    draws = x + rng.standard_normal((n_draws, len(x))) @ root.T
    return natural(draws, result.is_log_scale)


def _with_params(model: BaseModel, params: Array) -> Any:
    out = copy.copy(model)
    out.result_ = dataclasses.replace(model.result_, params=np.asarray(params, dtype=np.float64))
    return out


def _clone(model: BaseModel) -> BaseModel:
    """An unfitted model with the same settings (covariates, penalties)."""
    return type(model)._from_settings(model.to_dict())


def _bootstrap_draws(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel | None,
    data: pd.DataFrame,
    n_draws: int,
    rng: np.random.Generator,
) -> tuple[Array, Array | None]:
    n = len(data)
    p_draws, s_draws = [], []
    for _ in range(n_draws):
        counts = rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)
        p_draws.append(_clone(purchase_model).fit(data, weights=counts).result_.params)
        if spend_model is not None:
            s_draws.append(_clone(spend_model).fit(data, weights=counts).result_.params)
    return np.array(p_draws), (np.array(s_draws) if spend_model is not None else None)


def _distinct(columns: Sequence[Array]) -> tuple[tuple[Array, ...], NDArray[np.intp]]:
    """Distinct rows of ``columns`` and, per row, the index of its distinct row
    (:func:`clvmodel.distinct.group_rows`; a sort where its hashed key could overflow)."""
    cols = tuple(np.asarray(c, dtype=np.float64) for c in columns)
    grouped = group_rows(cols)
    if grouped is None:
        uniq, inverse = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)
        return tuple(uniq.T), inverse.ravel().astype(np.intp)
    group, first = grouped
    return tuple(c[first] for c in cols), group


def _distinct_by_purchase(
    columns: Sequence[Array], k: int
) -> tuple[tuple[Array, ...], NDArray[np.intp], Any]:
    """Distinct rows of ``columns`` ordered by their first ``k`` (the purchase model's)
    columns, each customer's row, and ``groups(sl)``: for a slice of rows, the first row of
    each distinct purchase row in it and each row's index among those."""
    rows, inverse = _distinct(columns)
    if len(columns) > k:
        _, purchase = _distinct(rows[:k])
        order = np.argsort(purchase, kind="stable")
        where = np.empty_like(order)
        where[order] = np.arange(len(order))
        rows, inverse, purchase = tuple(r[order] for r in rows), where[inverse], purchase[order]
    else:
        purchase = np.arange(len(rows[0]))

    def groups(sl: slice) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        p = purchase[sl]  # sorted: a new group starts where the value changes
        new = np.r_[True, p[1:] != p[:-1]]
        return np.flatnonzero(new), np.cumsum(new) - 1

    return rows, inverse, groups


def prediction_intervals(
    purchase_model: PurchaseModel,
    data: pd.DataFrame,
    *,
    horizon: float,
    spend_model: GammaGammaModel | None = None,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    step: float = 1.0,
    level: float = 0.90,
    n_draws: int = 200,
    method: str = "parametric",
    fit_data: pd.DataFrame | None = None,
    seed: int = 0,
    chunk_rows: int = 20_000,
) -> pd.DataFrame:
    """Point predictions with lower and upper bounds, one row per customer.

    Columns ``p_alive``, ``expected_purchases`` (next ``horizon`` units, undiscounted) and,
    with a spend model, ``expected_spend`` and ``clv`` (as :func:`clvmodel.score`), each with
    ``<name>_lower`` and ``<name>_upper``: the ``(1-level)/2`` and ``(1+level)/2`` quantiles
    over the draws. ``attrs["totals"]`` holds the same for the sum over customers (the total
    predicted value of the base).

    Parameters
    ----------
    level : float
        Coverage of the interval, in (0, 1).
    n_draws : int
        Parameter draws (parametric) or refits (bootstrap).
    method : {"parametric", "delta", "bootstrap"}
        See the module docstring.
    fit_data : DataFrame, optional
        For the bootstrap: the data the models were fitted on (default ``data``).
    chunk_rows : int
        Distinct rows evaluated at once per draw (25 times as many for the delta method):
        memory is about ``n_draws x chunk_rows`` floats per quantity.
    """
    if not 0 < level < 1:
        raise InputError(f"The 'level' parameter must be in (0, 1). Got {level!r} instead.")
    if int(n_draws) < 2:
        raise InputError(f"The 'n_draws' parameter must be >= 2. Got {n_draws!r} instead.")
    if method not in ("parametric", "delta", "bootstrap"):
        raise InputError(
            f"The 'method' parameter must be 'parametric', 'delta' or 'bootstrap'. "
            f"Got {method!r} instead."
        )
    unit = _unit_of(purchase_model, data)
    d = rate_per_unit(discount_rate, unit) if discount_rate != 0 else 0.0
    rng = np.random.default_rng(seed)
    fitted = [m for m in (purchase_model, spend_model) if m is not None]
    cov = block_diag(*(m.result_.fitted_scale()[1] for m in fitted))
    p_draws: Array | None = None
    s_draws: Array | None = None
    if method == "delta":
        if not np.all(np.isfinite(cov)):
            raise InputError(
                "A fit has no covariance matrix (its Hessian was not negative definite): "
                "delta intervals need one. Use method='bootstrap'."
            )
    elif method == "parametric":
        p_draws = parameter_draws(purchase_model, n_draws, rng)
        s_draws = parameter_draws(spend_model, n_draws, rng) if spend_model else None
    else:
        source = data if fit_data is None else fit_data
        p_draws, s_draws = _bootstrap_draws(purchase_model, spend_model, source, n_draws, rng)
    if s_draws is not None and np.any(s_draws[:, 1] <= 1):
        raise InputError(
            f"{int(np.sum(s_draws[:, 1] <= 1))} of {n_draws} Gamma-Gamma draws have q <= 1, "
            f"where the mean spend is infinite: the spend interval is not defined."
        )

    arrays, labels = purchase_model._arrays(data)
    k = len(arrays)
    columns = list(arrays)
    if spend_model is not None:
        (_, m), _ = spend_model._arrays(data)
        columns.append(m)
    rows, inverse, groups = _distinct_by_purchase(columns, k)
    count = np.bincount(inverse, minlength=len(rows[0])).astype(np.float64)
    names = QUANTITIES if spend_model is not None else QUANTITIES[:2]

    def predict(
        pm: PurchaseModel, sp: Array | None, sl: slice, reuse: dict[str, Array] | None = None
    ) -> dict[str, Array]:
        """Predictions on distinct rows ``sl``; with ``reuse``, only the spend is new.

        The purchase predictions are computed once per distinct purchase row of the chunk
        (rows differing only in the mean spend share them) and gathered."""
        first, local = groups(sl)
        a = tuple(r[sl][first] for r in rows[:k])
        if reuse is not None:
            out = {n: reuse[n] for n in ("p_alive", "expected_purchases", "_discounted")}
        elif sp is not None:  # the step sums end with the expected purchases at the horizon
            dp, last = _purchase_sums(pm, a, horizon=horizon, per_unit_rate=d, step=step)
            out = {
                "p_alive": pm._p_alive(a)[local],
                "expected_purchases": last[local],
                "_discounted": dp[local],
            }
        else:
            out = {
                "p_alive": pm._p_alive(a)[local],
                "expected_purchases": pm._expected_purchases(a, horizon)[local],
            }
        if sp is not None:
            spend = expected_spend(sp, rows[0][sl], rows[k][sl])
            out.update(expected_spend=spend, clv=margin * spend * out["_discounted"])
        return out

    q = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
    z = float(ndtri(q[1]))
    n_rows = len(rows[0])
    result = {n: np.empty(n_rows) for n in names}
    result.update({f"{n}_{b}": np.empty(n_rows) for n in names for b in ("lower", "upper")})
    totals = {n: np.zeros(n_draws) for n in names}
    point_total = dict.fromkeys(names, 0.0)
    point_spend = spend_model._params() if spend_model is not None else None
    jac_total: dict[str, Array] = {}
    # Delta keeps k rows per distinct row, the draws n_draws: its chunks can be larger,
    # and fewer, larger model evaluations cost less than many small ones.
    chunk = chunk_rows if method != "delta" else 25 * chunk_rows
    for start in range(0, n_rows, chunk):
        sl = slice(start, min(start + chunk, n_rows))
        point = predict(purchase_model, point_spend, sl)
        for n in names:
            result[n][sl] = point[n]
            point_total[n] += float(point[n] @ count[sl])
        if method == "delta":
            jac = _jacobians(purchase_model, spend_model, predict, point, sl)
            for n in names:
                sd = _delta_sd(jac[n], cov, point[n], n)
                lo, hi = _bounds(point[n], sd, z, n)
                result[f"{n}_lower"][sl], result[f"{n}_upper"][sl] = lo, hi
                jac_total[n] = jac_total.get(n, 0.0) + jac[n] @ count[sl]
            continue
        per_draw = {n: np.empty((n_draws, sl.stop - sl.start)) for n in names}
        assert p_draws is not None
        for i in range(n_draws):
            pm = _with_params(purchase_model, p_draws[i])
            out = predict(pm, None if s_draws is None else s_draws[i], sl)
            for n in names:
                per_draw[n][i] = out[n]
        for n in names:
            lo, hi = np.quantile(per_draw[n], q, axis=0)
            result[f"{n}_lower"][sl], result[f"{n}_upper"][sl] = lo, hi
            totals[n] += per_draw[n] @ count[sl]
    table = np.stack(list(result.values()), axis=1)  # distinct rows: finite check there
    bad = ~np.isfinite(table).all(axis=1)[inverse]
    frame = pd.DataFrame(table[inverse], index=labels, columns=list(result), copy=False)
    if bad.any():
        raise InputError(
            f"Intervals are not finite for {int(bad.sum()):,} of {len(frame):,} customers: the "
            f"parameter draws reach a region where the model's predictions overflow."
        )
    summary = {}
    for n in names:
        if method == "delta":
            tot = np.array([point_total[n]])
            sd = _delta_sd(np.asarray(jac_total[n])[:, None], cov, tot, "total")
            lo, hi = (float(v[0]) for v in _bounds(tot, sd, z, "total"))
        else:
            lo, hi = (float(v) for v in np.quantile(totals[n], q))
        summary[n] = {"estimate": point_total[n], "lower": lo, "upper": hi}
    frame.attrs["totals"] = summary
    frame.attrs.update(level=level, n_draws=int(n_draws), method=method)
    return frame


#: Forward-difference step on the fitted scale (logs of positive parameters).
DELTA_STEP = 1e-6


def _jacobians(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel | None,
    predict: Any,
    point: dict[str, Array],
    sl: slice,
) -> dict[str, Array]:
    """d prediction / d fitted-scale parameter, purchase parameters first, ``(k, rows)``."""
    models: list[BaseModel] = [purchase_model] + ([spend_model] if spend_model else [])
    rows = []
    for which, m in enumerate(models):
        x, _ = m.result_.fitted_scale()
        mask = m.result_.is_log_scale
        for j in range(len(x)):
            xj = x.copy()
            xj[j] += DELTA_STEP
            moved = natural(xj, mask)
            if which == 0:
                out = predict(_with_params(purchase_model, moved), point_spend_of(spend_model), sl)
            else:  # the purchase predictions do not move
                out = predict(purchase_model, moved, sl, reuse=point)
            rows.append({n: (out[n] - point[n]) / DELTA_STEP for n in point})
    return {n: np.stack([r[n] for r in rows]) for n in point if not n.startswith("_")}


def point_spend_of(spend_model: GammaGammaModel | None) -> Array | None:
    """The spend model's estimates, or None."""
    return None if spend_model is None else spend_model._params()


def _delta_sd(jac: Array, cov: Array, value: Array, name: str) -> Array:
    """Standard deviation of ``g(prediction)``, ``g`` logit for P(alive), log otherwise."""
    var = np.einsum("ir,ij,jr->r", jac, cov, jac)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = value * (1.0 - value) if name == "p_alive" else value
        sd = np.sqrt(np.clip(var, 0.0, None)) / scale
    return np.where(np.isfinite(sd), sd, 0.0)


def _bounds(value: Array, sd: Array, z: float, name: str) -> tuple[Array, Array]:
    """``g^-1(g(value) ± z sd)``; a value at the edge (P(alive) = 1, 0 purchases) stays."""
    with np.errstate(divide="ignore"):
        if name == "p_alive":
            g = logit(value)
            return expit(g - z * sd), expit(g + z * sd)
        g = np.log(value)
        return np.exp(g - z * sd), np.exp(g + z * sd)


def total_intervals(
    purchase_model: PurchaseModel,
    rows: Sequence[Array],
    count: Array,
    *,
    horizon: float,
    spend_model: GammaGammaModel | None = None,
    spend_sum: Array | None = None,
    per_unit_rate: float = 0.0,
    margin: float = 1.0,
    step: float = 1.0,
    level: float = 0.90,
    method: str = "delta",
    n_draws: int = 200,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Intervals of the totals over customers from collapsed rows: expected active
    customers (Σ P(alive)), expected purchases and, with a spend model, CLV.

    ``rows`` are the distinct rows of the purchase model's columns, ``count`` the customers
    of each and ``spend_sum`` their ``Σ frequency × monetary_value``. Gamma-Gamma's
    expected spend, ``p(γ + x m̄)/(px + q - 1)`` (Fader & Hardie 2013, eq. 5), is linear in
    ``x m̄`` at a given ``x``, so a row's summed spend is ``p(nγ + Σ x m̄)/(px + q - 1)`` and
    the total CLV, ``margin Σ_g D_g S_g``, needs nothing per customer: the cost is that of a
    few predictions on the distinct rows, whatever the number of customers. Same numbers as
    ``prediction_intervals(...).attrs["totals"]`` (``method`` "delta" or "parametric").
    """
    if method not in ("delta", "parametric"):
        raise InputError(
            f"The 'method' parameter must be 'delta' or 'parametric'. Got {method!r} instead."
        )
    if not 0 < level < 1:
        raise InputError(f"The 'level' parameter must be in (0, 1). Got {level!r} instead.")
    a = tuple(np.asarray(r, dtype=np.float64) for r in rows)
    count = np.asarray(count, dtype=np.float64)
    x = a[0]
    if spend_model is not None:
        s = np.zeros_like(count) if spend_sum is None else np.asarray(spend_sum, np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            mbar = np.where(x > 0, s / (count * np.where(x > 0, x, 1.0)), 0.0)

    def purchase_part(pm: PurchaseModel) -> tuple[dict[str, float], Array | None]:
        """Totals of the purchase predictions and the discounted purchases per row."""
        out = {"p_alive": float(pm._p_alive(a) @ count)}
        if spend_model is None:
            out["expected_purchases"] = float(pm._expected_purchases(a, horizon) @ count)
            return out, None
        dp, last = _purchase_sums(pm, a, horizon=horizon, per_unit_rate=per_unit_rate, step=step)
        out["expected_purchases"] = float(last @ count)
        return out, dp

    def totals(
        pm: PurchaseModel,
        sp: Array | None,
        part: tuple[dict[str, float], Array | None] | None = None,
    ) -> dict[str, float]:
        out, dp = part if part is not None else purchase_part(pm)
        if sp is None or dp is None:
            return dict(out)
        return {**out, "clv": float(margin * dp @ (expected_spend(sp, x, mbar) * count))}

    point_spend = point_spend_of(spend_model)
    point_part = purchase_part(purchase_model)
    point = totals(purchase_model, point_spend, point_part)
    q = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
    if method == "parametric":
        rng = np.random.default_rng(seed)
        p_draws = parameter_draws(purchase_model, n_draws, rng)
        s_draws = parameter_draws(spend_model, n_draws, rng) if spend_model else None
        draws = [
            totals(
                _with_params(purchase_model, p_draws[i]), None if s_draws is None else s_draws[i]
            )
            for i in range(n_draws)
        ]
        summary = {}
        for n, value in point.items():
            lo, hi = (float(v) for v in np.quantile([d[n] for d in draws], q))
            summary[n] = {"estimate": value, "lower": lo, "upper": hi}
        return summary
    models: list[BaseModel] = [purchase_model] + ([spend_model] if spend_model else [])
    cov = block_diag(*(m.result_.fitted_scale()[1] for m in models))
    if not np.all(np.isfinite(cov)):
        raise InputError(
            "A fit has no covariance matrix (its Hessian was not negative definite): "
            "delta intervals need one."
        )
    jac: dict[str, list[float]] = {n: [] for n in point}
    for which, m in enumerate(models):
        xs, mask = m.result_.fitted_scale()[0], m.result_.is_log_scale
        for j in range(len(xs)):
            xj = xs.copy()
            xj[j] += DELTA_STEP
            moved = natural(xj, mask)
            if which == 0:
                out = totals(_with_params(purchase_model, moved), point_spend)
            else:  # only the spend moves: the purchase predictions are reused
                out = totals(purchase_model, moved, point_part)
            for n in point:
                jac[n].append((out[n] - point[n]) / DELTA_STEP)
    z = float(ndtri(q[1]))
    summary = {}
    for n, value in point.items():
        tot = np.array([value])
        sd = _delta_sd(np.asarray(jac[n])[:, None], cov, tot, "total")
        lo, hi = (float(v[0]) for v in _bounds(tot, sd, z, "total"))
        summary[n] = {"estimate": value, "lower": lo, "upper": hi}
    return summary
