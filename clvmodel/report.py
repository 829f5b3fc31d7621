"""Figures and a PDF report from a run directory, without refitting anything.

The report reads only the files ``clvmodel run`` writes (see :mod:`clvmodel.pipeline`):
``run.json``, ``summary.csv``, ``scores.csv``, ``models/KEY.json``, ``metrics.json`` and
``tracking.csv``. Charts come from :mod:`clvmodel.plotting`, ranking metrics from
:mod:`clvmodel.clv_metrics`; this module lays them out. Every file is written atomically.

Pages of ``report.pdf`` (A4 landscape), each with the same header and footer:

1. Summary: the data (customers, purchase days, period, unit, row ledger), the chosen model
   and why, parameters with standard errors and 95% intervals, headline CLV figures, holdout
   accuracy (or a plain statement that there is no holdout) and key points in words.
2. Model fit: repeat-purchase histogram, holdout purchases by calibration frequency, weekly
   and cumulative tracking with the calibration/holdout boundary; a model comparison table
   when several models were fitted.
3. How customers differ: the fitted mixing distributions, and P(alive) since the last
   purchase of three example customers.
4. What the model expects: P(alive) and expected purchases by frequency and recency.
5. Customer value: CLV distribution, gains curve with Gini, value by decile (chart and table).
6. Segments: value tiers with counts and shares, and the top customers.
7. Definitions and formulas, with references.

Pages 5 and 6 are left out when the run has no CLV (no spend model).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import __version__
from .clv_metrics import align_clv, clv_metrics, decile_table, has_holdout, value_tiers
from .exceptions import CLVModelWarning, InputError
from .io import atomic_write_with, load_model, read_json
from .plotting import (
    ACTUAL,
    MUTED,
    ChartUnavailableError,
    mixing_distributions,
    model_label,
    plot_clv_distribution,
    plot_expected_purchases_matrix,
    plot_frequency_histogram,
    plot_gains_curve,
    plot_heterogeneity,
    plot_holdout_by_frequency,
    plot_p_alive_decay,
    plot_p_alive_matrix,
    plot_tracking,
    plot_value_by_decile,
    unit_name,
)
from .progress import Progress
from .rundir import check_run_folder
from .units import UNIT_DAYS, units_per_year

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backend_bases import RendererBase
    from matplotlib.figure import Figure

    from .models.base import BaseModel, PurchaseModel

#: A4 landscape, inches.
PAGE_SIZE = (11.69, 8.27)
#: Size of each figure written by :func:`write_figures`, inches (1200 x 750 px at 150 dpi).
FIGURE_SIZE = (8.0, 5.0)
DPI = 150
#: Page content stays above this (figure fraction); the footer rule is at 0.045.
CONTENT_BOTTOM = 0.065

DASH = "\N{EN DASH}"
INK = "#222222"
GREY = "#666666"
LIGHT = "#f3f5f8"
RULE = "#c9d1db"

#: Source of each model, by display name (see :func:`clvmodel.plotting.model_label`).
REFERENCES = {
    "BG/NBD": "Fader, Hardie & Lee (2005), “Counting Your Customers the Easy Way: An "
    "Alternative to the Pareto/NBD Model”, Marketing Science 24(2).",
    "Pareto/NBD": "Schmittlein, Morrison & Colombo (1987), “Counting Your Customers: Who Are "
    "They and What Will They Do Next?”, Management Science 33(1).",
    "MBG/NBD": "Batislam, Denizel & Filiztekin (2007), “Empirical validation and comparison of "
    "models for customer base analysis”, IJRM 24(3).",
    "BG/BB": "Fader, Hardie & Shang (2010), “Customer-Base Analysis in a Discrete-Time "
    "Noncontractual Setting”, Marketing Science 29(6).",
    "sBG": "Fader & Hardie (2007), “How to Project Customer Retention”, Journal of "
    "Interactive Marketing 21(1).",
    "Gamma-Gamma": "Fader & Hardie (2013), “The Gamma-Gamma Model of Monetary Value”; Fader, "
    "Hardie & Lee (2005), “RFM and CLV”, JMR 42(4).",
}


class ReportWarning(CLVModelWarning):
    """A chart or section of the report was left out; the message says which and why."""


# ------------------------------------------------------------------------ the run
@dataclass
class RunFiles:
    """Everything the report reads from a run directory.

    Attributes
    ----------
    directory : Path
    run : dict
        ``run.json``.
    summary : DataFrame
        ``summary.csv`` indexed by ``customer_id`` (text), with ``attrs`` ``time_unit``,
        ``first_date``, ``observation_end`` and ``calibration_end`` from ``run.json``.
    scores : DataFrame
        ``scores.csv`` (``customer_id`` as text).
    metrics : dict
        ``metrics.json`` (empty when absent).
    tracking : DataFrame or None
        ``tracking.csv``.
    purchase_model, spend_model
        The models named in ``run.json``, loaded from ``models/``.
    """

    directory: Path
    run: dict[str, Any]
    summary: pd.DataFrame
    scores: pd.DataFrame
    metrics: dict[str, Any]
    tracking: pd.DataFrame | None
    purchase_model: PurchaseModel
    spend_model: BaseModel | None
    skipped: list[str] = field(default_factory=list)

    @property
    def unit(self) -> str:
        """Time unit key (``"W"``)."""
        return str(self.run.get("time_unit") or self.purchase_model.time_unit_ or "W").upper()

    @property
    def holdout(self) -> bool:
        """Whether the run has a calibration end and the summary its holdout columns."""
        return bool(self.run.get("calibration_end")) and has_holdout(self.summary)

    @property
    def has_clv(self) -> bool:
        """Whether the scores carry CLV (a spend model was fitted)."""
        return "clv" in self.scores.columns and self.scores["clv"].notna().all()


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise InputError(
            f"The run directory {str(path.parent)!r} has no {path.name} ({what}). "
            f"Write it with `clvmodel run` first."
        )
    return path


def load_run(run_dir: str | Path) -> RunFiles:
    """Read the run directory ``run_dir`` (see the module docstring for the files)."""
    directory = Path(run_dir)
    if not directory.is_dir():
        raise InputError(f"The run directory {str(directory)!r} does not exist.")
    run = check_run_folder(_need(directory / "run.json", "what was run").parent)
    summary = pd.read_csv(
        _need(directory / "summary.csv", "the RFM summary"), dtype={"customer_id": str}
    )
    if "customer_id" not in summary.columns:
        raise InputError(f"{directory / 'summary.csv'} has no 'customer_id' column.")
    summary = summary.set_index("customer_id")
    summary.attrs.update(
        {
            "time_unit": run.get("time_unit"),
            "first_date": run.get("first_date"),
            "observation_end": run.get("observation_end"),
            "calibration_end": run.get("calibration_end"),
        }
    )
    scores = pd.read_csv(
        _need(directory / "scores.csv", "the customer scores"), dtype={"customer_id": str}
    )
    metrics_path = directory / "metrics.json"
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    tracking_path = directory / "tracking.csv"
    tracking = pd.read_csv(tracking_path) if tracking_path.is_file() else None
    key = run.get("purchase_model")
    if not key:
        raise InputError(f"{directory / 'run.json'} names no purchase_model.")
    purchase = load_model(
        _need(directory / "models" / f"{key}.json", f"the {key} model"), expected="purchase"
    )
    spend_key = run.get("spend_model")
    spend = (
        load_model(_need(directory / "models" / f"{spend_key}.json", f"the {spend_key} model"))
        if spend_key
        else None
    )
    return RunFiles(directory, run, summary, scores, metrics, tracking, purchase, spend)


# ---------------------------------------------------------------------- charts
Draw = Callable[["Axes"], "Axes"]


@dataclass(frozen=True)
class Chart:
    """A chart of the run: its file name (without ``.png``) and how to draw it on an Axes."""

    name: str
    draw: Draw


def example_customers(run: RunFiles, n: int = 3) -> tuple[pd.DataFrame, list[str]]:
    """A few repeat customers worth showing: the most valuable, a lapsed frequent buyer and a
    typical repeat buyer (by CLV, or expected purchases without CLV)."""
    scores = run.scores
    value_col = "clv" if run.has_clv else "expected_purchases"
    repeat = scores[scores["frequency"] > 0]
    if repeat.empty:
        return repeat, []
    picks: list[tuple[int, str]] = []
    top = int(repeat[value_col].idxmax())
    picks.append((top, "highest value"))
    lapsed_pool = repeat[(repeat["p_alive"] < 0.3) & ~repeat.index.isin([top])]
    if not lapsed_pool.empty:
        picks.append((int(lapsed_pool["frequency"].idxmax()), "frequent, lapsed"))
    rest = repeat[~repeat.index.isin([i for i, _ in picks])]
    if not rest.empty:
        median = rest[value_col].median()
        picks.append((int((rest[value_col] - median).abs().idxmin()), "typical repeat buyer"))
    picks = picks[:n]
    rows = scores.loc[[i for i, _ in picks]]
    unit = unit_name(run.unit)
    labels = [
        f"{row.customer_id}, {why}: {int(row.frequency)} repeat, last {row.T - row.recency:.0f} "
        f"{unit} ago"
        for (_, why), row in zip(picks, rows.itertuples(), strict=True)
    ]
    return rows, labels


def charts(run: RunFiles) -> list[Chart]:
    """Every chart the run supports, in report order."""
    model, summary = run.purchase_model, run.summary
    out = [Chart("frequency_histogram", lambda ax: plot_frequency_histogram(model, summary, ax=ax))]
    if run.holdout:
        out.append(
            Chart(
                "holdout_by_frequency", lambda ax: plot_holdout_by_frequency(model, summary, ax=ax)
            )
        )
    if run.tracking is not None:
        tracking = run.tracking
        out.append(Chart("tracking", lambda ax: plot_tracking(model, summary, tracking, ax=ax)))
        out.append(
            Chart(
                "tracking_cumulative",
                lambda ax: plot_tracking(model, summary, tracking, cumulative=True, ax=ax),
            )
        )
    for m in (model, run.spend_model):
        if m is None:
            continue
        for dist in mixing_distributions(m):
            out.append(
                Chart(
                    f"heterogeneity_{dist.key}",
                    lambda ax, m=m, key=dist.key: plot_heterogeneity(m, which=key, ax=ax),
                )
            )
    horizon = float(run.run.get("horizon") or 52.0)
    out.append(Chart("p_alive_matrix", lambda ax: plot_p_alive_matrix(model, summary, ax=ax)))
    out.append(
        Chart(
            "expected_purchases_matrix",
            lambda ax: plot_expected_purchases_matrix(model, summary, t=horizon, ax=ax),
        )
    )
    rows, labels = example_customers(run)
    if labels:
        out.append(
            Chart(
                "p_alive_examples",
                lambda ax: plot_p_alive_decay(model, rows, horizon=horizon, labels=labels, ax=ax),
            )
        )
    if run.has_clv:
        holdout = summary if run.holdout else None
        scores = run.scores
        out.append(
            Chart("clv_distribution", lambda ax: plot_clv_distribution(scores, holdout, ax=ax))
        )
        out.append(Chart("clv_gains", lambda ax: plot_gains_curve(scores, holdout, ax=ax)))
        out.append(Chart("clv_deciles", lambda ax: plot_value_by_decile(scores, holdout, ax=ax)))
    return out


def _new_figure(size: tuple[float, float], *, layout: str | None = None) -> Figure:
    """A figure outside pyplot (nothing global, nothing kept), on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _skip(run: RunFiles, name: str, exc: Exception) -> None:
    message = f"chart {name!r} left out: {exc}"
    if message not in run.skipped:
        run.skipped.append(message)
        warnings.warn(message, ReportWarning, stacklevel=3)


def write_figures(run_dir: str | Path) -> list[Path]:
    """Draw every chart of the run to ``run_dir/figures/NAME.png`` (150 dpi), atomically.

    Charts the models do not support are left out with a :class:`ReportWarning`.

    Returns
    -------
    list of Path
        The files written, in report order.
    """
    run = load_run(run_dir)
    out_dir = run.directory / "figures"
    written: list[Path] = []
    todo = charts(run)
    with Progress("Writing figures", total=len(todo)) as progress:
        for chart in todo:
            fig = _new_figure(FIGURE_SIZE, layout="constrained")
            try:
                chart.draw(fig.add_subplot())
            except ChartUnavailableError as exc:
                _skip(run, chart.name, exc)
                progress.advance(detail=chart.name)
                continue
            path = out_dir / f"{chart.name}.png"
            atomic_write_with(path, lambda tmp, fig=fig: fig.savefig(tmp, dpi=DPI, format="png"))
            written.append(path)
            progress.advance(detail=chart.name)
    return written


# ----------------------------------------------------------------- formatting
def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt_number(value: Any, digits: int = 3) -> str:
    """``1234.5`` -> ``"1,235"``, ``0.01234`` -> ``"0.0123"``; missing -> ``"n/a"``."""
    if _missing(value):
        return "n/a"
    v = float(value)
    if abs(v) >= 10**digits:
        return f"{v:,.0f}"
    return f"{v:,.{digits}g}" if v != 0 else "0"


def fmt_count(value: Any) -> str:
    """A count or expected count, rounded to a whole number: ``956.17`` -> ``"956"``."""
    return "n/a" if _missing(value) else f"{float(value):,.0f}"


def fmt_money(value: Any) -> str:
    """Amounts: whole numbers from 1,000, two decimals below."""
    if _missing(value):
        return "n/a"
    v = float(value)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}"


def fmt_pct(value: Any, digits: int = 0, *, signed: bool = False) -> str:
    """``0.123`` -> ``"12%"``."""
    if _missing(value):
        return "n/a"
    return f"{float(value):{'+' if signed else ''}.{digits}%}"


def _date(value: Any) -> str:
    return pd.Timestamp(value).strftime("%d %b %Y") if value else "n/a"


def _span(start: Any, end: Any, unit: str, *, shown_start: Any = None) -> str:
    length = (pd.Timestamp(end) - pd.Timestamp(start)) / pd.Timedelta(days=UNIT_DAYS[unit])
    first = _date(shown_start if shown_start is not None else start)
    return f"{first} {DASH} {_date(end)} ({length:.1f} {unit_name(unit)})"


# ------------------------------------------------------------- page drawing
class Page:
    """One report page and helpers that draw on it in figure fractions.

    Positions are figure fractions (0-1, origin bottom left). Text widths and heights are
    measured with the Agg renderer, so tables and wrapped text fit their boxes.
    """

    def __init__(self, fig: Figure, renderer: RendererBase) -> None:
        self.fig = fig
        self.renderer = renderer
        self.width_in, self.height_in = fig.get_size_inches()

    # measurements ------------------------------------------------------------
    def text_width(self, text: str, size: float, weight: str = "normal") -> float:
        """Width of ``text`` in figure fraction."""
        from matplotlib.font_manager import FontProperties

        w, _, _ = self.renderer.get_text_width_height_descent(
            text, FontProperties(size=size, weight=weight), ismath=False
        )
        return w / self.fig.dpi / self.width_in

    def extent(self, artist: Any) -> tuple[float, float]:
        """Width and height of a drawn artist in figure fractions."""
        box = artist.get_window_extent(self.renderer)
        return box.width / self.fig.dpi / self.width_in, box.height / self.fig.dpi / self.height_in

    def wrap(self, text: str, width: float, size: float, weight: str = "normal") -> list[str]:
        """Greedy word wrap of ``text`` to ``width`` (figure fraction)."""
        lines: list[str] = []
        for para in text.split("\n"):
            line = ""
            for word in para.split():
                trial = f"{line} {word}".strip()
                if line and self.text_width(trial, size, weight) > width:
                    lines.append(line)
                    line = word
                else:
                    line = trial
            lines.append(line)
        return lines

    def line_height(self, size: float, spacing: float = 1.45) -> float:
        """Height of one text line in figure fraction."""
        return size * spacing / 72.0 / self.height_in

    # drawing -----------------------------------------------------------------
    def text(self, x: float, y: float, s: str, **kwargs: Any) -> Any:
        """``fig.text`` with the report's defaults (top-left anchored, ink colour)."""
        kwargs.setdefault("va", "top")
        kwargs.setdefault("ha", "left")
        kwargs.setdefault("color", INK)
        kwargs.setdefault("fontsize", 9)
        return self.fig.text(x, y, s, **kwargs)

    def paragraph(
        self,
        x: float,
        y: float,
        text: str,
        width: float,
        *,
        size: float = 9,
        color: str = INK,
        weight: str = "normal",
        spacing: float = 1.45,
    ) -> float:
        """Wrapped text from ``(x, y)`` down; returns the y below it."""
        for line in self.wrap(text, width, size, weight):
            self.text(x, y, line, fontsize=size, color=color, fontweight=weight)
            y -= self.line_height(size, spacing)
        return y

    def run_in(
        self, x: float, y: float, term: str, text: str, width: float, *, size: float = 8.5
    ) -> float:
        """A paragraph led by ``term`` in bold on its first line; returns the y below it."""
        self.text(x, y, term, fontsize=size, fontweight="bold")
        indent = self.text_width(term + " ", size, "bold")
        words = text.split()
        first = ""
        while words and self.text_width(f"{first} {words[0]}".strip(), size) <= width - indent:
            first = f"{first} {words.pop(0)}".strip()
        if first:
            self.text(x + indent, y, first, fontsize=size, color="#333333")
        y -= self.line_height(size, 1.32)
        if words:
            rest = " ".join(words)
            y = self.paragraph(x, y, rest, width, size=size, color="#333333", spacing=1.32)
        return y

    def bullets(
        self, x: float, y: float, items: Sequence[str], width: float, size: float = 9
    ) -> float:
        """A bulleted list with hanging indent; returns the y below it."""
        indent = 0.014
        for item in items:
            self.text(x, y, "\N{BULLET}", fontsize=size, color=ACTUAL, fontweight="bold")
            y = self.paragraph(x + indent, y, item, width - indent, size=size, spacing=1.4)
            y -= self.line_height(size, 0.45)
        return y

    def formula(self, x: float, y: float, tex: str, width: float, size: float = 10.5) -> float:
        """A mathtext line, shrunk to fit ``width``; returns the y below it."""
        artist = self.text(x, y, tex, fontsize=size)
        w, h = self.extent(artist)
        while w > width and size > 7:
            size -= 0.5
            artist.set_fontsize(size)
            w, h = self.extent(artist)
        return y - h - 0.012

    def rect(self, x: float, y: float, w: float, h: float, colour: str, **kwargs: Any) -> None:
        """A filled rectangle in figure fractions (``y`` is its bottom)."""
        from matplotlib.patches import FancyBboxPatch, Rectangle

        if kwargs.pop("rounded", False):
            patch: Any = FancyBboxPatch(
                (x, y),
                w,
                h,
                boxstyle="round,pad=0,rounding_size=0.008",
                transform=self.fig.transFigure,
                facecolor=colour,
                edgecolor="none",
                **kwargs,
            )
        else:
            patch = Rectangle(
                (x, y), w, h, transform=self.fig.transFigure, facecolor=colour, edgecolor="none"
            )
        self.fig.add_artist(patch)

    def hline(self, x0: float, x1: float, y: float, colour: str = RULE, width: float = 0.8) -> None:
        """A horizontal rule."""
        from matplotlib.lines import Line2D

        self.fig.add_artist(
            Line2D([x0, x1], [y, y], transform=self.fig.transFigure, color=colour, linewidth=width)
        )

    def heading(self, x: float, y: float, text: str, width: float) -> float:
        """A section heading with a rule under it; returns the y below."""
        self.text(x, y, text, fontsize=11, fontweight="bold", color=ACTUAL)
        y -= self.line_height(11, 1.35)
        self.hline(x, x + width, y + 0.004, colour=ACTUAL, width=1.0)
        return y - 0.014

    def key_values(
        self,
        x: float,
        y: float,
        items: Sequence[tuple[str, str]],
        width: float,
        *,
        size: float = 8.8,
    ) -> float:
        """Two-column list of label and (wrapped) value; returns the y below it."""
        key_w = max(self.text_width(k, size) for k, _ in items) + 0.012
        for key, value in items:
            self.text(x, y, key, fontsize=size, color=GREY)
            y = self.paragraph(x + key_w, y, value, width - key_w, size=size)
            y -= self.line_height(size, 0.3)
        return y

    def table(
        self,
        x: float,
        y: float,
        width: float,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        align: Sequence[str] | None = None,
        size: float = 8.5,
        min_size: float = 6.5,
        highlight: Sequence[int] = (),
    ) -> float:
        """A table whose columns are sized to their contents; returns the y below it.

        The font shrinks (down to ``min_size``) until the columns fit ``width``; spare width
        is shared out in proportion to the columns' widths. Header cells may hold two lines
        separated by ``\\n``.
        """
        ncol = len(header)
        align = list(align) if align is not None else ["left"] + ["right"] * (ncol - 1)
        pad = 0.08 / self.width_in  # 0.08 in either side

        def natural(sz: float) -> list[float]:
            widths = []
            for j in range(ncol):
                head = max(self.text_width(part, sz, "bold") for part in header[j].split("\n"))
                body = max((self.text_width(r[j], sz) for r in rows), default=0.0)
                widths.append(max(head, body) + 2 * pad)
            return widths

        widths = natural(size)
        while sum(widths) > width and size > min_size:
            size = max(size - 0.25, min_size)
            widths = natural(size)
        spare = max(width - sum(widths), 0.0)
        widths = [w + spare * w / sum(widths) for w in widths]
        lefts = np.concatenate([[x], x + np.cumsum(widths)[:-1]])
        head_lines = max(len(h.split("\n")) for h in header)
        row_h = self.line_height(size, 1.75)
        head_h = row_h + (head_lines - 1) * self.line_height(size, 1.2)
        self.rect(x, y - head_h, width, head_h, ACTUAL)
        for j, h in enumerate(header):
            hx, ha = self._cell_x(lefts[j], widths[j], pad, align[j])
            self.text(
                hx,
                y - head_h / 2,
                h,
                fontsize=size,
                fontweight="bold",
                color="white",
                ha=ha,
                va="center",
                multialignment=ha,
                linespacing=1.15,
            )
        y -= head_h
        for i, row in enumerate(rows):
            if i in highlight:
                self.rect(x, y - row_h, width, row_h, "#fdebd9")
            elif i % 2 == 1:
                self.rect(x, y - row_h, width, row_h, LIGHT)
            for j, cell in enumerate(row):
                cx, ha = self._cell_x(lefts[j], widths[j], pad, align[j])
                self.text(cx, y - row_h / 2, cell, fontsize=size, ha=ha, va="center")
            y -= row_h
        self.hline(x, x + width, y, colour=RULE)
        return y

    @staticmethod
    def _cell_x(left: float, width: float, pad: float, align: str) -> tuple[float, str]:
        if align == "right":
            return left + width - pad, "right"
        if align == "center":
            return left + width / 2, "center"
        return left + pad, "left"

    TILE_PAD = 0.013

    def _tile_lines(self, w: float, label: str, sub: str) -> tuple[list[str], list[str]]:
        inner_w = w - 0.028
        return self.wrap(label, inner_w, 8.4), (self.wrap(sub, inner_w, 7.7) if sub else [])

    def tile_height(self, w: float, label: str, sub: str = "") -> float:
        """Height :meth:`tile` will take, in figure fraction."""
        label_lines, sub_lines = self._tile_lines(w, label, sub)
        return (
            2 * self.TILE_PAD
            + len(label_lines) * self.line_height(8.4, 1.3)
            + self.line_height(17, 1.25)
            + len(sub_lines) * self.line_height(7.7, 1.3)
        )

    def tile(self, x: float, y: float, w: float, value: str, label: str, sub: str = "") -> float:
        """A headline number in a shaded box whose top is at ``y``; returns the box bottom."""
        label_lines, sub_lines = self._tile_lines(w, label, sub)
        h = self.tile_height(w, label, sub)
        self.rect(x, y - h, w, h, LIGHT, rounded=True)
        self.rect(x, y - h, 0.0045, h, ACTUAL)
        inner, yy = x + 0.016, y - self.TILE_PAD
        for line in label_lines:
            self.text(inner, yy, line, fontsize=8.4, color=GREY)
            yy -= self.line_height(8.4, 1.3)
        self.text(inner, yy, value, fontsize=17, fontweight="bold", color=ACTUAL)
        yy -= self.line_height(17, 1.25)
        for line in sub_lines:
            self.text(inner, yy, line, fontsize=7.7, color=GREY)
            yy -= self.line_height(7.7, 1.3)
        return y - h

    def axes(self, rect: tuple[float, float, float, float]) -> Axes:
        """An Axes at ``[left, bottom, width, height]`` in figure fractions."""
        return self.fig.add_axes(rect)

    def message_box(self, rect: tuple[float, float, float, float], title: str, body: str) -> None:
        """A shaded panel with a title and wrapped text, in place of a chart."""
        left, bottom, w, h = rect
        self.rect(left, bottom, w, h, LIGHT, rounded=True)
        y = bottom + h - 0.03
        self.text(left + 0.02, y, title, fontsize=11, fontweight="bold", color=ACTUAL)
        self.paragraph(left + 0.02, y - 0.045, body, w - 0.04, size=9.5, color=INK)


def _grid(
    n_rows: int,
    n_cols: int,
    *,
    left: float = 0.07,
    right: float = 0.975,
    bottom: float = 0.125,
    top: float = 0.79,
    hgap: float = 0.08,
    vgap: float = 0.14,
) -> list[tuple[float, float, float, float]]:
    """Axes rectangles of a grid (row by row), gaps in figure fractions.

    The defaults leave room for tick labels, axis labels and titles inside the page's
    content area (between the section subtitle and the footer).
    """
    w = (right - left - (n_cols - 1) * hgap) / n_cols
    h = (top - bottom - (n_rows - 1) * vgap) / n_rows
    return [
        (left + c * (w + hgap), top - (r + 1) * h - r * vgap, w, h)
        for r in range(n_rows)
        for c in range(n_cols)
    ]


# ------------------------------------------------------------------------ pages
@dataclass
class ReportContext:
    """What the pages share: the run, its charts, holdout accuracy and CLV metrics."""

    run: RunFiles
    clv: dict[str, Any] | None
    charts: dict[str, Chart]
    holdout: dict[str, Any] | None = None

    @property
    def unit(self) -> str:
        """Time unit key."""
        return self.run.unit

    @property
    def units(self) -> str:
        """Time unit in words (``"weeks"``)."""
        return unit_name(self.run.unit)

    @property
    def horizon(self) -> float:
        """CLV horizon in time units."""
        return float(self.run.run.get("horizon") or 52.0)

    @property
    def horizon_text(self) -> str:
        """The CLV horizon in words: ``"52 weeks"``, ``"52.2 weeks (one year)"``."""
        h = self.horizon
        text = f"{h:.0f}" if abs(h - round(h)) < 1e-9 else f"{h:.3g}"
        text = f"{text} {self.units if text != '1' else unit_name(self.unit, plural=False)}"
        if self.unit != "Y" and abs(h - units_per_year(self.unit)) < 1e-6:
            text += " (one year)"
        return text

    @property
    def holdout_length(self) -> str:
        """``"25.9 weeks"``, or ``""`` without a holdout."""
        if not self.run.holdout:
            return ""
        d = pd.to_numeric(self.run.summary["duration_holdout"]).max()
        return f"{d:.3g} {self.units}"

    @property
    def holdout_adjective(self) -> str:
        """``"25.9-week"``, or ``""`` without a holdout."""
        if not self.run.holdout:
            return ""
        d = pd.to_numeric(self.run.summary["duration_holdout"]).max()
        return f"{d:.3g}-{unit_name(self.run.unit, plural=False)}"


def _draw_chart(
    ctx: ReportContext, page: Page, name: str, rect: tuple[float, float, float, float]
) -> bool:
    chart = ctx.charts.get(name)
    if chart is None:
        return False
    ax = page.axes(rect)
    try:
        chart.draw(ax)
    except ChartUnavailableError as exc:
        ax.remove()
        _skip(ctx.run, name, exc)
        page.message_box(rect, "Chart not available", str(exc))
        return False
    return True


def _holdout_sentence(ctx: ReportContext) -> str:
    run = ctx.run.run
    return (
        "The model was fitted on all the data up to "
        f"{_date(run.get('observation_end'))}, so its predictions have not been checked "
        "against purchases it had not seen. To validate it, re-run with the "
        "--calibration-end option: the months after that date are held back and predicted."
    )


def _param_rows(model: BaseModel) -> list[list[str]]:
    table = model.summary()
    rows = []
    for name, row in table.iterrows():
        lo, hi = float(row.iloc[2]), float(row.iloc[3])
        interval = "n/a" if _missing(lo) else f"{fmt_number(lo, 3)} {DASH} {fmt_number(hi, 3)}"
        rows.append(
            [str(name), fmt_number(row["estimate"], 4), fmt_number(row["std_error"], 3), interval]
        )
    return rows


def _key_points(ctx: ReportContext) -> list[str]:
    run, c = ctx.run, ctx.clv
    scores = run.scores
    n = len(scores)
    points = []
    if c is not None:
        points.append(
            f"The top 20% of customers account for {fmt_pct(c['top_20pct_share'])} of the value "
            f"expected over the next {ctx.horizon_text}."
        )
    alive = float(scores["p_alive"].sum())
    points.append(
        f"About {alive:,.0f} of the {n:,} customers ({fmt_pct(alive / n)}) are likely still active."
    )
    once = int((scores["frequency"] == 0).sum())
    points.append(
        f"{once:,} customers ({fmt_pct(once / n)}) have not bought again after their first "
        f"purchase" + (" in the calibration period." if run.holdout else ".")
    )
    hold = ctx.holdout
    if hold:
        points.append(
            f"Checked on a {ctx.holdout_adjective} holdout: "
            f"{fmt_count(hold.get('predicted_purchases'))} repeat purchases predicted, "
            f"{fmt_count(hold.get('actual_purchases'))} made "
            f"({fmt_pct(hold.get('aggregate_error'), 1, signed=True)})."
        )
        if c is not None and c.get("top_10pct_holdout_share") is not None:
            points.append(
                f"The 10% of customers ranked highest by predicted CLV made "
                f"{fmt_pct(c['top_10pct_holdout_share'])} of actual holdout spend."
            )
    else:
        points.append("Predictions are not validated: this run has no holdout period.")
    return points


def page_summary(ctx: ReportContext, page: Page) -> tuple[str, str]:
    """Page 1: data, model, headline figures."""
    run = ctx.run
    info = run.run
    unit, units = ctx.unit, ctx.units
    top = 0.80
    col_w = 0.285
    xs = (0.04, 0.357, 0.675)

    # ---- the data
    y = page.heading(xs[0], top, "The data", col_w)
    ledger = info.get("ledger") or {}
    rejected = int(ledger.get("rejected_rows") or 0)
    reasons = ledger.get("by_reason") or {}
    rows_text = f"{fmt_count(ledger.get('used_rows'))} used, {rejected:,} rejected"
    if rejected and reasons:
        rows_text += " (" + "; ".join(f"{k}: {v:,}" for k, v in reasons.items()) + ")"
    items = [
        ("Input", Path(str(info.get("input", "n/a"))).name),
        ("Customers", f"{int(info.get('n_customers') or len(run.summary)):,}"),
        ("Purchase days", fmt_count(info.get("n_transactions"))),
        ("Input rows", rows_text),
        ("Observed", _span(info.get("first_date"), info.get("observation_end"), unit)),
    ]
    if run.holdout:
        cal_end = pd.Timestamp(info["calibration_end"])
        items += [
            ("Calibration", _span(info.get("first_date"), cal_end, unit)),
            (
                "Holdout",
                _span(
                    cal_end,
                    info.get("observation_end"),
                    unit,
                    shown_start=cal_end + pd.Timedelta(days=1),
                ),
            ),
        ]
    else:
        items.append(("Holdout", "none: the model is not validated"))
    items += [
        ("Time unit", units),
        (
            "CLV settings",
            f"next {ctx.horizon_text}; discount {fmt_pct(info.get('discount_rate', 0), 1)} "
            f"a year; margin {fmt_pct(info.get('margin', 1), 0)} of spend",
        ),
    ]
    y = page.key_values(xs[0], y, items, col_w)
    y = page.heading(xs[0], y - 0.03, "Key points", col_w)
    page.bullets(xs[0], y, _key_points(ctx), col_w, size=8.8)

    # ---- the model
    pm, sm = run.purchase_model, run.spend_model
    y = page.heading(xs[1], top, "The model", col_w)
    page.text(xs[1], y, f"Purchases: {model_label(pm)}", fontsize=9.5, fontweight="bold")
    y -= page.line_height(9.5)
    reason = str(info.get("choice_reason") or "chosen by the user").rstrip(".")
    for key in {pm.name, str(info.get("purchase_model") or pm.name)}:
        reason = re.sub(rf"(?<![\w-]){re.escape(key)}(?![\w-])", model_label(key), reason)
    y = page.paragraph(xs[1], y, f"Why: {reason}.", col_w, size=8.5, color=GREY)
    y -= 0.008
    header = ["Parameter", "Estimate", "Std. error", "95% interval"]
    y = page.table(xs[1], y, col_w, header, _param_rows(pm), size=8.3)
    fit = pm.result_
    y -= 0.008
    page.text(
        xs[1],
        y,
        f"{fit.n_obs:,} customers · log-likelihood {fit.log_likelihood:,.1f} · BIC {fit.bic:,.1f}",
        fontsize=7.8,
        color=GREY,
    )
    y -= 0.05
    if sm is not None:
        page.text(xs[1], y, f"Spend: {model_label(sm)}", fontsize=9.5, fontweight="bold")
        y -= page.line_height(9.5)
        note = "Spend per purchase, fitted on the customers with repeat purchases."
        y = page.paragraph(xs[1], y, note, col_w, size=8.5, color=GREY)
        y -= 0.008
        y = page.table(xs[1], y, col_w, header, _param_rows(sm), size=8.3)
        mean_spend = getattr(sm, "population_mean_spend", None)
        if mean_spend is not None:
            try:
                text = f"Mean spend per purchase across customers: {fmt_money(mean_spend())}"
            except InputError:  # q <= 1: no finite mean
                text = "The fitted spend distribution has no finite mean (q <= 1)."
            page.text(xs[1], y - 0.008, text, fontsize=7.8, color=GREY)
    else:
        page.paragraph(
            xs[1], y, "No spend model: the input had no amounts, so no CLV.", col_w, size=8.5
        )

    # ---- headline figures
    y = page.heading(xs[2], top, "Headline figures", col_w)
    tiles: list[tuple[str, str, str]] = []
    scores = run.scores
    alive = float(scores["p_alive"].sum())
    n = len(scores)
    if ctx.clv is not None:
        c = ctx.clv
        tiles.append(
            (
                fmt_money(c["clv_total"]),
                f"Predicted value, next {ctx.horizon_text}",
                f"mean {fmt_money(c['clv_mean'])}, median {fmt_money(c['clv_median'])} per "
                "customer",
            )
        )
        tiles.append(
            (
                fmt_pct(c["top_20pct_share"]),
                "of it held by the top 20% of customers",
                f"top 10%: {fmt_pct(c['top_10pct_share'])}",
            )
        )
    tiles.append(
        (
            f"{alive:,.0f}",
            "customers expected to be still active",
            f"{fmt_pct(alive / n)} of {n:,} (sum of P(alive))",
        )
    )
    tiles.append(
        (
            fmt_count(scores["expected_purchases"].sum()),
            f"repeat purchases expected, next {ctx.horizon_text}",
            "all customers, not discounted",
        )
    )
    hold = ctx.holdout
    if hold:
        tiles.append(
            (
                fmt_pct(hold.get("aggregate_error"), 1, signed=True),
                f"holdout error in purchases ({ctx.holdout_length})",
                f"predicted {fmt_count(hold.get('predicted_purchases'))}, actual "
                f"{fmt_count(hold.get('actual_purchases'))}",
            )
        )
    else:
        tiles.append(("n/a", "holdout accuracy", "no holdout period: not validated"))
    if ctx.clv is not None and ctx.clv.get("gini") is not None:
        tiles.append(
            (
                f"{ctx.clv['gini']:.2f}",
                "Gini of the CLV ranking on holdout spend",
                f"best possible {ctx.clv['gini_perfect']:.2f}; a random ranking scores 0",
            )
        )
    # Keep the tiles above the footer: tighten the gaps, then leave out the least important.
    room = y - CONTENT_BOTTOM
    gap = 0.012
    while tiles:
        heights = [page.tile_height(col_w, label, sub) for _, label, sub in tiles]
        if sum(heights) + gap * (len(tiles) - 1) <= room:
            break
        if gap > 0.005:
            gap = 0.005
        else:
            tiles.pop(min(3, len(tiles) - 1))  # expected purchases first, never the CLV total
    for value, label, sub in tiles:
        y = page.tile(xs[2], y, col_w, value, label, sub) - gap

    subtitle = (
        f"{int(info.get('n_customers') or n):,} customers observed "
        f"{_date(info.get('first_date'))} {DASH} {_date(info.get('observation_end'))}; "
        f"purchases modelled with {model_label(pm)}"
        + (f", spend with {model_label(sm)}" if sm is not None else "")
        + ("." if run.holdout else "; no holdout validation.")
    )
    return "Summary", subtitle


def page_diagnostics(ctx: ReportContext, page: Page) -> tuple[str, str]:
    """Page 2: does the model reproduce the data it was fitted on and predict the rest?"""
    run = ctx.run
    models = run.metrics.get("models") or {}
    compare = len(models) > 1
    rects = _grid(2, 2, right=0.66 if compare else 0.975)
    _draw_chart(ctx, page, "frequency_histogram", rects[0])
    if run.holdout:
        _draw_chart(ctx, page, "holdout_by_frequency", rects[1])
    else:
        page.message_box(rects[1], "No holdout period", _holdout_sentence(ctx))
    if run.tracking is not None:
        _draw_chart(ctx, page, "tracking", rects[2])
        _draw_chart(ctx, page, "tracking_cumulative", rects[3])
    else:
        page.message_box(
            (rects[2][0], rects[2][1], rects[3][0] + rects[3][2] - rects[2][0], rects[2][3]),
            "No tracking data",
            "The run directory has no tracking.csv, so repeat transactions over time are "
            "not shown.",
        )
    if compare:
        x0, w = 0.70, 0.26
        y = page.heading(x0, 0.80, "Models compared", w)
        header = ["Model", "BIC", "Holdout\nerror", "MAE"]
        rows = []
        chosen = run.run.get("purchase_model")
        highlight = []
        ordered = sorted(models.items(), key=lambda kv: kv[1].get("bic") or math.inf)
        for i, (key, m) in enumerate(ordered):
            if key == chosen:
                highlight.append(i)
            rows.append(
                [
                    model_label(key) + (" *" if key == chosen else ""),
                    fmt_count(m.get("bic")),
                    fmt_pct(m.get("aggregate_error"), 1, signed=True),
                    fmt_number(m.get("mae"), 3),
                ]
            )
        y = page.table(x0, y, w, header, rows, highlight=highlight)
        page.paragraph(
            x0,
            y - 0.012,
            "* chosen model. Lower BIC: a better fit after a penalty for parameters. Holdout "
            "error: predicted / actual holdout purchases - 1. MAE: mean absolute error of "
            "holdout purchases per customer.",
            w,
            size=7.8,
            color=GREY,
        )
    hold = ctx.holdout
    if hold:
        subtitle = (
            f"Over the {ctx.holdout_adjective} holdout the model predicted "
            f"{fmt_count(hold.get('predicted_purchases'))} repeat purchases and "
            f"{fmt_count(hold.get('actual_purchases'))} were made "
            f"({fmt_pct(hold.get('aggregate_error'), 1, signed=True)}). Where actual and model "
            f"agree, the model describes these customers well."
        )
    else:
        subtitle = (
            "How well the model reproduces the data it was fitted on. There is no holdout "
            "period, so no check on data the model has not seen."
        )
    return "Model fit", subtitle


def page_heterogeneity(ctx: ReportContext, page: Page) -> tuple[str, str]:
    """Page 3: the fitted differences between customers, and example customers."""
    names = [n for n in ctx.charts if n.startswith("heterogeneity_")][:3]
    names.append("p_alive_examples")
    for name, rect in zip(names, _grid(2, 2), strict=False):
        _draw_chart(ctx, page, name, rect)
    subtitle = (
        "The model describes customers as differing in how often they buy and how soon they "
        "stop; these are the fitted spreads across the customer base, and how P(alive) "
        "falls for three customers who stop buying."
    )
    return "How customers differ", subtitle


def page_expectations(ctx: ReportContext, page: Page) -> tuple[str, str]:
    """Page 4: P(alive) and expected purchases by frequency and recency."""
    rects = _grid(1, 2, top=0.77, bottom=0.16, right=0.9, hgap=0.15)
    _draw_chart(ctx, page, "p_alive_matrix", rects[0])
    _draw_chart(ctx, page, "expected_purchases_matrix", rects[1])
    alive = ctx.run.scores["p_alive"]
    subtitle = (
        f"Customers who bought often and recently are the most likely to be active and to buy "
        f"again. {fmt_pct((alive >= 0.5).mean())} of customers are more likely active than not."
    )
    return "What the model expects of each customer", subtitle


def page_value(ctx: ReportContext, page: Page) -> tuple[str, str]:
    """Page 5: CLV distribution, gains curve, deciles."""
    run = ctx.run
    if ctx.clv is None:
        page.message_box(
            (0.06, 0.3, 0.88, 0.4),
            "No customer value",
            "The run has no spend model (the input had no amounts), so CLV was not computed.",
        )
        return "Customer value", "No CLV in this run."
    rects = _grid(2, 2)
    _draw_chart(ctx, page, "clv_distribution", rects[0])
    _draw_chart(ctx, page, "clv_gains", rects[1])
    _draw_chart(ctx, page, "clv_deciles", rects[2])
    clv, actual = align_clv(run.scores, run.summary if run.holdout else None)
    table = decile_table(clv.to_numpy(), None if actual is None else actual.to_numpy())
    x0, _, w, h = rects[3]
    y = page.heading(x0, rects[3][1] + h + 0.035, "Value by decile of predicted CLV", w)
    header = ["Decile", "Customers", "Predicted\nCLV", "Share of\nCLV", "Mean\nCLV"]
    if actual is not None:
        header += ["Share of\nholdout spend", "Lift"]
    rows = []
    for d, r in table.iterrows():
        row = [
            f"{d}" + (" (top)" if d == 1 else ""),
            f"{int(r['customers']):,}",
            fmt_money(r["predicted"]),
            fmt_pct(r["predicted_share"], 1),
            fmt_money(r["predicted"] / r["customers"]),
        ]
        if actual is not None:
            row += [fmt_pct(r["actual_share"], 1), f"{r['lift']:.2f}"]
        rows.append(row)
    y = page.table(x0, y, w, header, rows, size=8.2)
    if actual is not None:
        page.paragraph(
            x0,
            y - 0.01,
            "Lift: the decile's share of holdout spend divided by its 10% share of customers "
            "(1 = no better than random).",
            w,
            size=7.6,
            color=GREY,
        )
    c = ctx.clv
    subtitle = (
        f"Predicted value over the next {ctx.horizon_text}: the top 10% of customers "
        f"hold {fmt_pct(c['top_10pct_share'])} of it"
        + (
            f"; ranked this way, they made {fmt_pct(c['top_10pct_holdout_share'])} of actual "
            f"holdout spend."
            if c.get("top_10pct_holdout_share") is not None
            else ". Without a holdout the ranking is not checked against actual spend."
        )
    )
    return "Customer value", subtitle


def page_segments(ctx: ReportContext, page: Page) -> tuple[str, str]:
    """Page 6: value tiers and the top customers."""
    run = ctx.run
    if ctx.clv is None:
        page.message_box((0.06, 0.3, 0.88, 0.4), "No segments", "No CLV in this run.")
        return "Segments", "No CLV in this run."
    x0, w = 0.04, 0.92
    y = page.heading(x0, 0.80, "Value tiers (customers ranked by predicted CLV)", w)
    tiers = value_tiers(run.scores, run.summary if run.holdout else None)
    header = [
        "Tier",
        "Customers",
        "Share of\ncustomers",
        "Predicted\nCLV",
        "Share of\nCLV",
        "Mean\nCLV",
        "Mean\nP(alive)",
        f"Mean expected purchases\nnext {ctx.horizon_text}",
    ]
    holdout = "holdout_spend_share" in tiers.columns
    if holdout:
        header.append("Share of\nholdout spend")
    rows = []
    for tier, r in tiers.iterrows():
        row = [
            str(tier),
            f"{int(r['customers']):,}",
            fmt_pct(r["customer_share"], 0),
            fmt_money(r["clv_total"]),
            fmt_pct(r["clv_share"], 1),
            fmt_money(r["clv_mean"]),
            f"{r.get('p_alive_mean', float('nan')):.2f}",
            f"{r.get('expected_purchases_mean', float('nan')):.2f}",
        ]
        if holdout:
            row.append(fmt_pct(r["holdout_spend_share"], 1))
        rows.append(row)
    y = page.table(x0, y, w, header, rows, size=8.6)
    y -= 0.055
    k = 12
    y = page.heading(x0, y, f"Top {k} customers by predicted CLV", w)
    top = run.scores.sort_values("clv", ascending=False, kind="stable").head(k)
    header = [
        "Rank",
        "Customer",
        "Repeat\npurchases",
        f"Last purchase\n({ctx.units} ago)",
        f"Customer for\n({ctx.units})",
        "P(alive)",
        f"Expected purchases\nnext {ctx.horizon_text}",
        "Expected spend\nper purchase",
        "Predicted\nCLV",
    ]
    actual = None
    if holdout:
        header.append(f"Holdout spend\n({ctx.holdout_length})")
        _, actual = align_clv(run.scores, run.summary)
    rows = []
    for rank, r in enumerate(top.itertuples(), start=1):
        row = [
            str(rank),
            str(r.customer_id),
            f"{int(r.frequency):,}",
            f"{r.T - r.recency:.1f}",
            f"{r.T:.1f}",
            f"{r.p_alive:.2f}",
            f"{r.expected_purchases:.1f}",
            fmt_money(r.expected_spend),
            fmt_money(r.clv),
        ]
        if actual is not None:
            row.append(fmt_money(actual.get(str(r.customer_id), float("nan"))))
        rows.append(row)
    align = ["right", "left"] + ["right"] * (len(header) - 2)
    page.table(x0, y, w, header, rows, align=align, size=8.6)
    first, top5 = tiers.iloc[0], tiers.iloc[:2]
    subtitle = (
        f"The top 1% of customers ({int(first['customers']):,}) hold "
        f"{fmt_pct(first['clv_share'])} of predicted value; the top 5% hold "
        f"{fmt_pct(top5['clv_share'].sum())}. Customer-level scores for everyone are in "
        f"scores.csv."
    )
    return "Segments", subtitle


def _formulas(ctx: ReportContext) -> list[tuple[str, list[str]]]:
    """Blocks of (title, lines) for the formulas column; mathtext lines start with ``$``."""
    run = ctx.run
    key = run.purchase_model.name
    blocks: list[tuple[str, list[str]]] = []
    if key == "bgnbd":
        blocks.append(
            (
                "BG/NBD purchase model",
                [
                    "While active a customer buys at rate λ; after each repeat purchase they "
                    "become inactive with probability p. Across customers:",
                    r"$\lambda \sim \mathrm{Gamma}(r,\ \alpha), \quad p \sim \mathrm{Beta}(a,\ b)$",
                    "P(alive) at T after x repeat purchases, the last at t_x (1 when x = 0):",
                    r"$P(\mathrm{alive}) = \left[1 + \dfrac{a}{b+x-1}\left(\dfrac{\alpha+T}"
                    r"{\alpha+t_x}\right)^{r+x}\right]^{-1}$",
                    "Expected repeat purchases in the next t:",
                    r"$E[X(t)] = \dfrac{a+b+x-1}{a-1}\left[1-\left(\dfrac{\alpha+T}{\alpha+T+t}"
                    r"\right)^{r+x} {}_2F_1(r+x,\ b+x;\ a+b+x-1;\ z)\right] P(\mathrm{alive})$",
                    r"$\mathrm{where}\ z = t\,/\,(\alpha + T + t)$",
                ],
            )
        )
    else:
        blocks.append(
            (
                f"{model_label(key)} purchase model",
                [
                    "P(alive) and expected purchases are the closed-form expressions of "
                    + REFERENCES.get(model_label(key), "the model's source paper"),
                ],
            )
        )
    if run.spend_model is not None:
        blocks.append(
            (
                "Gamma-Gamma spend model",
                [
                    "The value z of each purchase is gamma distributed, with a rate that "
                    "varies across customers:",
                    r"$z \sim \mathrm{Gamma}(p,\ \nu), \quad \nu \sim \mathrm{Gamma}(q,\ \gamma)$",
                    "Expected spend per purchase after x repeat purchases of mean value m:",
                    r"$E[M] = \dfrac{p\,(\gamma + x\,m)}{p\,x + q - 1}$",
                ],
            )
        )
    info = run.run
    blocks.append(
        (
            "Customer lifetime value",
            [
                f"Margin m = {fmt_pct(info.get('margin', 1))}; horizon {ctx.horizon_text} "
                "in steps t_k = 1, 2, ... (the last cut at the horizon); the annual discount "
                "rate of "
                f"{fmt_pct(info.get('discount_rate', 0), 1)} converted to a rate d per "
                f"{unit_name(ctx.unit, plural=False)} (a year is 365.25 days):",
                r"$\mathrm{CLV} = m\ E[M]\ \sum_{k} \dfrac{E[X(t_k)] - E[X(t_{k-1})]}"
                r"{(1+d)^{t_k}}$",
            ],
        )
    )
    return blocks


def page_definitions(ctx: ReportContext, page: Page) -> tuple[str, str]:
    """Page 7: terms, formulas and references."""
    run = ctx.run
    units = ctx.units
    x0, w0 = 0.04, 0.41
    y = page.heading(x0, 0.80, "Terms", w0)
    p_alive = "probability that the customer has not become inactive, given their purchase history."
    if run.purchase_model.name == "bgnbd":
        p_alive += (
            " BG/NBD lets customers stop only right after a repeat purchase, so a customer who "
            "has never bought again has P(alive) = 1."
        )
    end = "calibration" if run.holdout else "observation"
    terms = [
        (
            "Purchase day",
            "a calendar day on which a customer bought; several transactions on one day "
            "count once, their amounts summed.",
        ),
        (
            "Repeat purchases (frequency, x)",
            "purchase days after the customer's first"
            + (", in the calibration period." if run.holdout else "."),
        ),
        ("Recency (t_x)", f"{units} from the first to the last purchase day."),
        ("Customer for (age, T)", f"{units} from the first purchase to the end of {end}."),
        (
            "Calibration / holdout",
            "the model is fitted on the calibration period; the holdout that follows checks "
            "its predictions."
            if run.holdout
            else "this run has no holdout: all data was used for fitting.",
        ),
        ("P(alive)", p_alive),
        (
            "Expected purchases",
            f"repeat purchases the model expects in the next {ctx.horizon_text}, not discounted.",
        ),
        (
            "Predicted CLV",
            f"discounted expected spend (times the margin) over the next "
            f"{ctx.horizon_text}, in the currency of the input amounts.",
        ),
    ]
    if run.holdout:
        terms.append(
            ("Holdout spend", "actual spend in the holdout: its purchases times their mean value.")
        )
    terms.append(
        (
            "Gini and decile lift",
            "rank customers by predicted CLV and plot the cumulative share of value against the "
            "share of customers; with A the area under that curve, Gini = 2A - 1 (0 for a "
            "random ranking). Decile lift: a decile's share of holdout spend divided by 10%.",
        )
    )
    size = 8.5
    for term, text in terms:
        y = page.run_in(x0, y, f"{term}:", text, w0, size=size) - 0.008
    models = [run.purchase_model] + ([run.spend_model] if run.spend_model is not None else [])
    refs = [REFERENCES[model_label(m)] for m in models if model_label(m) in REFERENCES]
    y = page.heading(x0, y - 0.02, "References", w0)
    for ref in refs:
        y = page.paragraph(x0, y, ref, w0, size=7.8, color="#333333", spacing=1.3) - 0.006

    x1, w1 = 0.50, 0.46
    y = page.heading(x1, 0.80, "Formulas", w1)
    for title, lines in _formulas(ctx):
        page.text(x1, y, title, fontsize=9, fontweight="bold")
        y -= page.line_height(9, 1.45)
        for line in lines:
            if line.startswith("$"):
                y = page.formula(x1 + 0.012, y, line, w1 - 0.012)
            else:
                y = page.paragraph(x1, y, line, w1, size=8.3, color="#333333", spacing=1.3)
                y -= 0.006
        y -= 0.014
    return "Definitions and formulas", (
        "What the numbers in this report mean and how they are computed. Time is measured in "
        f"{units}."
    )


PAGES: tuple[Callable[[ReportContext, Page], tuple[str, str]], ...] = (
    page_summary,
    page_diagnostics,
    page_heterogeneity,
    page_expectations,
    page_value,
    page_segments,
    page_definitions,
)


def _frame(
    page: Page, ctx: ReportContext, title: str, subtitle: str, number: int, total: int
) -> None:
    """Header, section title and footer of a page."""
    info = ctx.run.run
    page.text(
        0.04, 0.965, "Customer lifetime value report", fontsize=15, fontweight="bold", color=ACTUAL
    )
    page.text(
        0.96,
        0.962,
        f"{Path(str(info.get('input', ''))).name} · {_date(info.get('first_date'))} {DASH} "
        f"{_date(info.get('observation_end'))}",
        fontsize=8.5,
        color=GREY,
        ha="right",
    )
    page.hline(0.04, 0.96, 0.928, colour=ACTUAL, width=1.4)
    page.text(0.04, 0.907, title, fontsize=13, fontweight="bold")
    page.paragraph(0.04, 0.872, subtitle, 0.92, size=9.3, color=GREY)
    page.hline(0.04, 0.96, 0.045, colour=RULE)
    page.text(
        0.04,
        0.035,
        f"clvmodel {info.get('clvmodel_version', __version__)} · run directory "
        f"{ctx.run.directory.resolve().name} · report rendered "
        f"{_dt.date.today().isoformat()} from the saved run files",
        fontsize=7.3,
        color=MUTED,
    )
    page.text(0.96, 0.035, f"Page {number} of {total}", fontsize=7.3, color=MUTED, ha="right")


def report_context(run_dir: str | Path) -> ReportContext:
    """Load the run directory and compute what the pages share (CLV metrics, charts)."""
    from .evaluation import holdout_metrics, holdout_predictions

    run = load_run(run_dir)
    holdout = None
    if run.holdout:
        # metrics.json has it when the pipeline wrote one; otherwise it is cheap to recompute.
        holdout = run.metrics.get("holdout") or holdout_metrics(run.purchase_model, run.summary)
    clv = None
    if run.has_clv:
        predicted = None
        if run.holdout:
            predicted = holdout_predictions(run.purchase_model, run.summary)["predicted"]
        clv = clv_metrics(
            run.scores,
            run.summary if run.holdout else None,
            predicted_holdout_purchases=predicted,
        )
    return ReportContext(run, clv, {c.name: c for c in charts(run)}, holdout)


def report_pages(ctx: ReportContext) -> list[Callable[[ReportContext, Page], tuple[str, str]]]:
    """The pages of this run's report: the CLV pages only when there is CLV."""
    if ctx.clv is not None:
        return list(PAGES)
    return [p for p in PAGES if p not in (page_value, page_segments)]


def iter_report_pages(ctx: ReportContext) -> Iterator[tuple[str, Figure]]:
    """Yield ``(section title, page figure)`` for each page, one at a time.

    The figures live outside pyplot (nothing global is kept); :func:`render_report` writes
    them to the PDF, and tests inspect them for overlapping text.
    """
    pages = report_pages(ctx)
    for number, draw in enumerate(pages, start=1):
        fig = _new_figure(PAGE_SIZE)
        page = Page(fig, fig.canvas.get_renderer())
        title, subtitle = draw(ctx, page)
        _frame(page, ctx, title, subtitle, number, len(pages))
        yield title, fig


def render_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.pdf`` from the run directory's files, atomically.

    Nothing is refitted: the models are read from ``models/``. Charts a model cannot support
    are replaced by a note and reported with a :class:`ReportWarning`.

    Returns
    -------
    Path
        The PDF written.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    ctx = report_context(run_dir)
    target = ctx.run.directory / "report.pdf"

    def write(tmp: Path) -> None:
        total = len(report_pages(ctx))
        with PdfPages(tmp) as pdf, Progress("Rendering report", total=total) as progress:
            meta = pdf.infodict()
            meta["Title"] = "Customer lifetime value report"
            meta["Creator"] = f"clvmodel {__version__}"
            for title, fig in iter_report_pages(ctx):
                pdf.savefig(fig)
                progress.advance(detail=title)

    atomic_write_with(target, write)
    return target
