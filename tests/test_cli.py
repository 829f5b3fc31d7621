"""The clvmodel command, run in-process through main(argv)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest
from reference import BGNBD_CDNOW, BGNBD_CDNOW_LL, GAMMA_GAMMA_CDNOW

from clvmodel.cli import ExitStatus, main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(map(str, argv)), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_fit_reproduces_published_estimates(tmp_path, cdnow_summary_path) -> None:
    code, out, _ = run("fit", cdnow_summary_path, "--model", "bgnbd", "--out", tmp_path / "bg.json")
    assert code == ExitStatus.OK
    assert "log-likelihood -9582.4" in out
    model = json.loads((tmp_path / "bg.json").read_text())
    assert model["model"] == "bgnbd" and model["time_unit"] == "W"
    for name, value in BGNBD_CDNOW.items():
        assert model["params"][name] == pytest.approx(value, abs=5e-4)
    assert model["log_likelihood"] == pytest.approx(BGNBD_CDNOW_LL, abs=0.05)
    assert model["n_customers"] == 2357

    code, _, _ = run(
        "fit", cdnow_summary_path, "--model", "gamma-gamma", "--out", tmp_path / "gg.json"
    )
    assert code == ExitStatus.OK
    gg = json.loads((tmp_path / "gg.json").read_text())["params"]
    assert gg["p"] == pytest.approx(GAMMA_GAMMA_CDNOW["p"], abs=5e-3)
    assert gg["q"] == pytest.approx(GAMMA_GAMMA_CDNOW["q"], abs=5e-3)
    assert gg["gamma"] == pytest.approx(GAMMA_GAMMA_CDNOW["gamma"], abs=1e-2)


def test_fit_on_a_summary_does_not_import_duckdb_or_matplotlib(tmp_path, cdnow_summary_path):
    code = (
        "import sys; from clvmodel.cli import main; "
        f"rc = main(['fit', {str(cdnow_summary_path)!r}, '--model', 'bgnbd', "
        f"'--out', {str(tmp_path / 'm.json')!r}]); "
        "print(rc, 'duckdb' in sys.modules, 'matplotlib' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "0 False False", result.stderr


def test_score_writes_one_row_per_customer(tmp_path, cdnow_summary_path) -> None:
    run("fit", cdnow_summary_path, "--model", "bgnbd", "--out", tmp_path / "bg.json")
    run("fit", cdnow_summary_path, "--model", "gamma-gamma", "--out", tmp_path / "gg.json")
    code, _, err = run(
        "score",
        cdnow_summary_path,
        "--model",
        tmp_path / "bg.json",
        "--spend-model",
        tmp_path / "gg.json",
        "--horizon",
        39,
        "--discount-rate",
        0.1,
        "--out",
        tmp_path / "scores.parquet",
    )
    assert code == ExitStatus.OK, err
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert list(scores.columns) == [
        "customer_id",
        "frequency",
        "recency",
        "T",
        "p_alive",
        "expected_purchases",
        "expected_spend",
        "clv",
    ]
    assert len(scores) == 2357
    assert scores["customer_id"].iloc[0] == "1"
    # The published customer (x=2, t_x=30.43, T=38.86) expects 1.226 purchases in 39 weeks.
    assert scores.loc[scores["customer_id"] == "1", "expected_purchases"].item() == pytest.approx(
        1.226, abs=5e-4
    )


def test_score_refuses_a_unit_mismatch_and_a_spend_model_as_purchase_model(
    tmp_path, cdnow_summary_path
) -> None:
    run("fit", cdnow_summary_path, "--model", "bgnbd", "--out", tmp_path / "bg.json")
    run("fit", cdnow_summary_path, "--model", "gamma-gamma", "--out", tmp_path / "gg.json")
    code, _, err = run(
        "score",
        cdnow_summary_path,
        "--model",
        tmp_path / "bg.json",
        "--freq",
        "D",
        "--horizon",
        10,
        "--out",
        tmp_path / "s.csv",
    )
    assert code == ExitStatus.INPUT_ERROR
    assert "differs from the unit the model was fitted in ('W')" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(
        "score",
        cdnow_summary_path,
        "--model",
        tmp_path / "gg.json",
        "--horizon",
        10,
        "--out",
        tmp_path / "s.csv",
    )
    assert code == ExitStatus.MODEL_FILE_ERROR
    assert "expected a purchase model" in err
    assert not (tmp_path / "s.csv").exists()


def test_missing_column_is_one_line_naming_it(tmp_path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("cust,day,value\n1,2024-01-01,3.0\n")
    code, _, err = run("fit", log, "--model", "bgnbd", "--out", tmp_path / "m.json")
    assert code == ExitStatus.INPUT_ERROR
    assert len(err.strip().splitlines()) == 1
    assert "'customer_id'" in err and "'cust', 'day', 'value'" in err
    assert not (tmp_path / "m.json").exists()


def test_run_accounts_for_every_row(tmp_path) -> None:
    rows = ["customer_id,date,amount"]
    for c in range(40):
        for k in range(1 + c % 4):
            rows.append(f"0{c:03d},2024-0{1 + k}-{10 + c % 15},{5 + c}.50")
    rows += [",2024-02-01,3.00", "0999,not-a-date,3.00", "0998,2024-02-01,abc"]
    log = tmp_path / "log.csv"
    log.write_text("\n".join(rows) + "\n")
    out_dir = tmp_path / "run"
    code, _, err = run("run", log, "--out", out_dir, "--freq", "D", "--horizon", 90)
    assert code == ExitStatus.OK, err
    meta = json.loads((out_dir / "run.json").read_text())
    ledger = meta["ledger"]
    assert ledger["input_rows"] == len(rows) - 1
    assert ledger["rejected_rows"] == 3
    assert ledger["input_rows"] == ledger["used_rows"] + ledger["rejected_rows"]
    rejects = pd.read_csv(out_dir / "rejects.csv")
    assert sorted(rejects["reason"]) == sorted(
        ["missing customer id", "unparseable date", "non-numeric amount"]
    )
    scores = pd.read_parquet(out_dir / "scores.parquet")  # the default format
    assert len(scores) == 40 and scores["customer_id"].str.startswith("0").all()
    assert (out_dir / "models" / "bgnbd.json").exists()
    assert (out_dir / "models" / "gamma-gamma.json").exists()
    # 40 tiny customers: warnings are reported as single lines naming their class.
    assert "clvmodel run: warning (HessianWarning)" in err


def test_demo_runs_on_the_bundled_data(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run("demo", "--out", "demo")
    assert code == ExitStatus.OK, err
    assert f"run written to {(tmp_path / 'demo').resolve()}" in err  # absolute, not "demo"
    meta = json.loads((tmp_path / "demo" / "run.json").read_text())
    assert meta["config"]["currency"] == "USD"
    assert meta["n_customers"] == 23570
    assert meta["ledger"]["input_rows"] == 69659
    metrics = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert metrics["holdout"]["actual_purchases"] > 0


def test_usage_errors_exit_2() -> None:
    assert run("fit")[0] == ExitStatus.USAGE
    assert run("nonsense")[0] == ExitStatus.USAGE


def test_compare_ranks_candidates_on_the_holdout(tmp_path, cdnow_transactions_path) -> None:
    code, out, err = run(
        "compare",
        cdnow_transactions_path,
        "--calibration-end",
        "1997-09-30",
        "--out",
        tmp_path / "cmp.json",
    )
    assert code == ExitStatus.OK, err
    result = json.loads((tmp_path / "cmp.json").read_text())
    assert result["has_holdout"] is True
    assert {c["key"] for c in result["candidates"]} == {"bgnbd", "pnbd", "mbgnbd"}
    rmse = {c["key"]: c["rmse"] for c in result["candidates"]}
    assert result["chosen"] == min(rmse, key=rmse.get)
    assert "predicts the holdout period best" in result["reason"] and "chose" in out


def test_fit_auto_without_holdout_chooses_by_bic(tmp_path, cdnow_summary_path) -> None:
    code, out, _ = run("fit", cdnow_summary_path, "--model", "auto", "--out", tmp_path / "m.json")
    assert code == ExitStatus.OK
    # On CDNOW, MBG/NBD (LL -9582.13) edges BG/NBD (-9582.43) and Pareto/NBD (-9594.97) with
    # the same number of parameters.
    assert json.loads((tmp_path / "m.json").read_text())["model"] == "mbgnbd"
    assert "lowest BIC" in out
    code, _, err = run(
        "fit",
        cdnow_summary_path,
        "--model",
        "auto",
        "--candidates",
        "bgnbd,nope",
        "--out",
        tmp_path / "x.json",
    )
    assert code == ExitStatus.INPUT_ERROR and "'bgnbd,nope'" in err


def test_fit_discrete_and_contractual_models_from_files(tmp_path, lifetimes_datasets) -> None:
    # BG/BB on the donations table (Fader, Hardie & Shang 2010: 1.204, 0.750, 0.657, 2.783).
    code, _, err = run(
        "fit",
        lifetimes_datasets / "donations.csv",
        "--model",
        "bgbb",
        "--freq",
        "Y",
        "--out",
        tmp_path / "bgbb.json",
    )
    assert code == ExitStatus.OK, err
    params = json.loads((tmp_path / "bgbb.json").read_text())["params"]
    assert [round(params[k], 3) for k in ("alpha", "beta", "gamma", "delta")] == [
        1.204,
        0.750,
        0.657,
        2.783,
    ]
    # sBG on the "regular" cohort (Fader & Hardie 2007: gamma 0.704, delta 1.182).
    cohort = tmp_path / "regular.csv"
    survivors = [1000, 631, 468, 382, 326, 289, 262, 241]
    cohort.write_text("period,customers\n" + "".join(f"{i},{n}\n" for i, n in enumerate(survivors)))
    code, _, err = run("fit", cohort, "--model", "sbg", "--freq", "Y", "--out", tmp_path / "s.json")
    assert code == ExitStatus.OK, err
    params = json.loads((tmp_path / "s.json").read_text())["params"]
    assert round(params["gamma"], 3) == 0.704 and round(params["delta"], 3) == 1.182


def test_the_parser_knows_the_model_registry_keys() -> None:
    from clvmodel.cli.parser import MODEL_KEYS
    from clvmodel.models import MODELS

    assert MODEL_KEYS == tuple(sorted(MODELS))


def test_run_reports_a_module_failing_to_import_in_one_line(tmp_path, monkeypatch) -> None:
    # The run imports the later stages' modules beside the summary (clvmodel.pipeline.run):
    # one that cannot be imported is still a one-line message, from the stage needing it.
    rows = ["customer_id,date,amount"]
    for c in range(40):
        rows += [f"0{c:03d},2024-0{1 + k}-{10 + c % 15},{5 + c}.50" for k in range(1 + c % 4)]
    log = tmp_path / "log.csv"
    log.write_text("\n".join(rows) + "\n")
    monkeypatch.setitem(sys.modules, "clvmodel.pipeline.uncertainty", None)
    code, _, err = run("run", log, "--out", tmp_path / "run", "--freq", "D", "--no-report")
    assert code == ExitStatus.ERROR, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("clvmodel run: internal error (ModuleNotFoundError)"), err
    assert "clvmodel.pipeline.uncertainty" in last and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_score_of_a_transaction_log_streams_and_equals_the_python_api(tmp_path) -> None:
    # `score` on a log keeps the summary in DuckDB and scores it batch by batch
    # (clvmodel.pipeline.logs); the scores, their order and the rejects are those of
    # rfm_summary + score in pandas.
    from helpers import DATA

    from clvmodel import BetaGeoModel, GammaGammaModel, rfm_summary, summarise
    from clvmodel.clv import score
    from clvmodel.exceptions import RejectedRowsWarning
    from clvmodel.io import save_model

    log = pd.read_csv(DATA / "cdnow_transactions.csv.gz", dtype=str)
    bad = pd.DataFrame(
        {"customer_id": ["", "00007", "00008"], "date": ["1997-02-01", "soon", "1997-03-01"],
         "quantity": "1", "amount": ["5", "1", "n/a"]}
    )  # fmt: skip
    path = tmp_path / "log.csv"
    pd.concat([log, bad]).to_csv(path, index=False)
    with pytest.warns(RejectedRowsWarning, match="3 of 69,662 input rows rejected"):
        summary = rfm_summary(path, freq="W")
    bg, gg = BetaGeoModel().fit(summary), GammaGammaModel().fit(summary)
    save_model(bg, tmp_path / "bg.json")
    save_model(gg, tmp_path / "gg.json")
    expected = score(bg, summary, horizon=39, spend_model=gg, discount_rate=0.1, margin=0.3)
    for name in ("scores.parquet", "scores.csv"):
        code, _, err = run(
            "score", path, "--model", tmp_path / "bg.json", "--spend-model", tmp_path / "gg.json",
            "--horizon", 39, "--discount-rate", 0.1, "--margin", 0.3, "--out", tmp_path / name,
        )  # fmt: skip
        assert code == ExitStatus.OK, err
        # Parquet streams; a CSV keeps pandas' format (the old path, without stage lines).
        streamed = name.endswith(".parquet")
        assert ("clvmodel score: summary:" in err) == streamed
        assert ("clvmodel score: score:" in err) == streamed
        assert "69,662 rows: 69,659 used, 3 rejected" in err
        if name.endswith(".parquet"):
            got = pd.read_parquet(tmp_path / name)
            pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=True)
        else:
            got = pd.read_csv(tmp_path / name, dtype={"customer_id": str})
            pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=True)
    rejects = pd.read_csv(tmp_path / "scores.rejects.csv", dtype=str)
    assert rejects["reason"].tolist() == summarise(path).rejects["reason"].tolist()
    assert rejects["reason"].tolist() == [
        "missing customer id", "unparseable date", "non-numeric amount",
    ]  # fmt: skip


def test_score_intervals_of_a_transaction_log_stream_and_equal_a_summary_files(tmp_path) -> None:
    # `score LOG --intervals` (delta) streams too: each customer's intervals are those of
    # the pandas path on the same summary as a file, and so is the total's line.
    from helpers import DATA

    from clvmodel import BetaGeoModel, GammaGammaModel, rfm_summary
    from clvmodel.io import save_model

    log = DATA / "cdnow_transactions.csv.gz"
    summary = rfm_summary(log, freq="W")
    summary.to_csv(tmp_path / "summary.csv")
    save_model(BetaGeoModel().fit(summary), tmp_path / "bg.json")
    save_model(GammaGammaModel().fit(summary), tmp_path / "gg.json")
    got = {}
    for source, name in ((log, "streamed"), (tmp_path / "summary.csv", "pandas")):
        code, _, err = run(
            "score", source, "--model", tmp_path / "bg.json", "--spend-model",
            tmp_path / "gg.json", "--horizon", 39, "--discount-rate", 0.1, "--margin", 0.3,
            "--step", 3, "--intervals", 0.8, "--out", tmp_path / f"{name}.parquet",
        )  # fmt: skip
        assert code == ExitStatus.OK, err
        assert ("clvmodel score: score:" in err) == (name == "streamed")
        (total,) = [line for line in err.splitlines() if line.startswith("total clv ")]
        frame = pd.read_parquet(tmp_path / f"{name}.parquet")
        got[name] = (frame.reset_index() if "customer_id" not in frame else frame), total
    streamed, pandas_path = got["streamed"][0], got["pandas"][0]
    assert [c for c in streamed if c.endswith("_lower")] == [
        "p_alive_lower", "expected_purchases_lower", "expected_spend_lower", "clv_lower",
    ]  # fmt: skip
    pd.testing.assert_frame_equal(streamed, pandas_path, check_dtype=False, rtol=1e-13)
    assert got["streamed"][1] == got["pandas"][1]
    assert "80% interval" in got["streamed"][1] and "(delta)" in got["streamed"][1]


@pytest.mark.parametrize("key", ["bgnbd", "gamma-gamma"])
def test_fit_of_a_transaction_log_reads_distinct_rows_and_equals_the_python_api(
    tmp_path, key: str
) -> None:
    # `fit` on a log fits the engine's distinct rows with their counts (the summary stays
    # in DuckDB); the estimates are those of the fit on the whole summary in pandas, up to
    # the order in which the optimiser adds the same terms.
    from helpers import DATA

    from clvmodel import rfm_summary
    from clvmodel.models import get_model_class

    path = DATA / "cdnow_transactions.csv.gz"
    code, _, err = run("fit", path, "--model", key, "--out", tmp_path / "m.json")
    assert code == ExitStatus.OK, err
    assert "clvmodel fit: summary:" in err and "23,570 customers" in err
    assert "69,659 rows: 69,659 used, 0 rejected" in err
    got = json.loads((tmp_path / "m.json").read_text())
    model = get_model_class(key)().fit(rfm_summary(path, freq="W"))
    assert got["n_customers"] == model.result_.to_dict()["n_customers"]
    assert got["log_likelihood"] == pytest.approx(model.result_.log_likelihood, rel=1e-12)
    for name, value in model.params_.items():
        assert got["params"][name] == pytest.approx(value, rel=1e-9)


def test_compare_and_fit_auto_on_a_log_use_distinct_rows_and_equal_the_python_api(
    tmp_path, cdnow_transactions_path
) -> None:
    # On a log, `compare` and `fit --model auto` compare the candidates on the engine's
    # distinct rows with their counts; the table is that of compare_models on the summary.
    from clvmodel import rfm_summary
    from clvmodel.compare import compare_models

    code, out, err = run(
        "compare", cdnow_transactions_path, "--calibration-end", "1997-09-30",
        "--out", tmp_path / "cmp.json",
    )  # fmt: skip
    assert code == ExitStatus.OK, err
    assert "clvmodel compare: summary:" in err and "clvmodel compare: compare:" in err
    got = {c["key"]: c for c in json.loads((tmp_path / "cmp.json").read_text())["candidates"]}
    summary = rfm_summary(cdnow_transactions_path, freq="W", calibration_end="1997-09-30")
    expected = compare_models(summary)
    for key, row in expected.table.iterrows():
        for col in ("log_likelihood", "bic", "mae", "rmse", "predicted_purchases"):
            assert got[key][col] == pytest.approx(row[col], rel=1e-9), (key, col)
        assert got[key]["actual_purchases"] == row["actual_purchases"]
    assert json.loads((tmp_path / "cmp.json").read_text())["chosen"] == expected.choose()[0]

    code, out, err = run(
        "fit", cdnow_transactions_path, "--model", "auto", "--out", tmp_path / "m.json"
    )
    assert code == ExitStatus.OK, err
    assert "clvmodel fit: summary:" in err and "lowest BIC" in out
    chosen = compare_models(rfm_summary(cdnow_transactions_path, freq="W")).choose()[0]
    assert json.loads((tmp_path / "m.json").read_text())["model"] == chosen


def test_discrete_models_on_a_log_say_which_column_is_missing(tmp_path, lifetimes_datasets) -> None:
    # BG/BB reads `periods`, which a transaction log's summary lacks: `fit` and `score`
    # keep the pandas path and its message, not a database error.
    from helpers import DATA

    log = DATA / "cdnow_transactions.csv.gz"
    code, _, err = run("fit", log, "--model", "bgbb", "--out", tmp_path / "m.json")
    assert code == ExitStatus.INPUT_ERROR and "missing the column 'periods'" in err, err
    code, _, err = run(
        "fit", lifetimes_datasets / "donations.csv", "--model", "bgbb", "--freq", "Y",
        "--out", tmp_path / "bgbb.json",
    )  # fmt: skip
    assert code == ExitStatus.OK, err
    code, _, err = run(
        "score", log, "--model", tmp_path / "bgbb.json", "--horizon", 5, "--freq", "Y",
        "--out", tmp_path / "s.parquet",
    )  # fmt: skip
    assert code == ExitStatus.INPUT_ERROR and "missing the column 'periods'" in err, err
    assert "Binder Error" not in err
