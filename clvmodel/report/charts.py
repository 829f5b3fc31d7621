"""The charts of a run (from :mod:`clvmodel.plotting`), drawn to PNG files or onto pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..io import atomic_write_with
from ..plotting import (
    ChartUnavailableError,
    ClvDistribution,
    DecileShares,
    FrequencyHistogram,
    FrequencyRecencyGrid,
    GainsCurve,
    HoldoutByFrequency,
    Tracking,
    ValueRisk,
    mixing_distributions,
    plot_heterogeneity,
    plot_p_alive_decay,
    unit_name,
)
from ..progress import Progress
from .layout import DPI, FIGURE_SIZE, new_figure
from .numbers import AT_RISK_P_ALIVE, WIN_BACK_P_ALIVE
from .run import RunFiles, load_run

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Draw = Callable[["Axes"], "Axes"]


class Chart:
    """A chart of the run: its file name (without ``.png``), what it shows, how it is drawn.

    ``make()`` computes what the chart shows from the run's customers (the work: at ten
    million customers, up to a second or two) as a small object, e.g. a
    :class:`~clvmodel.plotting.value.GainsCurve`; ``paint(ax, made)`` draws it (matplotlib
    only). :meth:`prepare` makes it once and keeps it, or keeps the
    :class:`~clvmodel.plotting.ChartUnavailableError` that says why the chart cannot be
    drawn; every :meth:`draw` paints what was prepared. So a chart's PNG file and its place
    on a PDF page, drawn in two processes, come from one computation
    (:func:`~.render.write_report`).
    """

    def __init__(
        self, name: str, make: Callable[[], Any], paint: Callable[[Axes, Any], Axes]
    ) -> None:
        self.name = name
        self._make = make
        self._paint = paint
        self._made: Any = _NOT_YET

    def prepare(self) -> None:
        """Compute what the chart shows, once (a chart the data cannot support keeps its
        :class:`~clvmodel.plotting.ChartUnavailableError`, raised again by :meth:`draw`)."""
        if self._made is _NOT_YET:
            try:
                self._made = self._make()
            except ChartUnavailableError as exc:
                self._made = exc

    @property
    def made(self) -> Any:
        """What :meth:`prepare` computed (or the error it kept), to hand to another
        process: small, and picklable."""
        self.prepare()
        return self._made

    def adopt(self, made: Any) -> None:
        """Take ``made`` (:attr:`made` of the same chart, computed elsewhere)."""
        self._made = made

    def draw(self, ax: Axes) -> Axes:
        """Draw the chart on ``ax``; raise :class:`~clvmodel.plotting.ChartUnavailableError`
        when it cannot be drawn."""
        made = self.made
        if isinstance(made, ChartUnavailableError):
            raise made
        return self._paint(ax, made)


#: :attr:`Chart._made` of a chart not prepared yet.
_NOT_YET = object()


def _drawn(draw: Draw) -> tuple[Callable[[], None], Callable[[Axes, Any], Axes]]:
    """``make`` and ``paint`` of a chart with nothing to compute beforehand (a few points
    of a fitted model's curves): all of its work is the drawing."""
    return (lambda: None), (lambda ax, _: draw(ax))


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


def _without_covariates(model: Any, make: Callable[[], Any]) -> Callable[[], Any]:
    """``make``, or for a model with covariates a chart left out with a note: a grid of
    histories has no covariates, and each customer has parameters of their own."""
    if not getattr(getattr(model, "design", None), "active", False):
        return make

    def unavailable() -> None:
        raise ChartUnavailableError(
            "The model has covariates: each customer has parameters of their own, so a "
            "grid of histories (without covariates) is not drawn. See the coefficients."
        )

    return unavailable


def charts(run: RunFiles, *, currency: str | None = None) -> list[Chart]:
    """Every chart the run supports, in report order (none prepared yet).

    The fit charts (histogram, holdout, tracking) check the model fitted on the calibration
    period (:attr:`RunFiles.holdout_model`); the others show the forecast model.
    """
    model, summary = run.purchase_model, run.summary
    check = run.holdout_model
    out = [
        Chart(
            "frequency_histogram",
            lambda: FrequencyHistogram.of(check, summary),
            lambda ax, made: made.draw(ax),
        )
    ]
    if run.holdout:
        out.append(
            Chart(
                "holdout_by_frequency",
                lambda: HoldoutByFrequency.of(check, summary),
                lambda ax, made: made.draw(ax),
            )
        )
    if run.tracking is not None:
        tracking = run.tracking
        per_period = Chart(
            "tracking",
            lambda: Tracking.of(check, summary, tracking),
            lambda ax, made: made.draw(ax),
        )
        out.append(per_period)
        out.append(  # the same curves (or the same error), summed
            Chart(
                "tracking_cumulative",
                lambda: per_period.made,
                lambda ax, made: made.draw(ax, cumulative=True),
            )
        )
    for m in (model, run.spend_model):
        if m is None:
            continue
        for dist in mixing_distributions(m):
            out.append(
                Chart(
                    f"heterogeneity_{dist.key}",
                    *_drawn(
                        lambda ax, m=m, key=dist.key: plot_heterogeneity(
                            m, which=key, currency=currency, formula=False, ax=ax
                        )
                    ),
                )
            )
    horizon = float(run.run.get("horizon") or 52.0)
    # The forecast model's charts describe the scored customers (their age T, frequency).
    scored = run.scores
    out.append(
        Chart(
            "p_alive_matrix",
            _without_covariates(model, lambda: FrequencyRecencyGrid.p_alive(model, scored)),
            lambda ax, made: made.draw(ax),
        )
    )
    out.append(
        Chart(
            "expected_purchases_matrix",
            _without_covariates(
                model, lambda: FrequencyRecencyGrid.expected_purchases(model, scored, t=horizon)
            ),
            lambda ax, made: made.draw(ax),
        )
    )
    if (scored["frequency"].to_numpy() > 0).any():  # repeat buyers to pick examples from
        out.append(
            Chart(
                "p_alive_examples",
                _without_covariates(model, lambda: example_customers(run)),
                lambda ax, made: plot_p_alive_decay(
                    model, made[0], horizon=horizon, labels=made[1], ax=ax
                ),
            )
        )
    if run.has_clv:
        holdout = summary if run.scores_on_calibration else None
        scores = run.scores
        out.append(
            Chart(
                "clv_distribution",
                lambda: ClvDistribution.of(run.ranked_clv, holdout),
                lambda ax, made: made.draw(ax, currency=currency),
            )
        )
        out.append(
            Chart(
                "clv_gains",
                lambda: GainsCurve.of(run.ranked_clv),
                lambda ax, made: made.draw(ax),
            )
        )
        out.append(
            Chart(
                "clv_deciles",
                lambda: DecileShares.of(run.ranked_clv),
                lambda ax, made: made.draw(ax),
            )
        )
        bands = {"at risk": AT_RISK_P_ALIVE, "win back": (0.0, WIN_BACK_P_ALIVE)}
        out.append(
            Chart(
                "value_risk",
                lambda: ValueRisk.of(scores),
                lambda ax, made: made.draw(ax, bands=bands, currency=currency),
            )
        )
    return out


def prepare_all(todo: list[Chart]) -> list[Any]:
    """:meth:`Chart.prepare` each chart; what each computed (:attr:`Chart.made`)."""
    return [chart.made for chart in todo]


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
