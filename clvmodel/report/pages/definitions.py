"""Page 7: terms, formulas and references."""

from __future__ import annotations

from ...plotting import model_label, unit_name
from ..context import ReportContext
from ..formatting import fmt_pct
from ..layout import Page

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
            f"{ctx.horizon_text}, in {ctx.money_unit}.",
        ),
        (
            "Active / buyers",
            "expected active: the sum of P(alive), one figure on every page; expected buyers: "
            "the sum of P(at least one purchase in the horizon).",
        ),
        (
            "Segments and actions",
            "RFM scores 1-4 by quartile name the segment; thresholds on the actions page.",
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
