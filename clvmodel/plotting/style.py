"""Shared look of every chart: colours, labels, axes styling, thinning and sampling."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..exceptions import InputError
from ..units import UNIT_NAMES

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..models.base import BaseModel, PurchaseModel

Array = NDArray[np.float64]


ACTUAL = "#1b3a5c"
MODEL = "#e07b39"
ACCENT = "#5b8db8"
MUTED = "#8c8c8c"
HOLDOUT_SHADE = "#eef2f6"

MODEL_LABELS = {
    "bgnbd": "BG/NBD",
    "betageo": "BG/NBD",
    "mbgnbd": "MBG/NBD",
    "modifiedbetageo": "MBG/NBD",
    "paretonbd": "Pareto/NBD",
    "pnbd": "Pareto/NBD",
    "bgbb": "BG/BB",
    "sbg": "sBG",
    "shiftedbetageometric": "sBG",
    "gammagamma": "Gamma-Gamma",
}


class ChartUnavailableError(InputError):
    """A chart cannot be drawn for this model or data; the message says why."""


# --------------------------------------------------------------------------- helpers
def _pyplot() -> Any:
    """Import pyplot, choosing Agg first when there is no display and no backend was chosen."""
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        )
        if headless:
            import matplotlib

            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _axes(ax: Axes | None, figsize: tuple[float, float] = (8.0, 5.0)) -> Axes:
    if ax is not None:
        return ax
    plt = _pyplot()
    _, new = plt.subplots(figsize=figsize, layout="constrained")
    return new


def model_label(model: BaseModel | str) -> str:
    """Display name of a model: ``"bgnbd"`` -> ``"BG/NBD"``."""
    name = model if isinstance(model, str) else str(getattr(model, "name", type(model).__name__))
    key = "".join(ch for ch in name.lower() if ch.isalnum())
    return MODEL_LABELS.get(key, name)


def unit_name(unit: str | None, *, plural: bool = True) -> str:
    """``"W"`` -> ``"weeks"`` (or ``"week"``); unknown units read as ``"time units"``."""
    if unit is None or str(unit).upper() not in UNIT_NAMES:
        return "time units" if plural else "time unit"
    name = UNIT_NAMES[str(unit).upper()]
    return name if plural else name[:-1]


def _style(
    ax: Axes,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    legend: bool = False,
    grid_axis: str = "y",
    legend_loc: str = "best",
    legend_title: str | None = None,
) -> Axes:
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold", color="#222222")
    ax.set_xlabel(xlabel, fontsize=9.5)
    ax.set_ylabel(ylabel, fontsize=9.5)
    ax.tick_params(labelsize=8.5, colors="#333333")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#888888")
    if grid_axis:
        ax.grid(True, axis=grid_axis, color="#e3e3e3", linewidth=0.7)
        ax.set_axisbelow(True)
    if legend:
        ax.legend(
            fontsize=8.5,
            loc=legend_loc,
            title=legend_title,
            title_fontsize=8.5,
            frameon=True,
            framealpha=0.9,
            edgecolor="none",
            alignment="left",
        )
    return ax


def _note(ax: Axes, text: str, *, loc: str = "upper right") -> None:
    """A small grey text box inside the axes."""
    x, ha = (0.98, "right") if "right" in loc else (0.02, "left")
    y, va = (0.97, "top") if "upper" in loc else (0.03, "bottom")
    ax.text(
        x,
        y,
        text,
        transform=ax.transAxes,
        ha=ha,
        va=va,
        fontsize=8,
        color="#444444",
        bbox={"boxstyle": "round,pad=0.35", "facecolor": "white", "edgecolor": "#d0d0d0"},
    )


def _model_columns(model: PurchaseModel, data: pd.DataFrame) -> dict[str, Array]:
    """The model's data columns, validated, by name."""
    arrays, _ = model._arrays(data)
    return dict(zip(model.columns, arrays, strict=True))


def _require_rfm(model: PurchaseModel, chart: str) -> None:
    missing = {"frequency", "recency", "T"} - set(model.columns)
    if missing:
        raise ChartUnavailableError(
            f"The {chart} chart needs a model of frequency, recency and T; "
            f"{model_label(model)} reads {list(model.columns)}."
        )


def _frequency_ticks(k: int) -> list[str]:
    return [str(i) for i in range(k)] + [f"{k}+"]


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:,.0f}")


#: Most points a line chart draws; longer curves are thinned (exact at the points kept,
#: :func:`clvmodel.clv_metrics.gains_curve`'s ``points``).
MAX_LINE_POINTS = 1001
#: Customers a scatter chart draws: a fixed-size random sample (seeded) of larger tables.
SCATTER_SAMPLE = 2000


def _money(value: float, currency: str | None) -> str:
    text = f"{value:,.2f}"
    if not currency:
        return text
    return f"{currency} {text}" if currency.isalpha() and len(currency) > 1 else currency + text


def sample_rows(
    n: int, size: int = SCATTER_SAMPLE, *, seed: int = 0, keys: Any = None
) -> NDArray[np.intp]:
    """Row numbers of a seeded random sample of ``size`` of ``n`` rows (all when fewer).

    With ``keys`` (one id per row, e.g. the customer ids), the sample is of the keys, not
    of the row positions: the ``size`` rows whose keys (as text) have the smallest seeded
    hash (DuckDB's 64-bit ``hash(key, seed)``, about 0.3 s for 10M ids), in that order.
    So the same customers are drawn whatever the order of the rows, which an engine does
    not keep from one run to the next. Without ``keys``, a seeded choice of positions.
    """
    if n <= size:
        return np.arange(n)
    if keys is None:
        return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    import duckdb
    import pyarrow as pa

    text = _as_text(keys)
    if len(text) != n:
        raise InputError(
            f"The 'keys' parameter must have one id per row ({n:,}). Got {len(text):,}."
        )
    with duckdb.connect(":memory:") as con:
        con.register("clv_keys", pa.table({"k": text}))
        query = f"SELECT hash(k, {int(seed)}) AS h FROM clv_keys"
        hashes = con.execute(query).fetchnumpy()["h"]
    hashes = np.asarray(hashes, dtype=np.uint64)
    smallest = np.argpartition(hashes, size - 1)[:size]
    # Smallest hash first; equal hashes (at 10M ids, any at all with probability 3e-6) by
    # row: the only place where the order of the rows could still matter.
    return smallest[np.lexsort((smallest, hashes[smallest]))].astype(np.intp)


def _as_text(keys: Any) -> Any:
    """``keys`` as an Arrow text array (missing ids stay missing): pandas' Arrow-backed
    strings without a copy."""
    import pyarrow as pa

    values = keys if isinstance(keys, (pa.Array, pa.ChunkedArray)) else None
    if values is None:
        array = getattr(keys, "array", None)
        if array is not None and hasattr(array, "__arrow_array__"):
            values = pa.array(array)
        else:
            ids = np.asarray(keys, dtype=object)
            missing = pd.isna(ids)
            values = pa.array(np.where(missing, None, ids.astype(str)), mask=missing)
    return values if values.type == pa.string() else values.cast(pa.string())
