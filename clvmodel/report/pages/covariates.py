"""The covariates page (only for a purchase model with covariates): the coefficients with
their standard errors, z and p values, and the totals with their intervals."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...plotting import model_label
from ..context import ReportContext
from ..formatting import DASH, fmt_count, fmt_number
from ..layout import GREY, Page

#: How a coefficient moves each model's parameters (``clvmodel.covariates.LINKS``).
_BG = (
    "alpha_i = alpha exp(-g_purchase z_i), a_i = a exp(g_dropout z_i), b_i = b exp(g_dropout z_i)."
)
LINK_TEXT = {
    "pnbd": "Pareto/NBD: alpha_i = alpha exp(-g_purchase z_i), beta_i = beta exp(-g_dropout z_i).",
    "bgnbd": "BG/NBD: " + _BG,
    "mbgnbd": "MBG/NBD: " + _BG,
}


def has_covariates(model: Any) -> bool:
    """Whether ``model`` is a purchase model fitted with covariates."""
    return bool(getattr(getattr(model, "design", None), "active", False))


def coefficient_rows(model: Any) -> list[list[str]]:
    """One row per coefficient: covariate, process, estimate, std. error, z, p."""
    table = model.summary()
    rows = []
    for name in model.coefficient_names:
        row = table.loc[name]
        process, column = str(name).split(":", 1)
        process = "both (equal)" if process == "purchase=dropout" else process
        p = float(row["p_value"])
        p_text = "n/a" if not np.isfinite(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")
        rows.append(
            [
                column,
                process,
                fmt_number(row["estimate"], 4),
                fmt_number(row["std_error"], 3),
                fmt_number(row["z"], 2),
                p_text,
            ]
        )
    for name, value in sorted(model.design.fixed.items()):
        process, column = name.split(":", 1)
        rows.append([column, process, fmt_number(value, 4), "fixed", "", ""])
    return rows


def total_interval_rows(ctx: ReportContext) -> list[list[str]]:
    """The totals of ``metrics.json`` with their intervals (none when unavailable)."""
    totals = ctx.run.metrics.get("totals") or {}
    rows = []
    labels = (
        ("clv", f"Predicted value, next {ctx.horizon_text}", ctx.money),
        ("expected_purchases", f"Repeat purchases, next {ctx.horizon_text}", fmt_count),
        ("p_alive", "Customers still active (sum of P(alive))", fmt_count),
    )
    for key, label, fmt in labels:
        t = totals.get(key)
        if t:
            rows.append([label, fmt(t["estimate"]), fmt(t["lower"]), fmt(t["upper"])])
    return rows


def total_interval_text(ctx: ReportContext) -> str | None:
    """``"90% interval EUR 1,200 – EUR 1,400"`` for the total CLV, or None."""
    totals = ctx.run.metrics.get("totals") or {}
    t = totals.get("clv")
    if not t:
        return None
    return f"{totals['level']:.0%} interval {ctx.money(t['lower'])} {DASH} {ctx.money(t['upper'])}"


def page_covariates(ctx: ReportContext, page: Page) -> tuple[str, str]:
    """The coefficients of the purchase model's covariates and the totals' intervals."""
    model = ctx.run.purchase_model
    x0, w = 0.06, 0.88
    y = page.heading(x0, 0.80, f"Coefficients of {model_label(model)}", w)
    header = ["Covariate", "Process", "Estimate", "Std. error", "z", "p"]
    y = page.table(x0, y, w, header, coefficient_rows(model), size=8.6)
    fit = model.result_
    y = page.paragraph(
        x0,
        y - 0.012,
        f"{LINK_TEXT.get(model.name, '')} A positive purchase coefficient raises the purchase "
        f"rate: one unit more of the covariate multiplies the mean purchase rate by exp(g). "
        f"z = estimate / std. error; p: two-sided Wald test of g = 0. {fit.n_obs:,} "
        f"customers; log-likelihood {fit.log_likelihood:,.1f}; BIC {fit.bic:,.1f}.",
        w,
        size=8.2,
        color=GREY,
    )
    rows = total_interval_rows(ctx)
    if rows:
        totals = ctx.run.metrics["totals"]
        y = page.heading(x0, y - 0.04, f"Totals with {totals['level']:.0%} intervals", w)
        y = page.table(x0, y, w, ["Total", "Estimate", "Lower", "Upper"], rows, size=8.6)
        page.paragraph(
            x0,
            y - 0.012,
            "From the estimates' covariance (delta method on the log scale): the range the "
            "totals take with the uncertainty in the fitted parameters, not the spread of "
            "individual customers.",
            w,
            size=8.2,
            color=GREY,
        )
    subtitle = (
        "Customer characteristics move each customer's purchase and dropout parameters; "
        "every customer is scored with their own."
    )
    return "Customer characteristics", subtitle
