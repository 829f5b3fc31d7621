"""The notebook API: indexed scores, column mappings, one-customer predictions, the
conditional purchase distribution, model display and the bundled data sets (issue 9)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvmodel
from clvmodel import BetaGeoModel, GammaGammaModel, InputError
from clvmodel.datasets import load_cdnow, load_cdnow_summary, load_donations
from clvmodel.models.mbgnbd import ModifiedBetaGeoModel
from clvmodel.models.pnbd import ParetoNBDModel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return load_cdnow_summary()


@pytest.fixture(scope="module")
def bgnbd(summary: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(summary)


@pytest.fixture(scope="module")
def mbgnbd(summary: pd.DataFrame) -> ModifiedBetaGeoModel:
    return ModifiedBetaGeoModel().fit(summary)


def test_score_is_indexed_by_customer_id(summary, bgnbd) -> None:
    spend = GammaGammaModel().fit(summary)
    scores = clvmodel.score(bgnbd, summary, horizon=52, spend_model=spend, discount_rate=0.1)
    assert scores.index.name == "customer_id"
    assert list(scores.index) == list(summary.index)
    assert "customer_id" not in scores.columns
    pd.testing.assert_series_equal(
        scores["p_alive"], bgnbd.p_alive(summary), check_names=False, check_index_type=False
    )
    assert scores.loc["1", "clv"] > 0


def test_fit_accepts_lifetimes_column_names(summary, bgnbd) -> None:
    names = {"frequency": "frequency_cal", "recency": "recency_cal", "T": "T_cal"}
    renamed = summary.rename(columns=dict(zip(names, names.values(), strict=True)))
    before = renamed.copy()
    model = BetaGeoModel().fit(renamed, columns=names)
    np.testing.assert_allclose(model.params_, bgnbd.params_, rtol=1e-10)
    pd.testing.assert_frame_equal(renamed, before)  # the caller's frame is untouched
    with pytest.raises(InputError, match="frequency_x"):
        BetaGeoModel().fit(renamed, columns={"frequency": "frequency_x"})


def test_predictions_accept_one_customer_as_scalars_or_a_dict(summary, bgnbd) -> None:
    row = summary.loc[["1"]]
    one = {"frequency": 2, "recency": 30.43, "T": 38.86}
    expected = float(bgnbd.p_alive(row).iloc[0])
    assert bgnbd.p_alive(**one) == pytest.approx(expected, rel=1e-12)
    assert bgnbd.p_alive(one) == pytest.approx(expected, rel=1e-12)
    assert isinstance(bgnbd.p_alive(one), float)
    purchases = float(bgnbd.expected_purchases(row, t=10).iloc[0])
    assert bgnbd.expected_purchases(t=10, **one) == pytest.approx(purchases, rel=1e-12)
    many = bgnbd.p_alive({"frequency": [0, 2], "recency": [0, 30.43], "T": [10, 38.86]})
    assert isinstance(many, pd.Series) and many.iloc[0] == 1.0
    with pytest.raises(InputError, match="not both"):
        bgnbd.p_alive(row, frequency=1)


@pytest.mark.parametrize("fixture", ["bgnbd", "mbgnbd"])
def test_conditional_purchase_distribution_sums_to_one_with_the_conditional_mean(
    request, summary, fixture
) -> None:
    """Σ_n P(X(t)=n | history) = 1 and Σ_n n P(X(t)=n | history) = E[X(t) | history],
    the closed form of FHL (2005) eq. (10) / Batislam et al. (2007) eq. (6)."""
    model = request.getfixturevalue(fixture)
    rows = summary.iloc[:40]
    n = np.arange(400)
    probs = np.array([model.probability_of_purchases(rows, t=52, n=k).to_numpy() for k in n])
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-12)
    mean = (n[:, None] * probs).sum(axis=0)
    np.testing.assert_allclose(mean, model.expected_purchases(rows, t=52).to_numpy(), rtol=1e-9)


def test_conditional_probability_of_no_purchase_closed_form(bgnbd) -> None:
    """P(X(t)=0 | x, t_x, T) = 1 - P(alive) + P(alive) ((α+T)/(α+T+t))^(r+x) (BG/NBD)."""
    r, alpha, _, _ = bgnbd.params_
    x, tx, T, t = 3.0, 20.0, 38.0, 26.0
    alive = bgnbd.p_alive(frequency=x, recency=tx, T=T)
    expected = 1 - alive + alive * ((alpha + T) / (alpha + T + t)) ** (r + x)
    got = bgnbd.probability_of_purchases(frequency=x, recency=tx, T=T, t=t, n=0)
    assert got == pytest.approx(expected, rel=1e-12)
    # A new customer: P(X(t)=n) as before, an array broadcasting t and n.
    new = bgnbd.probability_of_purchases(t=np.array([10.0, 20.0]), n=0)
    assert new.shape == (2,)


def test_conditional_probability_needs_a_model_that_has_it(summary) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ParetoNBDModel().fit(summary)
    if hasattr(type(model), "_conditional_probability_fn"):
        pytest.skip("Pareto/NBD declares its conditional distribution (covariates branch)")
    with pytest.raises(InputError, match="conditional"):
        model.probability_of_purchases(summary.iloc[:3], t=10, n=1)


def test_repr_html_shows_estimates_errors_and_fit_statistics(bgnbd) -> None:
    page = bgnbd._repr_html_()
    for text in ("BetaGeoModel", "std_error", "lower 95%", "log-likelihood", "BIC", "2,357"):
        assert text in page
    assert f"{bgnbd.params_['r']:.6g}" in page
    assert f"{bgnbd.standard_errors_['alpha']:.6g}" in page
    assert "not fitted" in BetaGeoModel()._repr_html_()


def test_bundled_data_sets() -> None:
    tx = load_cdnow()
    assert len(tx) == 69_659 and tx["customer_id"].nunique() == 23_570
    assert tx["date"].min() == pd.Timestamp("1997-01-01")
    summary = load_cdnow_summary()
    assert len(summary) == 2_357 and summary.attrs["time_unit"] == "W"
    donations = load_donations()
    assert len(donations) == 22 and donations["weights"].sum() == 11_104
    assert clvmodel.datasets.path("donations.csv").is_file()
    with pytest.raises(InputError, match="one of"):
        clvmodel.datasets.path("nope.csv")


def test_plotting_is_reachable_from_the_package() -> None:
    assert callable(clvmodel.plotting.plot_tracking)
    assert callable(clvmodel.plotting.plot_p_alive_matrix)


def test_load_cdnow_from_a_wheel_installed_in_a_fresh_venv(tmp_path) -> None:
    """Build the wheel from a copy of the sources, install it (no deps) into a new venv that
    sees this environment's dependencies, and load the data outside the source tree."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copytree(
        ROOT / "clvmodel", src / "clvmodel", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    quiet = {"capture_output": True, "text": True, "check": True}
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)],
        **quiet,
    )
    wheel = next(wheels.glob("clvmodel-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], **quiet)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], **quiet
    ).stdout.strip()
    # The dependencies (numpy, pandas, ...) come from this environment; clvmodel only from
    # the wheel (a path in a .pth file does not run this environment's editable-install hook).
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        **quiet,
    )
    code = (
        "import clvmodel, clvmodel.cli\n"
        "from clvmodel.datasets import load_cdnow\n"
        f"assert clvmodel.__file__.startswith({str(venv)!r}), clvmodel.__file__\n"
        "assert len(load_cdnow()) == 69659\n"
        "assert clvmodel.cli.DEMO_DATA.is_file()\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(python), "-c", code], cwd=tmp_path, env=env, **quiet)
    assert done.stdout.strip() == "ok"


def test_tracking_chart_from_a_model_a_summary_and_the_transactions(tmp_path) -> None:
    """plot_tracking needs no run folder: the table is made from the log, as the run does."""
    import matplotlib

    matplotlib.use("Agg")
    from report_fixtures import simulated_transactions, summarise
    from report_fixtures import tracking_table as fixture_table

    from clvmodel.plotting import plot_p_alive_matrix, plot_tracking, tracking_table

    tx = simulated_transactions(400)
    summary = summarise(tx, freq="W", calibration_end="2024-12-31", observation_end="2025-06-30")
    model = BetaGeoModel().fit(summary)
    table = tracking_table(tx, summary)
    expected = fixture_table(tx, summary, freq="W", observation_end="2025-06-30")
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    ax = plot_tracking(model, summary, transactions=tx, cumulative=True)
    assert ax.get_lines()[0].get_ydata()[-1] == table["actual"].sum()
    assert plot_p_alive_matrix(model, summary).get_title(loc="left").startswith("P(alive)")
