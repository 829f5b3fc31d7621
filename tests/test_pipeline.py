"""The run pipeline: refit on the whole log, every customer scored, the run-folder contract,
streaming output, shared defaults, and predictions on collapsed rows."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import SIMULATED_TRUTH

from clvmodel import BetaGeoModel, GammaGammaModel
from clvmodel.cli import build_parser, main
from clvmodel.clv import score
from clvmodel.data import rfm_summary
from clvmodel.exceptions import InputError
from clvmodel.models.bgbb import BetaGeoBetaBinomModel
from clvmodel.models.mbgnbd import ModifiedBetaGeoModel
from clvmodel.models.pnbd import ParetoNBDModel
from clvmodel.pipeline import RunConfig, default_horizon, run_pipeline
from clvmodel.simulate import bgnbd_transactions

CAL_END = "2024-08-01"


@pytest.fixture(scope="module")
def log_path(tmp_path_factory) -> str:
    """A simulated log whose acquisitions run past the calibration end (late customers)."""
    tx = bgnbd_transactions(
        4000,
        **SIMULATED_TRUTH,
        acquisition_days=240,
        observation_end="2025-06-30",
        unit="D",
        seed=7,
    )
    path = tmp_path_factory.mktemp("log") / "tx.parquet"
    tx.to_parquet(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def calibrated_run(log_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    lines: list[str] = []
    run = run_pipeline(
        log_path, out, RunConfig(calibration_end=CAL_END), report=False, log=lines.append
    )
    return out, run, lines


def test_forecast_is_refitted_on_the_whole_log_and_scores_everyone(log_path, calibrated_run):
    out, run, _ = calibrated_run
    full = rfm_summary(log_path, freq="W")
    cal = rfm_summary(log_path, freq="W", calibration_end=CAL_END)
    late = len(full) - len(cal)
    assert late > 100  # the log has customers first seen after the calibration end
    scores = pd.read_parquet(out / "scores.parquet").set_index("customer_id")
    assert len(scores) == len(full) == run["n_scored"] == run["n_customers"]
    # T is measured to the observation end: the forecast starts at the end of the data.
    np.testing.assert_allclose(scores.loc[full.index, "T"], full["T"], rtol=0, atol=1e-12)
    assert run["excluded"] == {} and run["excluded_customers"] == 0
    assert run["holdout"]["not_in_check"] == {"first purchase after calibration_end": late}
    assert run["holdout"]["customers"] == len(cal)

    forecast = json.loads((out / "models" / "bgnbd.json").read_text())
    check = json.loads((out / "models" / "calibration" / "bgnbd.json").read_text())
    refit = BetaGeoModel().fit(full).params_
    np.testing.assert_allclose(list(forecast["params"].values()), refit.to_numpy(), rtol=1e-6)
    calibration = BetaGeoModel().fit(cal).params_
    np.testing.assert_allclose(list(check["params"].values()), calibration.to_numpy(), rtol=1e-6)
    assert not np.allclose(refit.to_numpy(), calibration.to_numpy(), rtol=1e-3)


def test_scores_equal_the_library_score_of_the_refitted_models(log_path, calibrated_run):
    out, run, _ = calibrated_run
    full = rfm_summary(log_path, freq="W")
    bg, gg = BetaGeoModel().fit(full), GammaGammaModel().fit(full)
    expected = score(
        bg, full, horizon=run["horizon"], spend_model=gg, discount_rate=run["discount_rate"]
    ).set_index("customer_id")
    got = pd.read_parquet(out / "scores.parquet").set_index("customer_id")
    assert list(got.columns) == list(expected.columns)
    for col in ("p_alive", "expected_purchases", "expected_spend", "clv"):
        np.testing.assert_allclose(got[col], expected.loc[got.index, col], rtol=1e-6)


def test_expected_buyers_from_distinct_rows_equal_the_sum_over_customers(calibrated_run):
    """metrics.json totals' expected buyers (on the run's distinct rows, weighted) are the
    sum over every scored customer, and the report takes them from there."""
    from clvmodel.clv import expected_buyers
    from clvmodel.report.numbers import _buyers
    from clvmodel.report.run import load_run

    out, run, _ = calibrated_run
    files = load_run(out)
    totals = files.metrics["totals"]
    assert totals["customers"] == len(files.scores) == run["n_scored"]
    model = files.purchase_model
    every = expected_buyers(model, files.scores[list(model.columns)], t=run["horizon"])
    assert totals["buyers_expected"] == pytest.approx(every, rel=1e-12)
    assert 0 < every < len(files.scores)
    assert _buyers(files, run["horizon"]) == totals["buyers_expected"]
    files.metrics = {}  # without them, the report sums over the customers itself
    assert _buyers(files, run["horizon"]) == every


def test_run_folder_contract(log_path, calibrated_run):
    out, run, lines = calibrated_run
    obs = dt.date.fromisoformat(run["observation_end"])
    last_date = rfm_summary(log_path).attrs["observation_end"]  # the log's last date
    assert run["forecast_start"] == run["observation_end"] == last_date
    assert run["horizon"] == default_horizon("W") == 52.0
    assert run["forecast_end"] == (obs + dt.timedelta(days=52 * 7)).isoformat()
    assert run["time_unit"] == "W" and run["calibration_end"] == CAL_END
    names = [s["name"] for s in run["stages"]]
    assert names[0] == "summary" and "fit calibration" in names and "score" in names
    assert all(s["seconds"] >= 0 for s in run["stages"])
    assert run["peak_rss_mib"] > 50
    run_id = run["run_id"]
    assert len(run_id) == 32
    assert json.loads((out / "metrics.json").read_text())["run_id"] == run_id
    assert json.loads((out / "models" / "bgnbd.json").read_text())["run_id"] == run_id
    for name in ("scores.parquet", "summary.parquet"):
        meta = pq.read_schema(out / name).metadata
        assert meta[b"clvmodel.run_id"].decode() == run_id
    assert json.loads((out / "run.json").read_text()) == json.loads(json.dumps(run))
    # one line per stage, with time and rows, and the exclusions line
    assert any(line.startswith("summary: ") and " s, " in line for line in lines)
    assert any(line.startswith("scored ") and "none excluded" in line for line in lines)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["holdout"]["n_customers"] == run["holdout"]["customers"]
    assert metrics["clv"]["n_customers"] == run["n_scored"]


def test_holdout_metrics_on_collapsed_rows_equal_the_per_customer_ones(log_path, calibrated_run):
    from clvmodel.evaluation import holdout_metrics
    from clvmodel.io import load_model

    out, _, _ = calibrated_run
    cal = rfm_summary(log_path, freq="W", calibration_end=CAL_END)
    model = load_model(out / "models" / "calibration" / "bgnbd.json")
    expected = holdout_metrics(model, cal)
    got = json.loads((out / "metrics.json").read_text())["holdout"]
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key


def test_csv_format_and_stage_lines_on_a_non_terminal(log_path, tmp_path):
    err = io.StringIO()  # not a terminal: the stage lines are printed all the same
    out = tmp_path / "csv"
    code = main(["run", log_path, "--out", str(out), "--format", "csv", "--no-report"], stderr=err)
    assert code == 0, err.getvalue()
    assert (out / "scores.csv").exists() and (out / "summary.csv").exists()
    assert not (out / "scores.parquet").exists() and not (out / "report.pdf").exists()
    scores = pd.read_csv(out / "scores.csv", dtype={"customer_id": str})
    parquet = tmp_path / "pq"
    assert main(["run", log_path, "--out", str(parquet), "--no-report"], stderr=io.StringIO()) == 0
    same = pd.read_parquet(parquet / "scores.parquet")
    # rows come in the engine's order (not sorted by id): compare by customer
    scores = scores.sort_values("customer_id", ignore_index=True)
    same = same.sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(scores, same, check_exact=False, rtol=1e-15)
    text = err.getvalue()
    for stage in ("summary", "fit", "score"):
        assert f"clvmodel run: {stage}: " in text
    assert "\r" not in text  # no bar off a terminal
    # Without a holdout check the scoring pass writes the summary: the whole summary, the
    # customers in the scores' order, in both formats
    assert "write summary" not in text and "with summary.csv" in text
    expected = rfm_summary(log_path, freq="W").reset_index()
    for folder, read in ((out, _read_csv), (parquet, pd.read_parquet)):
        summary = read(folder / "summary.csv" if folder is out else folder / "summary.parquet")
        ids = read(folder / "scores.csv" if folder is out else folder / "scores.parquet")
        assert summary["customer_id"].tolist() == ids["customer_id"].tolist()
        got = summary.sort_values("customer_id", ignore_index=True)
        assert list(got.columns) == list(expected.columns)
        pd.testing.assert_frame_equal(
            got.astype(expected.dtypes.to_dict()), expected, check_exact=True
        )


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"customer_id": str})


def test_run_and_demo_share_defaults_and_help_shows_them(capsys) -> None:
    parser = build_parser()
    run = parser.parse_args(["run", "x.csv", "--out", "o"])
    demo = parser.parse_args(["demo"])
    for key in ("discount_rate", "horizon", "margin", "format", "memory_limit"):
        assert getattr(run, key) == getattr(demo, key), key
    assert run.discount_rate == RunConfig().discount_rate == 0.1
    for command in ("run", "demo"):
        assert main([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "annual discount rate (default: 0.1)" in text
        assert "52 weeks" in text and "(default: parquet)" in text


PARAMS = {
    BetaGeoModel: {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5},
    ParetoNBDModel: {"r": 0.55, "alpha": 10.6, "s": 0.6, "beta": 11.7},
    ModifiedBetaGeoModel: {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5},
}


@pytest.mark.parametrize("cls", list(PARAMS))
def test_step_sums_on_collapsed_rows_equal_direct_evaluation(cls, cdnow) -> None:
    model = cls.from_params(PARAMS[cls], time_unit="W")
    arrays, _ = model._arrays(cdnow)
    times = np.arange(1.0, 40.0, 3.0)
    factors = 1.01**-times
    total, last = model._horizon_sums(arrays, times, factors)
    direct, previous = np.zeros(len(cdnow)), np.zeros(len(cdnow))
    for t, f in zip(times, factors, strict=True):
        cum = model._expected_purchases(arrays, float(t))
        direct += (cum - previous) * f
        previous = cum
    np.testing.assert_allclose(total, direct, rtol=1e-12)
    np.testing.assert_allclose(last, previous, rtol=1e-12)


def test_step_sums_of_a_discrete_model_use_distinct_rows() -> None:
    model = BetaGeoBetaBinomModel.from_params(
        {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.78}
    )
    x = np.array([0.0, 1.0, 3.0, 3.0, 0.0, 6.0] * 50)
    tx = np.array([0.0, 2.0, 5.0, 5.0, 0.0, 6.0] * 50)
    n = np.full(len(x), 6.0)
    total, last = model._horizon_sums((x, tx, n), [1.0, 2.0, 3.0], [1.0, 0.9, 0.8])
    direct = sum(
        (model._expected_purchases((x, tx, n), t) - model._expected_purchases((x, tx, n), t - 1))
        * f
        for t, f in ((1.0, 1.0), (2.0, 0.9), (3.0, 0.8))
    )
    np.testing.assert_allclose(total, direct, rtol=1e-12)
    np.testing.assert_allclose(last, model._expected_purchases((x, tx, n), 3.0), rtol=1e-12)


@pytest.mark.parametrize("n, rank_chunk", [(1, 7), (7, 7), (10, 7), (1001, 64), (20000, 1 << 20)])
def test_forecast_clv_metrics_equal_clv_metrics(monkeypatch, n, rank_chunk) -> None:
    from clvmodel.clv_metrics import clv_metrics
    from clvmodel.pipeline.metrics import forecast_clv_metrics

    monkeypatch.setattr("clvmodel.pipeline.metrics.RANK_CHUNK", rank_chunk)  # chunks, or one
    c = np.random.default_rng(n).gamma(0.5, 10.0, n)
    expected = clv_metrics(pd.DataFrame({"customer_id": np.arange(n), "clv": c}))
    got = forecast_clv_metrics(c.copy())
    for key, value in got.items():
        assert value == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key


def test_fit_in_chunks_equals_one_pass(monkeypatch, cdnow) -> None:
    from clvmodel.models import fitting

    whole = BetaGeoModel().fit(cdnow)
    monkeypatch.setattr(fitting, "CHUNK_ROWS", 100)  # 2,357 rows in 24 chunks
    chunked = BetaGeoModel().fit(cdnow)
    np.testing.assert_allclose(chunked.params_, whole.params_, rtol=1e-7)
    assert chunked.log_likelihood_ == pytest.approx(whole.log_likelihood_, rel=1e-12)


def test_tracking_without_a_split_equals_the_joined_query(cdnow_transactions_path) -> None:
    from clvmodel.engines import sql
    from clvmodel.engines.duckdb import DuckDBSummaryEngine

    with DuckDBSummaryEngine(
        cdnow_transactions_path,
        customer_col="customer_id",
        date_col="date",
        amount_col="amount",
        date_format=None,
    ) as engine:
        bounds = engine.bounds()
        engine.build_summary(
            "main", observation_end=bounds.last_date, calibration_end=None, unit_days=7.0
        )
        # the first occasions from the summary's T, against the per-customer table
        fast = engine.tracking(
            observation_end=bounds.last_date,
            calibration_end=None,
            first_date=bounds.first_date,
            unit_days=7.0,
        )
        customers = sql.customers_sql("clv_occasions", bounds.last_date, has_amount=True)
        engine.con.execute("CREATE TEMP TABLE clv_test_customers AS " + customers)
        joined = engine.con.execute(
            sql.tracking_sql(
                "clv_occasions",
                "clv_test_customers",
                first_date=bounds.first_date,
                end=bounds.last_date,
                unit_days=7.0,
            )
        ).fetchnumpy()
    np.testing.assert_array_equal(fast[0], joined["period"])
    np.testing.assert_array_equal(fast[1], joined["actual"])
    assert fast[1].sum() > 40_000  # CDNOW's repeat occasions


def test_the_automatic_memory_limit_grows_with_the_rows_beyond_32m() -> None:
    from clvmodel.engines.duckdb import auto_memory_limit

    assert auto_memory_limit(0) == auto_memory_limit(31_817_583) == "256MB"  # item 2's 10M
    assert auto_memory_limit(32_000_000) == "256MB"  # 8 bytes a row: 256MB (10^6) at 32M
    assert auto_memory_limit(32_000_001) == "257MB"
    assert auto_memory_limit(318_253_279) == "2547MB"  # 100M customers
    # at most half the memory available, never below the floor
    assert auto_memory_limit(318_253_279, available_mib=1e6) == "2547MB"
    assert auto_memory_limit(318_253_279, available_mib=2000.0) == "1049MB"  # 2^20 bytes
    assert auto_memory_limit(318_253_279, available_mib=100.0) == "256MB"
    assert auto_memory_limit(0, available_mib=float("nan")) == "256MB"


@pytest.mark.parametrize(("given", "available", "set_to"), [
    ("auto", 1e6, "3.2 GiB"), ("auto", 4096.0, "2.0 GiB"), ("300MB", 4096.0, "286.1 MiB")
])  # fmt: skip
def test_the_engine_sets_the_automatic_limit_once_the_rows_are_counted(
    cdnow_transactions_path, monkeypatch, given, available, set_to
) -> None:
    from clvmodel import engines, machine
    from clvmodel.engines import duckdb as engine_module

    monkeypatch.setattr(engines, "AUTO_BYTES_PER_ROW", 50_000)  # 69,659 rows: 3.2GiB
    monkeypatch.setattr(machine, "available_memory_mib", lambda: available)
    with engine_module.DuckDBSummaryEngine(
        cdnow_transactions_path,
        customer_col="customer_id",
        date_col="date",
        amount_col="amount",
        date_format=None,
        memory_limit=given,
    ) as engine:

        def setting() -> str:
            return engine.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]

        assert setting() == ("244.1 MiB" if given == "auto" else "286.1 MiB")  # 10^6-byte MB
        bounds = engine.bounds()
        expected = engine_module.auto_memory_limit(bounds.valid_rows, available)
        assert engine.memory_limit == (expected if given == "auto" else "300MB")
        assert setting() == set_to
        engine.build_summary(
            "main", observation_end=bounds.last_date, calibration_end=None, unit_days=7.0
        )
        assert engine.memory_limit == (expected if given == "auto" else "300MB")


@pytest.mark.parametrize("expected", [0, 5, 10, 12, 30])
def test_kept_scores_column_is_every_batch_in_order_whatever_rows_were_expected(expected) -> None:
    from clvmodel.pipeline.scoring import _Column

    batches = [np.arange(0.0, 4.0), np.arange(4.0, 9.0), np.arange(9.0, 12.0)]
    column = _Column(expected)
    for values in batches:
        column.append(values)
    np.testing.assert_array_equal(column.values(), np.arange(12.0))


def test_the_summary_of_a_file_starts_without_pandas(tmp_path) -> None:
    # `clvmodel run` imports pandas, scipy and the models beside DuckDB's first queries
    # (clvmodel.pipeline.run.LATER_MODULES): the path to those queries must not need them.
    import subprocess
    import sys

    log = tmp_path / "log.csv"
    log.write_text("customer_id,date,amount\na,2024-01-01,1\na,2024-01-09,2\nb,2024-01-03,3\n")
    code = (
        "import sys, datetime\n"
        "import clvmodel.cli.commands, clvmodel.pipeline.run, clvmodel.pipeline.covariates\n"
        "from clvmodel.data import _source, account_rows\n"
        "from clvmodel.engines.duckdb import DuckDBSummaryEngine\n"
        f"source = _source({str(log)!r})\n"
        "with DuckDBSummaryEngine(source, customer_col='customer_id', date_col='date',\n"
        "                         amount_col='amount', date_format=None) as engine:\n"
        "    bounds, obs, ledger = account_rows(engine, source, None, None)\n"
        "print(ledger.used_rows, obs, *[m for m in ('pandas', 'scipy') if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["3", "2024-01-09"], result.stderr


def test_is_dataframe_imports_nothing_and_copes_with_a_half_imported_pandas(monkeypatch):
    import sys
    import types

    from clvmodel.engines import is_dataframe

    frame = pd.DataFrame({"a": [1]})
    assert is_dataframe(frame) and not is_dataframe("log.csv") and not is_dataframe(None)
    # While the run's import thread is inside pandas' __init__, DataFrame is not defined yet.
    monkeypatch.setitem(sys.modules, "pandas", types.ModuleType("pandas"))
    assert not is_dataframe(frame) and not is_dataframe("log.csv")


def test_scoring_lowers_the_memory_limit_for_its_scan_only(cdnow_transactions_path, tmp_path):
    # DuckDB keeps the summary pages it has read up to its limit; the scan of the scoring
    # needs a batch at a time, so it runs at SCAN_MEMORY_LIMIT (never above the engine's).
    from clvmodel.engines.duckdb import SCAN_MEMORY_LIMIT, DuckDBSummaryEngine
    from clvmodel.pipeline.scoring import BatchScorer

    class Recording:  # the connection, with the SET statements it receives listed
        def __init__(self, con) -> None:  # type: ignore[no-untyped-def]
            self.con, self.sets = con, []

        def execute(self, query, *args):  # type: ignore[no-untyped-def]
            if query.startswith("SET memory_limit"):
                self.sets.append(query.split("=", 1)[1].strip())
            return self.con.execute(query, *args)

        def sql(self, query):  # type: ignore[no-untyped-def]
            # the scan starts: the limit it runs with
            self.scan = self.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
            return self.con.sql(query)

        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return getattr(self.con, name)

    def setting(engine) -> str:  # type: ignore[no-untyped-def]
        return engine.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]

    with DuckDBSummaryEngine(
        cdnow_transactions_path, customer_col="customer_id", date_col="date",
        amount_col=None, date_format=None, memory_limit="256MB",
    ) as engine:  # fmt: skip
        before = setting(engine)
        with engine._memory_at_most("1GB"):  # never raised
            assert setting(engine) == before
        bounds = engine.bounds()
        engine.build_summary(
            "full", observation_end=bounds.last_date, calibration_end=None, unit_days=7.0
        )
        arrays, weights = engine.fit_table("full", ("frequency", "recency", "T"))
        frame = pd.DataFrame(arrays)
        frame.attrs["time_unit"] = "W"
        model = BetaGeoModel().fit(frame, weights=weights)
        engine.con = recording = Recording(engine.con)
        n, _ = engine.score_to(
            "full", BatchScorer(model, None, horizon=10, per_unit_rate=0.0),
            tmp_path / "s.parquet", metadata={},
        )  # fmt: skip
        assert setting(engine) == before
        engine.con = recording.con

        def failing(batch):  # type: ignore[no-untyped-def]
            raise InputError("scoring failed")

        failing.inputs = ("customer_id", "frequency", "recency", "T")  # type: ignore[attr-defined]
        with pytest.raises(InputError, match="scoring failed"):  # not the open result's error
            engine.score_to("full", failing, tmp_path / "t.parquet", metadata={}, batch_rows=5000)
    assert n == 23_570 and not (tmp_path / "t.parquet").exists()
    # lowered for the scan, then the engine's own again
    assert recording.sets == [f"'{SCAN_MEMORY_LIMIT}'", "'256MB'"]
    assert before == "244.1 MiB" and recording.scan == "61.0 MiB"
