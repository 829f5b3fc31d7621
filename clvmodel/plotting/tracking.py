"""How the model tracks the log over calendar time: repeat transactions per period and
cumulative, actual against the model's expectation for the customers' acquisition times."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ..exceptions import InputError, MissingColumnError
from ..units import UNIT_DAYS
from .style import (
    ACTUAL,
    HOLDOUT_SHADE,
    MODEL,
    MUTED,
    ChartUnavailableError,
    _axes,
    _require_rfm,
    _style,
    _thousands,
    model_label,
    unit_name,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..models.base import PurchaseModel

Array = NDArray[np.float64]


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


@dataclass(frozen=True, eq=False)  # numpy fields: equal only to itself
class Tracking:
    """What :func:`plot_tracking` draws, per period or cumulative: actual repeat
    transactions by period and the model's cumulative expectation at the periods' ends."""

    dates: pd.DatetimeIndex
    actual: Array
    cum_model: Array
    base: float
    calibration_end: pd.Timestamp | None
    unit: str
    label: str

    @classmethod
    def of(
        cls,
        model: PurchaseModel,
        summary: pd.DataFrame,
        tracking: pd.DataFrame | None = None,
        *,
        transactions: pd.DataFrame | None = None,
    ) -> Tracking:
        """The curves of ``model`` and ``tracking`` (see :func:`plot_tracking`)."""
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
        first, _, calibration_end = _summary_dates(summary)
        unit = _unit_of(model, summary)
        order = np.argsort(pd.to_numeric(tracking["t"]).to_numpy(np.float64), kind="stable")
        t = pd.to_numeric(tracking["t"]).to_numpy(np.float64)[order]
        actual = pd.to_numeric(tracking["actual"]).to_numpy(np.float64)[order]
        cum_model = expected_tracking(model, summary, t)
        start = max(t[0] - (t[1] - t[0]), 0.0) if len(t) > 1 else 0.0
        base = float(expected_tracking(model, summary, [start])[0]) if start > 0 else 0.0
        dates = first + pd.to_timedelta(t * UNIT_DAYS[unit], unit="D")
        return cls(dates, actual, cum_model, base, calibration_end, unit, model_label(model))

    def draw(self, ax: Axes | None = None, *, cumulative: bool = False) -> Axes:
        """Draw the curves on ``ax``, per period or ``cumulative``."""
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        ax = _axes(ax)
        actual, cum_model, base, dates = self.actual, self.cum_model, self.base, self.dates
        if cumulative:
            y_actual, y_model = np.cumsum(actual), cum_model - base
        else:
            y_actual, y_model = actual, np.diff(np.concatenate([[base], cum_model]))
        ax.plot(dates, y_actual, color=ACTUAL, linewidth=1.8, label="Actual")
        ax.plot(
            dates,
            y_model,
            color=MODEL,
            linewidth=1.8,
            linestyle="--",
            label=f"Model ({self.label})",
        )
        calibration_end = self.calibration_end
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
        per = unit_name(self.unit, plural=False)
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
    data = Tracking.of(model, summary, tracking, transactions=transactions)
    return data.draw(ax, cumulative=cumulative)
