"""The installed command stopped by SIGTERM: one line, exit status 143, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SIMULATED_TRUTH

from clvmodel.simulate import bgnbd_transactions

SCRIPT = "from clvmodel.cli import entry_point; entry_point()"


@pytest.fixture(scope="module")
def big_log(tmp_path_factory) -> Path:
    """A log whose run with the report takes seconds after its summary stage."""
    tx = bgnbd_transactions(
        100_000,
        **SIMULATED_TRUTH,
        acquisition_days=84,
        unit="D",
        seed=3,
    )
    path = tmp_path_factory.mktemp("log") / "tx.parquet"
    tx.to_parquet(path, index=False)
    return path


STOPPED = "terminated; the files in progress were removed, earlier outputs left as they were"


@pytest.mark.parametrize("when", ["in the summary's queries", "after the summary"])
def test_sigterm_unwinds_the_run(big_log: Path, tmp_path: Path, when: str) -> None:
    scratch = tmp_path / "tmp"  # the engine's spill folder goes under TMPDIR
    scratch.mkdir()
    out = tmp_path / "runs" / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "run", str(big_log), "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert proc.stderr is not None
    if when == "after the summary":
        first = proc.stderr.readline()  # the summary stage's line: the run is under way
        assert first.startswith("clvmodel run: summary: "), first
    else:  # the engine's folder exists once DuckDB is open, before its first query
        deadline = time.monotonic() + 60
        while not list(scratch.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM, rest
    assert "Traceback" not in rest
    assert rest.splitlines()[-1] == f"clvmodel run: {STOPPED}"
    assert list(scratch.iterdir()) == []  # DuckDB's spill folder removed
    assert list(out.parent.iterdir()) == []  # no run folder, no staged one
