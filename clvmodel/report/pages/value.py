"""Pages 5 and 6: customer value and value tiers."""

from __future__ import annotations

import numpy as np

from ...clv_metrics import align_clv, value_tiers
from ..context import ReportContext, _draw_chart
from ..formatting import fmt_pct
from ..layout import GREY, Page, grid
from ..numbers import top_positions


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
    rects = grid(2, 2)
    _draw_chart(ctx, page, "clv_distribution", rects[0])
    _draw_chart(ctx, page, "clv_gains", rects[1])
    _draw_chart(ctx, page, "clv_deciles", rects[2])
    actual = run.ranked_clv.actual
    table = run.ranked_clv.deciles()
    x0, _, w, h = rects[3]
    y = page.heading(x0, rects[3][1] + h + 0.035, "Value by decile of predicted CLV", w)
    header = ["Decile", "Customers", "Predicted\nCLV", "Share of\nCLV", "Mean\nCLV"]
    # A refitted run checks the calibration fit's ranking (from metrics.json) instead.
    checked = (ctx.clv or {}).get("decile_lift") if run.refit else None
    if checked is not None and len(checked) != len(table):
        checked = None
    if actual is not None or checked is not None:
        header += ["Share of\nholdout spend", "Lift"]
    rows = []
    for d, r in table.iterrows():
        row = [
            f"{d}" + (" (top)" if d == 1 else ""),
            f"{int(r['customers']):,}",
            ctx.money(r["predicted"]),
            fmt_pct(r["predicted_share"], 1),
            ctx.money(r["predicted"] / r["customers"]),
        ]
        if actual is not None:
            row += [fmt_pct(r["actual_share"], 1), f"{r['lift']:.2f}"]
        elif checked is not None:
            check = checked[int(d) - 1]
            row += [fmt_pct(check["actual_share"], 1), f"{check['lift']:.2f}"]
        rows.append(row)
    y = page.table(x0, y, w, header, rows, size=8.2)
    if actual is not None or checked is not None:
        page.paragraph(
            x0,
            y - 0.01,
            "Lift: the decile's share of holdout spend divided by its 10% share of customers "
            "(1 = no better than random)."
            + (
                " Holdout columns: ranked by the calibration fit's CLV (the forecast has seen "
                "the holdout)."
                if checked is not None
                else ""
            ),
            w,
            size=7.6,
            color=GREY,
        )
    c = ctx.clv
    subtitle = (
        f"Predicted value over the next {ctx.horizon_text}: the top 10% of customers "
        f"hold {fmt_pct(c['top_10pct_share'])} of it"
        + (
            f"; ranked {'by the calibration fit' if run.refit else 'this way'}, the top 10% "
            f"made {fmt_pct(c['top_10pct_holdout_share'])} of actual holdout spend."
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
    tiers = ctx.n.tiers if ctx.n.tiers is not None else value_tiers(run.scores)
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
            ctx.money(r["clv_total"]),
            fmt_pct(r["clv_share"], 1),
            ctx.money(r["clv_mean"]),
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
    top = run.scores.iloc[top_positions(run.scores["clv"].to_numpy(np.float64), k)]
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
            ctx.money(r.expected_spend),
            ctx.money(r.clv),
        ]
        if actual is not None:
            row.append(ctx.money(actual.get(str(r.customer_id), float("nan"))))
        rows.append(row)
    align = ["right", "left"] + ["right"] * (len(header) - 2)
    page.table(x0, y, w, header, rows, align=align, size=8.6)
    first, top5 = tiers.iloc[0], tiers.iloc[:2]
    subtitle = (
        f"The top 1% of customers ({int(first['customers']):,}) hold "
        f"{fmt_pct(first['clv_share'])} of predicted value; the top 5% hold "
        f"{fmt_pct(top5['clv_share'].sum())}. Customer-level scores for everyone are in "
        f"{run.scores_path.name if run.scores_path else 'scores.csv'}."
    )
    return "Segments", subtitle
