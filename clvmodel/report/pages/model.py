"""Pages 2 to 4: how the model fits, how customers differ, what it expects of each."""

from __future__ import annotations

import math

from ...plotting import model_label
from ..context import ReportContext, _draw_chart
from ..formatting import fmt_count, fmt_number, fmt_pct
from ..layout import GREY, Page, grid
from .summary import _holdout_sentence, active_sentence


def page_diagnostics(ctx: ReportContext, page: Page) -> tuple[str, str]:
    """Page 2: does the model reproduce the data it was fitted on and predict the rest?"""
    run = ctx.run
    models = run.metrics.get("models") or {}
    compare = len(models) > 1
    rects = grid(2, 2, right=0.66 if compare else 0.975)
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
    for name, rect in zip(names, grid(2, 2), strict=False):
        _draw_chart(ctx, page, name, rect)
    subtitle = (
        "Customers differ in how often they buy, how soon they stop and how much they spend. "
        "The charts show how these differ across the customer base, and how the chance that "
        "a customer is still active falls while three example customers do not buy."
    )
    return "How customers differ", subtitle


def page_expectations(ctx: ReportContext, page: Page) -> tuple[str, str]:
    """Page 4: P(alive) and expected purchases by frequency and recency."""
    rects = grid(1, 2, top=0.77, bottom=0.16, right=0.9, hgap=0.15)
    _draw_chart(ctx, page, "p_alive_matrix", rects[0])
    _draw_chart(ctx, page, "expected_purchases_matrix", rects[1])
    subtitle = (
        "Customers who bought often and recently are the most likely to be active and to buy "
        "again. " + active_sentence(ctx)
    )
    return "What the model expects of each customer", subtitle
