"""What the pages share: the run, its charts and the numbers computed once from its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..clv_metrics import clv_metrics
from ..plotting import ChartUnavailableError, unit_name
from ..units import units_per_year
from .charts import Chart, _skip, charts
from .formatting import fmt_money
from .layout import Page
from .numbers import ReportNumbers, report_numbers
from .run import RunFiles, load_run

#: CLV metrics of the holdout check (``metrics.json`` ``clv_holdout`` in a refitted run).
HOLDOUT_CLV_KEYS = (
    "holdout",
    "holdout_spend_total",
    "gini",
    "gini_perfect",
    "gini_normalized",
    "spearman",
    "top_10pct_holdout_share",
    "decile_lift",
    "predicted_holdout_spend",
    "aggregate_spend_error",
)


@dataclass
class ReportContext:
    """What the pages share: the run, its charts, holdout accuracy and CLV metrics."""

    run: RunFiles
    clv: dict[str, Any] | None
    charts: dict[str, Chart]
    holdout: dict[str, Any] | None = None
    numbers: ReportNumbers | None = None
    currency: str | None = None

    def money(self, value: Any) -> str:
        """An amount in the run's currency (``"EUR 1,234"``, ``"$1,234"``, ``"1,234"``)."""
        return fmt_money(value, self.currency)

    @property
    def money_unit(self) -> str:
        """What amounts are in: ``"EUR"``, or ``"the currency of the input amounts"``."""
        return self.currency or "the currency of the input amounts"

    @property
    def n(self) -> ReportNumbers:
        """The numbers (always computed by :func:`report_context`)."""
        assert self.numbers is not None
        return self.numbers

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


def report_context(run_dir: str | Path, *, currency: str | None = None) -> ReportContext:
    """Load the run directory and compute what the pages share (numbers, charts).

    ``currency`` overrides the run's (``run.json`` ``config.currency``). CLV metrics are read
    from ``metrics.json`` when it has them for these customers, otherwise computed.
    """
    return context_of(load_run(run_dir), currency=currency)


def context_of(
    run: RunFiles, *, currency: str | None = None, charts_of_run: list[Chart] | None = None
) -> ReportContext:
    """:func:`report_context` of a run folder already read (:func:`~.run.load_run`), with
    ``charts_of_run`` (:func:`~.charts.charts` of it) when already made."""
    from ..evaluation import holdout_metrics, holdout_predictions

    currency = currency or run.currency
    holdout = None
    check = run.holdout_model
    if run.holdout:
        # metrics.json has it when the pipeline wrote one; otherwise it is cheap to recompute.
        holdout = run.metrics.get("holdout") or holdout_metrics(check, run.summary)
    clv = None
    if run.has_clv:
        compare = run.scores_on_calibration
        saved = run.metrics.get("clv")
        if (
            saved
            and saved.get("n_customers") == len(run.scores)
            and (bool(saved.get("holdout")) == compare)
        ):
            clv = dict(saved)
        else:
            predicted = None
            if compare:
                predicted = holdout_predictions(check, run.summary)["predicted"]
            clv = clv_metrics(
                run.scores,
                run.summary if compare else None,
                predicted_holdout_purchases=predicted,
            )
        if run.refit:  # the ranking check comes from the calibration fit's CLV
            checked = run.metrics.get("clv_holdout") or {}
            clv.update({k: checked.get(k) for k in HOLDOUT_CLV_KEYS})
    if charts_of_run is None:
        charts_of_run = charts(run, currency=currency)
    ctx = ReportContext(run, clv, {c.name: c for c in charts_of_run}, holdout, currency=currency)
    ctx.numbers = report_numbers(run, ctx.horizon)
    return ctx
