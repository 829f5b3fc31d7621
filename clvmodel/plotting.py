"""Charts of fitted models and their predictions: ``f(model, data, ..., *, ax=None) -> Axes``.

Every function draws on ``ax`` when given (and leaves the rest of its figure alone) or on a
new pyplot figure otherwise, never changes its inputs or matplotlib's settings, and returns
the Axes with a title, labelled axes (units included) and a legend where two series are
compared. matplotlib is imported on first use; without a display the Agg backend is used.

Purchase-model charts use only the interface every :class:`~clvmodel.models.base.PurchaseModel`
has (``_arrays``, ``_expected_purchases``, ``_p_alive``, ``params_``, ``time_unit_``,
``name``) plus, where a model has them, ``probability_of_purchases`` and
``expected_purchases_new_customer``. A chart a model cannot support raises
:class:`ChartUnavailableError`, which says why.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .clv_metrics import align_clv, decile_table, gains_curve, gini
from .exceptions import InputError, MissingColumnError
from .units import UNIT_DAYS, UNIT_NAMES

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .models.base import BaseModel, PurchaseModel

Array = NDArray[np.float64]

#: Colours shared by every chart: observed data, the model, and supporting marks.
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


# --------------------------------------------------------------- 1. frequency histogram
def expected_frequency_counts(
    model: PurchaseModel, summary: pd.DataFrame, *, max_frequency: int = 7
) -> Array:
    """Model-expected customers with 0, 1, ..., ``max_frequency``+ repeat purchases.

    ``Σ_i P(X(T_i) = n)`` over customers, from the model's ``probability_of_purchases``
    (for BG/NBD, Fader, Hardie & Lee 2005 eq. 8); the last entry is the rest.
    """
    if not hasattr(model, "probability_of_purchases"):
        raise ChartUnavailableError(
            f"{model_label(model)} has no probability_of_purchases(t=, n=): the expected "
            f"frequency distribution cannot be computed."
        )
    cols = _model_columns(model, summary)
    if "T" not in cols:
        raise ChartUnavailableError(f"{model_label(model)} has no 'T' column: no histogram.")
    T = cols["T"]
    uniq, counts = np.unique(np.round(T, 9), return_counts=True)
    n = np.arange(max_frequency, dtype=np.float64)
    prob = np.asarray(model.probability_of_purchases(t=uniq[:, None], n=n[None, :]))
    expected = np.empty(max_frequency + 1)
    expected[:max_frequency] = counts @ prob
    expected[max_frequency] = len(T) - expected[:max_frequency].sum()
    return expected


def plot_frequency_histogram(
    model: PurchaseModel, summary: pd.DataFrame, *, max_frequency: int = 7, ax: Axes | None = None
) -> Axes:
    """Customers by repeat purchases in the calibration period: actual vs model-expected.

    Expected counts are ``Σ_i P(X(T_i) = n)`` (see :func:`expected_frequency_counts`); for a
    model without ``probability_of_purchases`` only the actual counts are drawn, with a note.
    """
    ax = _axes(ax)
    cols = _model_columns(model, summary)
    freq = cols["frequency"].astype(np.int64)
    k = int(max_frequency)
    actual = np.bincount(np.minimum(freq, k), minlength=k + 1).astype(np.float64)
    try:
        expected: Array | None = expected_frequency_counts(model, summary, max_frequency=k)
    except ChartUnavailableError:
        expected = None
    pos = np.arange(k + 1)
    width = 0.4 if expected is not None else 0.6
    shift = width / 2 if expected is not None else 0.0
    ax.bar(pos - shift, actual, width, color=ACTUAL, label="Actual")
    if expected is not None:
        ax.bar(pos + shift, expected, width, color=MODEL, label=f"Model ({model_label(model)})")
    else:
        _note(ax, f"{model_label(model)} gives no purchase-count\ndistribution: actual only")
    ax.set_xticks(pos, _frequency_ticks(k))
    ax.yaxis.set_major_formatter(_thousands())
    split = bool(summary.attrs.get("calibration_end")) or "frequency_holdout" in summary.columns
    return _style(
        ax,
        title="Repeat purchases per customer" + (" (calibration)" if split else ""),
        xlabel="Repeat purchases in the " + ("calibration period" if split else "observed period"),
        ylabel="Customers",
        legend=expected is not None,
    )


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:,.0f}")


# ------------------------------------------------------------ 2. calibration vs holdout
def plot_holdout_by_frequency(
    model: PurchaseModel, summary: pd.DataFrame, *, max_frequency: int = 7, ax: Axes | None = None
) -> Axes:
    """Mean holdout purchases by calibration frequency (0..k+), actual vs predicted.

    Uses :func:`clvmodel.evaluation.holdout_predictions`; the summary needs
    ``frequency_holdout`` and ``duration_holdout``.
    """
    from .evaluation import holdout_predictions

    if "frequency_holdout" not in summary.columns:
        raise ChartUnavailableError(
            "The summary has no holdout columns (frequency_holdout, duration_holdout): "
            "summarise with a calibration end to compare with a holdout period."
        )
    ax = _axes(ax)
    pred = holdout_predictions(model, summary)
    freq = _model_columns(model, summary)["frequency"].astype(np.int64)
    k = int(max_frequency)
    group = np.minimum(freq, k)
    frame = pd.DataFrame(
        {"group": group, "actual": pred["actual"].to_numpy(), "predicted": pred["predicted"]}
    )
    means = frame.groupby("group").agg(
        actual=("actual", "mean"), predicted=("predicted", "mean"), n=("actual", "size")
    )
    means = means.reindex(range(k + 1))
    pos = np.arange(k + 1)
    ax.plot(pos, means["actual"], "-o", color=ACTUAL, label="Actual", linewidth=2, markersize=5)
    ax.plot(
        pos,
        means["predicted"],
        "--s",
        color=MODEL,
        label=f"Predicted ({model_label(model)})",
        linewidth=2,
        markersize=5,
    )
    counts = means["n"].fillna(0).astype(int)
    ax.set_xticks(pos, [f"{t}\n{c:,}" for t, c in zip(_frequency_ticks(k), counts, strict=True)])
    ax.set_ylim(bottom=0)
    duration = pd.to_numeric(summary["duration_holdout"]).to_numpy(np.float64)
    unit = unit_name(model.time_unit_)
    length = (
        f"{duration[0]:.3g} {unit}"
        if np.allclose(duration, duration[0])
        else f"{duration.min():.3g}-{duration.max():.3g} {unit}"
    )
    return _style(
        ax,
        title="Holdout purchases by calibration frequency",
        xlabel="Repeat purchases in the calibration period (and customers in the group)",
        ylabel=f"Mean purchases in the holdout ({length})",
        legend=True,
        legend_loc="upper left",
    )


# ----------------------------------------------------------------------- 3. tracking
def _summary_dates(summary: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp | None]:
    attrs = summary.attrs
    missing = [k for k in ("first_date", "observation_end") if not attrs.get(k)]
    if missing:
        raise InputError(
            f"The tracking chart reads the summary's attrs {missing} (set by rfm_summary, or "
            f"from run.json). Got attrs {sorted(attrs)} instead."
        )
    calibration = attrs.get("calibration_end")
    return (
        pd.Timestamp(attrs["first_date"]),
        pd.Timestamp(attrs["observation_end"]),
        pd.Timestamp(calibration) if calibration else None,
    )


def _unit_of(model: PurchaseModel, summary: pd.DataFrame) -> str:
    unit = model.time_unit_ or summary.attrs.get("time_unit")
    if unit is None or str(unit).upper() not in UNIT_DAYS:
        raise InputError(
            "The tracking chart needs the time unit: fit the model on a summary with "
            "attrs['time_unit'] or pass time_unit= to fit."
        )
    return str(unit).upper()


def new_customer_expectation(model: PurchaseModel) -> Callable[[Array], Array]:
    """``t -> E[X(t)]``, expected repeat purchases by ``t`` of a customer acquired at 0.

    Uses the model's ``expected_purchases_new_customer`` where it has one (BG/NBD:
    Fader, Hardie & Lee 2005 eq. 9); otherwise the conditional expectation of a customer
    just acquired, ``(x, t_x, T) = (0, 0, 0)``, evaluated on a grid and interpolated.
    """
    direct = getattr(model, "expected_purchases_new_customer", None)
    if direct is not None:

        def exact(t: Array) -> Array:
            t = np.asarray(t, dtype=np.float64)
            out = np.zeros_like(t)
            pos = t > 0
            out[pos] = np.asarray(direct(t[pos]), dtype=np.float64)
            return out

        return exact
    _require_rfm(model, "tracking")
    zero = tuple(np.zeros(1) for _ in model.columns)

    def generic(t: Array) -> Array:
        t = np.asarray(t, dtype=np.float64)
        top = float(np.max(t, initial=0.0))
        if top <= 0:
            return np.zeros_like(t)
        grid = np.linspace(0.0, top, 257)
        values = np.array([0.0] + [float(model._expected_purchases(zero, g)[0]) for g in grid[1:]])
        return np.interp(np.maximum(t, 0.0), grid, values)

    return generic


def expected_tracking(model: PurchaseModel, summary: pd.DataFrame, t: ArrayLike) -> Array:
    """Model-expected cumulative repeat transactions of the summary's customers by ``t``.

    ``Σ_i E[X(t - s_i)]`` over customers acquired at ``s_i < t``, with ``t`` and the
    acquisition times ``s_i = (reference_end - first_date) / unit - T_i`` in units since
    the first date (reference end: the calibration end if any, else the observation end).
    """
    first, observation_end, calibration_end = _summary_dates(summary)
    unit = _unit_of(model, summary)
    ref = calibration_end if calibration_end is not None else observation_end
    span = (ref - first) / pd.Timedelta(days=UNIT_DAYS[unit])
    T = pd.to_numeric(summary["T"]).to_numpy(np.float64)
    s = span - T
    s_uniq, counts = np.unique(np.round(s, 6), return_counts=True)
    if len(s_uniq) > 2000:  # continuous acquisition times: bin them
        hist, edges = np.histogram(s, bins=1000)
        keep = hist > 0
        s_uniq, counts = (0.5 * (edges[1:] + edges[:-1]))[keep], hist[keep]
    curve = new_customer_expectation(model)
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    out = np.empty_like(t)
    for start in range(0, len(t), 64):  # bounded memory: 64 x customers-cohorts at a time
        block = t[start : start + 64, None] - s_uniq[None, :]
        out[start : start + 64] = curve(np.maximum(block, 0.0)) @ counts
    return out


def tracking_table(
    transactions: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
) -> pd.DataFrame:
    """Repeat purchase days of the summary's customers per time unit since the first date.

    The table :func:`plot_tracking` draws (``tracking.csv`` of a run): ``t`` (end of each
    period in units since ``summary.attrs["first_date"]``, the last one cut at the
    observation end), ``date`` (the calendar day it ends on) and ``actual`` (the count).
    A purchase day is a customer's calendar day with a purchase; the first is not a repeat.
    """
    first, end, _ = _summary_dates(summary)
    unit = summary.attrs.get("time_unit")
    if unit is None or str(unit).upper() not in UNIT_DAYS:
        raise InputError("The summary needs attrs['time_unit'] (set by rfm_summary).")
    days = UNIT_DAYS[str(unit).upper()]
    missing = [c for c in (customer_col, date_col) if c not in transactions.columns]
    if missing:
        raise MissingColumnError(f"The transactions have no column(s) {missing}.")
    tx = pd.DataFrame(
        {
            "customer_id": transactions[customer_col].astype(str).to_numpy(),
            "date": pd.to_datetime(transactions[date_col]).dt.normalize().to_numpy(),
        }
    )
    tx = tx[tx["customer_id"].isin(summary.index.astype(str)) & (tx["date"] <= end)]
    tx = tx.drop_duplicates()
    since_first = tx.groupby("customer_id")["date"].transform("min")
    repeat = tx[tx["date"] > since_first]
    span = (end - first).days / days
    n = int(np.ceil(span - 1e-9))
    t = np.minimum(np.arange(1, n + 1, dtype=np.float64), span)
    since = (repeat["date"] - first).dt.days.to_numpy() / days
    period = np.searchsorted(t, since, side="right")  # period k covers [t_{k-1}, t_k)
    counts = np.bincount(period[period < n], minlength=n)
    dates = first + pd.to_timedelta(np.round(t * days), unit="D") - pd.Timedelta(days=1)
    return pd.DataFrame({"t": t, "date": dates.strftime("%Y-%m-%d"), "actual": counts})


def plot_tracking(
    model: PurchaseModel,
    summary: pd.DataFrame,
    tracking: pd.DataFrame | None = None,
    *,
    transactions: pd.DataFrame | None = None,
    cumulative: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """Repeat transactions per period (or cumulative) over calendar time, actual vs model.

    Parameters
    ----------
    model : PurchaseModel
        Fitted purchase model.
    summary : DataFrame
        The customers the model describes (``T``), with ``attrs`` ``first_date``,
        ``observation_end``, ``calibration_end`` (or None) and ``time_unit``.
    tracking : DataFrame, optional
        ``t`` (end of each period, in units since the first date) and ``actual`` (repeat
        transactions of the summary's customers in that period), e.g. ``tracking.csv``.
    transactions : DataFrame, optional
        Instead of ``tracking``: the transaction log (``customer_id``, ``date``) the summary
        was made from; the table is computed by :func:`tracking_table`.
    cumulative : bool
        Cumulative totals instead of per-period counts.
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    if tracking is None:
        if transactions is None:
            raise InputError("Give the tracking table or the transactions= it is made from.")
        tracking = tracking_table(transactions, summary)
    missing = [c for c in ("t", "actual") if c not in tracking.columns]
    if missing:
        present = ", ".join(map(repr, map(str, tracking.columns)))
        raise MissingColumnError(
            f"The tracking table is missing the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))}. Columns present: {present}."
        )
    if len(tracking) == 0:
        raise ChartUnavailableError("The tracking table has no rows: nothing to draw.")
    ax = _axes(ax)
    first, _, calibration_end = _summary_dates(summary)
    unit = _unit_of(model, summary)
    order = np.argsort(pd.to_numeric(tracking["t"]).to_numpy(np.float64), kind="stable")
    t = pd.to_numeric(tracking["t"]).to_numpy(np.float64)[order]
    actual = pd.to_numeric(tracking["actual"]).to_numpy(np.float64)[order]
    cum_model = expected_tracking(model, summary, t)
    start = max(t[0] - (t[1] - t[0]), 0.0) if len(t) > 1 else 0.0
    base = expected_tracking(model, summary, [start])[0] if start > 0 else 0.0
    if cumulative:
        y_actual, y_model = np.cumsum(actual), cum_model - base
    else:
        y_actual, y_model = actual, np.diff(np.concatenate([[base], cum_model]))
    dates = first + pd.to_timedelta(t * UNIT_DAYS[unit], unit="D")
    ax.plot(dates, y_actual, color=ACTUAL, linewidth=1.8, label="Actual")
    ax.plot(
        dates,
        y_model,
        color=MODEL,
        linewidth=1.8,
        linestyle="--",
        label=f"Model ({model_label(model)})",
    )
    if calibration_end is not None and dates[0] <= calibration_end <= dates[-1]:
        ax.axvspan(calibration_end, dates[-1], color=HOLDOUT_SHADE, zorder=0)
        ax.axvline(calibration_end, color=MUTED, linestyle=":", linewidth=1.2)
        for label, ha in (("  holdout →", "left"), ("← calibration  ", "right")):
            ax.text(
                calibration_end,
                0.03,
                label,
                transform=ax.get_xaxis_transform(),
                ha=ha,
                va="bottom",
                fontsize=8,
                color="#555555",
            )
    locator = AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_ylim(bottom=0, top=max(np.max(y_actual), np.max(y_model)) * 1.22)
    ax.yaxis.set_major_formatter(_thousands())
    per = unit_name(unit, plural=False)
    if cumulative:
        title, ylabel = "Cumulative repeat transactions", "Repeat transactions (cumulative)"
    else:
        title, ylabel = f"Repeat transactions per {per}", f"Repeat transactions per {per}"
    return _style(
        ax,
        title=title,
        xlabel=f"Calendar date ({per} ending)",
        ylabel=ylabel,
        legend=True,
        legend_loc="upper left" if cumulative else "upper right",
    )


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
    T = _default_T(summary, T)
    k = _default_max_frequency(summary, max_frequency)
    edges, freq, z = _matrix(model, model._p_alive, T=T, max_frequency=k)
    ax = _axes(ax)
    _heatmap(ax, edges, freq, z, cmap="RdYlBu", vmin=0.0, vmax=1.0, colorbar_label="P(alive)")
    unit = unit_name(model.time_unit_)
    return _style(
        ax,
        title="P(alive) by frequency and recency",
        xlabel=f"Recency: {unit} from first to last purchase (customers {T:.0f} {unit} old)",
        ylabel="Repeat purchases (frequency)",
        grid_axis="",
    )


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
    if not t > 0:
        raise InputError(f"The 't' parameter must be > 0. Got {t!r} instead.")
    T = _default_T(summary, T)
    k = _default_max_frequency(summary, max_frequency)
    edges, freq, z = _matrix(
        model, lambda arrays: model._expected_purchases(arrays, float(t)), T=T, max_frequency=k
    )
    ax = _axes(ax)
    unit = unit_name(model.time_unit_)
    _heatmap(
        ax,
        edges,
        freq,
        z,
        cmap="YlGnBu",
        vmin=0.0,
        vmax=None,
        colorbar_label="Expected repeat purchases",
    )
    return _style(
        ax,
        title=f"Expected purchases in the next {t:.3g} {unit}",
        xlabel=f"Recency: {unit} from first to last purchase (customers {T:.0f} {unit} old)",
        ylabel="Repeat purchases (frequency)",
        grid_axis="",
    )


# ---------------------------------------------------------------- 5. heterogeneity
@dataclass(frozen=True)
class MixingDistribution:
    """One fitted distribution of a customer trait across the customer base.

    Attributes
    ----------
    key : str
        Short name (``"purchase_rate"``, ``"dropout"``, ``"dropout_rate"``,
        ``"purchase_probability"``, ``"mean_spend"``).
    title, xlabel : str
        Chart title and x-axis label (with units).
    formula : str
        The distribution with its fitted parameters, e.g. ``"λ ~ Gamma(r=0.24, α=4.4)"``.
    dist : scipy frozen distribution
    log_scale : bool
        Whether the trait is positive and skewed (drawn on a log axis).
    """

    key: str
    title: str
    xlabel: str
    formula: str
    dist: Any
    log_scale: bool


def _law(symbol: str, family: str, *params: tuple[str, float]) -> str:
    """Mathtext ``symbol ~ Family(name = value, ...)``."""
    inner = r",\ ".join(f"{name} = {value:.3g}" for name, value in params)
    return rf"${symbol} \sim \mathrm{{{family}}}({inner})$"


def mixing_distributions(model: BaseModel) -> list[MixingDistribution]:
    """The fitted heterogeneity distributions of a model, by its parameter names.

    - ``r, alpha`` (BG/NBD, MBG/NBD, Pareto/NBD): purchase rate λ ~ Gamma(r, rate α);
    - ``a, b`` with ``r, alpha`` (BG/NBD, MBG/NBD): dropout probability p ~ Beta(a, b);
    - ``s, beta`` with ``r, alpha`` (Pareto/NBD): dropout rate μ ~ Gamma(s, rate β);
    - ``alpha, beta, gamma, delta`` (BG/BB): purchase probability p ~ Beta(α, β) and
      dropout probability θ ~ Beta(γ, δ);
    - ``alpha, beta`` only (sBG): churn probability θ ~ Beta(α, β);
    - ``p, q, gamma`` (Gamma-Gamma): a customer's mean spend p/ν with ν ~ Gamma(q, rate γ),
      i.e. inverse gamma with shape q and scale pγ (Fader & Hardie 2013).
    """
    from scipy import stats

    params = {k: float(v) for k, v in model.params_.items()}
    names = set(params)
    unit = unit_name(getattr(model, "time_unit_", None), plural=False)
    label = model_label(model)
    out: list[MixingDistribution] = []

    if {"r", "alpha"} <= names:
        r, alpha = params["r"], params["alpha"]
        out.append(
            MixingDistribution(
                "purchase_rate",
                f"Purchase rate while active ({label})",
                f"Repeat purchases per {unit} ($\\lambda$, log scale)",
                _law(r"\lambda", "Gamma", ("r", r), (r"\alpha", alpha)),
                stats.gamma(r, scale=1.0 / alpha),
                True,
            )
        )
        if {"a", "b"} <= names:
            out.append(
                MixingDistribution(
                    "dropout",
                    f"Dropout probability after a purchase ({label})",
                    "Probability p of becoming inactive after each repeat purchase",
                    _law("p", "Beta", ("a", params["a"]), ("b", params["b"])),
                    stats.beta(params["a"], params["b"]),
                    False,
                )
            )
        if {"s", "beta"} <= names:
            out.append(
                MixingDistribution(
                    "dropout_rate",
                    f"Dropout rate ({label})",
                    f"Dropout rate ($\\mu$) per {unit} (log scale)",
                    _law(r"\mu", "Gamma", ("s", params["s"]), (r"\beta", params["beta"])),
                    stats.gamma(params["s"], scale=1.0 / params["beta"]),
                    True,
                )
            )
    elif {"alpha", "beta", "gamma", "delta"} <= names:
        out.append(
            MixingDistribution(
                "purchase_probability",
                f"Purchase probability per opportunity ({label})",
                "Probability p of a purchase at each opportunity",
                _law("p", "Beta", (r"\alpha", params["alpha"]), (r"\beta", params["beta"])),
                stats.beta(params["alpha"], params["beta"]),
                False,
            )
        )
        out.append(
            MixingDistribution(
                "dropout",
                f"Dropout probability per opportunity ({label})",
                r"Probability $\theta$ of becoming inactive at each opportunity",
                _law(r"\theta", "Beta", (r"\gamma", params["gamma"]), (r"\delta", params["delta"])),
                stats.beta(params["gamma"], params["delta"]),
                False,
            )
        )
    elif names == {"alpha", "beta"}:
        out.append(
            MixingDistribution(
                "churn",
                f"Churn probability per period ({label})",
                r"Probability $\theta$ of cancelling at each renewal",
                _law(r"\theta", "Beta", (r"\alpha", params["alpha"]), (r"\beta", params["beta"])),
                stats.beta(params["alpha"], params["beta"]),
                False,
            )
        )
    elif {"p", "q", "gamma"} <= names:
        p, q, g = params["p"], params["q"], params["gamma"]
        out.append(
            MixingDistribution(
                "mean_spend",
                f"Customers' mean spend per purchase ({label})",
                "Long-run mean spend per purchase (log scale)",
                r"$p/\nu$ with "
                + _law(r"\nu", "Gamma", ("q", q), (r"\gamma", g))
                + f", p = {p:.3g}",
                stats.invgamma(q, scale=p * g),
                True,
            )
        )
    return out


def plot_heterogeneity(
    model: BaseModel,
    *,
    which: str | None = None,
    currency: str | None = None,
    formula: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """One fitted mixing distribution: the share of customers in each range of the trait.

    Parameters
    ----------
    model : BaseModel
        A fitted purchase or spend model (see :func:`mixing_distributions`).
    which : str, optional
        Key of the distribution (``"purchase_rate"``, ``"dropout"``, ...); the first by
        default.
    currency : str, optional
        Currency of amounts, for the mean-spend axis.
    formula : bool
        Show the fitted distribution (``λ ~ Gamma(r, α)``) as the legend title.

    Shares are exact (differences of the fitted CDF over bins), so densities that are
    infinite at 0 (shape < 1) still draw as finite bars. Positive skewed traits use
    log-spaced bins on a log axis; the central 99.8 % is shown and the rest noted.
    """
    dists = mixing_distributions(model)
    if not dists:
        raise ChartUnavailableError(
            f"{model_label(model)} (parameters {list(model.params_.index)}) has no known "
            f"mixing distribution to draw."
        )
    chosen = dists[0] if which is None else next((d for d in dists if d.key == which), None)
    if chosen is None:
        raise InputError(
            f"The 'which' parameter must be one of {[d.key for d in dists]} for "
            f"{model_label(model)}. Got {which!r} instead."
        )
    ax = _axes(ax)
    dist = chosen.dist
    if chosen.log_scale:
        lo, hi = float(dist.ppf(0.001)), float(dist.ppf(0.999))
        lo = max(lo, hi * 1e-6)
        edges = np.geomspace(lo, hi, 41)
        ax.set_xscale("log")
    else:
        edges = np.linspace(0.0, 1.0, 41)
    mass = np.diff(dist.cdf(edges)) * 100.0
    ax.stairs(mass, edges, fill=True, color=ACCENT, alpha=0.85, label="Share of customers")
    mean, median = float(dist.mean()), float(dist.median())

    line_top = float(mass.max()) * 1.08  # the legend sits above this
    if np.isfinite(mean) and edges[0] <= mean <= edges[-1]:
        ax.vlines(
            mean, 0, line_top, color=ACTUAL, linestyle="--", linewidth=1.5, label=f"Mean {mean:.3g}"
        )
    ax.vlines(
        median, 0, line_top, color=MODEL, linestyle=":", linewidth=2.0, label=f"Median {median:.3g}"
    )
    below = 100.0 * float(dist.cdf(edges[0]))
    if below >= 1.0:  # a long left tail cut off: say so in the legend
        ax.plot([], [], " ", label=f"{below:.0f}% below {edges[0]:.2g} not shown")
    ax.set_ylim(0, float(mass.max()) * 1.6)
    centre = float(np.sum(mass * np.arange(len(mass))) / max(np.sum(mass), 1e-300))
    xlabel = chosen.xlabel
    if currency and chosen.key == "mean_spend":
        xlabel = xlabel.replace("(log scale)", f"({currency}, log scale)")
    return _style(
        ax,
        title=chosen.title,
        xlabel=xlabel,
        ylabel="Share of customers per bin (%)",
        legend=True,
        legend_loc="upper right" if centre < len(mass) / 2 else "upper left",
        legend_title=chosen.formula if formula else None,
    )


# ------------------------------------------------------------------------- 6. CLV
def plot_clv_distribution(
    scores: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    *,
    currency: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Distribution of predicted CLV (log axis when skewed), with holdout spend if any.

    With a holdout (``summary`` has ``frequency_holdout`` and ``monetary_value_holdout``)
    the actual holdout spend of the same customers is drawn over it; customers with no
    holdout spend cannot appear on a log axis and are counted in a note.
    """
    clv, actual = align_clv(scores, summary)
    ax = _axes(ax)
    c = clv.to_numpy()
    positive = c[c > 0]
    values = [positive]
    if actual is not None:
        values.append(actual.to_numpy()[actual.to_numpy() > 0])
    pooled = np.concatenate(values)
    skewed = len(positive) > 0 and np.quantile(pooled, 0.99) > 20 * max(np.median(pooled), 1e-12)
    if skewed:
        lo, hi = np.quantile(pooled, [0.005, 1.0])
        edges = np.geomspace(max(lo, hi * 1e-6), hi * 1.0001, 41)
        ax.set_xscale("log")
    else:
        edges = np.histogram_bin_edges(pooled if len(pooled) else c, bins=40)
    counts, _ = np.histogram(positive if skewed else c, bins=edges)
    ax.stairs(counts, edges, fill=True, color=MODEL, alpha=0.6, label="Predicted CLV")
    top = float(counts.max())
    a_counts = np.zeros_like(counts)
    if actual is not None:
        a = actual.to_numpy()
        a_counts, _ = np.histogram(a[a > 0] if skewed else a, bins=edges)
        top = max(top, float(a_counts.max()))
        duration = ""
        if summary is not None and "duration_holdout" in summary.columns:
            d = pd.to_numeric(summary["duration_holdout"]).to_numpy(np.float64)
            duration = f" ({d.max():.3g} {unit_name(summary.attrs.get('time_unit'))})"
        ax.stairs(
            a_counts, edges, color=ACTUAL, linewidth=1.6, label=f"Actual holdout spend{duration}"
        )
        zero = float(np.mean(a <= 0))
        if skewed and zero > 0:
            ax.plot([], [], " ", label=f"{zero:.0%} spent nothing in the holdout (not shown)")
    if skewed and np.any(c <= 0):
        ax.plot([], [], " ", label=f"{int(np.sum(c <= 0)):,} with CLV <= 0 not shown")
    ax.yaxis.set_major_formatter(_thousands())
    # One bin far above the rest (typically the customers with no repeat purchase, whose
    # CLV is nearly the same) would flatten everything else: cut it and label its height.
    heights = np.concatenate([counts, a_counts])
    peak = int(np.argmax(counts))
    others = np.delete(heights, peak)
    second = float(others.max()) if len(others) else 0.0
    legend_loc = "upper right"
    if counts[peak] > 3.0 * second > 0:
        ceiling = second * 1.9
        ax.set_ylim(0, ceiling)
        centre = (
            np.sqrt(edges[peak] * edges[peak + 1])
            if skewed
            else (edges[peak] + edges[peak + 1]) / 2
        )
        # A white break near the top of the cut bar, explained in the legend.
        ax.plot(
            [edges[peak], edges[peak + 1]],
            [ceiling * 0.93] * 2,
            color="white",
            linewidth=2.5,
            solid_capstyle="butt",
        )
        ax.plot([], [], " ", label=f"Tallest bar cut: {counts[peak]:,.0f} customers")
        ax.get_xlim()  # settle the autoscaled limits before converting to axes fractions
        x_frac = ax.transAxes.inverted().transform(ax.transData.transform((centre, 0)))[0]
        if x_frac > 0.5:
            legend_loc = "upper left"
    else:
        ax.set_ylim(0, max(top, 1.0) * 1.45)
    return _style(
        ax,
        title="Distribution of customer value",
        xlabel=f"Value per customer ({currency or 'currency of the input amounts'}"
        + (", log scale)" if skewed else ")"),
        ylabel="Customers per bin",
        legend=True,
        legend_loc=legend_loc,
        legend_title=f"Predicted CLV: median {_money(np.median(c), currency)}, "
        f"mean {_money(np.mean(c), currency)}",
    )


def plot_gains_curve(
    scores: pd.DataFrame, summary: pd.DataFrame | None = None, *, ax: Axes | None = None
) -> Axes:
    """Cumulative share of value captured by customers ranked by predicted CLV (with Gini).

    Without a holdout: the concentration of predicted CLV (a Lorenz curve read from the
    top). With one: the share of actual holdout spend captured by the predicted ranking,
    against the best possible (ranking by actual spend) and a random ranking.
    """
    clv, actual = align_clv(scores, summary)
    ax = _axes(ax)
    c = clv.to_numpy()
    x, y = _thin(*gains_curve(c))
    ax.plot([0, 100], [0, 100], color=MUTED, linestyle=":", linewidth=1.2, label="Random ranking")
    ax.plot(x * 100, y * 100, color=MODEL, linewidth=2, label=f"Predicted CLV (Gini {gini(c):.2f})")
    if actual is not None:
        a = actual.to_numpy()
        xa, ya = _thin(*gains_curve(c, a))
        ax.plot(
            xa * 100,
            ya * 100,
            color=ACTUAL,
            linewidth=2,
            label=f"Holdout spend, ranked by predicted CLV (Gini {gini(c, a):.2f})",
        )
        xb, yb = _thin(*gains_curve(a, a))
        ax.plot(
            xb * 100,
            yb * 100,
            color=ACTUAL,
            linewidth=1.2,
            linestyle="--",
            label=f"Holdout spend, best possible ranking (Gini {gini(a, a):.2f})",
        )
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 101)
    return _style(
        ax,
        title="Cumulative share of value by customer rank",
        xlabel="Customers ranked by predicted CLV, highest first (% of customers)",
        ylabel="Cumulative share of value (%)",
        legend=True,
        legend_loc="lower right",
        grid_axis="both",
    )


#: Most points a line chart draws; longer curves are thinned (exact at the points kept).
MAX_LINE_POINTS = 1001
#: Customers a scatter chart draws: a fixed-size random sample (seeded) of larger tables.
SCATTER_SAMPLE = 2000


def _thin(x: Array, y: Array, n: int = MAX_LINE_POINTS) -> tuple[Array, Array]:
    """At most ``n`` points of a curve: evenly spaced by index, first and last kept."""
    if len(x) <= n:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, n).round().astype(np.intp))
    return x[keep], y[keep]


def _money(value: float, currency: str | None) -> str:
    text = f"{value:,.2f}"
    if not currency:
        return text
    return f"{currency} {text}" if currency.isalpha() and len(currency) > 1 else currency + text


def sample_rows(n: int, size: int = SCATTER_SAMPLE, *, seed: int = 0) -> NDArray[np.intp]:
    """Row numbers of a seeded random sample of ``size`` of ``n`` rows (all when fewer)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def plot_value_risk(
    scores: pd.DataFrame,
    *,
    bands: dict[str, tuple[float, float]] | None = None,
    sample: int = SCATTER_SAMPLE,
    seed: int = 0,
    currency: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Predicted CLV against P(alive), one dot per customer of a seeded random sample.

    ``bands`` (name -> P(alive) range) are shaded, e.g. the at-risk and win-back bands of
    the report's actions page. At most ``sample`` customers are drawn, whatever the table's
    size; the title says how many of how many.
    """
    from .validation import require_columns

    require_columns(scores, ("clv", "p_alive"), what="scores")
    n = len(scores)
    if n == 0:
        raise ChartUnavailableError("The scores have no rows: nothing to draw.")
    rows = sample_rows(n, sample, seed=seed)
    clv = pd.to_numeric(scores["clv"]).to_numpy(np.float64)[rows]
    alive = pd.to_numeric(scores["p_alive"]).to_numpy(np.float64)[rows]
    ax = _axes(ax)
    colours = [MODEL, ACTUAL, ACCENT]
    for i, (name, (lo, hi)) in enumerate((bands or {}).items()):
        ax.axvspan(lo, hi, color=colours[i % 3], alpha=0.12, zorder=0, label=f"{name} band")
    positive = clv > 0
    ax.scatter(
        alive[positive],
        clv[positive],
        s=7,
        color=ACTUAL,
        alpha=0.45,
        linewidths=0,
        label="Customer",
    )
    if positive.any() and np.quantile(clv[positive], 0.99) > 20 * np.median(clv[positive]):
        ax.set_yscale("log")
        low, high = np.quantile(clv[positive], [0.01, 1.0])
        ax.set_ylim(low / 1.5, high * 1.5)  # the lowest 1% are drawn at the bottom edge
        ax.scatter(alive[positive & (clv < low / 1.5)], np.full(
            int(np.sum(positive & (clv < low / 1.5))), low / 1.5), s=7, color=ACTUAL,
            alpha=0.45, linewidths=0, clip_on=False)  # fmt: skip
    ax.set_xlim(0, 1.0)
    who = f"all {n:,}" if len(rows) == n else f"a random {len(rows):,} of {n:,}"
    unit = currency or "currency of the input amounts"
    return _style(
        ax,
        title=f"Value and P(alive) ({who} customers)",
        xlabel="P(alive)",
        ylabel=f"Predicted CLV ({unit})",
        legend=True,
        legend_loc="upper left",
        grid_axis="both",
    )


def plot_value_by_decile(
    scores: pd.DataFrame, summary: pd.DataFrame | None = None, *, ax: Axes | None = None
) -> Axes:
    """Share of value in each predicted-CLV decile (1 = most valuable tenth of customers).

    With a holdout, the share of actual holdout spend in the same deciles beside it.
    """
    clv, actual = align_clv(scores, summary)
    table = decile_table(clv.to_numpy(), None if actual is None else actual.to_numpy())
    ax = _axes(ax)
    pos = table.index.to_numpy()
    width = 0.4 if actual is not None else 0.65
    shift = width / 2 if actual is not None else 0.0
    ax.bar(pos - shift, table["predicted_share"] * 100, width, color=MODEL, label="Predicted CLV")
    if actual is not None:
        ax.bar(
            pos + shift,
            table["actual_share"] * 100,
            width,
            color=ACTUAL,
            label="Actual holdout spend",
        )
    ax.axhline(10, color=MUTED, linestyle=":", linewidth=1.1, label="Equal share (10%)")
    ax.set_xticks(pos, [str(d) for d in pos])
    return _style(
        ax,
        title="Share of value by predicted-CLV decile",
        xlabel="Decile of customers by predicted CLV (1 = top 10%)",
        ylabel="Share of total value (%)",
        legend=True,
        legend_loc="upper right",
    )


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


__all__ = [
    "ChartUnavailableError",
    "MixingDistribution",
    "expected_frequency_counts",
    "expected_tracking",
    "mixing_distributions",
    "model_label",
    "new_customer_expectation",
    "p_alive_path",
    "plot_clv_distribution",
    "plot_expected_purchases_matrix",
    "plot_frequency_histogram",
    "plot_gains_curve",
    "plot_heterogeneity",
    "plot_holdout_by_frequency",
    "plot_p_alive_decay",
    "plot_p_alive_history",
    "plot_p_alive_matrix",
    "plot_tracking",
    "plot_value_by_decile",
    "plot_value_risk",
    "sample_rows",
    "tracking_table",
    "unit_name",
]
