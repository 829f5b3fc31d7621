"""Benchmark: `clvmodel run --engine spark` next to the DuckDB engine, stage by stage.

    python bench/spark.py --customers 10000000 --master 'local[2]' --out bench/SPARK.md

Both runs read the same simulated log (``bench/simlog.py``: BG/NBD + Gamma-Gamma, per-day
rates, 84 acquisition days; Parquet), summarise it in days, fit BG/NBD and Gamma-Gamma,
score every customer and write the run folder without the report (``--no-report``), each in
a fresh process. The peak RSS and the CPU seconds are those of the process tree (the
Python driver and the Spark JVM it starts), sampled from ``/proc`` (``RUSAGE_CHILDREN``
would give the largest single process, and misses a JVM nobody waits for), with the JVM's
own peak RSS and CPU beside them; the stages' seconds come from each run's ``run.json``.
The output checks that both runs give the same parameters (1e-8) and scores (1e-10, rows
matched by customer id), and ends with the paragraphs on where the time goes and how it
scales, with N for the figures to fill in.

Each finished run's figures are kept in ``_work/measure_<engine>_<customers>.json`` next to
its folder, and a later call with the same command reuses them (``--fresh`` runs again):
a Spark run that fails or times out (``--timeout``, default 30 min; the whole process
group, JVM included, is killed) does not cost the DuckDB run again. The figures of both
runs also go to ``SPARK.json`` beside ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
PY = sys.executable
CLI = str(Path(PY).with_name("clvmodel"))

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


def _tree(root: int, cpu: dict[int, float], java: set[int] | None = None) -> tuple[int, int]:
    """Resident bytes of ``root`` and all its descendants now, and of the JVMs among them,
    from ``/proc``; records each one's CPU seconds so far in ``cpu`` (by pid) and the pids
    of the JVMs in ``java``."""
    stats: dict[int, list[bytes]] = {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(b")") + 2 :].split()  # from field 3 (state) on
            fields.append(stat[stat.index(b"(") + 1 : stat.rindex(b")")])  # the command name
            stats[int(entry)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, jvm, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        if pid in stats:
            rss = int(stats[pid][21]) * _PAGE  # rss (field 24), in pages
            total += rss
            cpu[pid] = (int(stats[pid][11]) + int(stats[pid][12])) / _TICK  # utime + stime
            if stats[pid][-1] == b"java" and java is not None:
                java.add(pid)
                jvm += rss
    return total, jvm


def measure(cmd: list[str], every: float = 0.5, timeout: float | None = None) -> dict[str, float]:
    """Run ``cmd``; its wall seconds, the peak RSS (MiB) of its process tree (the Python
    driver and the Spark JVM together, sampled from ``/proc`` every ``every`` seconds; the
    sum over the processes, so pages they share count twice), the tree's CPU seconds (the
    sum of each process's last sample: up to ``every`` seconds short per process), and
    the JVM's peak RSS and CPU seconds. After ``timeout`` seconds the process group (the
    JVM too) is killed and ``TimeoutError`` raised."""
    cpu: dict[int, float] = {}
    java: set[int] = set()
    start = time.perf_counter()
    with open(WORK / "stderr.txt", "w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        peak = peak_jvm = 0
        try:
            while proc.poll() is None:
                total, jvm = _tree(proc.pid, cpu, java)
                peak, peak_jvm = max(peak, total), max(peak_jvm, jvm)
                if timeout is not None and time.perf_counter() - start > timeout:
                    raise TimeoutError(f"{' '.join(cmd)} still running after {timeout:.0f} s")
                time.sleep(every)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        wall = time.perf_counter() - start
        err.seek(0)
        text = err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{text[-3000:]}")
    return {
        "wall": wall,
        "rss": peak / 2**20,
        "cpu": sum(cpu.values()),
        "jvm_rss": peak_jvm / 2**20,
        "jvm_cpu": sum(c for pid, c in cpu.items() if pid in java),
    }


def log_for(n: int) -> Path:
    path = WORK / f"log_{n}.parquet"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run([PY, str(HERE / "simlog.py"), str(n), str(path)], check=True)
    return path


def compare(spark_dir: Path, local_dir: Path) -> dict[str, float]:
    """Largest relative differences of the parameters and of the scores (rows matched by
    customer id: neither engine orders its scores)."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    params = 0.0
    for key in ("bgnbd", "gamma-gamma"):
        a = json.loads((spark_dir / "models" / f"{key}.json").read_text())["params"]
        b = json.loads((local_dir / "models" / f"{key}.json").read_text())["params"]
        params = max(params, *(abs(a[k] / b[k] - 1) for k in b))
    orders = []
    for folder in (spark_dir, local_dir):
        ids = pq.read_table(folder / "scores.parquet", columns=["customer_id"])["customer_id"]
        order = pc.sort_indices(ids)
        orders.append((order, ids.take(order)))
    if not orders[0][1].equals(orders[1][1]):
        raise AssertionError("The two runs scored different customers.")
    scores = 0.0
    for c in ("p_alive", "expected_purchases", "expected_spend", "clv"):  # one at a time
        u, v = (
            pq.read_table(folder / "scores.parquet", columns=[c])[c].take(order).to_numpy()
            for folder, (order, _) in zip((spark_dir, local_dir), orders, strict=True)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(v != 0, np.abs(u / v - 1), np.abs(u))
        scores = max(scores, float(rel.max()))
    return {"params_max_rel": params, "scores_max_rel": scores}


#: Filled in by hand after a run (the integrator's idle 10M run): where the time goes.
PARAGRAPHS = """\
**Where the time goes.** (fill in from the table) Starting the JVM and the session costs
~N s of the first stage. The summary is four passes: one over the input (classify every
row and group it by reason, customer and day: the purchase occasions, exact amounts as four
64-bit limbs, persisted; the day counts for the bounds and the ledger come from it), one
over the occasions (per-customer aggregates, persisted), one over the customers (the
summary, persisted on first read) and the tracking counts; N s against DuckDB's N s.
Each fit collapses the summary to distinct rows in Spark (N s) and fits on the driver (the
local engine's fit). `score` first builds the summary (each customer's amount back to
DECIMAL(38, 18), then a double) and brings it to the driver as Arrow for one Parquet file
(N s), then runs the local engine's scorer in `mapInArrow` on the executors, which write
`scores.parquet/` as part files in parallel (N s); `clv metrics` reads the CLV column back
on the driver. Of the JVM's N CPU s, about N go to compiling Spark's generated code (the
C2 JIT threads), a cost per query, not per row.

**How it scales with executors.** Classifying, grouping by customer and day, per-customer
aggregation, collapsing to distinct rows and scoring are partitioned work: local[1] -> local[2]
took the summary from N s to N s (x N) and the run from N s to N s; with E executors of C
cores they take about 1/(E C) of the local[2] times above times 2 (plus shuffle traffic
over the network: the input pass shuffles N MB here), and their persisted tables spill to
executor disk rather than failing. What does not scale: the session start, the per-job
scheduling latency (~0.1-0.5 s per job, ~40 jobs), the code generation and JIT per query,
the driver-side fit (beyond `DRIVER_ROWS_LIMIT` = 5M distinct rows the likelihood is
summed across partitions instead, one job per evaluation), and the driver-side summary file
and CLV metrics (memory: N bytes per customer on the driver).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--driver-memory",
        default="8g",
        help="--spark-driver-memory of the Spark run (local: the executors share it)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "SPARK.md")
    parser.add_argument("--log", type=Path, help="an existing log (default: _work/log_N)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--fresh", action="store_true", help="run again what is recorded")
    args = parser.parse_args()
    log = args.log or log_for(args.customers)
    common = [str(log), "--freq", "D", "--no-report"]
    rows = {}
    load = os.getloadavg()[0]
    for engine in ("duckdb", "spark"):
        out = WORK / f"run_{engine}_{args.customers}"
        cmd = [CLI, "run", *common, "--out", str(out), "--engine", engine]
        if engine == "spark":
            cmd += ["--spark-master", args.master, "--spark-driver-memory", args.driver_memory]
        record = WORK / f"measure_{engine}_{args.customers}.json"
        kept = json.loads(record.read_text()) if record.exists() else None
        if kept is not None and kept["cmd"] == cmd and not args.fresh:
            row = kept
            print(f"{engine}: recorded in {record.name}", file=sys.stderr)
        else:
            row = {"cmd": cmd, **measure(cmd, timeout=args.timeout), "load": os.getloadavg()[0]}
            row["stages"] = json.loads((out / "run.json").read_text())["stages"]
            record.write_text(json.dumps(row, indent=1))
        rows[engine] = {**row, "dir": out}
        print(
            f"{engine}: {row['wall']:.1f} s, {row['cpu']:.1f} CPU s (JVM {row['jvm_cpu']:.1f}), "
            f"peak RSS {row['rss']:.0f} MiB (JVM {row['jvm_rss']:.0f})",
            file=sys.stderr,
        )
    load = max(load, os.getloadavg()[0], *(r.get("load", 0.0) for r in rows.values()))
    check = compare(rows["spark"]["dir"], rows["duckdb"]["dir"])
    names = [s["name"] for s in rows["duckdb"]["stages"]]
    lines = [
        f"# Spark engine next to DuckDB: {args.customers:,} customers",
        "",
        f"Command: `python bench/spark.py --customers {args.customers} --master "
        f"'{args.master}' --driver-memory {args.driver_memory}`; machine: "
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average {load:.1f} (1 min, before/after "
        "the runs: above ~1 the machine was shared and the times are inflated).",
        "",
        "| stage | duckdb (s) | spark (s) |",
        "|---|---:|---:|",
    ]
    spark_stages = {s["name"]: s["seconds"] for s in rows["spark"]["stages"]}
    for name, stage in zip(names, rows["duckdb"]["stages"], strict=True):
        lines.append(f"| {name} | {stage['seconds']:.1f} | {spark_stages.get(name, 0):.1f} |")
    d, s = rows["duckdb"], rows["spark"]
    lines += [
        f"| **wall (process)** | {d['wall']:.1f} | {s['wall']:.1f} |",
        f"| CPU seconds, process tree | {d['cpu']:.1f} | {s['cpu']:.1f} |",
        f"| CPU seconds, of which the JVM | - | {s['jvm_cpu']:.1f} |",
        f"| peak RSS, process tree incl. the JVM (MiB) | {d['rss']:.0f} | {s['rss']:.0f} |",
        f"| peak RSS, the JVM (MiB) | - | {s['jvm_rss']:.0f} |",
        "",
        f"Same results: parameters within {check['params_max_rel']:.1e} relative, scores "
        f"within {check['scores_max_rel']:.1e} (rows matched by customer id).",
        "",
        "Peak RSS: the sum of the resident memory of the `clvmodel` process and all its "
        "descendants (the Spark JVM), sampled from /proc every 0.5 s; CPU: the tree's user + "
        "system seconds.",
        "",
        PARAGRAPHS,
    ]
    args.out.write_text("\n".join(lines))
    figures = {k: {n: v for n, v in r.items() if n != "dir"} for k, r in rows.items()}
    figures["check"] = check
    args.out.with_suffix(".json").write_text(json.dumps(figures, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
