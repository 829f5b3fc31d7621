"""Charts: each returns a labelled Axes, leaves its inputs and matplotlib's settings alone,
and draws what the model says (checked against direct computations)."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from report_fixtures import build_run_dir

from clvmodel.exceptions import InputError, MissingColumnError
from clvmodel.models.base import PurchaseModel
from clvmodel.models.bgnbd import BetaGeoModel
from clvmodel.plotting import (
    ChartUnavailableError,
    expected_frequency_counts,
    expected_tracking,
    mixing_distributions,
    model_label,
    new_customer_expectation,
    p_alive_path,
    plot_clv_distribution,
    plot_expected_purchases_matrix,
    plot_frequency_histogram,
    plot_gains_curve,
    plot_heterogeneity,
    plot_holdout_by_frequency,
    plot_p_alive_decay,
    plot_p_alive_history,
    plot_p_alive_matrix,
    plot_tracking,
    plot_value_by_decile,
    plot_value_risk,
    sample_rows,
)
from clvmodel.report import RunFiles, load_run
from clvmodel.units import UNIT_DAYS


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunFiles:
    """A simulated run (2,000 customers, BG/NBD + Gamma-Gamma, 26-week holdout), read back."""
    return load_run(build_run_dir(tmp_path_factory.mktemp("plot_run")))


@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    yield
    plt.close("all")


class BareModel(PurchaseModel):
    """A purchase model with only the required interface (no new-customer formulas)."""

    name = "bare"
    param_names = BetaGeoModel.param_names
    columns = ("frequency", "recency", "T")

    def __init__(self, inner: BetaGeoModel) -> None:
        super().__init__()
        self.inner = inner
        self.result_ = inner.result_
        self.time_unit_ = inner.time_unit_

    def _expected_purchases(self, arrays: tuple[Any, ...], t: float) -> Any:
        return self.inner._expected_purchases(arrays, t)

    def _p_alive(self, arrays: tuple[Any, ...]) -> Any:
        return self.inner._p_alive(arrays)


def _axes() -> Any:
    return Figure(figsize=(8, 5)).add_subplot()


def _charts(run: RunFiles) -> dict[str, Any]:
    m, s, sc, tr = run.purchase_model, run.summary, run.scores, run.tracking
    return {
        "frequency_histogram": lambda ax: plot_frequency_histogram(m, s, ax=ax),
        "holdout_by_frequency": lambda ax: plot_holdout_by_frequency(m, s, ax=ax),
        "tracking": lambda ax: plot_tracking(m, s, tr, ax=ax),
        "tracking_cumulative": lambda ax: plot_tracking(m, s, tr, cumulative=True, ax=ax),
        "p_alive_matrix": lambda ax: plot_p_alive_matrix(m, s, ax=ax),
        "expected_purchases_matrix": lambda ax: plot_expected_purchases_matrix(m, s, t=52, ax=ax),
        "heterogeneity_purchase_rate": lambda ax: plot_heterogeneity(m, ax=ax),
        "heterogeneity_dropout": lambda ax: plot_heterogeneity(m, which="dropout", ax=ax),
        "heterogeneity_mean_spend": lambda ax: plot_heterogeneity(run.spend_model, ax=ax),
        "clv_distribution": lambda ax: plot_clv_distribution(sc, s, ax=ax),
        "clv_gains": lambda ax: plot_gains_curve(sc, s, ax=ax),
        "clv_deciles": lambda ax: plot_value_by_decile(sc, s, ax=ax),
        "p_alive_history": lambda ax: plot_p_alive_history(m, [0, 3, 4.5, 20], 40.0, ax=ax),
        "p_alive_decay": lambda ax: plot_p_alive_decay(
            m, sc[sc["frequency"] > 0].head(2), horizon=52, ax=ax
        ),
    }


SINGLE_SERIES = {"p_alive_matrix", "expected_purchases_matrix"}
CHART_NAMES = list(
    _charts(SimpleNamespace(purchase_model=None, summary=None, scores=None, tracking=None))
)


@pytest.mark.parametrize("name", CHART_NAMES)
def test_chart_is_labelled(run: RunFiles, name: str) -> None:
    ax = _charts(run)[name](_axes())
    assert ax.get_title(loc="left").strip(), "a title that says what is shown"
    assert ax.get_xlabel().strip() and ax.get_ylabel().strip()
    if name not in SINGLE_SERIES:
        legend = ax.get_legend()
        assert legend is not None and len(legend.get_texts()) >= 2


def test_units_are_in_the_labels(run: RunFiles) -> None:
    charts = _charts(run)
    assert "weeks" in charts["holdout_by_frequency"](_axes()).get_ylabel()
    assert "week" in charts["tracking"](_axes()).get_ylabel()
    assert "weeks" in charts["p_alive_matrix"](_axes()).get_xlabel()
    assert "per week" in charts["heterogeneity_purchase_rate"](_axes()).get_xlabel()
    assert "currency" in charts["clv_distribution"](_axes()).get_xlabel()


def test_without_ax_a_pyplot_figure_is_made(run: RunFiles) -> None:
    ax = plot_frequency_histogram(run.purchase_model, run.summary)
    assert ax.figure in [plt.figure(n) for n in plt.get_fignums()]


def test_charts_change_neither_inputs_nor_matplotlib_settings(run: RunFiles) -> None:
    before = {
        "summary": run.summary.copy(),
        "scores": run.scores.copy(),
        "tracking": run.tracking.copy(),
        "attrs": copy.deepcopy(run.summary.attrs),
        "params": run.purchase_model.params_.copy(),
    }
    rc = dict(matplotlib.rcParams)
    for draw in _charts(run).values():
        draw(_axes())
    pd.testing.assert_frame_equal(run.summary, before["summary"])
    pd.testing.assert_frame_equal(run.scores, before["scores"])
    pd.testing.assert_frame_equal(run.tracking, before["tracking"])
    assert run.summary.attrs == before["attrs"]
    pd.testing.assert_series_equal(run.purchase_model.params_, before["params"])
    assert dict(matplotlib.rcParams) == rc


# ------------------------------------------------------------ frequency histogram
def test_expected_counts_add_up_and_match_the_data(run: RunFiles) -> None:
    counts = expected_frequency_counts(run.purchase_model, run.summary, max_frequency=7)
    n = len(run.summary)
    assert counts.sum() == pytest.approx(n)
    assert np.all(counts > 0)
    actual = np.bincount(np.minimum(run.summary["frequency"], 7), minlength=8)
    # Simulated from BG/NBD and fitted by it: the zero class is within a few percent.
    assert counts[0] == pytest.approx(actual[0], rel=0.05)


def test_expected_counts_are_sum_of_probabilities(run: RunFiles) -> None:
    m, s = run.purchase_model, run.summary
    counts = expected_frequency_counts(m, s, max_frequency=3)
    direct = [m.probability_of_purchases(t=s["T"].to_numpy(), n=k).sum() for k in range(3)]
    np.testing.assert_allclose(counts[:3], direct, rtol=1e-10)


def test_histogram_without_count_distribution_shows_actual_only(run: RunFiles) -> None:
    ax = plot_frequency_histogram(BareModel(run.purchase_model), run.summary, ax=_axes())
    assert len(ax.containers) == 1
    assert ax.get_legend() is None
    assert any("actual only" in t.get_text() for t in ax.texts)
    with pytest.raises(ChartUnavailableError, match="probability_of_purchases"):
        expected_frequency_counts(BareModel(run.purchase_model), run.summary)


# -------------------------------------------------------------------- holdout
def test_holdout_chart_needs_holdout_columns(run: RunFiles) -> None:
    calibration_only = run.summary.drop(
        columns=["frequency_holdout", "monetary_value_holdout", "duration_holdout"]
    )
    with pytest.raises(ChartUnavailableError, match="calibration end"):
        plot_holdout_by_frequency(run.purchase_model, calibration_only, ax=_axes())


def test_holdout_chart_plots_group_means(run: RunFiles) -> None:
    ax = plot_holdout_by_frequency(run.purchase_model, run.summary, max_frequency=3, ax=_axes())
    actual = ax.lines[0].get_ydata()
    s = run.summary
    group = np.minimum(s["frequency"], 3)
    expected = s.groupby(group)["frequency_holdout"].mean().to_numpy()
    np.testing.assert_allclose(actual, expected)


# -------------------------------------------------------------------- tracking
def _acquisition(run: RunFiles) -> np.ndarray:
    s = run.summary
    span = (pd.Timestamp(s.attrs["calibration_end"]) - pd.Timestamp(s.attrs["first_date"])).days
    return span / UNIT_DAYS["W"] - s["T"].to_numpy()


def test_expected_tracking_is_the_sum_over_customers(run: RunFiles) -> None:
    m = run.purchase_model
    s_i = _acquisition(run)
    t = np.array([5.0, 30.0, 77.0])
    got = expected_tracking(m, run.summary, t)
    direct = [
        m.expected_purchases_new_customer(np.maximum(tt - s_i[s_i < tt], 1e-12)).sum() for tt in t
    ]
    np.testing.assert_allclose(got, direct, rtol=1e-6)


def test_expected_tracking_is_close_to_actual(run: RunFiles) -> None:
    tracking = run.tracking
    total = expected_tracking(run.purchase_model, run.summary, [tracking["t"].max()])[0]
    assert total == pytest.approx(tracking["actual"].sum(), rel=0.1)


def test_generic_new_customer_curve_matches_closed_form(run: RunFiles) -> None:
    t = np.linspace(0.0, 80.0, 41)
    exact = new_customer_expectation(run.purchase_model)(t)
    generic = new_customer_expectation(BareModel(run.purchase_model))(t)
    np.testing.assert_allclose(generic, exact, rtol=5e-3, atol=1e-6)
    assert exact[0] == 0.0 and np.all(np.diff(exact) > 0)


def test_tracking_curves_are_consistent(run: RunFiles) -> None:
    m, s, tr = run.purchase_model, run.summary, run.tracking
    inc = plot_tracking(m, s, tr, ax=_axes())
    cum = plot_tracking(m, s, tr, cumulative=True, ax=_axes())
    np.testing.assert_allclose(
        np.cumsum(inc.lines[1].get_ydata()), cum.lines[1].get_ydata(), rtol=1e-9
    )
    np.testing.assert_allclose(cum.lines[0].get_ydata(), np.cumsum(tr["actual"]))
    assert len(inc.lines) == 3  # actual, model and the calibration/holdout boundary


def test_tracking_names_missing_inputs(run: RunFiles) -> None:
    bare = run.summary.copy()
    bare.attrs = {}
    with pytest.raises(InputError, match="first_date"):
        plot_tracking(run.purchase_model, bare, run.tracking, ax=_axes())
    with pytest.raises(MissingColumnError, match="'actual'"):
        plot_tracking(
            run.purchase_model, run.summary, run.tracking.drop(columns="actual"), ax=_axes()
        )


# ---------------------------------------------------------------- heatmaps
def test_heatmap_values_are_model_predictions(run: RunFiles) -> None:
    m = run.purchase_model
    ax = plot_p_alive_matrix(m, T=40.0, max_frequency=5, ax=_axes())
    z = np.asarray(ax.collections[0].get_array()).reshape(6, -1)
    assert np.all((z >= 0) & (z <= 1))
    assert np.all(z[0] == 1.0)  # BG/NBD: no repeat purchase, never dropped out
    # More recent last purchase, same frequency: more likely alive.
    assert np.all(np.diff(z[1:], axis=1) >= -1e-12)
    ax = plot_expected_purchases_matrix(m, T=40.0, t=10.0, max_frequency=5, ax=_axes())
    z = np.asarray(ax.collections[0].get_array()).reshape(6, -1)
    n_rec = z.shape[1]
    rec = (np.arange(n_rec) + 0.5) * 40.0 / n_rec
    row = pd.DataFrame({"frequency": 3.0, "recency": rec, "T": 40.0})
    np.testing.assert_allclose(z[3], m.expected_purchases(row, t=10.0).to_numpy())


# ------------------------------------------------------------- heterogeneity
def _stub(name: str, **params: float) -> SimpleNamespace:
    return SimpleNamespace(name=name, params_=pd.Series(params), time_unit_="W")


@pytest.mark.parametrize(
    ("model", "keys"),
    [
        (_stub("bgnbd", r=0.24, alpha=4.4, a=0.79, b=2.4), ["purchase_rate", "dropout"]),
        (_stub("mbgnbd", r=0.5, alpha=6.0, a=0.9, b=3.0), ["purchase_rate", "dropout"]),
        (
            _stub("pareto-nbd", r=0.55, alpha=10.6, s=0.61, beta=11.7),
            ["purchase_rate", "dropout_rate"],
        ),
        (
            _stub("bgbb", alpha=1.2, beta=0.75, gamma=0.66, delta=2.8),
            ["purchase_probability", "dropout"],
        ),
        (_stub("sbg", alpha=0.7, beta=1.2), ["churn"]),
        (_stub("gamma-gamma", p=6.25, q=3.74, gamma=15.44), ["mean_spend"]),
        (_stub("unknown", k=1.0), []),
    ],
)
def test_mixing_distributions_dispatch_on_parameters(model: Any, keys: list[str]) -> None:
    assert [d.key for d in mixing_distributions(model)] == keys
    if not keys:
        with pytest.raises(ChartUnavailableError, match="no known mixing distribution"):
            plot_heterogeneity(model, ax=_axes())
    for key in keys:
        ax = plot_heterogeneity(model, which=key, ax=_axes())
        assert ax.get_legend() is not None


def test_mean_spend_distribution_has_the_gamma_gamma_mean(run: RunFiles) -> None:
    (dist,) = mixing_distributions(run.spend_model)
    assert dist.dist.mean() == pytest.approx(run.spend_model.population_mean_spend(), rel=1e-9)


def test_heterogeneity_bars_are_shares_of_customers(run: RunFiles) -> None:
    m = run.purchase_model
    ax = plot_heterogeneity(m, which="dropout", ax=_axes())
    (bars,) = ax.patches
    assert bars.get_data().values.sum() == pytest.approx(100.0)
    r, alpha = m.params_["r"], m.params_["alpha"]
    rate = plot_heterogeneity(m, which="purchase_rate", ax=_axes())
    assert rate.get_xscale() == "log"
    assert rate.get_legend().get_title().get_text().startswith(r"$\lambda")
    (d,) = [x for x in mixing_distributions(m) if x.key == "purchase_rate"]
    assert d.dist.mean() == pytest.approx(r / alpha)
    with pytest.raises(InputError, match="'which'"):
        plot_heterogeneity(m, which="nope", ax=_axes())


# ------------------------------------------------------------------------- CLV
def test_clv_charts_with_and_without_holdout(run: RunFiles) -> None:
    sc, s = run.scores, run.summary
    with_holdout = plot_gains_curve(sc, s, ax=_axes())
    without = plot_gains_curve(sc, ax=_axes())
    assert len(with_holdout.lines) == 4 and len(without.lines) == 2
    deciles = plot_value_by_decile(sc, s, ax=_axes())
    shares = [b.get_height() for b in deciles.containers[0]]
    assert sum(shares) == pytest.approx(100.0)
    assert shares[0] == max(shares)
    dist = plot_clv_distribution(sc, s, ax=_axes())
    labels = [t.get_text() for t in dist.get_legend().get_texts()]
    assert any("holdout" in lab for lab in labels)


def test_value_risk_sample_is_of_customers_not_of_row_positions(run: RunFiles) -> None:
    # An engine returns the scores in any order: the chart must draw the same customers.
    scores = run.scores
    assert len(scores) > 500
    shuffled = scores.sample(frac=1.0, random_state=3).reset_index(drop=True)

    def points(table: pd.DataFrame) -> list[list[list[float]]]:
        ax = plot_value_risk(table, sample=500, ax=_axes())
        return [sorted(c.get_offsets().tolist()) for c in ax.collections]

    drawn = points(scores)
    assert sum(len(c) for c in drawn) > 400  # (customers with CLV 0 are not drawn)
    assert points(shuffled) == drawn
    rows = sample_rows(len(scores), 500, keys=scores["customer_id"])
    again = sample_rows(len(shuffled), 500, keys=shuffled["customer_id"])
    assert len(set(rows)) == 500
    assert scores["customer_id"].iloc[rows].tolist() == shuffled["customer_id"].iloc[again].tolist()
    other_seed = sample_rows(len(scores), 500, keys=scores["customer_id"], seed=1)
    assert len(set(rows) & set(other_seed)) < 100  # about 500 * 500 / n in common
    # without ids, a seeded sample of positions, as before
    assert sample_rows(len(scores), 500).tolist() == sample_rows(len(scores), 500).tolist()
    # ids in the index are used; a missing id is not the text "nan"; one id per row
    indexed = plot_value_risk(scores.set_index("customer_id"), sample=500, ax=_axes())
    assert [sorted(c.get_offsets().tolist()) for c in indexed.collections] == drawn
    from clvmodel.plotting.style import _as_text

    for ids in (pd.Series(["a", "nan", None]), pd.Series(["a", "nan", None], dtype=object)):
        assert _as_text(ids).to_pylist() == ["a", "nan", None]
    assert _as_text(np.array([7, 8])).to_pylist() == ["7", "8"]
    with pytest.raises(InputError, match="one id per row"):
        sample_rows(1000, 10, keys=scores["customer_id"][:10])


def test_clv_charts_need_clv(run: RunFiles) -> None:
    with pytest.raises(MissingColumnError, match="'clv'"):
        plot_gains_curve(run.scores.drop(columns="clv"), ax=_axes())


# --------------------------------------------------------------- P(alive) path
def test_p_alive_path_follows_the_purchases(run: RunFiles) -> None:
    m = run.purchase_model
    times = [0.0, 2.0, 5.0]
    grid, p = p_alive_path(m, times, 10.0)
    assert grid[-1] == pytest.approx(10.0) and np.all((p >= 0) & (p <= 1))

    def at(x: float, tx: float, t: float) -> float:
        frame = pd.DataFrame({"frequency": [x], "recency": [tx], "T": [t]})
        return float(m.p_alive(frame).iloc[0])

    assert p[-1] == pytest.approx(at(2, 5.0, 10.0))
    i = int(np.flatnonzero(grid == 2.0)[0])
    assert p[i] == pytest.approx(at(1, 2.0, 2.0))
    assert p[i - 1] == pytest.approx(1.0)  # before any repeat purchase (BG/NBD)
    ax = plot_p_alive_history(m, times, 10.0, customer="C1", ax=_axes())
    assert "C1" in ax.get_title(loc="left")
    with pytest.raises(InputError, match="purchase_times"):
        p_alive_path(m, [0.0, 12.0], 10.0)


def test_p_alive_decay_starts_at_the_last_purchase(run: RunFiles) -> None:
    m = run.purchase_model
    row = pd.DataFrame({"frequency": [4], "recency": [10.0], "T": [30.0]}, index=["X"])
    ax = plot_p_alive_decay(m, row, horizon=20, labels=["X"], ax=_axes())
    past, future = ax.lines[0], ax.lines[1]
    assert past.get_xdata()[0] == 0.0 and past.get_xdata()[-1] == pytest.approx(20.0)
    assert future.get_xdata()[-1] == pytest.approx(40.0)
    assert past.get_ydata()[-1] == pytest.approx(float(m.p_alive(row).iloc[0]))


def test_model_label() -> None:
    assert model_label("bgnbd") == "BG/NBD"
    assert model_label("pareto-nbd") == "Pareto/NBD"
    assert model_label("gamma-gamma") == "Gamma-Gamma"
    assert model_label("something") == "something"


def test_fixture_run_dir_is_complete(run: RunFiles) -> None:
    files = {p.name for p in Path(run.directory).iterdir()}
    assert {"run.json", "summary.csv", "scores.csv", "metrics.json", "tracking.csv"} <= files
