"""P(alive) and expected purchases over a frequency x recency grid."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..exceptions import InputError
from .style import (
    _axes,
    _require_rfm,
    _style,
    unit_name,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..models.base import PurchaseModel

Array = NDArray[np.float64]


# ------------------------------------------------------------ 4. frequency x recency
def _default_T(summary: pd.DataFrame | None, T: float | None) -> float:
    if T is not None:
        if not T > 0:
            raise InputError(f"The 'T' parameter must be > 0. Got {T!r} instead.")
        return float(T)
    if summary is None or "T" not in summary.columns:
        raise InputError("Give T= or a summary with a 'T' column to choose the customer age.")
    return float(np.ceil(pd.to_numeric(summary["T"]).max()))


def _default_max_frequency(summary: pd.DataFrame | None, max_frequency: int | None) -> int:
    if max_frequency is not None:
        return int(max_frequency)
    if summary is None or "frequency" not in summary.columns:
        return 20
    q = float(np.quantile(pd.to_numeric(summary["frequency"]), 0.99))
    return int(np.clip(np.ceil(q), 5, 60))


def _matrix(
    model: PurchaseModel,
    values: Callable[[tuple[Array, ...]], Array],
    *,
    T: float,
    max_frequency: int,
    n_recency: int = 80,
) -> tuple[Array, Array, Array]:
    _require_rfm(model, "frequency/recency")
    freq = np.arange(max_frequency + 1, dtype=np.float64)
    edges = np.linspace(0.0, T, n_recency + 1)
    rec = 0.5 * (edges[1:] + edges[:-1])
    x, tx = np.meshgrid(freq, rec, indexing="ij")
    tx = np.where(x > 0, tx, 0.0)
    grid = pd.DataFrame({"frequency": x.ravel(), "recency": tx.ravel(), "T": np.full(x.size, T)})
    arrays, _ = model._arrays(grid)
    z = np.asarray(values(arrays), dtype=np.float64).reshape(x.shape)
    return edges, freq, z


def _heatmap(
    ax: Axes,
    edges: Array,
    freq: Array,
    z: Array,
    *,
    cmap: str,
    vmin: float | None,
    vmax: float | None,
    colorbar_label: str,
) -> None:
    fedges = np.concatenate([freq - 0.5, [freq[-1] + 0.5]])
    mesh = ax.pcolormesh(
        edges, fedges, z, cmap=cmap, vmin=vmin, vmax=vmax, shading="flat", rasterized=True
    )
    cax = ax.inset_axes((1.03, 0.0, 0.04, 1.0))
    bar = ax.figure.colorbar(mesh, cax=cax)
    bar.set_label(colorbar_label, fontsize=9)
    bar.ax.tick_params(labelsize=8)
    bar.outline.set_visible(False)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(fedges[0], fedges[-1])


@dataclass(frozen=True, eq=False)  # numpy fields: equal only to itself
class FrequencyRecencyGrid:
    """What :func:`plot_p_alive_matrix` (``t`` None) or
    :func:`plot_expected_purchases_matrix` (expected purchases in the next ``t``) draws:
    the model's value over a grid of frequency x recency for customers of age ``T``."""

    edges: Array
    freq: Array
    z: Array
    T: float
    unit: str
    t: float | None

    @classmethod
    def p_alive(
        cls,
        model: PurchaseModel,
        summary: pd.DataFrame | None = None,
        *,
        T: float | None = None,
        max_frequency: int | None = None,
    ) -> FrequencyRecencyGrid:
        """P(alive) over the grid (see :func:`plot_p_alive_matrix`)."""
        T = _default_T(summary, T)
        k = _default_max_frequency(summary, max_frequency)
        edges, freq, z = _matrix(model, model._p_alive, T=T, max_frequency=k)
        return cls(edges, freq, z, T, unit_name(model.time_unit_), None)

    @classmethod
    def expected_purchases(
        cls,
        model: PurchaseModel,
        summary: pd.DataFrame | None = None,
        *,
        t: float = 52.0,
        T: float | None = None,
        max_frequency: int | None = None,
    ) -> FrequencyRecencyGrid:
        """Expected purchases in the next ``t`` over the grid (see
        :func:`plot_expected_purchases_matrix`)."""
        if not t > 0:
            raise InputError(f"The 't' parameter must be > 0. Got {t!r} instead.")
        T = _default_T(summary, T)
        k = _default_max_frequency(summary, max_frequency)
        edges, freq, z = _matrix(
            model, lambda arrays: model._expected_purchases(arrays, float(t)), T=T, max_frequency=k
        )
        return cls(edges, freq, z, T, unit_name(model.time_unit_), float(t))

    def draw(self, ax: Axes | None = None) -> Axes:
        """Draw the grid on ``ax``."""
        ax = _axes(ax)
        unit, T = self.unit, self.T
        if self.t is None:
            cmap, vmax, label = "RdYlBu", 1.0, "P(alive)"
            title = "P(alive) by frequency and recency"
        else:
            cmap, vmax, label = "YlGnBu", None, "Expected repeat purchases"
            title = f"Expected purchases in the next {self.t:.3g} {unit}"
        _heatmap(
            ax, self.edges, self.freq, self.z, cmap=cmap, vmin=0.0, vmax=vmax, colorbar_label=label
        )
        return _style(
            ax,
            title=title,
            xlabel=f"Recency: {unit} from first to last purchase (customers {T:.0f} {unit} old)",
            ylabel="Repeat purchases (frequency)",
            grid_axis="",
        )


def plot_p_alive_matrix(
    model: PurchaseModel,
    summary: pd.DataFrame | None = None,
    *,
    T: float | None = None,
    max_frequency: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """P(alive) over a grid of frequency x recency for customers of age ``T``.

    ``T`` defaults to the oldest customer in ``summary``, ``max_frequency`` to its 99th
    percentile of frequency (between 5 and 60).
    """
    grid = FrequencyRecencyGrid.p_alive(model, summary, T=T, max_frequency=max_frequency)
    return grid.draw(ax)


def plot_expected_purchases_matrix(
    model: PurchaseModel,
    summary: pd.DataFrame | None = None,
    *,
    t: float = 52.0,
    T: float | None = None,
    max_frequency: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Expected purchases in the next ``t`` units over a grid of frequency x recency.

    Customers are of age ``T`` (default: the oldest in ``summary``).
    """
    grid = FrequencyRecencyGrid.expected_purchases(
        model, summary, t=t, T=T, max_frequency=max_frequency
    )
    return grid.draw(ax)
