"""Intervals of totals over customers from collapsed rows (see :func:`total_intervals`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import block_diag
from scipy.special import ndtri

from ..clv import _purchase_sums
from ..distinct import group_rows
from ..exceptions import InputError
from ..models.base import BaseModel, PurchaseModel
from ..models.gamma_gamma import GammaGammaModel, expected_spend
from .delta import (
    DELTA_STEP,
    horizon_steps,
    key_step_sums,
    point_spend_of,
    steps,
    total_summary,
    with_params,
)
from .predictions import parameter_draws

Array = NDArray[np.float64]

#: Rows evaluated at once: bounds the temporaries (this runs beside a pipeline's scoring)
#: and keeps them in the cache.
CHUNK_ROWS = 65_536


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
    Thread-safe: the models are read, never modified (draws and perturbations are copies).
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

    # Models whose E[X(t)] is P(alive) g(t; x, T): g once per distinct (x, T) for all chunks.
    factorises = purchase_model._alive_factorises and len(a) == 3 and len(x) > 0
    grouped = group_rows((x, a[2])) if factorises and spend_model is not None else None
    times, factors = horizon_steps(horizon, step, per_unit_rate)

    def purchase_part(pm: PurchaseModel) -> tuple[dict[str, float], Array | None]:
        """Totals of the purchase predictions and the discounted purchases per row, in
        chunks of :data:`CHUNK_ROWS` rows."""
        out = {"p_alive": 0.0, "expected_purchases": 0.0}
        keyed = None
        if grouped is not None:
            first = grouped[1]
            keyed = key_step_sums(pm, (x[first], a[2][first], a[2][first]), times, factors)
        discounted = []
        for start in range(0, len(count), CHUNK_ROWS):
            sl = slice(start, start + CHUNK_ROWS)
            chunk, c = tuple(r[sl] for r in a), count[sl]
            alive = pm._p_alive(chunk)
            if spend_model is None:
                last = pm._expected_purchases(chunk, horizon)
            elif keyed is not None:
                assert grouped is not None
                g = grouped[0][sl]
                dp, last = keyed[0][g] * alive, keyed[1][g] * alive
                discounted.append(dp)
            else:
                dp, last = _purchase_sums(
                    pm, chunk, horizon=horizon, per_unit_rate=per_unit_rate, step=step
                )
                discounted.append(dp)
            out["p_alive"] += float(alive @ c)
            out["expected_purchases"] += float(last @ c)
        return out, (np.concatenate(discounted) if spend_model is not None else None)

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
            totals(with_params(purchase_model, p_draws[i]), None if s_draws is None else s_draws[i])
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
    for which, moved in steps(models):
        if which == 0:
            out = totals(with_params(purchase_model, moved), point_spend)
        else:  # only the spend moves: the purchase predictions are reused
            out = totals(purchase_model, moved, point_part)
        for n in point:
            jac[n].append((out[n] - point[n]) / DELTA_STEP)
    z = float(ndtri(q[1]))
    return {n: total_summary(value, np.asarray(jac[n]), cov, z) for n, value in point.items()}
