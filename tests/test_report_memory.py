"""The report asks for the memory it needs before reading a customer (issue 7): a report this
machine cannot finish is refused with what it needs, and a run keeps its scores without it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from report_fixtures import simulated_transactions
from test_report_scale import synthetic_run

from clvmodel.cli import ExitStatus, main
from clvmodel.exceptions import InsufficientMemoryError
from clvmodel.report import memory
from clvmodel.report.memory import available_memory_mib, check_report_memory, report_memory_mib


def cli(*argv: object) -> tuple[int, str]:
    err = io.StringIO()
    code = main([str(a) for a in argv], stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


def test_the_estimate_is_the_line_through_the_two_measured_reports() -> None:
    # Summed PSS of `clvmodel report` and its children (bench/RESULTS.md, 2026-12-02).
    assert report_memory_mib(1_000_000) == pytest.approx(555.0, abs=1.0)
    assert report_memory_mib(10_000_000) == pytest.approx(2454.0, abs=1.0)
    assert report_memory_mib(0) == memory.BASE_MIB


def test_available_memory_is_the_smaller_of_the_machine_and_the_cgroup(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:    8388608 kB\n")
    group = tmp_path / "cgroup"
    group.mkdir()
    assert available_memory_mib(meminfo, group) == 8192.0  # no cgroup files
    (group / "memory.max").write_text("max\n")
    (group / "memory.current").write_text("1073741824\n")
    assert available_memory_mib(meminfo, group) == 8192.0  # no limit
    (group / "memory.max").write_text("4294967296\n")
    assert available_memory_mib(meminfo, group) == 3072.0  # 4 GiB limit, 1 GiB used
    (group / "memory.current").write_text("5368709120\n")
    assert available_memory_mib(meminfo, group) == 0.0  # over its limit already
    assert available_memory_mib(tmp_path / "none", tmp_path / "none") is None


def test_a_report_that_does_not_fit_is_refused_with_what_it_needs() -> None:
    need = report_memory_mib(100_000_000)
    with pytest.raises(InsufficientMemoryError) as info:
        check_report_memory(100_000_000, available_mib=need - 1.0)
    text = str(info.value)
    assert "100,000,000 customers" in text and f"{need / 1024:.1f} GiB" in text
    assert "`clvmodel report RUN_DIR`" in text
    check_report_memory(100_000_000, available_mib=need)  # just enough
    check_report_memory(10**12, available_mib=float("nan"))  # unknown: not checked


def test_cli_report_without_the_memory_exits_1_before_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = synthetic_run(tmp_path / "run", 500)
    monkeypatch.setattr(memory, "available_memory_mib", lambda: 100.0)
    code, err = cli("report", run_dir)
    assert code == ExitStatus.ERROR
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "needs about 0.3 GiB of memory and this machine has 0.1 GiB available" in err
    assert not (run_dir / "report.pdf").exists() and not (run_dir / "figures").exists()


def test_a_run_without_the_memory_keeps_its_scores_and_says_why_there_is_no_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "log.csv"
    simulated_transactions(300).to_csv(log, index=False)
    out = tmp_path / "run"
    monkeypatch.setattr(memory, "available_memory_mib", lambda: 100.0)
    code, err = cli("run", log, "--out", out)
    assert code == ExitStatus.OK, err
    assert "warning (ReportWarning): no report written: the report of 300 customers" in err
    assert (out / "scores.parquet").exists() and not (out / "report.pdf").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["report"]["written"] is False
    assert "needs about" in run["report"]["reason"]
    assert run["n_scored"] == 300

    monkeypatch.setattr(memory, "available_memory_mib", lambda: 1e6)  # a bigger machine
    code, err = cli("report", out)
    assert code == ExitStatus.OK, err
    assert (out / "report.pdf").exists()
