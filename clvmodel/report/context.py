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
from .layout import Page
from .run import RunFiles, load_run


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


def report_context(run_dir: str | Path) -> ReportContext:
    """Load the run directory and compute what the pages share (CLV metrics, charts)."""
    from ..evaluation import holdout_metrics, holdout_predictions

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
