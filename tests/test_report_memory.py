"""The report asks for the memory it needs before reading a customer (issue 7): a report this
machine cannot finish is refused with what it needs, and a run keeps its scores without it."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
from report_fixtures import simulated_transactions
from test_report_scale import synthetic_run

from clvmodel.cli import ExitStatus, main
from clvmodel.exceptions import InsufficientMemoryError
from clvmodel.report import memory
from clvmodel.report import run as report_run
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
    assert report_memory_mib(100_000_000) == pytest.approx(21_464.0, rel=0.002)  # measured


def test_available_memory_is_the_smallest_headroom_without_dropable_cache(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:    8388608 kB\n")
    group = tmp_path / "sys" / "a" / "b"  # a v2 group under a parent group
    group.mkdir(parents=True)
    assert available_memory_mib(meminfo, group) == 8192.0  # no cgroup files
    (group / "memory.max").write_text("max\n")
    (group / "memory.current").write_text("1073741824\n")
    assert available_memory_mib(meminfo, group) == 8192.0  # no limit
    (group / "memory.max").write_text("4294967296\n")
    assert available_memory_mib(meminfo, group) == 3072.0  # 4 GiB limit, 1 GiB used
    (group / "memory.stat").write_text("anon 1\ninactive_file 536870912\nactive_file 9\n")
    assert available_memory_mib(meminfo, group) == 3584.0  # half the use is dropable cache
    (group.parent / "memory.max").write_text("2147483648\n")  # a tighter parent
    (group.parent / "memory.current").write_text("1073741824\n")
    assert available_memory_mib(meminfo, group) == 1024.0
    (group / "memory.current").write_text("9663676416\n")
    assert available_memory_mib(meminfo, group) == 0.0  # over its limit already
    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "unlimited"
    (v1 / "memory.usage_in_bytes").write_text("7321812992\n")
    assert available_memory_mib(meminfo, None, v1) == 8192.0
    (v1 / "memory.limit_in_bytes").write_text("3221225472\n")
    (v1 / "memory.stat").write_text("cache 1\ntotal_inactive_file 6248071168\n")
    assert available_memory_mib(meminfo, None, v1) == 2048.0  # 3 GiB less 1 GiB in use
    assert available_memory_mib(tmp_path / "none", tmp_path / "none") is None


def test_a_report_that_does_not_fit_is_refused_with_what_it_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need = report_memory_mib(100_000_000)
    monkeypatch.setattr(memory, "own_rss_mib", lambda: 0.0)
    with pytest.raises(InsufficientMemoryError) as info:
        check_report_memory(100_000_000, available_mib=need * memory.MARGIN - 1.0)
    text = str(info.value)
    assert "100,000,000 customers" in text and f"{math.ceil(need / 102.4) / 10} GiB" in text
    assert "`clvmodel report RUN_DIR`" in text
    check_report_memory(100_000_000, available_mib=need * memory.MARGIN)  # just enough
    check_report_memory(10**12, available_mib=float("nan"))  # unknown: not checked
    check_report_memory(None, available_mib=0.0)  # no count: not checked
    # What this process holds already is part of the base, not needed twice.
    monkeypatch.setattr(memory, "own_rss_mib", lambda: 200.0)
    check_report_memory(100_000_000, available_mib=need * memory.MARGIN - 150.0)
    with pytest.raises(InsufficientMemoryError):
        check_report_memory(100_000_000, available_mib=need * memory.MARGIN - 250.0)


def test_cli_report_without_the_memory_exits_1_before_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = synthetic_run(tmp_path / "run", 500)
    monkeypatch.setattr(memory, "available_memory_mib", lambda: 100.0)
    monkeypatch.setattr(memory, "own_rss_mib", lambda: 0.0)

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("read a table before the memory check")

    monkeypatch.setattr(report_run, "read_table", no_reading)
    code, err = cli("report", run_dir)
    assert code == ExitStatus.ERROR
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "needs about 0.4 GiB of memory and this machine has 0.0 GiB available" in err
    assert not (run_dir / "report.pdf").exists() and not (run_dir / "figures").exists()


def test_a_run_without_the_memory_keeps_its_scores_and_says_why_there_is_no_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "log.csv"
    simulated_transactions(300).to_csv(log, index=False)
    out = tmp_path / "run"
    monkeypatch.setattr(memory, "available_memory_mib", lambda: 100.0)
    monkeypatch.setattr(memory, "own_rss_mib", lambda: 0.0)
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
    assert json.loads((out / "run.json").read_text())["report"] == {"written": True}
    assert run["memory_limit"] == "256MB"  # "auto", resolved


def test_a_run_with_its_report_says_so(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    simulated_transactions(300).to_csv(log, index=False)
    code, err = cli("run", log, "--out", tmp_path / "run")
    assert code == ExitStatus.OK, err
    assert json.loads((tmp_path / "run" / "run.json").read_text())["report"] == {"written": True}
