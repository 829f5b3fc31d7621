"""Intervals of each customer's predictions: parametric draws, the bootstrap or the delta
method (see :mod:`clvmodel.intervals`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.linalg import block_diag
from scipy.special import ndtri

from ..clv import _purchase_sums, _unit_of
from ..distinct import group_rows
from ..exceptions import InputError
from ..models.base import BaseModel, PurchaseModel
from ..models.gamma_gamma import GammaGammaModel, expected_spend
from ..models.optimize import natural
from ..units import rate_per_unit
from .delta import (
    QUANTITIES,
    bounds,
    delta_sd,
    factorised_delta,
    numeric_jacobians,
    total_summary,
    with_params,
)

Array = NDArray[np.float64]


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
        Distinct rows evaluated at once per draw (25 times as many for the delta method by
        forward differences; customers for the closed-form one): memory is about
        ``n_draws x chunk_rows`` floats per quantity.
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
    q = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
    z = float(ndtri(q[1]))
    if method == "delta":
        fast = factorised_delta(
            purchase_model,
            spend_model,
            arrays,
            columns[k] if spend_model is not None else None,
            horizon=horizon,
            per_unit_rate=d,
            step=step,
            margin=margin,
            z=z,
            chunk=chunk_rows,  # small enough for the cache: about 2x faster than 200k
        )
        if fast is not None:
            table, names, summary = fast
            return _frame(
                table.T,
                np.isfinite(table).all(axis=0),
                labels,
                names,
                summary,
                level,
                n_draws,
                method,
            )
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
            jac = numeric_jacobians(purchase_model, spend_model, predict, point, sl)
            for n in names:
                sd = delta_sd(jac[n], cov, point[n], n)
                lo, hi = bounds(point[n], sd, z, n)
                result[f"{n}_lower"][sl], result[f"{n}_upper"][sl] = lo, hi
                jac_total[n] = jac_total.get(n, 0.0) + jac[n] @ count[sl]
            continue
        per_draw = {n: np.empty((n_draws, sl.stop - sl.start)) for n in names}
        assert p_draws is not None
        for i in range(n_draws):
            pm = with_params(purchase_model, p_draws[i])
            out = predict(pm, None if s_draws is None else s_draws[i], sl)
            for n in names:
                per_draw[n][i] = out[n]
        for n in names:
            lo, hi = np.quantile(per_draw[n], q, axis=0)
            result[f"{n}_lower"][sl], result[f"{n}_upper"][sl] = lo, hi
            totals[n] += per_draw[n] @ count[sl]
    table = np.stack(list(result.values()), axis=1)  # distinct rows: finite check there
    summary = {}
    for n in names:
        if method == "delta":
            summary[n] = total_summary(point_total[n], jac_total[n], cov, z)
        else:
            lo, hi = (float(v) for v in np.quantile(totals[n], q))
            summary[n] = {"estimate": point_total[n], "lower": lo, "upper": hi}
    finite = np.isfinite(table).all(axis=1)[inverse]
    return _frame(table[inverse], finite, labels, list(result), summary, level, n_draws, method)


def _frame(
    table: Array,
    finite: NDArray[np.bool_],
    labels: pd.Index,
    columns: list[str],
    summary: dict[str, dict[str, float]],
    level: float,
    n_draws: int,
    method: str,
) -> pd.DataFrame:
    """The result frame (one row per customer), refused where a value is not finite."""
    if not finite.all():
        raise InputError(
            f"Intervals are not finite for {int((~finite).sum()):,} of {len(finite):,} "
            f"customers: the parameter draws reach a region where the model's predictions "
            f"overflow."
        )
    frame = pd.DataFrame(table, index=labels, columns=columns, copy=False)
    frame.attrs["totals"] = summary
    frame.attrs.update(level=level, n_draws=int(n_draws), method=method)
    return frame
