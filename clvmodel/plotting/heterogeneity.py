"""The fitted mixing distributions: how customers differ in each trait."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..exceptions import InputError
from .style import (
    ACCENT,
    ACTUAL,
    MODEL,
    ChartUnavailableError,
    _axes,
    _style,
    model_label,
    unit_name,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..models.base import BaseModel

Array = NDArray[np.float64]


# ---------------------------------------------------------------- 5. heterogeneity
@dataclass(frozen=True)
class MixingDistribution:
    """One fitted distribution of a customer trait across the customer base.

    Attributes
    ----------
    key : str
        Short name (``"purchase_rate"``, ``"dropout"``, ``"dropout_rate"``,
        ``"purchase_probability"``, ``"mean_spend"``).
    title, xlabel : str
        Chart title and x-axis label (with units).
    formula : str
        The distribution with its fitted parameters, e.g. ``"λ ~ Gamma(r=0.24, α=4.4)"``.
    dist : scipy frozen distribution
    log_scale : bool
        Whether the trait is positive and skewed (drawn on a log axis).
    """

    key: str
    title: str
    xlabel: str
    formula: str
    dist: Any
    log_scale: bool


def _law(symbol: str, family: str, *params: tuple[str, float]) -> str:
    """Mathtext ``symbol ~ Family(name = value, ...)``."""
    inner = r",\ ".join(f"{name} = {value:.3g}" for name, value in params)
    return rf"${symbol} \sim \mathrm{{{family}}}({inner})$"


def mixing_distributions(model: BaseModel) -> list[MixingDistribution]:
    """The fitted heterogeneity distributions of a model, by its parameter names.

    - ``r, alpha`` (BG/NBD, MBG/NBD, Pareto/NBD): purchase rate λ ~ Gamma(r, rate α);
    - ``a, b`` with ``r, alpha`` (BG/NBD, MBG/NBD): dropout probability p ~ Beta(a, b);
    - ``s, beta`` with ``r, alpha`` (Pareto/NBD): dropout rate μ ~ Gamma(s, rate β);
    - ``alpha, beta, gamma, delta`` (BG/BB): purchase probability p ~ Beta(α, β) and
      dropout probability θ ~ Beta(γ, δ);
    - ``alpha, beta`` only (sBG): churn probability θ ~ Beta(α, β);
    - ``p, q, gamma`` (Gamma-Gamma): a customer's mean spend p/ν with ν ~ Gamma(q, rate γ),
      i.e. inverse gamma with shape q and scale pγ (Fader & Hardie 2013).
    """
    from scipy import stats

    params = {k: float(v) for k, v in model.params_.items()}
    names = set(params)
    unit = unit_name(getattr(model, "time_unit_", None), plural=False)
    label = model_label(model)
    out: list[MixingDistribution] = []

    if {"r", "alpha"} <= names:
        r, alpha = params["r"], params["alpha"]
        out.append(
            MixingDistribution(
                "purchase_rate",
                f"Purchase rate while active ({label})",
                f"Repeat purchases per {unit} ($\\lambda$, log scale)",
                _law(r"\lambda", "Gamma", ("r", r), (r"\alpha", alpha)),
                stats.gamma(r, scale=1.0 / alpha),
                True,
            )
        )
        if {"a", "b"} <= names:
            out.append(
                MixingDistribution(
                    "dropout",
                    f"Dropout probability after a purchase ({label})",
                    "Probability p of becoming inactive after each repeat purchase",
                    _law("p", "Beta", ("a", params["a"]), ("b", params["b"])),
                    stats.beta(params["a"], params["b"]),
                    False,
                )
            )
        if {"s", "beta"} <= names:
            out.append(
                MixingDistribution(
                    "dropout_rate",
                    f"Dropout rate ({label})",
                    f"Dropout rate ($\\mu$) per {unit} (log scale)",
                    _law(r"\mu", "Gamma", ("s", params["s"]), (r"\beta", params["beta"])),
                    stats.gamma(params["s"], scale=1.0 / params["beta"]),
                    True,
                )
            )
    elif {"alpha", "beta", "gamma", "delta"} <= names:
        out.append(
            MixingDistribution(
                "purchase_probability",
                f"Purchase probability per opportunity ({label})",
                "Probability p of a purchase at each opportunity",
                _law("p", "Beta", (r"\alpha", params["alpha"]), (r"\beta", params["beta"])),
                stats.beta(params["alpha"], params["beta"]),
                False,
            )
        )
        out.append(
            MixingDistribution(
                "dropout",
                f"Dropout probability per opportunity ({label})",
                r"Probability $\theta$ of becoming inactive at each opportunity",
                _law(r"\theta", "Beta", (r"\gamma", params["gamma"]), (r"\delta", params["delta"])),
                stats.beta(params["gamma"], params["delta"]),
                False,
            )
        )
    elif names == {"alpha", "beta"}:
        out.append(
            MixingDistribution(
                "churn",
                f"Churn probability per period ({label})",
                r"Probability $\theta$ of cancelling at each renewal",
                _law(r"\theta", "Beta", (r"\alpha", params["alpha"]), (r"\beta", params["beta"])),
                stats.beta(params["alpha"], params["beta"]),
                False,
            )
        )
    elif {"p", "q", "gamma"} <= names:
        p, q, g = params["p"], params["q"], params["gamma"]
        out.append(
            MixingDistribution(
                "mean_spend",
                f"Customers' mean spend per purchase ({label})",
                "Long-run mean spend per purchase (log scale)",
                r"$p/\nu$ with "
                + _law(r"\nu", "Gamma", ("q", q), (r"\gamma", g))
                + f", p = {p:.3g}",
                stats.invgamma(q, scale=p * g),
                True,
            )
        )
    return out


def plot_heterogeneity(
    model: BaseModel,
    *,
    which: str | None = None,
    currency: str | None = None,
    formula: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """One fitted mixing distribution: the share of customers in each range of the trait.

    Parameters
    ----------
    model : BaseModel
        A fitted purchase or spend model (see :func:`mixing_distributions`).
    which : str, optional
        Key of the distribution (``"purchase_rate"``, ``"dropout"``, ...); the first by
        default.
    currency : str, optional
        Currency of amounts, for the mean-spend axis.
    formula : bool
        Show the fitted distribution (``λ ~ Gamma(r, α)``) as the legend title.

    Shares are exact (differences of the fitted CDF over bins), so densities that are
    infinite at 0 (shape < 1) still draw as finite bars. Positive skewed traits use
    log-spaced bins on a log axis; the central 99.8 % is shown and the rest noted.
    """
    dists = mixing_distributions(model)
    if not dists:
        raise ChartUnavailableError(
            f"{model_label(model)} (parameters {list(model.params_.index)}) has no known "
            f"mixing distribution to draw."
        )
    chosen = dists[0] if which is None else next((d for d in dists if d.key == which), None)
    if chosen is None:
        raise InputError(
            f"The 'which' parameter must be one of {[d.key for d in dists]} for "
            f"{model_label(model)}. Got {which!r} instead."
        )
    ax = _axes(ax)
    dist = chosen.dist
    if chosen.log_scale:
        lo, hi = float(dist.ppf(0.001)), float(dist.ppf(0.999))
        lo = max(lo, hi * 1e-6)
        edges = np.geomspace(lo, hi, 41)
        ax.set_xscale("log")
    else:
        edges = np.linspace(0.0, 1.0, 41)
    mass = np.diff(dist.cdf(edges)) * 100.0
    ax.stairs(mass, edges, fill=True, color=ACCENT, alpha=0.85, label="Share of customers")
    mean, median = float(dist.mean()), float(dist.median())

    line_top = float(mass.max()) * 1.08  # the legend sits above this
    if np.isfinite(mean) and edges[0] <= mean <= edges[-1]:
        ax.vlines(
            mean, 0, line_top, color=ACTUAL, linestyle="--", linewidth=1.5, label=f"Mean {mean:.3g}"
        )
    ax.vlines(
        median, 0, line_top, color=MODEL, linestyle=":", linewidth=2.0, label=f"Median {median:.3g}"
    )
    below = 100.0 * float(dist.cdf(edges[0]))
    if below >= 1.0:  # a long left tail cut off: say so in the legend
        ax.plot([], [], " ", label=f"{below:.0f}% below {edges[0]:.2g} not shown")
    ax.set_ylim(0, float(mass.max()) * 1.6)
    centre = float(np.sum(mass * np.arange(len(mass))) / max(np.sum(mass), 1e-300))
    xlabel = chosen.xlabel
    if currency and chosen.key == "mean_spend":
        xlabel = xlabel.replace("(log scale)", f"({currency}, log scale)")
    return _style(
        ax,
        title=chosen.title,
        xlabel=xlabel,
        ylabel="Share of customers per bin (%)",
        legend=True,
        legend_loc="upper right" if centre < len(mass) / 2 else "upper left",
        legend_title=chosen.formula if formula else None,
    )
