"""Benchmark: `clvmodel run --engine spark` next to the DuckDB engine, stage by stage.

    python bench/spark.py --customers 10000000 --master 'local[2]' --out bench/SPARK.md

Both runs read the same simulated log (``bench/simlog.py``: BG/NBD + Gamma-Gamma, per-day
rates, 84 acquisition days; Parquet), summarise it in days, fit BG/NBD and Gamma-Gamma,
score every customer and write the run folder without the report (``--no-report``), each in
a fresh process. Wall time and the peak RSS of the process tree come from ``os.wait4`` on
a small wrapper (``RUSAGE_CHILDREN`` covers the Spark JVM, a child of the Python driver);
the stages' seconds come from each run's ``run.json``. The output checks that both runs give
the same parameters (1e-8) and scores (1e-10).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
PY = sys.executable
CLI = str(Path(PY).with_name("clvmodel"))

#: Runs a command and prints the peak RSS (MiB) of it and all its descendants (the JVM).
TREE_RSS = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0)
sys.exit(code)
"""


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and the largest peak RSS (MiB) among the processes of ``cmd``."""
    start = time.perf_counter()
    done = subprocess.run([PY, "-c", TREE_RSS, *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return wall, float(done.stdout.strip().splitlines()[-1])


def log_for(n: int) -> Path:
    path = WORK / f"log_{n}.parquet"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run([PY, str(HERE / "simlog.py"), str(n), str(path)], check=True)
    return path


def compare(spark_dir: Path, local_dir: Path) -> dict[str, float]:
    """Largest relative differences of the parameters and the scores."""
    import numpy as np
    import pyarrow.parquet as pq

    params = 0.0
    for key in ("bgnbd", "gamma-gamma"):
        a = json.loads((spark_dir / "models" / f"{key}.json").read_text())["params"]
        b = json.loads((local_dir / "models" / f"{key}.json").read_text())["params"]
        params = max(params, *(abs(a[k] / b[k] - 1) for k in b))
    scores = 0.0
    for c in ("p_alive", "expected_purchases", "expected_spend", "clv"):  # one at a time
        u = pq.read_table(spark_dir / "scores.parquet", columns=[c]).column(c).to_numpy()
        v = pq.read_table(local_dir / "scores.parquet", columns=[c]).column(c).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(v != 0, np.abs(u / v - 1), np.abs(u))
        scores = max(scores, float(rel.max()))
    return {"params_max_rel": params, "scores_max_rel": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--out", type=Path, default=HERE / "SPARK.md")
    args = parser.parse_args()
    log = log_for(args.customers)
    common = [str(log), "--freq", "D", "--no-report"]
    rows = {}
    for engine in ("duckdb", "spark"):
        out = WORK / f"run_{engine}_{args.customers}"
        cmd = [CLI, "run", *common, "--out", str(out), "--engine", engine]
        if engine == "spark":
            cmd += ["--spark-master", args.master]
        wall, rss = measure(cmd)
        run = json.loads((out / "run.json").read_text())
        rows[engine] = {"wall": wall, "rss": rss, "stages": run["stages"], "dir": out}
        print(f"{engine}: {wall:.1f} s, peak RSS {rss:.0f} MiB", file=sys.stderr)
    check = compare(rows["spark"]["dir"], rows["duckdb"]["dir"])
    names = [s["name"] for s in rows["duckdb"]["stages"]]
    lines = [
        f"# Spark engine next to DuckDB: {args.customers:,} customers",
        "",
        f"Command: `python bench/spark.py --customers {args.customers} --master "
        f"'{args.master}'`; machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        "",
        "| stage | duckdb (s) | spark (s) |",
        "|---|---:|---:|",
    ]
    spark_stages = {s["name"]: s["seconds"] for s in rows["spark"]["stages"]}
    for name, stage in zip(names, rows["duckdb"]["stages"], strict=True):
        lines.append(f"| {name} | {stage['seconds']:.1f} | {spark_stages.get(name, 0):.1f} |")
    lines += [
        f"| **wall (process)** | {rows['duckdb']['wall']:.1f} | {rows['spark']['wall']:.1f} |",
        f"| peak RSS, process tree (MiB) | {rows['duckdb']['rss']:.0f} | "
        f"{rows['spark']['rss']:.0f} |",
        "",
        f"Same results: parameters within {check['params_max_rel']:.1e} relative, scores "
        f"within {check['scores_max_rel']:.1e}.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
