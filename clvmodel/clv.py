"""Discounted customer lifetime value from a purchase model and a spend model.

Units are explicit: the horizon and step are in the purchase model's time unit, the discount
rate is per year and converted with :func:`clvmodel.units.rate_per_unit`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .exceptions import InputError
from .horizon import _grid, _number
from .models.base import PurchaseModel
from .models.gamma_gamma import GammaGammaModel, expected_spend
from .units import check_unit, rate_per_unit


def _check_models(purchase_model: object, spend_model: object | None) -> None:
    from .models.base import PurchaseModel

    if not isinstance(purchase_model, PurchaseModel):
        raise InputError(
            f"The 'purchase_model' parameter must be a purchase model (BetaGeoModel, ...). "
            f"Got {type(purchase_model).__name__} instead."
        )
    if spend_model is not None and not isinstance(spend_model, GammaGammaModel):
        raise InputError(
            f"The 'spend_model' parameter must be a spend model (GammaGammaModel). "
            f"Got {type(spend_model).__name__} instead."
        )


def _unit_of(purchase_model: PurchaseModel, data: pd.DataFrame) -> str | None:
    model_unit = purchase_model.time_unit_
    data_unit = data.attrs.get("time_unit")
    if model_unit and data_unit and check_unit(data_unit) != model_unit:
        raise InputError(
            f"The data is in unit {data_unit!r} but the model was fitted in {model_unit!r}: "
            f"summarise the data with freq={model_unit!r}."
        )
    return model_unit or (check_unit(data_unit) if data_unit else None)


def _discount_rate(purchase_model: PurchaseModel, data: pd.DataFrame, rate: float) -> float:
    """The annual ``rate`` converted to the model's unit (0 stays 0 without a unit)."""
    unit = _unit_of(purchase_model, data)
    if rate != 0 and unit is None:
        raise InputError(
            "A discount rate needs a time unit: fit the model on a summary with a time unit "
            "or pass time_unit= to fit."
        )
    return rate_per_unit(rate, unit) if rate != 0 else 0.0


def _purchase_sums(
    purchase_model: PurchaseModel,
    arrays: tuple[NDArray[np.float64], ...],
    *,
    horizon: float,
    per_unit_rate: float,
    step: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Discounted expected purchases over the steps, and the undiscounted total."""
    grid = _grid(horizon, step)
    factors = (1.0 + per_unit_rate) ** (-grid)
    return purchase_model._horizon_sums(arrays, grid, factors)


class HorizonSums:
    """``PurchaseModel._horizon_sums`` over many batches of one scoring job, each distinct
    ``(x, T)`` evaluated once for the whole job instead of once per batch.

    For a model whose live-customer expectation factorises (``_alive_factorises``: BG/NBD,
    MBG/NBD, Pareto/NBD), the step sums of ``g(t; x, T)`` are a function of ``(x, T)``
    alone (see ``_horizon_sums``); batches of one log share nearly all their ``(x, T)``
    pairs, so the sums are remembered by pair and each batch only evaluates the pairs it
    is the first to meet. Other models (and a batch whose reference P(alive) is not
    positive) go through ``_horizon_sums`` unchanged.

    Calling it returns ``(discounted, total, p_alive)``; ``p_alive`` is ``None`` when the
    batch went through ``_horizon_sums``.
    """

    def __init__(
        self, purchase_model: PurchaseModel, *, horizon: float, per_unit_rate: float, step: float
    ) -> None:
        self.model = purchase_model
        self.times = [float(t) for t in _grid(horizon, step)]
        self.factors = [float(f) for f in (1.0 + per_unit_rate) ** (-np.asarray(self.times))]
        self._index: dict[tuple[float, float], int] = {}
        self._total = np.empty(0)
        self._last = np.empty(0)

    def _plain(
        self, arrays: tuple[NDArray[np.float64], ...]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], None]:
        total, last = self.model._horizon_sums(arrays, self.times, self.factors)
        return total, last, None

    def __call__(
        self, arrays: tuple[NDArray[np.float64], ...]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]:
        from .distinct import group_rows

        model = self.model
        if not (model._alive_factorises and len(arrays) == 3 and len(arrays[0])):
            return self._plain(arrays)
        x, _, T = arrays
        grouped = group_rows((x, T))
        if grouped is None:
            return self._plain(arrays)
        group, first = grouped
        kx, kT = x[first], T[first]
        index = self._index
        slot = np.fromiter(
            (index.get(k, -1) for k in zip(kx.tolist(), kT.tolist(), strict=True)),
            dtype=np.intp,
            count=len(first),
        )
        new = np.flatnonzero(slot < 0)
        if new.size:
            key = (kx[new], kT[new], kT[new])
            ref_alive = model._p_alive(key)
            if not (np.all(np.isfinite(ref_alive)) and np.all(ref_alive > 0)):
                return self._plain(arrays)
            total, last = model._step_sums(key, self.times, self.factors, scale=1.0 / ref_alive)
            start = len(self._total)
            slot[new] = np.arange(start, start + new.size)
            index.update(
                zip(
                    zip(kx[new].tolist(), kT[new].tolist(), strict=True),
                    slot[new].tolist(),
                    strict=True,
                )
            )
            self._total = np.concatenate([self._total, total])
            self._last = np.concatenate([self._last, last])
        alive = model._p_alive(arrays)
        rows = slot[group]
        return self._total[rows] * alive, self._last[rows] * alive, alive


def discounted_purchases(
    purchase_model: PurchaseModel,
    data: pd.DataFrame,
    *,
    horizon: float,
    discount_rate: float = 0.0,
    step: float = 1.0,
) -> pd.Series:
    """Expected repeat purchases over ``(T, T + horizon]``, each step discounted.

    ``Σ_k (E[X(t_k)] - E[X(t_{k-1})]) / (1 + d)^{t_k}`` with ``t_k = k * step`` (the last
    step ending at ``horizon``) and ``d`` the annual ``discount_rate`` converted to the
    model's unit. Purchases in a step are discounted from its end. The predictions are
    evaluated once per distinct customer row (see ``PurchaseModel._horizon_sums``).
    """
    purchase_model._check_fitted()
    d = _discount_rate(purchase_model, data, discount_rate)
    arrays, labels = purchase_model._arrays(data)
    total, _ = _purchase_sums(purchase_model, arrays, horizon=horizon, per_unit_rate=d, step=step)
    return pd.Series(total, index=labels, name="discounted_purchases")


def customer_lifetime_value(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel,
    data: pd.DataFrame,
    *,
    horizon: float,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    step: float = 1.0,
) -> pd.Series:
    """Discounted CLV of each customer over the next ``horizon`` time units.

    ::

        CLV_i = margin * E[M_i] * Σ_{k=1..K} (E[X_i(t_k)] - E[X_i(t_{k-1})]) / (1 + d)^{t_k}

    where ``t_k = min(k * step, horizon)``, ``E[X_i(t)]`` is the purchase model's expected
    repeat purchases in the next ``t`` units, ``E[M_i]`` the spend model's expected spend per
    purchase, and ``d = (1 + discount_rate)^(unit / year) - 1`` the annual rate converted to
    the model's time unit (a year is 365.25 days; no 30-day months).

    Parameters
    ----------
    purchase_model : PurchaseModel
        Fitted purchase model (BG/NBD, ...); fixes the time unit.
    spend_model : GammaGammaModel
        Fitted spend model.
    data : DataFrame
        Summary with the purchase model's columns and ``monetary_value``.
    horizon : float
        How far ahead, in the purchase model's time unit.
    discount_rate : float
        Annual discount rate (0.1 = 10 % a year).
    margin : float
        Profit margin applied to spend (1 = revenue).
    step : float
        Discounting step, in the model's time unit.

    Returns
    -------
    Series
        CLV by customer id, named ``clv``.
    """
    _check_models(purchase_model, spend_model)
    margin = _number("margin", margin)
    _grid(horizon, step)
    purchases = discounted_purchases(
        purchase_model, data, horizon=horizon, discount_rate=discount_rate, step=step
    )
    spend = spend_model.expected_spend(data)
    return (margin * spend * purchases).rename("clv")


def score(
    purchase_model: PurchaseModel,
    data: pd.DataFrame,
    *,
    horizon: float,
    spend_model: GammaGammaModel | None = None,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    step: float = 1.0,
) -> pd.DataFrame:
    """One row per customer: the summary columns, P(alive), expected purchases and CLV.

    Columns: ``customer_id``, the purchase model's columns, ``p_alive``,
    ``expected_purchases`` (undiscounted, next ``horizon`` units) and, with a spend model,
    ``expected_spend`` and ``clv`` (see :func:`customer_lifetime_value`). ``data`` is not
    modified.
    """
    _check_models(purchase_model, spend_model)
    _grid(horizon, step)
    purchase_model._check_fitted()
    d = _discount_rate(purchase_model, data, discount_rate)
    arrays, labels = purchase_model._arrays(data)
    monetary = spend_model._arrays(data)[0][1] if spend_model is not None else None
    columns = score_arrays(
        purchase_model,
        arrays,
        horizon=float(horizon),
        per_unit_rate=d,
        step=step,
        spend_model=spend_model,
        monetary_value=monetary,
        margin=margin,
    )
    out = pd.DataFrame(columns, index=labels)
    out.index.name = "customer_id"
    return out.reset_index()


def score_arrays(
    purchase_model: PurchaseModel,
    arrays: tuple[NDArray[np.float64], ...],
    *,
    horizon: float,
    per_unit_rate: float,
    step: float = 1.0,
    spend_model: GammaGammaModel | None = None,
    monetary_value: NDArray[np.float64] | None = None,
    margin: float = 1.0,
    sums: HorizonSums | None = None,
) -> dict[str, NDArray[Any]]:
    """The columns of :func:`score` from validated arrays (the purchase model's columns in
    order, and the mean spend); ``per_unit_rate`` is the discount rate per time unit.

    The array-level core that :func:`score` and the streaming pipeline share: pure numpy,
    one call per batch of customers. ``sums`` (a :class:`HorizonSums` of the same model,
    horizon, rate and step) carries the step sums over from earlier batches.
    """
    if not np.isfinite(margin):
        raise InputError(f"The 'margin' parameter must be a finite number. Got {margin!r}.")
    out: dict[str, NDArray[Any]] = dict(zip(purchase_model.columns, arrays, strict=True))
    if "frequency" in out:
        out["frequency"] = out["frequency"].astype(np.int64)
    if sums is None:
        sums = HorizonSums(purchase_model, horizon=horizon, per_unit_rate=per_unit_rate, step=step)
    discounted, total, alive = sums(arrays)
    out["p_alive"] = alive if alive is not None else purchase_model._p_alive(arrays)
    out["expected_purchases"] = total
    if spend_model is not None:
        if monetary_value is None:
            raise InputError("Scoring with a spend model needs the monetary values.")
        spend = expected_spend(spend_model._params(), arrays[0], monetary_value)
        out["expected_spend"] = spend
        out["clv"] = margin * spend * discounted
    return out


def expected_buyers(
    model: PurchaseModel, data: Any, *, t: float, weights: Any = None
) -> float | None:
    """Expected number of customers with at least one purchase in the next ``t`` time units:
    ``Σ_i w_i (1 - P(X(T_i, T_i + t) = 0 | history_i))``.

    ``data`` is a summary or a dict of the model's columns; ``weights`` (customers per row,
    for collapsed rows) default to one per row. ``None`` where the model has no
    conditional distribution of purchases (see ``PurchaseModel.probability_of_purchases``).
    """
    if not hasattr(type(model), "_conditional_probability_fn"):
        return None
    try:
        none = np.asarray(model.probability_of_purchases(data, t=t, n=0), dtype=np.float64)
    except InputError:
        return None
    if weights is None:
        return float(len(none) - np.sum(none))
    w = np.asarray(weights, dtype=np.float64)
    return float(np.sum(w) - np.dot(w, none))
