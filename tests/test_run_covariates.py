"""`clvmodel run` with covariates and intervals (issue 11, point 5), end to end on a log
simulated with :func:`clvmodel.simulate.covariate_transactions`; the report's covariates
page and the interval of the total predicted value."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodel import BetaGeoModel, GammaGammaModel
from clvmodel.cli import ExitStatus, main
from clvmodel.intervals import _distinct, prediction_intervals, total_intervals
from clvmodel.simulate import covariate_transactions

TRUTH = {"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 15.0}
PURCHASE = {"channel": 0.7, "age": 0.3}
DROPOUT = {"channel": -0.5}


def run(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def log_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """A weekly log of 3,000 customers whose channel and age move their parameters."""
    folder = tmp_path_factory.mktemp("covlog")
    rng = np.random.default_rng(1)
    n = 3_000
    covs = pd.DataFrame(
        {"channel": rng.integers(0, 2, n).astype(float), "age": np.round(rng.normal(0, 1, n), 1)}
    )
    log, table = covariate_transactions(
        n, params=TRUTH, covariates=covs, purchase=PURCHASE, dropout=DROPOUT, seed=2
    )
    log.to_csv(folder / "log.csv", index=False)
    table.sample(frac=1.0, random_state=3).to_csv(folder / "cov.csv", index=False)  # any order
    return folder / "log.csv", folder / "cov.csv", table


@pytest.fixture(scope="module")
def covariate_run(
    log_files: tuple[Path, Path, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    log, cov, _ = log_files
    out = tmp_path_factory.mktemp("covrun") / "run"
    code, _, err = run(
        "run", log, "--out", out, "--covariates", cov, "--purchase-covariates", "channel,age",
        "--dropout-covariates", "channel", "--intervals", 0.9, "--format", "csv",
    )  # fmt: skip
    assert code == ExitStatus.OK, err
    return out


def test_run_fits_covariates_and_scores_each_customer_with_its_own(
    covariate_run: Path, log_files: tuple[Path, Path, pd.DataFrame]
) -> None:
    _, _, table = log_files
    payload = json.loads((covariate_run / "models" / "bgnbd.json").read_text())
    assert payload["covariates"]["purchase"] == ["channel", "age"]
    assert payload["covariates"]["dropout"] == ["channel"]
    assert len(payload["covariance"]) == 7  # r, alpha, a, b and the three coefficients
    model = BetaGeoModel.from_dict(payload)
    est = model.summary()
    # Recovery: each coefficient within 3 standard errors of the truth.
    for name, truth in {
        "purchase:channel": 0.7,
        "purchase:age": 0.3,
        "dropout:channel": -0.5,
    }.items():
        e, se = est.loc[name, "estimate"], est.loc[name, "std_error"]
        assert abs(e - truth) < 3 * se, (name, e, se)

    summary = pd.read_csv(covariate_run / "summary.csv", dtype={"customer_id": str})
    scores = pd.read_csv(covariate_run / "scores.csv", dtype={"customer_id": str})
    assert len(scores) == len(summary) == 3_000
    # The covariates reached the summary and the scores by customer id, not by position.
    merged = scores.merge(table, on="customer_id", suffixes=("", "_file"))
    assert np.array_equal(merged["channel"], merged["channel_file"])
    assert np.array_equal(merged["age"], merged["age_file"])
    # Each customer scored with their own parameters: the library's scores of the same rows.
    expected = model.p_alive(scores)
    assert np.allclose(scores["p_alive"], np.asarray(expected), rtol=1e-10)
    same_history = scores.groupby(["frequency", "recency", "T"])["p_alive"].nunique()
    assert same_history.max() > 1  # customers alike but for covariates score differently
    for name in ("p_alive", "expected_purchases", "clv"):
        lo, hi = scores[f"{name}_lower"], scores[f"{name}_upper"]
        assert (lo <= scores[name] + 1e-9).all() and (scores[name] <= hi + 1e-9).all()
        repeat = scores["frequency"] > 0  # BG/NBD: P(alive) = 1 exactly without a repeat
        assert (hi > lo)[repeat].all()


def test_run_totals_interval_agrees_with_the_scores(covariate_run: Path) -> None:
    metrics = json.loads((covariate_run / "metrics.json").read_text())
    totals = metrics["totals"]
    assert totals["level"] == 0.9 and totals["method"] == "delta"
    assert totals["clv"]["estimate"] == pytest.approx(metrics["clv"]["clv_total"], rel=1e-9)
    scores = pd.read_csv(covariate_run / "scores.csv")
    assert totals["expected_purchases"]["estimate"] == pytest.approx(
        scores["expected_purchases"].sum(), rel=1e-9
    )
    assert totals["p_alive"]["estimate"] == pytest.approx(scores["p_alive"].sum(), rel=1e-9)
    for t in (totals["clv"], totals["expected_purchases"], totals["p_alive"]):
        assert t["lower"] < t["estimate"] < t["upper"]


def test_total_intervals_from_collapsed_rows_equal_the_per_customer_ones() -> None:
    """The aggregate path (counts and Σ x m̄ per distinct row) gives the totals of
    prediction_intervals to rounding, for both methods."""
    from clvmodel.simulate import bgnbd_summary, gamma_gamma_spend
    from clvmodel.units import rate_per_unit

    rng = np.random.default_rng(5)
    n = 1_500
    s = bgnbd_summary(n, r=0.5, alpha=8.0, a=0.7, b=2.0, T=rng.integers(20, 60, n), seed=rng)
    s = s[["frequency", "recency", "T"]].assign(recency=lambda d: np.floor(d["recency"]))
    s["monetary_value"] = np.round(gamma_gamma_spend(s["frequency"], p=6, q=4, gamma=15, seed=rng))
    s.attrs["time_unit"] = "W"
    bg, gg = BetaGeoModel().fit(s), GammaGammaModel().fit(s)
    cols = [s[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    rows, group = _distinct(cols)
    assert len(rows[0]) < 0.6 * n  # the rows do collapse
    count = np.bincount(group).astype(float)
    xm = np.bincount(group, weights=(s["frequency"] * s["monetary_value"].fillna(0)).to_numpy())
    common = {"horizon": 26.0, "spend_model": gg, "step": 1.0, "margin": 0.3}
    for method in ("delta", "parametric"):
        per_customer = prediction_intervals(
            bg, s, discount_rate=0.1, method=method, n_draws=40, **common
        ).attrs["totals"]
        aggregate = total_intervals(
            bg, rows, count, spend_sum=xm, per_unit_rate=rate_per_unit(0.1, "W"),
            method=method, n_draws=40, **common,
        )  # fmt: skip
        for name in ("p_alive", "expected_purchases", "clv"):
            for key in ("estimate", "lower", "upper"):
                assert aggregate[name][key] == pytest.approx(per_customer[name][key], rel=1e-7)


def test_customer_without_a_covariate_row_is_an_input_error(
    log_files: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    log, _, table = log_files
    partial = tmp_path / "partial.csv"
    table.iloc[7:].to_csv(partial, index=False)
    code, _, err = run(
        "run", log, "--out", tmp_path / "run", "--covariates", partial,
        "--purchase-covariates", "channel", "--no-report",
    )  # fmt: skip
    assert code == ExitStatus.INPUT_ERROR
    lines = [line for line in err.splitlines() if "covariate file" in line]
    assert len(lines) == 1 and "7 of 3,000 customers have no row" in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.assign(channel=np.where(t.index < 5, np.nan, t["channel"])), "5 missing"),
        (lambda t: t.assign(channel=1.0), "one value for all 3,000"),
        (lambda t: t.assign(channel=2 * t["age"] + 1), "linear combination"),
        (lambda t: t.assign(channel=np.where(t["channel"] > 0, "web", "shop")), "not numeric"),
    ],
    ids=["nan", "constant", "collinear", "text"],
)
def test_bad_covariates_in_a_run_get_one_line(
    log_files: tuple[Path, Path, pd.DataFrame], tmp_path: Path, change, message: str
) -> None:
    log, _, table = log_files
    bad = tmp_path / "bad.csv"
    change(table).to_csv(bad, index=False)
    code, _, err = run(
        "run", log, "--out", tmp_path / "run", "--covariates", bad,
        "--purchase-covariates", "channel,age", "--no-report",
    )  # fmt: skip
    assert code == ExitStatus.INPUT_ERROR, err
    last = err.strip().splitlines()[-1]
    assert message in last and "Traceback" not in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ["--covariates", "x.csv"],
        ["--purchase-covariates", "channel"],
        ["--covariates", "x.csv", "--purchase-covariates", "channel", "--model", "auto"],
        ["--intervals", "1.5"],
    ],
    ids=["no-columns", "no-file", "auto", "level"],
)
def test_inconsistent_covariate_options_are_usage_errors(
    log_files: tuple[Path, Path, pd.DataFrame], tmp_path: Path, argv: list[str]
) -> None:
    log, _, _ = log_files
    code, _, err = run("run", log, "--out", tmp_path / "run", *argv)
    assert code == ExitStatus.USAGE, err
    assert len(err.strip().splitlines()) == 1


def test_report_shows_coefficients_and_the_total_interval(covariate_run: Path) -> None:
    from clvmodel.report.context import report_context
    from clvmodel.report.pages.covariates import (
        coefficient_rows,
        page_covariates,
        total_interval_rows,
        total_interval_text,
    )
    from clvmodel.report.render import report_pages

    ctx = report_context(covariate_run)
    pages = report_pages(ctx)
    assert pages[1] is page_covariates
    rows = coefficient_rows(ctx.run.purchase_model)
    assert [r[:2] for r in rows] == [
        ["channel", "purchase"],
        ["age", "purchase"],
        ["channel", "dropout"],
    ]
    est = ctx.run.purchase_model.summary().loc["purchase:channel"]
    assert rows[0][2] == f"{est['estimate']:.4f}"
    assert rows[0][4] == f"{est['z']:.2g}" or float(rows[0][4]) == pytest.approx(est["z"], 0.05)
    totals = json.loads((covariate_run / "metrics.json").read_text())["totals"]
    table = total_interval_rows(ctx)
    assert table[0][1:] == [ctx.money(totals["clv"][k]) for k in ("estimate", "lower", "upper")]
    lo, hi = ctx.money(totals["clv"]["lower"]), ctx.money(totals["clv"]["upper"])
    assert total_interval_text(ctx) == f"90% interval {lo} \N{EN DASH} {hi}"
    assert (covariate_run / "report.pdf").stat().st_size > 10_000


def test_report_pages_without_covariates_are_the_eight(tmp_path: Path) -> None:
    """A run without covariates has no covariates page; its summary tile carries the
    total interval (the one addition to every report)."""
    from clvmodel.report.context import report_context
    from clvmodel.report.pages import PAGES
    from clvmodel.report.pages.covariates import total_interval_text
    from clvmodel.report.render import report_pages
    from clvmodel.simulate import bgnbd_transactions

    log = tmp_path / "log.csv"
    bgnbd_transactions(800, **TRUTH, seed=4).to_csv(log, index=False)
    code, _, err = run("run", log, "--out", tmp_path / "run", "--no-report")
    assert code == ExitStatus.OK, err
    ctx = report_context(tmp_path / "run")
    assert report_pages(ctx) == list(PAGES)
    assert total_interval_text(ctx).startswith("90% interval ")
