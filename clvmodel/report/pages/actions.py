"""Page 7: whom to act on: high-value customers at risk, the win-back list, value by segment,
and the file that lists every customer's segment and action."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..context import ReportContext, _draw_chart
from ..formatting import fmt_pct
from ..layout import GREY, Page
from ..numbers import Action


def customer_lists_path(ctx: ReportContext) -> Path:
    """``DIR/segments.parquet`` (when the scores are Parquet) or ``DIR/segments.csv``."""
    scores = ctx.run.scores_path
    suffix = scores.suffix if scores is not None and scores.suffix == ".parquet" else ".csv"
    return ctx.run.directory / f"segments{suffix}"


def _action_table(
    ctx: ReportContext, page: Page, action: Action, x: float, y: float, w: float
) -> float:
    y = page.heading(
        x,
        y,
        f"{action.name}: {action.customers:,} customers",
        w,
    )
    y = page.paragraph(
        x,
        y,
        f"Customers {action.rule}. They hold {ctx.money(action.clv_total)} of predicted value "
        f"and spent {ctx.money(action.past_spend_total)} on repeat purchases."
        + (f" The {len(action.top)} most valuable:" if len(action.top) else ""),
        w,
        size=8.2,
        color=GREY,
    )
    if not len(action.top):
        return y - 0.01
    header = [
        "Customer",
        "Repeat\npurchases",
        f"Last purchase\n({ctx.units} ago)",
        "P(alive)",
        "Past\nspend",
        "Predicted\nCLV",
    ]
    rows = [
        [
            str(r.customer_id),
            f"{int(r.frequency):,}",
            f"{r.since_last:.1f}",
            f"{r.p_alive:.2f}",
            ctx.money(r.past_spend),
            ctx.money(r.clv),
        ]
        for r in action.top.itertuples()
    ]
    return page.table(x, y - 0.004, w, header, rows, size=8.0)


def page_actions(ctx: ReportContext, page: Page) -> tuple[str, str]:
    """Page 7: high-value customers at risk, the win-back list and value by segment."""
    numbers = ctx.n
    if ctx.clv is None or numbers.segments is None:
        page.message_box((0.06, 0.3, 0.88, 0.4), "No actions", "No CLV in this run.")
        return "Whom to act on", "No CLV in this run."
    x0, w0 = 0.04, 0.45
    y = 0.80
    for action in numbers.actions:
        y = _action_table(ctx, page, action, x0, y, w0) - 0.04

    x1, w1 = 0.53, 0.43
    y = page.heading(x1, 0.80, "Value by segment (RFM scores)", w1)
    table = numbers.segments
    header = ["Segment", "Customers", "Share of\ncustomers", "Predicted\nCLV", "Share of\nCLV"]
    header += ["Mean\nP(alive)"]
    rows = [
        [
            str(name),
            f"{int(r['customers']):,}",
            fmt_pct(r["customer_share"]),
            ctx.money(r["clv_total"]),
            fmt_pct(r["clv_share"], 1),
            f"{r['p_alive_mean']:.2f}",
        ]
        for name, r in table.iterrows()
    ]
    y = page.table(x1, y, w1, header, rows, size=8.2)
    y = page.paragraph(
        x1,
        y - 0.01,
        "Recency, frequency and mean spend each scored 1-4 by quartile (4 = bought most "
        "recently, most often, most per purchase); the three scores name the segment as "
        "PyMC-Marketing's rfm_segments does.",
        w1,
        size=7.6,
        color=GREY,
    )
    bottom = 0.10
    _draw_chart(ctx, page, "value_risk", (x1 + 0.05, bottom, w1 - 0.05, y - 0.06 - bottom))
    listed = customer_lists_path(ctx).name
    at_risk, win_back = numbers.actions[0], numbers.actions[1]
    biggest = table["clv_total"].idxmax() if len(table) else "n/a"
    subtitle = (
        f"{at_risk.customers:,} high-value customers are at risk, holding "
        f"{ctx.money(at_risk.clv_total)} of predicted value; {win_back.customers:,} former "
        f"big spenders ({ctx.money(win_back.past_spend_total)} of past spend) are likely "
        f"lapsed. The {biggest} segment holds the most value "
        f"({fmt_pct(float(table.loc[biggest, 'clv_share']) if len(table) else np.nan)}). "
        f"Every customer's segment and action is in {listed}."
    )
    return "Whom to act on", subtitle


__all__ = ["customer_lists_path", "page_actions"]
