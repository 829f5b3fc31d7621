"""The charts of a run (from :mod:`clvmodel.plotting`), drawn to PNG files or onto pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..io import atomic_write_with
from ..plotting import (
    ChartUnavailableError,
    mixing_distributions,
    plot_clv_distribution,
    plot_expected_purchases_matrix,
    plot_frequency_histogram,
    plot_gains_curve,
    plot_heterogeneity,
    plot_holdout_by_frequency,
    plot_p_alive_decay,
    plot_p_alive_matrix,
    plot_tracking,
    plot_value_by_decile,
    plot_value_risk,
    unit_name,
)
from ..progress import Progress
from .layout import DPI, FIGURE_SIZE, new_figure
from .numbers import AT_RISK_P_ALIVE, WIN_BACK_P_ALIVE
from .run import RunFiles, load_run

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Draw = Callable[["Axes"], "Axes"]


@dataclass(frozen=True)
class Chart:
    """A chart of the run: its file name (without ``.png``) and how to draw it on an Axes."""

    name: str
    draw: Draw


def example_customers(run: RunFiles, n: int = 3) -> tuple[pd.DataFrame, list[str]]:
    """A few repeat customers worth showing: the most valuable, a lapsed frequent buyer and a
    typical repeat buyer (by CLV, or expected purchases without CLV).

    Ties go to the smallest customer id (as text: ``"100"`` before ``"99"``), so that the
    examples do not depend on the order of the scores' rows (numpy over the columns: no copy
    of the table).
    """
    scores = run.scores
    value_col = "clv" if run.has_clv else "expected_purchases"
    value = scores[value_col].to_numpy(np.float64)
    freq = scores["frequency"].to_numpy(np.float64)
    pool = freq > 0  # repeat buyers not picked yet
    if not pool.any():
        return scores.iloc[:0], []

    def first_best(key: np.ndarray, where: np.ndarray) -> int:
        masked = np.where(where & ~np.isnan(key), key, -np.inf)
        best = np.flatnonzero((masked == masked.max()) & where)
        if len(best) == 1:
            return int(best[0])
        ids = scores["customer_id"].iloc[best].astype(str).to_numpy()
        return int(best[np.argmin(ids)])

    picks: list[tuple[int, str]] = []
    picks.append((first_best(value, pool), "highest value"))
    pool[picks[-1][0]] = False
    lapsed = pool & (scores["p_alive"].to_numpy(np.float64) < 0.3)
    if lapsed.any():
        picks.append((first_best(freq, lapsed), "frequent, lapsed"))
        pool[picks[-1][0]] = False
    if pool.any():
        median = np.nanmedian(np.where(pool, value, np.nan))
        picks.append((first_best(-np.abs(value - median), pool), "typical repeat buyer"))
    picks = picks[:n]
    rows = scores.iloc[[i for i, _ in picks]]
    unit = unit_name(run.unit)
    labels = [
        f"{row.customer_id}, {why}: {int(row.frequency)} repeat, last {row.T - row.recency:.0f} "
        f"{unit} ago"
        for (_, why), row in zip(picks, rows.itertuples(), strict=True)
    ]
    return rows, labels


def _without_covariates(model: Any, draw: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``draw``, or for a model with covariates a chart left out with a note: a grid of
    histories has no covariates, and each customer has parameters of its own."""
    if not getattr(getattr(model, "design", None), "active", False):
        return draw

    def unavailable(ax: Any) -> None:
        raise ChartUnavailableError(
            "The model has covariates: each customer has parameters of their own, so a "
            "grid of histories (without covariates) is not drawn. See the coefficients."
        )

    return unavailable


def charts(run: RunFiles, *, currency: str | None = None) -> list[Chart]:
    """Every chart the run supports, in report order.

    The fit charts (histogram, holdout, tracking) check the model fitted on the calibration
    period (:attr:`RunFiles.holdout_model`); the others show the forecast model.
    """
    model, summary = run.purchase_model, run.summary
    check = run.holdout_model
    out = [Chart("frequency_histogram", lambda ax: plot_frequency_histogram(check, summary, ax=ax))]
    if run.holdout:
        out.append(
            Chart(
                "holdout_by_frequency", lambda ax: plot_holdout_by_frequency(check, summary, ax=ax)
            )
        )
    if run.tracking is not None:
        tracking = run.tracking
        out.append(Chart("tracking", lambda ax: plot_tracking(check, summary, tracking, ax=ax)))
        out.append(
            Chart(
                "tracking_cumulative",
                lambda ax: plot_tracking(check, summary, tracking, cumulative=True, ax=ax),
            )
        )
    for m in (model, run.spend_model):
        if m is None:
            continue
        for dist in mixing_distributions(m):
            out.append(
                Chart(
                    f"heterogeneity_{dist.key}",
                    lambda ax, m=m, key=dist.key: plot_heterogeneity(
                        m, which=key, currency=currency, formula=False, ax=ax
                    ),
                )
            )
    horizon = float(run.run.get("horizon") or 52.0)
    # The forecast model's charts describe the scored customers (their age T, frequency).
    scored = run.scores
    out.append(
        Chart(
            "p_alive_matrix",
            _without_covariates(model, lambda ax: plot_p_alive_matrix(model, scored, ax=ax)),
        )
    )
    out.append(
        Chart(
            "expected_purchases_matrix",
            _without_covariates(
                model, lambda ax: plot_expected_purchases_matrix(model, scored, t=horizon, ax=ax)
            ),
        )
    )
    rows, labels = example_customers(run)
    if labels:
        out.append(
            Chart(
                "p_alive_examples",
                _without_covariates(
                    model,
                    lambda ax: plot_p_alive_decay(
                        model, rows, horizon=horizon, labels=labels, ax=ax
                    ),
                ),
            )
        )
    if run.has_clv:
        holdout = summary if run.scores_on_calibration else None
        scores = run.scores
        out.append(
            Chart(
                "clv_distribution",
                lambda ax: plot_clv_distribution(scores, holdout, currency=currency, ax=ax),
            )
        )
        out.append(Chart("clv_gains", lambda ax: plot_gains_curve(scores, holdout, ax=ax)))
        out.append(Chart("clv_deciles", lambda ax: plot_value_by_decile(scores, holdout, ax=ax)))
        out.append(
            Chart(
                "value_risk",
                lambda ax: plot_value_risk(
                    scores,
                    currency=currency,
                    bands={"at risk": AT_RISK_P_ALIVE, "win back": (0.0, WIN_BACK_P_ALIVE)},
                    ax=ax,
                ),
            )
        )
    return out


def _skip(run: RunFiles, name: str, exc: Exception) -> None:
    run.skip(f"chart {name!r} left out: {exc}", stacklevel=3)


def write_figures(run_dir: str | Path, *, currency: str | None = None) -> list[Path]:
    """Draw every chart of the run to ``run_dir/figures/NAME.png`` (150 dpi), atomically.

    ``currency`` labels the money axes (default: the run's, from ``run.json``).

    Charts the models do not support are left out with a :class:`ReportWarning`.

    Returns
    -------
    list of Path
        The files written, in report order.
    """
    run = load_run(run_dir)
    return save_charts(run, charts(run, currency=currency or run.currency))


def save_charts(run: RunFiles, todo: list[Chart], *, progress: bool = True) -> list[Path]:
    """Draw ``todo`` (charts of ``run``) to ``run.directory/figures/NAME.png``, atomically;
    return the files written (see :func:`write_figures`). ``progress=False`` draws no
    progress bar (a process beside another one that draws its own)."""
    out_dir = run.directory / "figures"
    written: list[Path] = []
    with Progress("Writing figures", total=len(todo), enabled=None if progress else False) as bar:
        for chart in todo:
            fig = new_figure(FIGURE_SIZE, layout="constrained")
            try:
                chart.draw(fig.add_subplot())
            except ChartUnavailableError as exc:
                _skip(run, chart.name, exc)
                bar.advance(detail=chart.name)
                continue
            path = out_dir / f"{chart.name}.png"
            atomic_write_with(path, lambda tmp, fig=fig: fig.savefig(tmp, dpi=DPI, format="png"))
            written.append(path)
            bar.advance(detail=chart.name)
    return written
