"""The report at scale and on the new run-folder contract: Parquet files, forecast dates,
left-out customers, currency, segments and actions, bounded chart sizes (issues 7 and 9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.collections import Collection
from matplotlib.lines import Line2D

from clvmodel import BetaGeoModel, GammaGammaModel, __version__
from clvmodel.clv import score
from clvmodel.io import save_model, write_json
from clvmodel.report import iter_report_pages, load_run, report_context, write_figures
from clvmodel.report.numbers import report_numbers
from clvmodel.report.render import write_customer_lists
from clvmodel.segments import SEGMENTS, add_segments, quartile_scores, rfm_segments

#: Most data points any one chart may draw, whatever the number of customers.
MAX_POINTS = 5000


def synthetic_run(out: Path, n: int, *, seed: int = 1, fmt: str = "parquet") -> Path:
    """A run folder of ``n`` customers with today's contract keys, from known parameters
    (BG/NBD r=0.25, alpha=4, a=0.8, b=2.5; Gamma-Gamma p=6, q=4, gamma=15), no fitting."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(1.0, 52.0, n).round(2)
    freq = rng.negative_binomial(0.3, 0.3, n).clip(0, 60).astype(np.int64)
    recency = np.where(freq > 0, (T * rng.uniform(0, 1, n)).round(2), 0.0)
    money = np.where(freq > 0, rng.gamma(6.0, 4.0, n).round(2), 0.0)
    ids = np.char.add("c", np.arange(n).astype(str))
    summary = pd.DataFrame(
        {"frequency": freq, "recency": recency, "T": T, "monetary_value": money},
        index=pd.Index(ids, name="customer_id"),
    )
    summary.attrs["time_unit"] = "W"
    purchase = BetaGeoModel.from_params(
        {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}, time_unit="W"
    )
    spend = GammaGammaModel.from_params({"p": 6.0, "q": 4.0, "gamma": 15.0}, time_unit="W")
    out.mkdir(parents=True, exist_ok=True)
    save_model(purchase, out / "models" / "bgnbd.json")
    save_model(spend, out / "models" / "gamma-gamma.json")
    scores = score(purchase, summary, horizon=52, spend_model=spend, discount_rate=0.1)
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pandas(summary.reset_index(), preserve_index=False),
                       out / "summary.parquet")  # fmt: skip
        pq.write_table(pa.Table.from_pandas(scores, preserve_index=False), out / "scores.parquet")
    else:
        summary.to_csv(out / "summary.csv")
        scores.to_csv(out / "scores.csv", index=False)
    weeks = np.arange(1, 53, dtype=np.float64)
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(weeks * 7 - 1, unit="D")
    pd.DataFrame(
        {"t": weeks, "date": dates.strftime("%Y-%m-%d"), "actual": rng.poisson(n / 40, 52)}
    ).to_csv(out / "tracking.csv", index=False)
    write_json(out / "metrics.json", {"models": {"bgnbd": {"bic": 1.0}}, "holdout": None})
    write_json(
        out / "run.json",
        {
            "clvmodel_version": __version__,
            "input": "synthetic.parquet",
            "time_unit": "W",
            "first_date": "2024-01-01",
            "observation_end": "2024-12-29",
            "calibration_end": None,
            "forecast_start": "2024-12-29",
            "forecast_end": "2025-12-28",
            "horizon": 52.0,
            "excluded": {"no purchase before the observation end": 17},
            "excluded_customers": 17,
            "ledger": {"input_rows": n * 3, "used_rows": n * 3, "rejected_rows": 0},
            "n_customers": n,
            "n_transactions": int(freq.sum() + n),
            "purchase_model": "bgnbd",
            "spend_model": "gamma-gamma",
            "choice_reason": "bgnbd as requested",
            "discount_rate": 0.1,
            "margin": 1.0,
            "config": {"currency": "EUR"},
        },
    )
    return out


def chart_points(fig) -> list[tuple[str, int]]:
    """(axes title, data points drawn) for every Axes of a figure: line vertices, scatter
    offsets and bars (patches)."""
    out = []
    for ax in fig.axes:
        points = sum(len(line.get_xdata()) for line in ax.get_lines() if isinstance(line, Line2D))
        points += sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, Collection))
        points += len(ax.patches)
        out.append((ax.get_title(loc="left") or ax.get_title(), points))
    return out


def page_text(fig) -> str:
    """A page's text, with the line breaks of wrapped paragraphs undone."""
    return " ".join(" ".join(t.get_text() for t in fig.texts).split())


pytestmark = pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_run(tmp_path_factory.mktemp("big_run"), 200_000)


@pytest.fixture(scope="module")
def big_pages(big_run: Path) -> tuple[object, dict[str, str], list[tuple[str, int]]]:
    """The report context of the 200k run, its pages' text and its charts' point counts."""
    ctx = report_context(big_run)
    texts, points = {}, []
    for title, fig in iter_report_pages(ctx):
        texts[title] = page_text(fig)
        points += chart_points(fig)
    return ctx, texts, points


def test_charts_of_200k_customers_draw_a_bounded_number_of_points(big_pages) -> None:
    ctx, _, charts = big_pages
    assert ctx.n.n_customers == 200_000
    seen = []
    if True:
        for title, points in charts:
            seen.append(title)
            assert points <= MAX_POINTS, f"{title!r} draws {points:,} points"
    assert "Cumulative share of value by customer rank" in seen
    assert any(t.startswith("Value and P(alive) (a random 2,000 of 200,000") for t in seen)


def test_report_reads_parquet_only_the_columns_it_needs(big_run: Path) -> None:
    run = load_run(big_run)
    assert run.scores_path == big_run / "scores.parquet"
    assert set(run.summary.columns) <= {"frequency", "recency", "T", "monetary_value"}
    assert "expected_purchases" in run.scores.columns


def test_pages_show_forecast_dates_left_out_customers_and_currency(big_run, big_pages) -> None:
    ctx, pages, _ = big_pages
    summary = pages["Summary"]
    assert "29 Dec 2024 \N{EN DASH} 28 Dec 2025 (52 weeks), from the end of the data" in summary
    assert "17 customers not scored (no purchase before the observation end: 17)" in summary
    # config.currency of run.json labels every money figure.
    assert ctx.currency == "EUR"
    assert f"EUR {ctx.clv['clv_total']:,.0f}" in summary
    assert "EUR" in pages["Whom to act on"] and "EUR" in pages["Segments"]
    assert report_context(big_run, currency="$").money(1234.5) == "$1,234"


def test_active_is_defined_once_and_the_headline_is_reproducible(big_run, big_pages) -> None:
    """One number for "active" on pages 1 and 4; the headline is the same on a re-run."""
    first, pages, _ = big_pages
    n = first.n
    sentence = f"{n.active_expected:,.0f} of the {n.n_customers:,} customers"
    summary = pages["Summary"]
    assert sentence in summary
    assert sentence in pages["What the model expects of each customer"]
    assert f"{n.buyers_expected:,.0f}" in summary
    again = report_numbers(load_run(big_run), 52.0)
    assert again.buyers_expected == n.buyers_expected
    assert again.active_expected == n.active_expected


def test_expected_buyers_agree_across_models_where_p_alive_does_not(cdnow) -> None:
    """On CDNOW, BG/NBD and MBG/NBD disagree on P(alive) (one-time buyers) but not on how
    many customers will buy in the next 52 weeks (item 3 of issue 9)."""
    from clvmodel.models.mbgnbd import ModifiedBetaGeoModel

    bg = BetaGeoModel().fit(cdnow)
    mbg = ModifiedBetaGeoModel().fit(cdnow)
    alive = [float(m.p_alive(cdnow).mean()) for m in (bg, mbg)]
    buyers = [float(1 - m.probability_of_purchases(cdnow, t=52, n=0).mean()) for m in (bg, mbg)]
    assert alive[0] - alive[1] > 0.2
    assert abs(buyers[0] - buyers[1]) < 0.03


def test_csv_run_folders_still_render(tmp_path: Path) -> None:
    run_dir = synthetic_run(tmp_path / "csv", 3000, fmt="csv")
    ctx = report_context(run_dir)
    assert ctx.run.scores_path == run_dir / "scores.csv"
    target = write_customer_lists(ctx)
    assert target == run_dir / "segments.csv"
    lists = pd.read_csv(target, dtype={"customer_id": str}, keep_default_na=False)
    assert len(lists) == 3000
    at_risk, win_back = ctx.n.actions
    assert (lists["action"] == "at risk").sum() == at_risk.customers
    assert (lists["action"] == "win back").sum() <= win_back.customers
    assert set(lists["segment"]) <= {*SEGMENTS, "Other"}
    figures = {p.stem for p in write_figures(run_dir)}
    assert "value_risk" in figures


def test_actions_follow_their_rules(big_pages) -> None:
    ctx = big_pages[0]
    scores = ctx.run.scores
    p = scores["p_alive"].to_numpy()
    at_risk, win_back = ctx.n.actions
    assert at_risk.customers > 0 and win_back.customers > 0
    assert np.all((p[at_risk.mask] >= 0.25) & (p[at_risk.mask] < 0.60))
    assert np.all(p[win_back.mask] < 0.25)
    assert at_risk.clv_total == pytest.approx(scores["clv"].to_numpy()[at_risk.mask].sum())
    table = ctx.n.segments
    assert table["customers"].sum() == len(scores)
    assert table["clv_total"].sum() == pytest.approx(scores["clv"].sum())


# ------------------------------------------------------------------ segments maths
def test_quartile_scores_give_ties_their_lowest_score() -> None:
    values = np.array([0, 0, 0, 0, 0, 0, 1, 2, 3, 4])  # 60% zeros
    assert quartile_scores(values).tolist() == [1, 1, 1, 1, 1, 1, 3, 3, 4, 4]
    assert quartile_scores(np.arange(8)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert quartile_scores(np.arange(8), higher_is_better=False).tolist() == [
        4, 4, 3, 3, 2, 2, 1, 1,
    ]  # fmt: skip


def test_rfm_segments_name_the_codes() -> None:
    summary = pd.DataFrame(
        {
            "frequency": [10, 0, 5, 1],
            "recency": [50.0, 0.0, 10.0, 40.0],
            "T": [52.0, 52.0, 52.0, 41.0],
            "monetary_value": [100.0, 0.0, 80.0, 5.0],
        },
        index=pd.Index(["a", "b", "c", "d"], name="customer_id"),
    )
    table = rfm_segments(summary)
    assert table.loc["a", "rfm_score"] == "344"
    assert table.loc["a", "segment"] == "Premium Customer"
    assert table.loc["b", "rfm_score"] == "111"
    assert table.loc["b", "segment"] == "Inactive Customer"
    # c: 42 weeks since the last purchase (R 2), 5 repeat (F 3), 80 a purchase (M 3).
    assert table.loc["c", "rfm_score"] == "233"
    assert table.loc["c", "segment"] == "Repeat Customer"
    assert table.loc["d", "rfm_score"] == "422"
    assert table.loc["d", "segment"] == "At Risk Customer"
    before = summary.copy()
    scored = add_segments(summary.reset_index())
    pd.testing.assert_frame_equal(summary, before)
    assert scored["segment"].tolist() == table["segment"].tolist()


def test_segments_of_a_run_match_the_scores_column(tmp_path: Path) -> None:
    run_dir = synthetic_run(tmp_path / "seg", 2000, fmt="csv")
    scores = pd.read_csv(run_dir / "scores.csv", dtype={"customer_id": str})
    summary = pd.read_csv(run_dir / "summary.csv", dtype={"customer_id": str})
    with_segments = add_segments(scores, summary)
    with_segments.to_csv(run_dir / "scores.csv", index=False)
    ctx = report_context(run_dir)
    assert list(ctx.n.segment_of) == with_segments["segment"].tolist()
    assert json.loads((run_dir / "run.json").read_text())["config"]["currency"] == "EUR"


def test_cli_report_takes_a_currency_and_prints_absolute_paths(tmp_path, monkeypatch) -> None:
    import io

    from clvmodel.cli import main

    synthetic_run(tmp_path / "cli", 1500, fmt="csv")
    monkeypatch.chdir(tmp_path)
    err = io.StringIO()
    assert main(["report", "cli", "--currency", "GBP"], stdout=io.StringIO(), stderr=err) == 0
    assert str((tmp_path / "cli" / "report.pdf").resolve()) in err.getvalue()
    ctx = report_context(tmp_path / "cli", currency="GBP")
    assert ctx.money(12.5) == "GBP 12.50"


@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=60),
    st.booleans(),
)
def test_quartile_scores_equal_the_rank_definition(values, higher) -> None:
    """score = 1 + min(floor(4 * #strictly worse / n), 3), from three order statistics."""
    v = np.asarray(values, dtype=np.float64)
    key = v if higher else -v
    below = np.searchsorted(np.sort(key), key, side="left")
    expected = 1 + np.minimum(4 * below // len(v), 3)
    assert quartile_scores(v, higher_is_better=higher).tolist() == expected.tolist()


def test_a_refitted_run_checks_the_calibration_model(tmp_path: Path) -> None:
    """With models/calibration/ (the run refitted on the whole log), the holdout figures
    come from the calibration model and metrics.json's clv_holdout, not from the scores."""
    import shutil

    from report_fixtures import build_run_dir

    from clvmodel.io import load_model

    run_dir = build_run_dir(tmp_path / "refit")
    (run_dir / "models" / "calibration").mkdir()
    shutil.copy(run_dir / "models" / "bgnbd.json", run_dir / "models" / "calibration")
    # The forecast model differs from the calibration one (as a refit would).
    forecast = load_model(run_dir / "models" / "bgnbd.json")
    params = dict(forecast.params_)
    params["alpha"] *= 1.5
    save_model(BetaGeoModel.from_params(params, time_unit="W"), run_dir / "models" / "bgnbd.json")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["clv_holdout"] = dict(metrics["clv"], gini=0.4242)
    metrics["clv"] = {k: v for k, v in metrics["clv"].items() if "holdout" not in k}
    metrics["clv"]["holdout"] = False
    write_json(run_dir / "metrics.json", metrics)
    ctx = report_context(run_dir)
    assert ctx.run.refit and not ctx.run.scores_on_calibration
    assert ctx.run.holdout_model.params_["alpha"] == pytest.approx(params["alpha"] / 1.5)
    assert ctx.clv["gini"] == 0.4242  # from the calibration fit's ranking
    pages = {title: page_text(fig) for title, fig in iter_report_pages(ctx)}
    assert "Holdout columns: ranked by the calibration fit's CLV" in pages["Customer value"]
    assert (
        "the holdout figures check the same model fitted on the calibration period"
        in (pages["Summary"])
    )


def _tied_gains_by_permutations(score: np.ndarray, value: np.ndarray) -> np.ndarray:
    """The definition the ranking must meet: the top-k totals of ``value`` averaged over
    every order of the customers whose scores tie (brute force over permutations)."""
    import itertools

    totals = []
    for perm in itertools.permutations(range(len(score))):
        order = np.array(perm)
        if np.any(np.diff(score[order]) > 0):  # not ranked highest first
            continue
        totals.append(np.concatenate([[0.0], np.cumsum(value[order])]))
    return np.mean(totals, axis=0)


@pytest.mark.parametrize("seed", range(6))
def test_ranking_averages_every_order_of_tied_customers(seed: int) -> None:
    from clvmodel.clv_metrics import Ranking, gains_curve, gini

    rng = np.random.default_rng(seed)
    score = rng.integers(0, 3, 7).astype(float)
    value = rng.gamma(1.0, 5.0, 7)
    expected = _tied_gains_by_permutations(score, value)
    ranking = Ranking(score)
    np.testing.assert_allclose(ranking.top_totals(value, np.arange(8)), expected, rtol=1e-12)
    ranking.run_of()  # the same totals from each customer's run (the path for many ranks)
    np.testing.assert_allclose(ranking.top_totals(value, np.arange(8)), expected, rtol=1e-12)
    x, y = gains_curve(score, value)
    np.testing.assert_allclose(y, expected / value.sum(), rtol=1e-12)
    # The area over the runs' edges is the trapezoid over every rank.
    assert gini(score, value) == pytest.approx(2 * np.trapezoid(y, x) - 1, rel=1e-12, abs=1e-15)
    assert ranking.top_share(value, 0.3) == pytest.approx(np.interp(0.3, x, y), rel=1e-12)


@given(
    st.lists(
        st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, np.nan, np.inf, -np.inf]) | st.floats(),
        max_size=40,
    )
)
def test_ranking_runs_are_those_of_np_unique(values: list[float]) -> None:
    # The runs of equal scores come from one sort and a comparison of neighbours (faster
    # than np.unique at millions of customers): the same values, signs, counts and NaN run.
    from clvmodel.clv_metrics.ranking import _runs

    x = np.array(values, dtype=np.float64)
    want, want_counts = np.unique(x, return_counts=True)
    got, counts = _runs(x.copy())
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    np.testing.assert_array_equal(counts, want_counts)


def test_thinned_gains_curve_is_exact_at_its_points() -> None:
    from clvmodel.clv_metrics import gains_curve

    rng = np.random.default_rng(3)
    score = rng.integers(0, 40, 20_000).astype(float)
    value = rng.gamma(1.0, 5.0, 20_000)
    x, y = gains_curve(score, value)
    xt, yt = gains_curve(score, value, points=1001)
    assert len(xt) == 1001 and xt[0] == 0.0 and xt[-1] == 1.0
    keep = np.rint(xt * 20_000).astype(int)
    np.testing.assert_allclose(xt, x[keep], rtol=0, atol=1e-15)
    np.testing.assert_allclose(yt, y[keep], rtol=1e-12)


def test_top_positions_list_as_a_stable_sort_does() -> None:
    from clvmodel.report.numbers import top_positions

    rng = np.random.default_rng(4)
    for _ in range(200):
        values = rng.integers(0, 5, int(rng.integers(0, 40))).astype(float)
        k = int(rng.integers(0, 45))
        expected = np.argsort(-values, kind="stable")[:k]
        np.testing.assert_array_equal(top_positions(values, k), expected)


def test_write_report_reads_the_run_once_and_writes_every_chart(tmp_path, monkeypatch) -> None:
    import clvmodel.report.context as context
    import clvmodel.report.render as render
    from clvmodel.report import charts, write_report

    run_dir = synthetic_run(tmp_path / "once", 3000)
    separately = {f"{c.name}.png" for c in charts(load_run(run_dir))}  # no covariates: all drawn
    reads = []
    real = context.load_run
    for module in (context, render):
        monkeypatch.setattr(module, "load_run", lambda d: reads.append(d) or real(d))
    figures, pdf = write_report(run_dir)
    assert len(reads) == 1
    assert {p.name for p in figures} == set(separately)
    assert pdf == run_dir / "report.pdf" and pdf.read_bytes().startswith(b"%PDF")
    assert (run_dir / "segments.parquet").is_file()


def test_example_customers_do_not_depend_on_the_row_order(tmp_path: Path) -> None:
    """The engine returns the scores in any order: the report's examples (each the best of
    its kind, ties to the smallest id) are the same customers."""
    from clvmodel.report.charts import example_customers

    run = load_run(synthetic_run(tmp_path / "examples", 5000, seed=7))
    run.scores["frequency"] = run.scores["frequency"].clip(upper=6)  # ties among the best
    rows, labels = example_customers(run)
    s = run.scores
    repeat = s[s["frequency"] > 0]
    top = repeat["clv"].idxmax()
    lapsed = repeat[(repeat["p_alive"] < 0.3) & (repeat.index != top)]
    most = lapsed[lapsed["frequency"] == lapsed["frequency"].max()]
    assert len(most) > 1  # the tie is real
    frequent = most["customer_id"].astype(str).idxmin()
    rest = repeat.drop(index=[top, frequent])
    typical = (rest["clv"] - rest["clv"].median()).abs().idxmin()
    assert list(rows.index) == [top, frequent, typical]
    for label, why in zip(labels, ("highest value", "frequent, lapsed", "typical"), strict=True):
        assert why in label

    run.scores = run.scores.sample(frac=1.0, random_state=1).reset_index(drop=True)
    again, _ = example_customers(run)
    assert list(again["customer_id"]) == list(rows["customer_id"])


def test_child_returns_raises_and_warns_as_the_function_would() -> None:
    import os
    import warnings

    from clvmodel.exceptions import InputError
    from clvmodel.report.child import Child

    parent = os.getpid()
    assert Child(lambda: (os.getpid(), [1.5, "x"])).result()[1] == [1.5, "x"]
    assert Child(os.getpid).result() != parent  # it ran in another process

    def fails() -> None:
        raise InputError("no such chart")

    with pytest.raises(InputError, match="no such chart"):
        Child(fails).result()

    def warns() -> int:
        warnings.warn("chart 'x' left out: why", UserWarning, stacklevel=1)
        return 3

    seen: list[tuple[str, type[Warning]]] = []
    assert Child(warns, on_warning=lambda m, c: seen.append((m, c))).result() == 3
    assert seen == [("chart 'x' left out: why", UserWarning)]
    with pytest.warns(UserWarning, match="left out: why"):
        Child(warns).result()


class _TwoArgs(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} and {b}")


class _Unsendable:
    def __reduce__(self) -> Any:
        raise KeyboardInterrupt  # escapes everything but BaseException


def test_child_errors_that_cannot_travel_still_say_what_happened(monkeypatch) -> None:
    import os

    from clvmodel.report.child import Child, ChildError

    def fails() -> None:
        raise _TwoArgs("left", "right")  # pickles, but does not load back

    with pytest.raises(ChildError, match="_TwoArgs: left and right"):
        Child(fails, what="the test process").result()
    parent = os.getpid()
    # An unpicklable result: the child still ends (it never returns into this test).
    with pytest.raises(ChildError, match="could not be sent back"):
        Child(_Unsendable).result()
    assert os.getpid() == parent
    monkeypatch.setenv("CLVMODEL_NO_FORK", "1")  # runs here, when the result is asked for
    assert Child(os.getpid).result() == parent


def test_text_widths_are_cached_per_font_family() -> None:
    import matplotlib as mpl

    from clvmodel.report.layout import PAGE_SIZE, Page, new_figure

    def width() -> float:
        fig = new_figure(PAGE_SIZE)
        return Page(fig, fig.canvas.get_renderer()).text_width("Customers at risk", 9.0)

    sans = width()
    with mpl.rc_context({"font.family": "monospace"}):
        mono = width()
    assert mono != sans
    assert width() == sans


def test_a_cancelled_or_killed_child_is_reaped_and_said_so(tmp_path: Path) -> None:
    import os
    import signal
    import time

    from clvmodel.io import atomic_write_with
    from clvmodel.report.child import Child, ChildError

    def write_slowly(tmp: Path) -> None:
        tmp.write_text("half")
        time.sleep(60)

    folder = tmp_path / "out"
    slow = Child(lambda: atomic_write_with(folder / "chart.png", write_slowly))
    pid = slow._pid
    assert pid is not None
    started = time.monotonic()
    while not folder.is_dir() or not any(folder.iterdir()):  # the write has begun
        assert time.monotonic() - started < 30
        time.sleep(0.01)
    slow.cancel()  # stops and reaps it: no zombie left
    assert time.monotonic() - started < 30
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert list(folder.iterdir()) == []  # the atomic write removed its temporary file

    def killed() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(ChildError, match="without a result"):
        Child(killed).result()


def test_a_child_ends_with_its_killed_parent(tmp_path: Path) -> None:
    # `clvmodel run` killed during its report (SIGKILL) must not leave a chart child
    # writing into the run's temporary folder after the next run has removed it.
    import subprocess
    import sys
    import time

    from clvmodel.report.child import can_fork

    if not can_fork():
        pytest.skip("no fork here")
    marker, ready = tmp_path / "written-after-the-kill", tmp_path / "child-started"
    code = (
        "import os, signal, time, pathlib\n"
        "from clvmodel.report.child import Child\n"
        f"ready, marker = pathlib.Path({str(ready)!r}), pathlib.Path({str(marker)!r})\n"
        "def work():\n"
        "    ready.write_text('x')\n"
        "    time.sleep(2)\n"
        "    marker.write_text('orphan')\n"
        "child = Child(work)\n"
        "while not ready.exists():\n"
        "    time.sleep(0.01)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert done.returncode == -9 and ready.exists()
    time.sleep(3)
    assert not marker.exists()


def test_word_wrap_is_the_one_of_adding_words_one_at_a_time() -> None:
    from clvmodel.report.layout import PAGE_SIZE, Page, new_figure

    fig = new_figure(PAGE_SIZE)
    page = Page(fig, fig.canvas.get_renderer())

    def one_at_a_time(text: str, width: float, size: float, weight: str) -> list[str]:
        lines: list[str] = []
        for para in text.split("\n"):
            line = ""
            for word in para.split():
                trial = f"{line} {word}".strip()
                if line and page.text_width(trial, size, weight) > width:
                    lines.append(line)
                    line = word
                else:
                    line = trial
            lines.append(line)
        return lines

    rng = np.random.default_rng(5)
    vocabulary = ["a", "of", "the", "W", "iii", "customers", "P(alive)", "USD 1,234.50"]
    vocabulary += ["Gamma-Gamma", "—", "supercalifragilisticexpialidocious", "m" * 18]
    for _ in range(40):
        words = rng.choice(vocabulary, int(rng.integers(0, 40)))
        text = " ".join(words)
        if rng.random() < 0.3:
            text = text.replace(" of ", "\n", 2) + "\n"
        width = float(rng.uniform(0.005, 0.9))
        size, weight = float(rng.choice([7.7, 9.0, 13.0])), str(rng.choice(["normal", "bold"]))
        assert page.wrap(text, width, size, weight) == one_at_a_time(text, width, size, weight)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_summary_shares_the_scores_columns_only_when_they_are_the_same_rows(
    tmp_path: Path, fmt: str
) -> None:
    """A run without a refit scored the summary's own rows: the report keeps one copy of
    frequency, recency and T (at 10M customers, 400 MB); rows in another order are read."""
    run_dir = synthetic_run(tmp_path / "shared", 500, fmt=fmt)
    run = load_run(run_dir)
    for column in ("frequency", "recency", "T"):
        assert np.shares_memory(run.summary[column].to_numpy(), run.scores[column].to_numpy())
    expected = pd.read_csv(run_dir / "summary.csv", dtype={"customer_id": str}) if fmt == "csv" \
        else pq.read_table(run_dir / "summary.parquet").to_pandas()  # fmt: skip
    expected = expected.set_index("customer_id")
    pd.testing.assert_frame_equal(run.summary, expected[run.summary.columns], check_dtype=True)

    def rewrite(summary: pd.DataFrame) -> None:
        if fmt == "csv":
            summary.to_csv(run_dir / "summary.csv")
        else:
            table = pa.Table.from_pandas(summary.reset_index(), preserve_index=False)
            pq.write_table(table, run_dir / "summary.parquet")

    # The same customers in another order: nothing shared, the same summary.
    shuffled = expected.sample(frac=1.0, random_state=3)
    rewrite(shuffled)
    run = load_run(run_dir)
    assert not np.shares_memory(run.summary["T"].to_numpy(), run.scores["T"].to_numpy())
    pd.testing.assert_frame_equal(run.summary, shuffled[run.summary.columns], check_dtype=True)

    # The same customers in the same order, other values (a holdout summary beside scores
    # of the whole period): only what is equal is shared, and the summary is its own.
    other = expected.assign(T=expected["T"] + 1.0)
    rewrite(other)
    run = load_run(run_dir)
    pd.testing.assert_frame_equal(run.summary, other[run.summary.columns], check_dtype=True)
    assert not np.shares_memory(run.summary["T"].to_numpy(), run.scores["T"].to_numpy())
    assert np.shares_memory(run.summary["recency"].to_numpy(), run.scores["recency"].to_numpy())
    # Copy-on-write: changing one frame leaves the other as it was.
    before = run.summary["recency"].copy()
    run.scores.loc[0, "recency"] = -1.0
    pd.testing.assert_series_equal(run.summary["recency"], before)


def test_a_shared_ranking_gives_each_table_the_sums_of_a_fresh_one() -> None:
    """The report ranks the CLVs once for every value chart and table: the deciles' sums do
    not depend on what was computed on the ranking before (the gains curve's run_of)."""
    from clvmodel.clv_metrics import Ranking, decile_table
    from clvmodel.exceptions import InputError

    rng = np.random.default_rng(5)
    clv = np.round(rng.gamma(0.5, 20.0, 20_000), 1)  # many ties
    actual = rng.gamma(0.3, 30.0, clv.size)
    fresh = decile_table(clv, actual)
    ranking = Ranking(clv)
    ranking.gains(actual, 1001)  # every customer's run, as the gains curve leaves it
    pd.testing.assert_frame_equal(
        decile_table(clv, actual, ranking=ranking), fresh, check_exact=True
    )
    with pytest.raises(InputError, match="'ranking' parameter"):
        decile_table(clv[::-1], actual, ranking=ranking)


def test_scores_with_their_ids_as_the_index_still_load(tmp_path: Path) -> None:
    run_dir = synthetic_run(tmp_path / "indexed", 300)
    scores = pq.read_table(run_dir / "scores.parquet").to_pandas()
    scores.set_index("customer_id").to_parquet(run_dir / "scores.parquet")
    run = load_run(run_dir)
    assert len(run.summary) == 300
    assert not np.shares_memory(run.summary["T"].to_numpy(), np.asarray(run.scores["T"]))
