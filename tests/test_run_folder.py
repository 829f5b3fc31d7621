"""Issue #8, defect 4: a SIGKILL at any point of `clvmodel run` leaves the folder either as
it was or complete and consistent (one run id in every file)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clvmodel.rundir import check_run_folder
from clvmodel.special import count_index


def _log(path: Path) -> Path:
    rng = np.random.default_rng(3)
    rows = ["customer_id,date,amount"]
    for c in range(300):
        for d in sorted(rng.choice(700, size=1 + c % 6, replace=False)):
            day = np.datetime64("2020-01-01") + int(d)
            rows.append(f"c{c},{day},{rng.uniform(5, 50):.2f}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _start(log: Path, out: Path) -> subprocess.Popen[bytes]:
    code = "from clvmodel.cli import main; import sys; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "run", str(log), "--out", str(out), "--freq", "W"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _state(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


@pytest.mark.slow  # six runs with their PDF report: minutes on a loaded 2-core machine
def test_sigkill_at_several_points_leaves_the_old_run_or_a_complete_one(tmp_path) -> None:
    log = _log(tmp_path / "log.csv")
    out = tmp_path / "run"
    started = time.perf_counter()
    first = _start(log, out)
    assert first.wait(timeout=600) == 0
    duration = time.perf_counter() - started
    before = _state(out)
    old_id = json.loads(before["run.json"])["run_id"]
    for frac in (0.15, 0.4, 0.65, 0.9):
        proc = _start(log, out)
        time.sleep(frac * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        run = check_run_folder(out)  # complete and consistent, whichever run it holds
        if run["run_id"] == old_id:
            assert _state(out) == before
        else:
            assert (out / "report.pdf").is_file() and (out / "scores.parquet").is_file()
            before, old_id = _state(out), run["run_id"]
    # a later run removes what killed runs left beside the folder
    assert _start(log, out).wait(timeout=600) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.")]
    assert os.listdir(out)


# -- defect 8: work bounded by the data, not by the largest value -----------------------


@pytest.mark.parametrize("top", [10**8, 10**18])
def test_count_index_does_not_scale_with_the_largest_count(top) -> None:
    x = np.array([0, 3, top, 3, top], dtype=np.int64)
    index, grid = count_index(x)
    assert len(grid) <= 4 and grid[0] == 0
    np.testing.assert_array_equal(grid[index], x.astype(float))


def test_likelihood_and_predictions_at_frequency_1e8_are_fast_and_finite() -> None:
    from clvmodel.likelihoods import bgnbd_loglik
    from clvmodel.models import bgnbd

    params = np.array([0.243, 4.414, 0.793, 2.426])
    x, tx, T = np.array([1e8, 2.0]), np.array([50.0, 10.0]), np.array([60.0, 60.0])
    started = time.perf_counter()
    assert np.all(np.isfinite(bgnbd_loglik(params, x, tx, T)))
    assert np.all(np.isfinite(bgnbd.expected_purchases(params, 52.0, x, tx, T)))
    assert time.perf_counter() - started < 5.0
