"""Customer value: CLV distribution, gains curve, deciles, value against P(alive)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..clv_metrics import RankedCLV, Ranking
from ..exceptions import InputError
from .style import (
    ACCENT,
    ACTUAL,
    MAX_LINE_POINTS,
    MODEL,
    MUTED,
    SCATTER_SAMPLE,
    ChartUnavailableError,
    _axes,
    _money,
    _style,
    _thousands,
    sample_rows,
    unit_name,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes


Array = NDArray[np.float64]


# ------------------------------------------------------------------------- 6. CLV
# Each chart is two steps: its data from every customer (a frozen dataclass, small: bins,
# curve points, a sample; ``.of``), then the drawing of that data (``.draw``). The report
# computes the data once and draws it twice, on a PNG and on a PDF page.
@dataclass(frozen=True, eq=False)  # numpy fields: equal only to itself
class ClvDistribution:
    """What :func:`plot_clv_distribution` draws: CLV (and holdout spend) in bins."""

    counts: NDArray[np.int64]
    edges: Array
    skewed: bool
    actual_counts: NDArray[np.int64] | None
    duration: str
    zero_share: float
    nonpositive: int
    median: float
    mean: float

    @classmethod
    def of(cls, ranked: RankedCLV, summary: pd.DataFrame | None = None) -> ClvDistribution:
        """The bins of ``ranked`` (``summary``: for the holdout length in the legend)."""
        c = ranked.clv.to_numpy()
        positive = c[c > 0]
        values = [positive]
        a = None if ranked.actual is None else ranked.actual.to_numpy()
        if a is not None:
            values.append(a[a > 0])
        pooled = np.concatenate(values)
        skewed = bool(
            len(positive) > 0 and np.quantile(pooled, 0.99) > 20 * max(np.median(pooled), 1e-12)
        )
        if skewed:
            lo, hi = np.quantile(pooled, [0.005, 1.0])
            edges = np.geomspace(max(lo, hi * 1e-6), hi * 1.0001, 41)
        else:
            edges = np.histogram_bin_edges(pooled if len(pooled) else c, bins=40)
        counts, _ = np.histogram(positive if skewed else c, bins=edges)
        actual_counts, duration, zero = None, "", 0.0
        if a is not None:
            actual_counts, _ = np.histogram(a[a > 0] if skewed else a, bins=edges)
            if summary is not None and "duration_holdout" in summary.columns:
                d = pd.to_numeric(summary["duration_holdout"]).to_numpy(np.float64)
                duration = f" ({d.max():.3g} {unit_name(summary.attrs.get('time_unit'))})"
            zero = float(np.mean(a <= 0))
        return cls(
            counts,
            edges,
            skewed,
            actual_counts,
            duration,
            zero,
            int(np.sum(c <= 0)),
            float(np.median(c)),
            float(np.mean(c)),
        )

    def draw(self, ax: Axes | None = None, *, currency: str | None = None) -> Axes:
        """Draw the distribution on ``ax`` (see :func:`plot_clv_distribution`)."""
        ax = _axes(ax)
        counts, edges, skewed = self.counts, self.edges, self.skewed
        if skewed:
            ax.set_xscale("log")
        ax.stairs(counts, edges, fill=True, color=MODEL, alpha=0.6, label="Predicted CLV")
        top = float(counts.max())
        a_counts = np.zeros_like(counts)
        if self.actual_counts is not None:
            a_counts = self.actual_counts
            top = max(top, float(a_counts.max()))
            ax.stairs(
                a_counts,
                edges,
                color=ACTUAL,
                linewidth=1.6,
                label=f"Actual holdout spend{self.duration}",
            )
            if skewed and self.zero_share > 0:
                note = f"{self.zero_share:.0%} spent nothing in the holdout (not shown)"
                ax.plot([], [], " ", label=note)
        if skewed and self.nonpositive:
            ax.plot([], [], " ", label=f"{self.nonpositive:,} with CLV <= 0 not shown")
        ax.yaxis.set_major_formatter(_thousands())
        # One bin far above the rest (typically the customers with no repeat purchase,
        # whose CLV is nearly the same) would flatten everything else: cut it and label
        # its height.
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
            legend_title=f"Predicted CLV: median {_money(self.median, currency)}, "
            f"mean {_money(self.mean, currency)}",
        )


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
    data = ClvDistribution.of(RankedCLV.of(scores, summary), summary)
    return data.draw(ax, currency=currency)


@dataclass(frozen=True, eq=False)  # numpy fields: equal only to itself
class GainsCurve:
    """What :func:`plot_gains_curve` draws: the curves (at most ``MAX_LINE_POINTS`` points
    each) and their Ginis."""

    x: Array
    y: Array
    gini: float
    holdout: tuple[Array, Array, float, Array, Array, float] | None

    @classmethod
    def of(cls, ranked: RankedCLV) -> GainsCurve:
        """The curves of ``ranked``: CLV, and holdout spend ranked by CLV and by itself."""
        if len(ranked.clv) == 0:
            raise InputError("A gains curve needs at least one customer.")
        by_clv = ranked.ranking  # one sort for the curves and Ginis ranked by CLV
        c = by_clv.score  # (the ranking's own array: its sums need no second pass)
        x, y = by_clv.gains(c, MAX_LINE_POINTS)
        holdout = None
        if ranked.actual is not None:
            a = ranked.actual.to_numpy()
            xa, ya = by_clv.gains(a, MAX_LINE_POINTS)
            by_spend = Ranking(a)
            xb, yb = by_spend.gains(a, MAX_LINE_POINTS)
            holdout = (xa, ya, by_clv.gini(a), xb, yb, by_spend.gini(a))
        return cls(x, y, by_clv.gini(c), holdout)

    def draw(self, ax: Axes | None = None) -> Axes:
        """Draw the curves on ``ax`` (see :func:`plot_gains_curve`)."""
        ax = _axes(ax)
        ax.plot(
            [0, 100], [0, 100], color=MUTED, linestyle=":", linewidth=1.2, label="Random ranking"
        )
        ax.plot(
            self.x * 100,
            self.y * 100,
            color=MODEL,
            linewidth=2,
            label=f"Predicted CLV (Gini {self.gini:.2f})",
        )
        if self.holdout is not None:
            xa, ya, ga, xb, yb, gb = self.holdout
            ax.plot(
                xa * 100,
                ya * 100,
                color=ACTUAL,
                linewidth=2,
                label=f"Holdout spend, ranked by predicted CLV (Gini {ga:.2f})",
            )
            ax.plot(
                xb * 100,
                yb * 100,
                color=ACTUAL,
                linewidth=1.2,
                linestyle="--",
                label=f"Holdout spend, best possible ranking (Gini {gb:.2f})",
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


def plot_gains_curve(
    scores: pd.DataFrame, summary: pd.DataFrame | None = None, *, ax: Axes | None = None
) -> Axes:
    """Cumulative share of value captured by customers ranked by predicted CLV (with Gini).

    Without a holdout: the concentration of predicted CLV (a Lorenz curve read from the
    top). With one: the share of actual holdout spend captured by the predicted ranking,
    against the best possible (ranking by actual spend) and a random ranking.
    """
    return GainsCurve.of(RankedCLV.of(scores, summary)).draw(ax)


@dataclass(frozen=True, eq=False)  # numpy fields: equal only to itself
class ValueRisk:
    """What :func:`plot_value_risk` draws: CLV and P(alive) of the sampled customers."""

    clv: Array
    alive: Array
    n: int

    @classmethod
    def of(cls, scores: pd.DataFrame, *, sample: int = SCATTER_SAMPLE, seed: int = 0) -> ValueRisk:
        """The sample of ``scores`` (see :func:`plot_value_risk`)."""
        from ..validation import require_columns

        require_columns(scores, ("clv", "p_alive"), what="scores")
        n = len(scores)
        if n == 0:
            raise ChartUnavailableError("The scores have no rows: nothing to draw.")
        ids = scores["customer_id"] if "customer_id" in scores.columns else None
        if ids is None and scores.index.name == "customer_id":
            ids = scores.index
        rows = sample_rows(n, sample, seed=seed, keys=ids)
        clv = pd.to_numeric(scores["clv"]).to_numpy(np.float64)[rows]
        alive = pd.to_numeric(scores["p_alive"]).to_numpy(np.float64)[rows]
        return cls(clv, alive, n)

    def draw(
        self,
        ax: Axes | None = None,
        *,
        bands: dict[str, tuple[float, float]] | None = None,
        currency: str | None = None,
    ) -> Axes:
        """Draw the sample on ``ax`` (see :func:`plot_value_risk`)."""
        clv, alive, n = self.clv, self.alive, self.n
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
        who = f"all {n:,}" if len(clv) == n else f"a random {len(clv):,} of {n:,}"
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
    size; the title says how many of how many. With customer ids (a ``customer_id`` column,
    or the index so named) the sample is of customers, the same whatever the order of the
    rows (:func:`sample_rows`).
    """
    data = ValueRisk.of(scores, sample=sample, seed=seed)
    return data.draw(ax, bands=bands, currency=currency)


@dataclass(frozen=True, eq=False)  # numpy fields: equal only to itself
class DecileShares:
    """What :func:`plot_value_by_decile` draws: :func:`~clvmodel.clv_metrics.decile_table`."""

    table: pd.DataFrame

    @classmethod
    def of(cls, ranked: RankedCLV) -> DecileShares:
        """The decile table of ``ranked``."""
        return cls(ranked.deciles())

    def draw(self, ax: Axes | None = None) -> Axes:
        """Draw the shares on ``ax`` (see :func:`plot_value_by_decile`)."""
        table = self.table
        holdout = "actual_share" in table.columns
        ax = _axes(ax)
        pos = table.index.to_numpy()
        width = 0.4 if holdout else 0.65
        shift = width / 2 if holdout else 0.0
        ax.bar(
            pos - shift, table["predicted_share"] * 100, width, color=MODEL, label="Predicted CLV"
        )
        if holdout:
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


def plot_value_by_decile(
    scores: pd.DataFrame, summary: pd.DataFrame | None = None, *, ax: Axes | None = None
) -> Axes:
    """Share of value in each predicted-CLV decile (1 = most valuable tenth of customers).

    With a holdout, the share of actual holdout spend in the same deciles beside it.
    """
    return DecileShares.of(RankedCLV.of(scores, summary)).draw(ax)
