"""Report: CLV metrics, figure files, the PDF (rendered back to PNG with poppler), layout
without overlapping text, and the progress reporter."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Patch
from report_fixtures import build_run_dir

from clvmodel.clv_metrics import (
    TIERS,
    clv_metrics,
    decile_table,
    gains_curve,
    gini,
    value_tiers,
)
from clvmodel.exceptions import InputError
from clvmodel.progress import Progress, progress
from clvmodel.report import (
    PAGES,
    Page,
    iter_report_pages,
    load_run,
    render_report,
    report_context,
    write_figures,
)

PDFTOPPM = shutil.which("pdftoppm")
needs_poppler = pytest.mark.skipif(
    PDFTOPPM is None, reason="poppler-utils not installed (run scripts/ensure-poppler.sh)"
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulated run with a calibration end (26-week holdout)."""
    return build_run_dir(tmp_path_factory.mktemp("run_holdout"))


@pytest.fixture(scope="module")
def run_dir_no_holdout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulated run fitted on all data: no holdout columns, metrics holdout null."""
    return build_run_dir(tmp_path_factory.mktemp("run_no_holdout"), calibration_end=None)


def ink(path: Path) -> float:
    """Fraction of pixels that are not (near) white."""
    img = mpimg.imread(path)
    rgb = img[..., :3].astype(np.float64)
    if rgb.max() > 1.0:
        rgb = rgb / 255.0
    return float(np.mean(rgb.min(axis=-1) < 0.9))


# ---------------------------------------------------------------- CLV metrics
def _frames(clv: list[float], spend: list[float], ids: list[Any] | None = None) -> tuple[Any, Any]:
    ids = ids if ids is not None else [f"c{i}" for i in range(len(clv))]
    scores = pd.DataFrame({"customer_id": [str(i) for i in ids], "clv": clv})
    summary = pd.DataFrame(
        {
            "frequency_holdout": [1 if s > 0 else 0 for s in spend],
            "monetary_value_holdout": spend,
        },
        index=pd.Index(ids, name="customer_id"),
    )
    return scores, summary


def test_gini_of_a_known_ranking() -> None:
    # Hand computation: the gains curve of [3, 1, 0, 0] passes (0, 0), (.25, .75), (.5, 1),
    # (.75, 1), (1, 1); area 0.8125, Gini 0.625 = the textbook Σ|xi - xj| / (2 n² mean).
    assert gini([3, 1, 0, 0]) == pytest.approx(0.625)
    values = np.array([3.0, 1.0, 0.0, 0.0])
    textbook = np.abs(values[:, None] - values[None, :]).sum() / (2 * 16 * values.mean())
    assert gini(values) == pytest.approx(textbook)
    assert gini([1, 1, 1, 1]) == pytest.approx(0.0)
    assert gini([4, 3, 2, 1], [0, 0, 1, 3]) < 0  # ranked backwards: worse than random
    _, y = gains_curve([1.0, 2.0], [10.0, 30.0])
    np.testing.assert_allclose(y, [0.0, 0.75, 1.0])


def test_tied_scores_are_averaged_so_row_order_changes_nothing() -> None:
    # Scores [2, 2, 1], values [4, 0, 2]: the tied pair holds 4 of 6, and averaged over
    # its two orders the gains curve passes (1/3, 1/3), (2/3, 2/3), (1, 1): the diagonal,
    # Gini 0 (the ranking says nothing), whichever of the pair comes first.
    assert gini([2.0, 2.0, 1.0], [4.0, 0.0, 2.0]) == pytest.approx(0.0, abs=1e-15)
    assert gini([2.0, 2.0, 1.0], [0.0, 4.0, 2.0]) == pytest.approx(0.0, abs=1e-15)
    rng = np.random.default_rng(5)
    n = 997
    clv = rng.integers(0, 7, n).astype(float)  # heavy ties straddling every decile edge
    spend = rng.gamma(1.0, 10.0, n)
    scores, summary = _frames(list(clv), list(spend))
    scores["p_alive"] = rng.random(n)
    perm = rng.permutation(n)
    s2, m2 = scores.iloc[perm], summary.iloc[perm]
    a, b = clv_metrics(scores, summary), clv_metrics(s2, m2)
    assert a["gini"] == pytest.approx(b["gini"], rel=1e-12)
    pd.testing.assert_frame_equal(
        pd.DataFrame(a["decile_lift"]), pd.DataFrame(b["decile_lift"]), rtol=1e-12
    )
    pd.testing.assert_frame_equal(value_tiers(scores, summary), value_tiers(s2, m2), rtol=1e-12)
    table = decile_table(clv, spend)
    assert table["actual"].sum() == pytest.approx(spend.sum())
    assert list(table["customers"]) == list(np.bincount(np.arange(n) * 10 // n))


def test_clv_metrics_with_holdout() -> None:
    scores, summary = _frames([4, 3, 2, 1], [3, 1, 0, 0])
    m = clv_metrics(scores, summary)
    assert m["holdout"] is True
    assert m["gini"] == pytest.approx(0.625)
    assert m["gini_perfect"] == pytest.approx(0.625)
    assert m["gini_normalized"] == pytest.approx(1.0)
    assert m["holdout_spend_total"] == pytest.approx(4.0)
    assert m["clv_total"] == pytest.approx(10.0)
    assert m["spearman"] == pytest.approx(
        pd.Series([4, 3, 2, 1]).corr(pd.Series([3, 1, 0, 0]), method="spearman")
    )
    assert m["decile_lift"] is None  # fewer than 10 customers


def test_clv_metrics_aligns_ids_as_text_and_ignores_row_order() -> None:
    scores, summary = _frames([4, 3, 2, 1], [3, 1, 0, 0], ids=[10, 20, 30, 40])
    shuffled = summary.iloc[[2, 0, 3, 1]]
    assert clv_metrics(scores, shuffled)["gini"] == pytest.approx(0.625)


def test_clv_metrics_without_holdout() -> None:
    scores, _ = _frames([4, 3, 2, 1], [0, 0, 0, 0])
    m = clv_metrics(scores)
    assert m["holdout"] is False
    assert m["gini"] is None and m["decile_lift"] is None
    assert m["gini_predicted"] == pytest.approx(gini([4, 3, 2, 1]))


def test_decile_lift_and_aggregate_spend() -> None:
    rng = np.random.default_rng(3)
    n = 1000
    clv = rng.gamma(0.5, 20.0, n)
    spend = np.where(rng.random(n) < 0.4, clv * rng.gamma(2.0, 0.5, n), 0.0)
    scores, summary = _frames(list(clv), list(spend))
    scores["expected_spend"] = 2.0
    predicted = pd.Series(np.full(n, 0.5), index=scores["customer_id"])
    m = clv_metrics(scores, summary, predicted_holdout_purchases=predicted)
    lift = pd.DataFrame(m["decile_lift"])
    assert list(lift["decile"]) == list(range(1, 11))
    assert (lift["customers"] == 100).all()
    assert lift["actual_share"].sum() == pytest.approx(1.0)
    assert lift["predicted_share"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(lift["lift"], lift["actual_share"] * 10)
    assert lift["predicted_share"].is_monotonic_decreasing
    assert m["predicted_holdout_spend"] == pytest.approx(n * 0.5 * 2.0)
    assert m["aggregate_spend_error"] == pytest.approx(n / spend.sum() - 1)
    table = decile_table(clv, spend)
    assert table.loc[1, "actual"] == pytest.approx(np.sort(spend[np.argsort(-clv)[:100]]).sum())


def test_value_tiers_partition_the_customers() -> None:
    clv = np.arange(1000, 0, -1, dtype=float)
    scores, summary = _frames(list(clv), list(clv / 2))
    scores["p_alive"] = 0.5
    tiers = value_tiers(scores, summary)
    assert list(tiers.index) == [label for label, _ in TIERS]
    assert list(tiers["customers"]) == [10, 40, 150, 300, 500]
    assert tiers["clv_share"].sum() == pytest.approx(1.0)
    assert tiers["holdout_spend_share"].sum() == pytest.approx(1.0)
    assert tiers.loc["Top 1%", "clv_total"] == pytest.approx(clv[:10].sum())
    assert (tiers["p_alive_mean"] == 0.5).all()


def test_clv_metrics_names_bad_input() -> None:
    scores, summary = _frames([4, np.nan, 2, 1], [3, 1, 0, 0])
    with pytest.raises(InputError, match="'clv' column"):
        clv_metrics(scores, summary)
    with pytest.raises(InputError, match="no customer_id"):
        clv_metrics(_frames([1, 2], [1, 2], ids=["a", "b"])[0], _frames([1], [1], ids=["z"])[1])


def test_fixture_metrics_agree_with_the_report_maths(run_dir: Path) -> None:
    run = load_run(run_dir)
    saved = run.metrics["clv"]
    again = clv_metrics(run.scores, run.summary)
    assert again["gini"] == pytest.approx(saved["gini"])
    assert 0.3 < saved["gini"] < saved["gini_perfect"] <= 1.0  # informative, not perfect
    assert saved["decile_lift"][0]["lift"] > 3.0


# ------------------------------------------------------------------ figures
def test_write_figures(run_dir: Path) -> None:
    paths = write_figures(run_dir)
    names = {p.stem for p in paths}
    assert {
        "frequency_histogram",
        "holdout_by_frequency",
        "tracking",
        "tracking_cumulative",
        "heterogeneity_purchase_rate",
        "heterogeneity_dropout",
        "heterogeneity_mean_spend",
        "p_alive_matrix",
        "expected_purchases_matrix",
        "p_alive_examples",
        "clv_distribution",
        "clv_gains",
        "clv_deciles",
        "value_risk",
    } == names
    for path in paths:
        assert path.parent == run_dir / "figures" and path.suffix == ".png"
        img = mpimg.imread(path)
        assert img.shape[:2] == (750, 1200)  # 8 x 5 inches at 150 dpi
        assert ink(path) > 0.03, f"{path.name} is blank"
    assert not list((run_dir / "figures").glob(".*tmp")), "no temporary files left"


def test_write_figures_without_holdout(run_dir_no_holdout: Path) -> None:
    names = {p.stem for p in write_figures(run_dir_no_holdout)}
    assert "holdout_by_frequency" not in names
    assert {"frequency_histogram", "tracking", "clv_gains"} <= names


# ------------------------------------------------------------------- the PDF
def _pdf_pages(pdf: Path, out: Path) -> list[Path]:
    subprocess.run([PDFTOPPM, "-r", "40", "-png", str(pdf), str(out / "page")], check=True)
    return sorted(out.glob("page-*.png"))


def _pdf_text(pdf: Path) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext not installed")
    done = subprocess.run([tool, "-layout", str(pdf), "-"], check=True, capture_output=True)
    return done.stdout.decode("utf-8")


@needs_poppler
def test_report_pages_are_rendered(run_dir: Path, tmp_path: Path) -> None:
    models = {p: p.read_bytes() for p in (run_dir / "models").iterdir()}
    pdf = render_report(run_dir)
    assert pdf == run_dir / "report.pdf"
    pages = _pdf_pages(pdf, tmp_path)
    assert len(pages) == len(PAGES) == 8
    for page in pages:
        assert ink(page) > 0.02, f"{page.name} is blank"
    text = _pdf_text(pdf)
    for expected in (
        "Summary",
        "Model fit",
        "How customers differ",
        "Customer value",
        "Segments",
        "Definitions and formulas",
        "BG/NBD",
        "Gamma-Gamma",
        "Std. error",
        "Top 12 customers",
        "Value tiers",
        "Whom to act on",
        "Win-back list",
        "Gini",
    ):
        assert expected in text, expected
    assert "No holdout period" not in text
    # Re-rendering reads the saved files only: the models are not refitted or rewritten.
    assert {p: p.read_bytes() for p in (run_dir / "models").iterdir()} == models
    assert not list(run_dir.glob(".*tmp"))


@needs_poppler
def test_report_without_holdout_says_so(run_dir_no_holdout: Path, tmp_path: Path) -> None:
    pdf = render_report(run_dir_no_holdout)
    pages = _pdf_pages(pdf, tmp_path)
    assert len(pages) == 8 and all(ink(p) > 0.02 for p in pages)
    text = _pdf_text(pdf)
    assert "No holdout period" in text
    assert "not validated" in text
    assert "Holdout purchases by calibration frequency" not in text


@needs_poppler
def test_report_without_spend_model_leaves_out_the_value_pages(
    run_dir: Path, tmp_path: Path
) -> None:
    """A log without amounts gives no spend model and no CLV: five pages, no CLV charts."""
    nospend = tmp_path / "nospend"
    shutil.copytree(run_dir, nospend, ignore=shutil.ignore_patterns("figures", "report.pdf"))
    run = json.loads((nospend / "run.json").read_text())
    run["spend_model"] = None
    (nospend / "run.json").write_text(json.dumps(run))
    scores = pd.read_csv(nospend / "scores.csv", dtype={"customer_id": str})
    scores.drop(columns=["clv", "expected_spend"]).to_csv(nospend / "scores.csv", index=False)
    pages = _pdf_pages(render_report(nospend), tmp_path)
    assert len(pages) == 5 and all(ink(p) > 0.02 for p in pages)
    names = {p.stem for p in write_figures(nospend)}
    assert not any(n.startswith("clv_") for n in names)
    assert "heterogeneity_mean_spend" not in names


@needs_poppler
def test_report_rerenders_from_a_copied_run_dir(run_dir: Path, tmp_path: Path) -> None:
    """Only the saved files are needed; without metrics.json holdout accuracy is recomputed."""
    copy = tmp_path / "copy"
    shutil.copytree(
        run_dir, copy, ignore=shutil.ignore_patterns("figures", "report.pdf", "metrics.json")
    )
    text = _pdf_text(render_report(copy))
    saved = json.loads((run_dir / "metrics.json").read_text())["holdout"]
    assert f"actual {saved['actual_purchases']:,.0f}" in text
    assert "holdout error in purchases" in text


def test_missing_run_file_is_named(run_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "scores.csv").unlink()
    with pytest.raises(InputError, match=r"scores\.csv"):
        render_report(broken)
    with pytest.raises(InputError, match="does not exist"):
        load_run(tmp_path / "nowhere")


def _overlaps(a: Any, b: Any, slack: float = 1.0) -> bool:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > slack and h > slack


def layout_problems(fig: Any, title: str = "page") -> list[str]:
    """Overlapping or off-page text on a report page.

    Checks page-level text (headings, tables, tiles, captions) and each chart's full box
    (title, labels, ticks, legend) against each other and the page edges, x tick labels of a
    chart against each other, and each legend against the chart's own text.
    """
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    page = fig.bbox
    problems = []
    boxes = [
        (t.get_text(), t.get_window_extent(renderer)) for t in fig.texts if t.get_text().strip()
    ]
    boxes += [
        (f"chart {ax.get_title(loc='left')!r}", ax.get_tightbbox(renderer))
        for ax in fig.axes
        if ax.get_title(loc="left")
    ]
    for name, box in boxes:
        if box.x0 < 0 or box.y0 < 0 or box.x1 > page.x1 or box.y1 > page.y1:
            problems.append(f"{title}: {name!r} runs off the page")
    footer_rule = 0.045 * page.height
    problems += [
        f"{title}: {name!r} crosses the footer rule"
        for name, box in boxes
        if box.y0 < footer_rule < box.y1
    ]
    # Charts and shaded boxes stay between the header rule and the footer rule.
    footer, header = 0.045 * page.height, 0.93 * page.height
    content = [(name, box) for name, box in boxes if name.startswith("chart ")]
    content += [
        (f"box {type(a).__name__}", a.get_window_extent(renderer))
        for a in fig.artists
        if isinstance(a, Patch)
    ]
    for name, box in content:
        if box.y0 < footer or box.y1 > header:
            problems.append(f"{title}: {name} reaches into the header or footer")
    for (n1, b1), (n2, b2) in itertools.combinations(boxes, 2):
        if _overlaps(b1, b2):
            problems.append(f"{title}: {n1!r} overlaps {n2!r}")
    for ax in fig.axes:
        ticks = [
            t.get_window_extent(renderer)
            for t in ax.get_xticklabels()
            if t.get_visible() and t.get_text()
        ]
        if any(_overlaps(b1, b2) for b1, b2 in itertools.combinations(ticks, 2)):
            problems.append(f"{title}: x tick labels of {ax.get_title(loc='left')!r} overlap")
        legend = ax.get_legend()
        if legend is not None:
            lb = legend.get_window_extent(renderer)
            problems += [
                f"{title}: legend overlaps {t.get_text()!r}"
                for t in ax.texts
                if _overlaps(lb, t.get_window_extent(renderer))
            ]
    return problems


def test_layout_check_finds_overlaps() -> None:
    from clvmodel.report import _new_figure

    fig = _new_figure((8, 5))
    fig.text(0.1, 0.5, "Customer lifetime value")
    fig.text(0.15, 0.5, "overlapping words")
    fig.text(0.95, 0.2, "runs off the right edge of the page")
    page = Page(fig, fig.canvas.get_renderer())
    page.rect(0.1, 0.01, 0.2, 0.1, "#cccccc")  # into the footer
    problems = layout_problems(fig)
    assert any("overlaps" in p for p in problems)
    assert any("runs off the page" in p for p in problems)
    assert any("footer" in p for p in problems)


@pytest.mark.parametrize("which", ["run_dir", "run_dir_no_holdout"])
def test_report_layout_has_no_overlapping_text(which: str, request: pytest.FixtureRequest) -> None:
    """Page text, chart boxes, tick labels and legends never overlap, and stay on the page."""
    ctx = report_context(request.getfixturevalue(which))
    problems = [p for title, fig in iter_report_pages(ctx) for p in layout_problems(fig, title)]
    assert problems == []


# ------------------------------------------------------------------ progress
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("Working", total=3, stream=stream) as bar:
        for _ in range(3):
            bar.advance()
    assert stream.getvalue() == ""
    assert list(progress(range(4), "Counting", stream=stream)) == [0, 1, 2, 3]
    assert stream.getvalue() == ""


def test_progress_on_a_terminal() -> None:
    stream = FakeTerminal()
    with Progress("Writing figures", total=2, stream=stream, min_interval=0.0) as bar:
        bar.advance(detail="tracking")
        bar.advance(detail="clv_gains")
    out = stream.getvalue()
    assert out.startswith("\rWriting figures: 0/2 (0%)")
    assert "1/2 (50%)  tracking" in out
    assert "2/2 (100%)  clv_gains" in out
    assert out.endswith("\n") and out.count("\n") == 1


def test_progress_marks_failure_and_closes_once() -> None:
    stream = FakeTerminal()
    with pytest.raises(RuntimeError), Progress("Step", total=5, stream=stream) as bar:
        bar.advance()
        raise RuntimeError("boom")
    assert "failed" in stream.getvalue()
    bar.close()
    assert stream.getvalue().count("\n") == 1


def test_figures_are_silent_off_a_terminal_and_deterministic(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = [hashlib.sha256(p.read_bytes()).hexdigest() for p in write_figures(run_dir)]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    second = [hashlib.sha256(p.read_bytes()).hexdigest() for p in write_figures(run_dir)]
    assert first == second


@pytest.mark.parametrize("background", [True, False])
def test_a_stage_started_beside_the_others_is_recorded_where_it_is_joined(background) -> None:
    import threading

    from clvmodel.progress import Stages

    lines: list[str] = []
    stages = Stages(lines.append)
    seen: list[str] = []

    def work(st):
        seen.append(threading.current_thread().name)
        st.rows = 7
        return 42

    job = stages.start("beside", work, background=background)
    with stages.stage("main"):
        pass
    assert job.join() == 42
    assert [r["name"] for r in stages.records()] == ["main", "beside"]
    assert stages.records()[1]["rows"] == 7 and lines[1].startswith("beside: ")
    assert (seen[0] == "clvmodel beside") is background

    def fail(st):
        raise ValueError("bad input in the background")

    failing = stages.start("failing", fail, background=background)
    with pytest.raises(ValueError, match="bad input in the background"):
        failing.join()
    assert [r["name"] for r in stages.records()] == ["main", "beside"]  # no line for it


@needs_poppler
def test_the_footer_names_the_run_folder_not_the_runs_temporary_one(
    run_dir: Path, tmp_path: Path
) -> None:
    # `clvmodel run` renders its report inside the temporary sibling it swaps into place
    # (clvmodel.rundir.staged_run_dir); the pages name the folder the user asked for.
    from clvmodel.rundir import run_dir_name

    staged = tmp_path / ".my-run.clvmodel-4242-0123abcd"
    shutil.copytree(run_dir, staged, ignore=shutil.ignore_patterns("figures", "report.pdf"))
    text = _pdf_text(render_report(staged))
    assert "run directory my-run ·" in " ".join(text.split())
    assert ".clvmodel-" not in text
    assert run_dir_name(tmp_path / ".my-run.clvmodel-4242-0123abcd-old") == "my-run"
    for name in ("plain", ".hidden", ".a.clvmodel-x-y", "b.clvmodel-1-2"):
        assert run_dir_name(tmp_path / name) == name
