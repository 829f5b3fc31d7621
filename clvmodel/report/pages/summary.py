"""Page 1: the data, the model and the headline figures."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ...exceptions import InputError
from ...plotting import model_label
from ..context import ReportContext
from ..formatting import DASH, _date, _missing, _span, fmt_count, fmt_number, fmt_pct
from ..layout import CONTENT_BOTTOM, GREY, Page
from .covariates import total_interval_text

if TYPE_CHECKING:
    from ...models.base import BaseModel


def _holdout_sentence(ctx: ReportContext) -> str:
    run = ctx.run.run
    return (
        "The model was fitted on all the data up to "
        f"{_date(run.get('observation_end'))}, so its predictions have not been checked "
        "against purchases it had not seen. To validate it, re-run with the "
        "--calibration-end option: the months after that date are held back and predicted."
    )


def _param_rows(model: BaseModel) -> list[list[str]]:
    """Rows of the base parameters (covariate coefficients have a page of their own)."""
    table = model.summary()
    rows = []
    for name, row in table.loc[list(type(model).param_names)].iterrows():
        lo, hi = float(row.iloc[2]), float(row.iloc[3])
        interval = "n/a" if _missing(lo) else f"{fmt_number(lo, 3)} {DASH} {fmt_number(hi, 3)}"
        rows.append(
            [str(name), fmt_number(row["estimate"], 4), fmt_number(row["std_error"], 3), interval]
        )
    return rows


def active_sentence(ctx: ReportContext) -> str:
    """The one statement of how many customers are active, used on every page."""
    n = ctx.n
    return (
        f"About {n.active_expected:,.0f} of the {n.n_customers:,} customers "
        f"({fmt_pct(n.active_share)}) are expected to be still active (the sum of P(alive))."
    )


def _key_points(ctx: ReportContext) -> list[str]:
    run, c, n = ctx.run, ctx.clv, ctx.n
    points = []
    if c is not None:
        points.append(
            f"The top 20% of customers account for {fmt_pct(c['top_20pct_share'])} of the value "
            f"expected over the next {ctx.horizon_text}."
        )
    if n.buyers_expected is not None:
        points.append(
            f"{fmt_count(n.buyers_expected)} customers ({fmt_pct(n.buyers_share)}) are expected "
            f"to buy at least once in the next {ctx.horizon_text}."
        )
    points.append(active_sentence(ctx) + (f" {n.active_caveat}" if n.active_caveat else ""))
    once = (
        f"{n.one_time:,} customers ({fmt_pct(n.one_time / max(n.n_customers, 1))}) have not "
        f"bought again after their first purchase"
        + (" in the calibration period." if run.scores_on_calibration else ".")
    )
    hold = ctx.holdout
    if hold:
        points.append(
            f"Checked on a {ctx.holdout_adjective} holdout: "
            f"{fmt_count(hold.get('predicted_purchases'))} repeat purchases predicted, "
            f"{fmt_count(hold.get('actual_purchases'))} made "
            f"({fmt_pct(hold.get('aggregate_error'), 1, signed=True)})."
        )
        points.append(once)
        if c is not None and c.get("top_10pct_holdout_share") is not None:
            points.append(
                f"The 10% of customers ranked highest by predicted CLV made "
                f"{fmt_pct(c['top_10pct_holdout_share'])} of actual holdout spend."
            )
    else:
        points.append("Predictions are not validated: this run has no holdout period.")
        points.append(once)
    return points


def forecast_text(ctx: ReportContext) -> str:
    """``"1 Jul 1998 – 30 Jun 1999 (52 weeks), from the end of the data"``."""
    n = ctx.n
    if not n.forecast_start:
        return f"next {ctx.horizon_text}"
    return (
        f"{_date(n.forecast_start)} {DASH} {_date(n.forecast_end)} ({ctx.horizon_text}), "
        f"from {n.forecast_basis}"
    )


def excluded_text(ctx: ReportContext) -> str:
    """Customers left out of the scores and why, or that everyone was scored."""
    n = ctx.n
    if not n.excluded_total:
        return "none: every customer is scored"
    why = "; ".join(
        f"{reason.replace('_', ' ')}: {count:,}" for reason, count in n.excluded.items()
    )
    return f"{n.excluded_total:,} customers not scored ({why})"


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
        ("Forecast", forecast_text(ctx)),
        (
            "CLV settings",
            f"discount {fmt_pct(info.get('discount_rate', 0), 1)} a year; margin "
            f"{fmt_pct(info.get('margin', 1), 0)} of spend; amounts in {ctx.money_unit}",
        ),
        ("Left out", excluded_text(ctx)),
    ]
    y = page.key_values(xs[0], y, items, col_w)
    y = page.heading(xs[0], y - 0.03, "Key points", col_w)
    points = _key_points(ctx)  # most important first: the last ones go when room is short
    while len(points) > 2 and page.bullets_height(points, col_w, 8.8) > y - CONTENT_BOTTOM:
        points.pop()
    page.bullets(xs[0], y, points, col_w, size=8.8)

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
    if run.refit:
        y -= page.line_height(7.8, 1.5)
        y = page.paragraph(
            xs[1],
            y,
            f"Fitted on all the data to {_date(info.get('observation_end'))} for the forecast; "
            "the holdout figures check the same model fitted on the calibration period.",
            col_w,
            size=7.8,
            color=GREY,
        )
        y += 0.02
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
                text = f"Mean spend per purchase across customers: {ctx.money(mean_spend())}"
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
                ctx.money(c["clv_total"]),
                f"Predicted value, next {ctx.horizon_text}",
                f"mean {ctx.money(c['clv_mean'])}, median {ctx.money(c['clv_median'])} per "
                "customer" + (f"; {interval}" if (interval := total_interval_text(ctx)) else ""),
            )
        )
        tiles.append(
            (
                fmt_pct(c["top_20pct_share"]),
                "of it held by the top 20% of customers",
                f"top 10%: {fmt_pct(c['top_10pct_share'])}",
            )
        )
    numbers = ctx.n
    if numbers.buyers_expected is not None:
        tiles.append(
            (
                fmt_count(numbers.buyers_expected),
                f"customers expected to buy in the next {ctx.horizon_text}",
                f"{fmt_pct(numbers.buyers_share)} of {n:,}; sum of P(at least one purchase)",
            )
        )
    else:
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
