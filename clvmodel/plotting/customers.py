"""One customer at a time: P(alive) history and decay since the last purchase."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ..exceptions import InputError
from .style import (
    ACCENT,
    ACTUAL,
    MODEL,
    MUTED,
    _axes,
    _model_columns,
    _require_rfm,
    _style,
    model_label,
    unit_name,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..models.base import PurchaseModel

Array = NDArray[np.float64]


# ------------------------------------------------------------- 7. P(alive) history
def p_alive_path(
    model: PurchaseModel, purchase_times: ArrayLike, T: float, *, n_points: int = 400
) -> tuple[Array, Array]:
    """P(alive) of one customer at each time ``t`` in ``(0, T]``, from ``(x(t), t_x(t), t)``.

    ``purchase_times`` are in the model's unit since the customer's first purchase (which is
    at 0 and may be included or left out); ``x(t)`` counts repeat purchases by ``t`` and
    ``t_x(t)`` is the last of them (0 if none). The grid includes each purchase time and an
    instant before it, so the jumps are drawn sharp.
    """
    _require_rfm(model, "P(alive) history")
    times = np.sort(np.asarray(purchase_times, dtype=np.float64).ravel())
    if not T > 0:
        raise InputError(f"The 'T' parameter must be > 0. Got {T!r} instead.")
    if np.any(times < 0) or np.any(times > T):
        raise InputError(
            f"The 'purchase_times' must lie in [0, T={T:.4g}]. Got {times.min():.4g} to "
            f"{times.max():.4g} instead."
        )
    repeat = times[times > 0]
    eps = T * 1e-6
    grid = np.unique(
        np.concatenate(
            [np.linspace(T / n_points, T, n_points), repeat, np.maximum(repeat - eps, eps)]
        )
    )
    x = np.searchsorted(repeat, grid, side="right").astype(np.float64)
    tx = np.where(x > 0, repeat[np.maximum(x.astype(np.intp) - 1, 0)] if len(repeat) else 0.0, 0.0)
    frame = pd.DataFrame({"frequency": x, "recency": tx, "T": grid})
    arrays, _ = model._arrays(frame)
    return grid, np.asarray(model._p_alive(arrays), dtype=np.float64)


def plot_p_alive_history(
    model: PurchaseModel,
    purchase_times: ArrayLike,
    T: float,
    *,
    customer: str | None = None,
    n_points: int = 400,
    ax: Axes | None = None,
) -> Axes:
    """One customer's P(alive) from their first purchase to ``T``, purchases marked.

    See :func:`p_alive_path` for how the curve is evaluated.
    """
    grid, p = p_alive_path(model, purchase_times, T, n_points=n_points)
    times = np.sort(np.asarray(purchase_times, dtype=np.float64).ravel())
    ax = _axes(ax, figsize=(8.0, 4.0))
    ax.plot(grid, p, color=ACTUAL, linewidth=1.8, label="P(alive)")
    repeat = times[times > 0]
    if len(repeat):
        ax.vlines(repeat, 0, 1.0, color=MODEL, linewidth=1.0, alpha=0.7)
    ax.plot(
        np.concatenate([[0.0], repeat]),
        np.full(len(repeat) + 1, 1.02),
        "v",
        color=MODEL,
        markersize=6,
        clip_on=False,
        label="Purchase",
    )
    ax.set_xlim(0, T)
    ax.set_ylim(0, 1.06)
    unit = unit_name(model.time_unit_)
    who = f"customer {customer}" if customer is not None else "one customer"
    return _style(
        ax,
        title=f"P(alive) history of {who} ({model_label(model)})",
        xlabel=f"{unit.capitalize()} since first purchase",
        ylabel="P(alive)",
        legend=True,
        legend_loc="lower left",
    )


def plot_p_alive_decay(
    model: PurchaseModel,
    customers: pd.DataFrame,
    *,
    horizon: float,
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """P(alive) of a few customers since their last purchase, to ``horizon`` units ahead.

    Known from the summary alone: after the last purchase ``x`` and ``t_x`` stay fixed, so
    P(alive) at age ``τ`` is the model's P(alive | x, t_x, τ) for ``τ`` from ``t_x`` to
    ``T + horizon`` (beyond ``T``, dashed: if the customer does not buy again). The x axis
    is time since each customer's last purchase; a marker shows where each one is today.
    """
    _require_rfm(model, "P(alive) decay")
    cols = _model_columns(model, customers)
    if not horizon > 0:
        raise InputError(f"The 'horizon' parameter must be > 0. Got {horizon!r} instead.")
    n = len(cols["T"])
    if labels is not None and len(labels) != n:
        raise InputError(f"Give one label per customer: {len(labels)} labels for {n} customers.")
    ax = _axes(ax)
    colours = [ACTUAL, MODEL, ACCENT, "#7a9a3a", "#9a4a8a", MUTED]
    right = 0.0
    for i in range(n):
        x, tx, T = cols["frequency"][i], cols["recency"][i], cols["T"][i]
        since = np.linspace(0.0, T - tx + horizon, 300)
        since = np.unique(np.concatenate([since, [T - tx]]))
        tau = tx + since
        frame = pd.DataFrame(
            {"frequency": np.full_like(tau, x), "recency": np.full_like(tau, tx), "T": tau}
        )
        arrays, _ = model._arrays(frame)
        p = np.asarray(model._p_alive(arrays), dtype=np.float64)
        right = max(right, float(since[-1]))
        colour = colours[i % len(colours)]
        label = labels[i] if labels is not None else f"customer {i + 1}"
        past = tau <= T
        ax.plot(since[past], p[past], color=colour, linewidth=1.8, label=label)
        ax.plot(since[~past], p[~past], color=colour, linewidth=1.5, linestyle="--")
        now = int(np.flatnonzero(past)[-1])
        ax.plot([since[now]], [p[now]], "o", color=colour, markersize=6, zorder=3)
    ax.plot([], [], "o", color=MUTED, label="today")
    ax.plot(
        [],
        [],
        "--",
        color=MUTED,
        label=f"next {horizon:.4g} {unit_name(model.time_unit_)}, if no purchase",
    )
    ax.set_xlim(0, right)
    ax.set_ylim(0, 1.05)
    unit = unit_name(model.time_unit_)
    return _style(
        ax,
        title="P(alive) since the last purchase",
        xlabel=f"{unit.capitalize()} since the customer's last purchase",
        ylabel="P(alive)",
        legend=True,
        legend_loc="upper right",
    )
