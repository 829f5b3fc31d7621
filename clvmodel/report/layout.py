"""The layout layer: A4 pages drawn in figure fractions, with text, tables, tiles and grids.

Nothing here knows what a run is: pages get numbers and strings and place them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..plotting import ACTUAL

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backend_bases import RendererBase
    from matplotlib.figure import Figure

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


def new_figure(size: tuple[float, float], *, layout: str | None = None) -> Figure:
    """A figure outside pyplot (nothing global, nothing kept), on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _most_that_fit(words: list[str], fits: Callable[[str], bool]) -> int:
    """The most of the first ``words`` whose line ``fits`` (at least 1), given that a line
    that does not fit stays too wide with more words: doubling, then halving."""
    good, bad = 1, len(words) + 1  # 1 word always goes; len + 1 is past the end
    step = 2
    while step < bad and fits(" ".join(words[:step])):
        good, step = step, step * 2
    bad = min(bad, step)
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if fits(" ".join(words[:mid])) else (good, mid)
    return good


#: Text widths in pixels by (text, size, weight, dpi): pages measure the same words many
#: times (headers on every page, each paragraph once to size it and once to draw it).
_WIDTHS: dict[tuple[str, float, str, float], float] = {}


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
        """Width of ``text`` in figure fraction (measured once per text, size and weight)."""
        key = (text, size, weight, self.fig.dpi)
        pixels = _WIDTHS.get(key)
        if pixels is None:
            from matplotlib.font_manager import FontProperties

            pixels, _, _ = self.renderer.get_text_width_height_descent(
                text, FontProperties(size=size, weight=weight), ismath=False
            )
            if len(_WIDTHS) > 20_000:
                _WIDTHS.clear()
            _WIDTHS[key] = pixels
        return pixels / self.fig.dpi / self.width_in

    def extent(self, artist: Any) -> tuple[float, float]:
        """Width and height of a drawn artist in figure fractions."""
        box = artist.get_window_extent(self.renderer)
        return box.width / self.fig.dpi / self.width_in, box.height / self.fig.dpi / self.height_in

    def wrap(self, text: str, width: float, size: float, weight: str = "normal") -> list[str]:
        """Greedy word wrap of ``text`` to ``width`` (figure fraction): each line takes the
        most words that fit (at least one).

        A line's width only grows with its words (the ink box of more glyphs), so the most
        that fit are found by doubling then halving the count, a few measurements a line
        instead of one per word; the lines are those of adding words one at a time.
        """
        lines: list[str] = []

        def fits(line: str) -> bool:
            return self.text_width(line, size, weight) <= width

        for para in text.split("\n"):
            words = para.split()
            if not words:
                lines.append("")
            while words:
                take = _most_that_fit(words, fits)
                lines.append(" ".join(words[:take]))
                words = words[take:]
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

    def bullets_height(self, items: Sequence[str], width: float, size: float = 9) -> float:
        """Height :meth:`bullets` will take, in figure fraction."""
        lines = sum(len(self.wrap(item, width - 0.014, size)) for item in items)
        return lines * self.line_height(size, 1.4) + len(items) * self.line_height(size, 0.45)

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


def grid(
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
