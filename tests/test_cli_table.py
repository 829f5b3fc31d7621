"""Issue #8: every command-line case of the issue with its documented exit code.

0 ok, 2 usage, 3 bad input, 4 failed fit, 5 bad model file; a failure prints exactly one
line to stderr, and no Python traceback.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
from pathlib import Path

import pytest

from clvmodel.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
SUMMARY = DATA / "cdnow_summary.csv"


def _run(*argv: object) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    return code, err.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli_table")
    log = "customer_id,date,amount\n" + "".join(
        f"{c},2020-{m:02d}-{d:02d},{10 + c}\n"
        for c in range(1, 31)
        for m, d in ((1, c % 28 + 1), (3 + c % 5, 2), (8, 9))[: 1 + c % 3]
    )
    (root / "log.csv").write_text(log)
    (root / "covariates.csv").write_text(
        "customer_id,segment\n" + "".join(f"{c},{c % 2}\n" for c in range(1, 31))
    )
    (root / "future.csv").write_text(log + "1,9999-12-31,5\n")
    (root / "ragged.csv").write_text(log + "1,2020-01-01\n2,2020-01-01,1,2,3\n" * 10)
    raw = gzip.compress(log.encode())
    (root / "trunc.csv.gz").write_bytes(raw[: len(raw) // 2])
    (root / "once.csv").write_text(
        "customer_id,frequency,recency,T,monetary_value\n"
        + "".join(f"c{i},0,0,{10 + i},5\n" for i in range(20))
    )
    (root / "rec0.csv").write_text(
        "customer_id,frequency,recency,T\n" + "".join(f"c{i},{1 + i % 3},0,10\n" for i in range(20))
    )
    code, err = _run("fit", SUMMARY, "--model", "bgnbd", "--out", root / "good.json")
    assert code == 0, err
    good = json.loads((root / "good.json").read_text())
    bad = dict(good, params=dict(good["params"], r=-1.0))
    (root / "negative.json").write_text(json.dumps(bad))
    (root / "deep.json").write_text("[" * 50_000 + "]" * 50_000)
    (root / "model.pkl").write_bytes(pickle.dumps(good))
    (root / "list_run").mkdir()
    (root / "list_run" / "run.json").write_text("[1, 2]")
    os.mkfifo(root / "fifo")
    return {p.name: p for p in root.iterdir()} | {"root": root}


def _score(f, *extra):
    return ("score", SUMMARY, "--model", f["good.json"], "--horizon", "52", *extra)


CASES = {
    # usage (2): refused before any work
    "score --draws 1 (on a summary and on a log alike)": (
        lambda f: (*_score(f), "--intervals", "0.9", "--draws", "1", "--out", f["root"] / "d.csv"),
        2,
    ),
    "score LOG --draws 1": (
        lambda f: (
            "score",
            f["log.csv"],
            "--model",
            f["good.json"],
            "--horizon",
            "52",
            "--intervals",
            "0.9",
            "--draws",
            "1",
            "--out",
            f["root"] / "d.parquet",
        ),
        2,
    ),
    "run --model bogus": (
        lambda f: ("run", f["log.csv"], "--out", f["root"] / "r1", "--model", "bogus"),
        2,
    ),
    "score --out x.txt": (lambda f: (*_score(f), "--out", f["root"] / "x.txt"), 2),
    "score --out rejects file": (lambda f: (*_score(f), "--out", f["root"] / "s.rejects.csv"), 2),
    "fit --out FIFO": (lambda f: ("fit", SUMMARY, "--model", "bgnbd", "--out", f["fifo"]), 2),
    "fit --out directory": (
        lambda f: ("fit", SUMMARY, "--model", "bgnbd", "--out", f["list_run"]),
        2,
    ),
    "--freq ''": (
        lambda f: ("fit", SUMMARY, "--model", "bgnbd", "--freq", "", "--out", f["root"] / "m.json"),
        2,
    ),
    "--date-format %Q": (
        lambda f: (
            "fit",
            f["log.csv"],
            "--model",
            "bgnbd",
            "--date-format",
            "%Q",
            "--out",
            f["root"] / "m.json",
        ),
        2,
    ),
    "--horizon -5": (
        lambda f: (
            "score",
            SUMMARY,
            "--model",
            f["good.json"],
            "--horizon",
            "-5",
            "--out",
            f["root"] / "s.csv",
        ),
        2,
    ),
    "--horizon inf": (
        lambda f: (
            "score",
            SUMMARY,
            "--model",
            f["good.json"],
            "--horizon",
            "inf",
            "--out",
            f["root"] / "s.csv",
        ),
        2,
    ),
    "--horizon 1e12": (
        lambda f: (
            "score",
            SUMMARY,
            "--model",
            f["good.json"],
            "--horizon",
            "1e12",
            "--out",
            f["root"] / "s.csv",
        ),
        2,
    ),
    "--step 1e-9": (lambda f: (*_score(f), "--step", "1e-9", "--out", f["root"] / "s.csv"), 2),
    "--discount-rate 1e9": (
        lambda f: (*_score(f), "--discount-rate", "1e9", "--out", f["root"] / "s.csv"),
        2,
    ),
    "--margin -1": (lambda f: (*_score(f), "--margin", "-1", "--out", f["root"] / "s.csv"), 2),
    "run --horizon -5": (
        lambda f: ("run", f["log.csv"], "--out", f["root"] / "r2", "--horizon", "-5"),
        2,
    ),
    "--observation-end not a date": (
        lambda f: ("run", f["log.csv"], "--out", f["root"] / "r3", "--observation-end", "soon"),
        2,
    ),
    # bad input (3)
    "truncated gzip": (
        lambda f: ("fit", f["trunc.csv.gz"], "--model", "bgnbd", "--out", f["root"] / "m.json"),
        3,
    ),
    "ragged CSV": (
        lambda f: ("fit", f["ragged.csv"], "--model", "bgnbd", "--out", f["root"] / "m.json"),
        3,
    ),
    "report on a list run.json": (lambda f: ("report", f["list_run"]), 3),
    "--observation-end 9999-12-31": (
        lambda f: (
            "run",
            f["future.csv"],
            "--out",
            f["root"] / "r4",
            "--observation-end",
            "9999-12-31",
        ),
        3,
    ),
    # failed fit (4)
    "gamma-gamma without repeat buyers": (
        lambda f: ("fit", f["once.csv"], "--model", "gamma-gamma", "--out", f["root"] / "gg.json"),
        4,
    ),
    "recency 0 for every repeat buyer": (
        lambda f: ("fit", f["rec0.csv"], "--model", "bgnbd", "--out", f["root"] / "m.json"),
        4,
    ),
    "nobody repeats": (
        lambda f: ("fit", f["once.csv"], "--model", "pnbd", "--out", f["root"] / "m.json"),
        4,
    ),
    # bad model file (5)
    "negative parameter": (
        lambda f: (
            *_score(f)[:3],
            f["negative.json"],
            "--horizon",
            "52",
            "--out",
            f["root"] / "s.csv",
        ),
        5,
    ),
    "deeply nested JSON": (
        lambda f: (*_score(f)[:3], f["deep.json"], "--horizon", "52", "--out", f["root"] / "s.csv"),
        5,
    ),
    "pickle": (
        lambda f: (*_score(f)[:3], f["model.pkl"], "--horizon", "52", "--out", f["root"] / "s.csv"),
        5,
    ),
    "model file is a directory": (
        lambda f: (*_score(f)[:3], f["root"], "--horizon", "52", "--out", f["root"] / "s.csv"),
        5,
    ),
    # out of memory (1): the engine's limit, with the option that raises it
    "DuckDB out of memory": (
        lambda f: ("run", f["log.csv"], "--out", f["root"] / "oom", "--memory-limit", "1MB"),
        1,
    ),
    # ok (0)
    "--allow-unconverged keeps the fit": (
        lambda f: (
            "fit",
            f["rec0.csv"],
            "--model",
            "bgnbd",
            "--allow-unconverged",
            "--out",
            f["root"] / "kept.json",
        ),
        0,
    ),
    "score": (lambda f: (*_score(f), "--out", f["root"] / "s.csv"), 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cli_case_has_its_documented_exit_code(files, case) -> None:
    build, expected = CASES[case]
    code, err = _run(*build(files))
    assert code == expected, err
    assert "Traceback" not in err
    if expected != 0:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "np.float64" not in err


#: Every command that summarises a transaction log in DuckDB, with its --memory-limit.
ON_A_LOG = {
    "run": lambda f, limit: ("run", f["log.csv"], "--out", f["root"] / "oom2", *limit),
    "fit": lambda f, limit: (
        "fit", f["log.csv"], "--model", "bgnbd", "--out", f["root"] / "m.json", *limit
    ),
    "score": lambda f, limit: (
        "score", f["log.csv"], "--model", f["good.json"], "--horizon", "52",
        "--out", f["root"] / "s.parquet", *limit,
    ),
    "compare": lambda f, limit: (
        "compare", f["log.csv"], "--out", f["root"] / "comparison.json", *limit
    ),
    # the paths that summarise in pandas (covariates, CSV scores, intervals by parameter
    # draws), and score --intervals by the delta method, which streams
    "fit with covariates": lambda f, limit: (
        "fit", f["log.csv"], "--model", "bgnbd", "--covariates", f["covariates.csv"],
        "--purchase-covariates", "segment", "--out", f["root"] / "c.json", *limit,
    ),
    "score to CSV": lambda f, limit: (
        "score", f["log.csv"], "--model", f["good.json"], "--horizon", "52",
        "--out", f["root"] / "s.csv", *limit,
    ),
    "score with intervals": lambda f, limit: (
        "score", f["log.csv"], "--model", f["good.json"], "--horizon", "52",
        "--intervals", "0.9", "--out", f["root"] / "i.parquet", *limit,
    ),
    "score with parametric intervals": lambda f, limit: (
        "score", f["log.csv"], "--model", f["good.json"], "--horizon", "52",
        "--intervals", "0.9", "--interval-method", "parametric", "--draws", "20",
        "--out", f["root"] / "j.parquet", *limit,
    ),
}  # fmt: skip


@pytest.mark.parametrize("command", list(ON_A_LOG))
def test_duckdb_out_of_memory_says_which_option_gives_it_more(files, command) -> None:
    code, err = _run(*ON_A_LOG[command](files, ("--memory-limit", "1MB")))
    assert code == 1, err
    name = command.split()[0]
    assert f"clvmodel {name}: DuckDB ran out of memory within --memory-limit 1MB" in err
    assert "give it more with --memory-limit" in err
    code, err = _run(*ON_A_LOG[command](files, ("--memory-limit", "64MB")))
    assert code == 0, err  # the option it names does give it more
    code, err = _run(*ON_A_LOG[command](files, ("--memory-limit", "lots")))
    assert code == 3
    assert "The memory limit must be a size such as 512MB or 4GB, or auto. Got 'lots'" in err


def test_run_failing_late_leaves_the_previous_run(files) -> None:
    out = files["root"] / "kept_run"
    code, err = _run("run", files["log.csv"], "--out", out, "--freq", "M")
    assert code == 0, err
    before = {p.name: p.stat().st_mtime_ns for p in out.rglob("*")}
    code, err = _run("run", files["log.csv"], "--out", out, "--horizon", "-5")
    assert code == 2
    assert {p.name: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".kept_run")]


def test_far_future_row_is_rejected_with_a_warning(files) -> None:
    out = files["root"] / "future_run"
    code, err = _run("run", files["future.csv"], "--out", out, "--freq", "M")
    assert code == 0, err
    assert "after today" in err
    run = json.loads((out / "run.json").read_text())
    assert run["ledger"]["by_reason"] == {"after observation end": 1}
    assert run["observation_end"] < "2100"


def test_report_refuses_a_folder_mixing_two_runs(files) -> None:
    a, b = files["root"] / "run_a", files["root"] / "run_b"
    for out in (a, b):
        code, err = _run("run", files["log.csv"], "--out", out, "--freq", "M")
        assert code == 0, err
    (a / "metrics.json").write_bytes((b / "metrics.json").read_bytes())
    code, err = _run("report", a)
    assert code == 3 and "mixes files of different runs" in err


def test_output_through_a_symlink_keeps_the_link(files) -> None:
    link = files["root"] / "link.json"
    real = files["root"] / "real.json"
    real.write_text("{}")
    link.symlink_to(real)
    code, err = _run("fit", SUMMARY, "--model", "bgnbd", "--out", link)
    assert code == 0, err
    assert link.is_symlink() and json.loads(real.read_text())["model"] == "bgnbd"


def test_a_spark_out_of_memory_is_one_line_saying_what_to_raise(monkeypatch, tmp_path) -> None:
    """A JVM heap exhausted on the Spark path (a Py4JJavaError whose text names
    java.lang.OutOfMemoryError) is one line naming --spark-driver-memory, exit 1."""
    from clvmodel.cli import commands

    def boom(*_args: object) -> int:
        raise RuntimeError(
            "An error occurred while calling o78.collect.\n"
            ": java.lang.OutOfMemoryError: Java heap space\n\tat ..."
        )

    monkeypatch.setitem(commands.COMMANDS, "run", boom)
    code, err = _run(
        "run",
        DATA / "cdnow_transactions.csv.gz",
        "--out",
        tmp_path / "r",
        "--engine",
        "spark",
        "--spark-driver-memory",
        "4g",
    )
    assert code == 1
    assert err.count("\n") == 1 and "--spark-driver-memory" in err and "Traceback" not in err


def test_report_rewriting_its_customer_lists_keeps_the_folder_readable(files) -> None:
    # The report rewrites segments.parquet; another version of clvmodel may encode the same
    # rows in a file of another size than run.json recorded. The folder stays one run.
    out = files["root"] / "relisted_run"
    code, err = _run("run", files["log.csv"], "--out", out, "--freq", "M")
    assert code == 0, err
    lists = out / "segments.parquet"
    run = json.loads((out / "run.json").read_text())
    assert run["files"]["segments.parquet"] == lists.stat().st_size
    import pyarrow.parquet as pq

    table = pq.read_table(lists)  # the same rows, with its metadata, in another encoding
    pq.write_table(table, lists, compression="none", use_dictionary=False)
    run["files"]["segments.parquet"] = lists.stat().st_size
    (out / "run.json").write_text(json.dumps(run))
    for _ in range(2):
        code, err = _run("report", out)
        assert code == 0, err
    run = json.loads((out / "run.json").read_text())
    assert run["files"]["segments.parquet"] == lists.stat().st_size
