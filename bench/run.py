"""Benchmarks of issue #7: the whole run against lifetimes, the 10M-customer run, memory
growth, and the fits. Figures go to bench/RESULTS.md (and RESULTS.json) with the command.

    python bench/run.py                   # items 1, 2 and 4 (what `make bench` runs)
    python bench/run.py --items 1 4       # some of them
    python bench/run.py --large           # item 3: memory growth up to 100M customers
                                          # (resumes: sizes measured before are kept)

Every measured task is a fresh process; wall time and that process's peak resident memory
come from ``os.wait4``. Logs are simulated by bench/simlog.py (BG/NBD + Gamma-Gamma, per-day
r=0.3, alpha=30, a=0.8, b=2.5, p=6, q=4, gamma=15, 84 acquisition days; ~3.2 transactions
per customer) and cached as Parquet under bench/_work/ (git-ignored).

1. ``clvmodel run LOG --no-report`` (weekly unit, 52-week CLV at 10 %/yr, Parquet scores) vs
   the same job composed from lifetimes (summary_data_from_transaction_data -> BetaGeoFitter
   -> GammaGammaFitter -> P(alive), expected purchases, expected spend, 52 weekly discounted
   steps of CLV -> one Parquet scores file), 1M customers. Predictions are compared with
   lifetimes' formulas evaluated at clvmodel's estimates (max relative difference).
2. ``clvmodel run`` on 10M customers (~32M transactions): wall and peak RSS, without and
   with the report (the default run: charts, PDF and customer lists).
3. ``--large``: the same run at growing sizes (peak RSS growth; 300M transactions = 100M
   customers at the largest).
4. Fits alone (timed inside the process, after reading the summary): Pareto/NBD on 100k
   customers vs lifetimes' ParetoNBDFitter, BG/NBD on 1M vs BetaGeoFitter; log-likelihoods
   of both estimates by clvmodel's likelihood.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
PY = sys.executable
CLI = str(Path(PY).with_name("clvmodel"))
GiB = 1024.0

LIFETIMES_JOB = """
import sys, json, numpy as np, pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
tx = pd.read_parquet(sys.argv[1])
s = summary_data_from_transaction_data(tx, "customer_id", "date", monetary_value_col="amount",
                                       freq="D", freq_multiplier=7)   # weeks of 7 days
del tx
bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
rep = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
f, r, T, m = s["frequency"], s["recency"], s["T"], s["monetary_value"]
out = pd.DataFrame(index=s.index)
out["p_alive"] = bg.conditional_probability_alive(f, r, T)
out["expected_purchases"] = bg.conditional_expected_number_of_purchases_up_to_time(52, f, r, T)
out["expected_spend"] = gg.conditional_expected_average_profit(f, m)
d = 1.1 ** (7 / 365.25) - 1                                           # 10 %/yr per week
clv, prev = 0.0, 0.0
for k in range(1, 53):
    cum = bg.conditional_expected_number_of_purchases_up_to_time(k, f, r, T)
    clv = clv + (cum - prev) / (1 + d) ** k
    prev = cum
out["clv"] = out["expected_spend"] * clv
out.to_parquet(sys.argv[2])
json.dump({"bgnbd": bg.params_.to_dict(), "gg": gg.params_.to_dict()}, open(sys.argv[3], "w"))
"""

FIT_CLVMODEL = """
import sys, json, time, pandas as pd
from clvmodel.models import get_model_class
s = pd.read_parquet(sys.argv[2], columns=["frequency", "recency", "T"])
s.attrs["time_unit"] = "W"
start = time.perf_counter()
m = get_model_class(sys.argv[1])().fit(s)
seconds = time.perf_counter() - start
json.dump({"seconds": seconds, "params": m.params_.tolist()}, open(sys.argv[3], "w"))
"""

FIT_LIFETIMES = """
import sys, json, time, pandas as pd
import lifetimes
s = pd.read_parquet(sys.argv[2], columns=["frequency", "recency", "T"])
cls = {"pnbd": lifetimes.ParetoNBDFitter, "bgnbd": lifetimes.BetaGeoFitter}[sys.argv[1]]
start = time.perf_counter()
m = cls().fit(s["frequency"], s["recency"], s["T"])
seconds = time.perf_counter() - start
json.dump({"seconds": seconds, "params": m.params_.tolist()}, open(sys.argv[3], "w"))
"""

SUMMARY = """
import sys
from clvmodel.data import rfm_summary
rfm_summary(sys.argv[1], freq="W").to_parquet(sys.argv[2])
"""


CPU: dict[str, float] = {}  # CPU seconds (user + system) of the last measured command


def measure(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in MiB) of that process alone; its CPU
    seconds (user + system, less sensitive to other load than wall time) go to ``CPU``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed:\n{err[-3000:]}")
    CPU["last"] = usage.ru_utime + usage.ru_stime
    return wall, usage.ru_maxrss / 1024.0


def py(code: str, *args: object) -> list[str]:
    return [PY, "-c", code, *map(str, args)]


SIMULATED: dict[int, float] = {}  # wall seconds of the logs simulated by this run


def log_of(n: int) -> Path:
    """The cached simulated log of ``n`` customers (simulated in a child process, so that
    the harness stays small: a child's peak RSS starts from its parent's at fork)."""
    path = WORK / str(n) / "transactions.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"simulating {n:,} customers -> {path}", flush=True)
        start = time.perf_counter()
        subprocess.run([PY, str(HERE / "simlog.py"), str(n), str(path)], check=True)
        SIMULATED[n] = time.perf_counter() - start
        print(f"simulated {n:,} customers in {SIMULATED[n]:.0f} s", flush=True)
    return path


def large_run(n: int, fresh: bool) -> dict:
    """Item 3 at ``n`` customers, kept in ``_work/N/large.json``: an interrupted ``--large``
    resumes at the first size without a result (``--fresh`` measures every size again)."""
    saved = WORK / str(n) / "large.json"
    if saved.exists() and not fresh:
        row = json.loads(saved.read_text())
        if row.get("log_mtime") == log_of(n).stat().st_mtime:
            print(f"{n:,} customers: kept the result in {saved}", flush=True)
            return row
    row = clvmodel_run(n, "large")
    row["log_mtime"] = log_of(n).stat().st_mtime
    if n in SIMULATED:
        row["simulate_s"] = SIMULATED[n]
    saved.write_text(json.dumps(row, indent=2) + "\n")
    return row


def summary_of(n: int) -> Path:
    path = WORK / str(n) / "summary_W.parquet"
    if not path.exists():
        subprocess.run(py(SUMMARY, log_of(n), path), check=True)
    return path


def transactions_in(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def clvmodel_run(n: int, tag: str, *, report: bool = False) -> dict:
    tx = log_of(n)
    out = WORK / str(n) / f"run-{tag}"
    wall, rss = measure(
        [CLI, "run", str(tx), "--out", str(out), *([] if report else ["--no-report"])]
    )
    run = json.loads((out / "run.json").read_text())
    return {
        "customers": n,
        "transactions": transactions_in(tx),
        "scored": run["n_scored"],
        "clvmodel_s": wall,
        "clvmodel_cpu_s": CPU["last"],
        "clvmodel_mib": rss,
        "stages": {s["name"]: s["seconds"] for s in run["stages"]},
        "run_dir": str(out),
    }


def item1(n: int = 1_000_000) -> dict:
    row = clvmodel_run(n, "item1")
    d = WORK / str(n)
    theirs, params = d / "lt_scores.parquet", d / "lt_params.json"
    wall, rss = measure(py(LIFETIMES_JOB, log_of(n), theirs, params))
    row.update(lifetimes_s=wall, lifetimes_cpu_s=CPU["last"], lifetimes_mib=rss)
    row.update(in_child("agree", Path(row["run_dir"]), theirs, params))
    row["speedup"] = row["lifetimes_s"] / row["clvmodel_s"]
    row["memory_ratio"] = row["lifetimes_mib"] / row["clvmodel_mib"]
    return row


def item4(model: str, n: int) -> dict:
    summary = summary_of(n)
    d = WORK / str(n)
    ours, theirs = d / f"fit-{model}.json", d / f"lt-fit-{model}.json"
    measure(py(FIT_CLVMODEL, model, summary, ours))
    measure(py(FIT_LIFETIMES, model, summary, theirs))
    o, t = json.loads(ours.read_text()), json.loads(theirs.read_text())
    row = {"model": model, "customers": n, "clvmodel_s": o["seconds"], "lifetimes_s": t["seconds"]}
    row["speedup"] = t["seconds"] / o["seconds"]
    row.update(in_child("ll", summary, ours, theirs, Path(model)))
    return row


def in_child(check: str, *args: Path) -> dict:
    """Run one of the ``_check`` functions in a child process and return its result."""
    out = subprocess.run(
        [PY, __file__, "--check", check, *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _agree(run_dir: Path, theirs: Path, params: Path) -> dict:
    """Max relative difference of clvmodel's scores and lifetimes' formulas evaluated at
    clvmodel's estimates, on lifetimes' own summary; and of the two sides' estimates."""
    import numpy as np
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    ours = pd.read_parquet(run_dir / "scores.parquet").set_index("customer_id")
    lt = pd.read_parquet(theirs)
    lt.index = lt.index.astype(str)
    bg_o = json.loads((run_dir / "models" / "bgnbd.json").read_text())["params"]
    gg_o = json.loads((run_dir / "models" / "gamma-gamma.json").read_text())["params"]
    lt_params = json.loads(params.read_text())
    bg = BetaGeoFitter()
    bg.params_ = pd.Series(bg_o)
    gg = GammaGammaFitter()
    gg.params_ = pd.Series({"p": gg_o["p"], "q": gg_o["q"], "v": gg_o["gamma"]})
    ours = ours.loc[lt.index]
    summary = pd.read_parquet(run_dir / "summary.parquet").set_index("customer_id")
    ours["monetary_value"] = summary.loc[lt.index, "monetary_value"]
    f, r, T = ours["frequency"], ours["recency"], ours["T"]
    ref = {
        "p_alive": bg.conditional_probability_alive(f, r, T),
        "expected_purchases": bg.conditional_expected_number_of_purchases_up_to_time(52, f, r, T),
        "expected_spend": gg.conditional_expected_average_profit(f, ours["monetary_value"])
        if "monetary_value" in ours
        else None,
    }
    if ref["expected_spend"] is not None:  # the 52 weekly discounted steps of the job
        d = 1.1 ** (7 / 365.25) - 1
        clv, prev = 0.0, 0.0
        for k in range(1, 53):
            cum = bg.conditional_expected_number_of_purchases_up_to_time(k, f, r, T)
            clv, prev = clv + (cum - prev) / (1 + d) ** k, cum
        ref["clv"] = ref["expected_spend"] * clv
    diffs = {}
    for key, value in ref.items():
        if value is not None:
            diffs[key] = float(np.max(np.abs(ours[key].to_numpy() / np.asarray(value) - 1)))
    est = {k: abs(bg_o[k] / lt_params["bgnbd"][k] - 1) for k in ("r", "alpha", "a", "b")}
    return {
        "same_customers": bool(len(lt) == len(ours)),
        "max_rel_diff": max(diffs.values()),
        "max_rel_diff_by_column": diffs,
        "max_rel_diff_estimates": max(est.values()),
    }


def _compare_ll(summary: Path, ours: Path, theirs: Path, model: Path) -> dict:
    import numpy as np
    import pandas as pd

    from clvmodel.likelihoods import bgnbd_loglik, pnbd_loglik

    fn = {"pnbd": pnbd_loglik, "bgnbd": bgnbd_loglik}[model.name]
    s = pd.read_parquet(summary)
    args = (s["frequency"].to_numpy(float), s["recency"].to_numpy(), s["T"].to_numpy())
    o = json.loads(ours.read_text())["params"]
    t = json.loads(theirs.read_text())["params"]
    return {
        "clvmodel_ll": float(fn(np.array(o), *args).sum()),
        "lifetimes_ll": float(fn(np.array(t), *args).sum()),
    }


CHECKS = {"agree": _agree, "ll": _compare_ll}


def write_results(results: dict, out: Path, command: str) -> None:
    import importlib.metadata as md

    versions = ", ".join(
        f"{p} {md.version(p)}"
        for p in ("clvmodel", "lifetimes", "numpy", "scipy", "pandas", "duckdb", "pyarrow")
    )
    lines = [
        "# Benchmarks (issue #7): clvmodel at scale, and against lifetimes",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; {versions}. "
        f"Load average at the start: {results.get('load', 'n/a')}.",
        "",
        "Each task is a fresh process; wall time and its own peak RSS from `os.wait4`. "
        "Simulated logs: bench/simlog.py (BG/NBD + Gamma-Gamma, per-day r=0.3, alpha=30, "
        "a=0.8, b=2.5, p=6, q=4, gamma=15, 84 acquisition days).",
        "",
    ]
    if "item1" in results:
        r = results["item1"]
        ok = r["speedup"] >= 10 and r["memory_ratio"] >= 2 and r["max_rel_diff"] <= 1e-6
        lines += [
            "## 1. The whole run vs the same job composed from lifetimes",
            "",
            f"`clvmodel run LOG --no-report` vs lifetimes (summary -> BG/NBD -> Gamma-Gamma -> "
            f"P(alive), 52-week purchases, spend, 52 weekly discounted CLV steps -> Parquet), "
            f"{r['customers']:,} customers / {r['transactions']:,} transactions.",
            "",
            "| | clvmodel | lifetimes | ratio |",
            "|---|---:|---:|---:|",
            f"| wall s | {r['clvmodel_s']:.1f} | {r['lifetimes_s']:.1f} | "
            f"**{r['speedup']:.1f}x** |",
            f"| CPU s (user + sys) | {r['clvmodel_cpu_s']:.1f} | {r['lifetimes_cpu_s']:.1f} | "
            f"{r['lifetimes_cpu_s'] / r['clvmodel_cpu_s']:.1f}x |",
            f"| peak RSS MiB | {r['clvmodel_mib']:.0f} | {r['lifetimes_mib']:.0f} | "
            f"**{r['memory_ratio']:.1f}x** |",
            "",
            f"clvmodel stages (s): {_stages(r)}. Predictions vs lifetimes' formulas at "
            f"clvmodel's estimates: max relative difference {r['max_rel_diff']:.1e} "
            f"({', '.join(f'{k} {v:.1e}' for k, v in r['max_rel_diff_by_column'].items())}); "
            f"estimates of the two fits differ by at most {r['max_rel_diff_estimates']:.1e} "
            f"relative. Target (>= 10x faster, >= 2x less memory, agreement 1e-6): "
            f"**{'met' if ok else 'NOT met'}**.",
            "",
        ]
    if "item2" in results:
        r = results["item2"]
        ok = (
            r["clvmodel_s"] <= 60 and r["clvmodel_mib"] <= 3 * GiB and r["scored"] == r["customers"]
        )
        lines += [
            "## 2. 10M customers",
            "",
            f"`clvmodel run LOG --no-report` on {r['customers']:,} customers / "
            f"{r['transactions']:,} transactions: **{r['clvmodel_s']:.1f} s** "
            f"({r['clvmodel_cpu_s']:.1f} CPU s), peak RSS "
            f"**{r['clvmodel_mib'] / GiB:.2f} GiB**, {r['scored']:,} customers scored. Stages (s): "
            f"{_stages(r)}. Target (<= 60 s, <= 3 GiB, everyone scored): "
            f"**{'met' if ok else 'NOT met'}**.",
            "",
        ]
    if "item2_report" in results:
        r = results["item2_report"]
        lines += [
            f"With the report (the default `clvmodel run LOG`: charts, PDF, customer lists), "
            f"same log: **{r['clvmodel_s']:.1f} s** ({r['clvmodel_cpu_s']:.1f} CPU s), peak RSS "
            f"**{r['clvmodel_mib'] / GiB:.2f} GiB**. Stages (s): {_stages(r)}.",
            "",
        ]
    if "item1" in results and "item2" in results:
        small, large = results["item1"], results["item2"]
        growth = large["clvmodel_mib"] / small["clvmodel_mib"]
        lines += [
            "## 3a. Memory growth from items 1 and 2",
            "",
            f"Peak RSS at {large['transactions']:,} transactions / at {small['transactions']:,}: "
            f"{large['clvmodel_mib']:.0f} / {small['clvmodel_mib']:.0f} MiB = **{growth:.2f}x** "
            f"(target <= 1.5x: **{'met' if growth <= 1.5 else 'NOT met'}**).",
            "",
        ]
    if "item3" in results:
        rows = results["item3"]
        lines += [
            "## 3b. Memory growth curve (`--large`)",
            "",
            "| customers | transactions | wall s | CPU s | peak RSS MiB | RSS / smallest | "
            "stages (s) |",
            "|---:|---:|---:|---:|---:|---:|---|",
        ]
        base = rows[0]["clvmodel_mib"]
        for r in rows:
            lines.append(
                f"| {r['customers']:,} | {r['transactions']:,} | {r['clvmodel_s']:.1f} | "
                f"{r['clvmodel_cpu_s']:.1f} | {r['clvmodel_mib']:.0f} | "
                f"{r['clvmodel_mib'] / base:.2f} | {_stages(r)} |"
            )
        lines.append("")
    if "item4" in results:
        lines += [
            "## 4. Fits (timed inside the process, after reading the summary)",
            "",
            "| model | customers | clvmodel s | lifetimes s | speedup | LL clvmodel | "
            "LL lifetimes | target |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in results["item4"]:
            need = 100 if r["model"] == "pnbd" else 10
            ok = r["speedup"] >= need and r["clvmodel_ll"] >= r["lifetimes_ll"] - 1e-6
            lines.append(
                f"| {r['model']} | {r['customers']:,} | {r['clvmodel_s']:.3f} | "
                f"{r['lifetimes_s']:.2f} | **{r['speedup']:.0f}x** | {r['clvmodel_ll']:.2f} | "
                f"{r['lifetimes_ll']:.2f} | >= {need}x, LL >= lifetimes: "
                f"{'met' if ok else 'NOT met'} |"
            )
        lines.append("")
    lines += [
        "On a shared 2-core machine the figures move with other load: re-run on an idle",
        "machine before quoting them.",
    ]
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")


def _stages(row: dict) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in row["stages"].items())


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        print(json.dumps(CHECKS[sys.argv[2]](*map(Path, sys.argv[3:]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[1, 2, 4], choices=[1, 2, 3, 4])
    parser.add_argument("--large", action="store_true", help="also item 3 (memory growth)")
    parser.add_argument(
        "--large-sizes",
        type=int,
        nargs="+",
        default=[1_000_000, 3_000_000, 10_000_000, 30_000_000, 100_000_000],
        help="customers per run of item 3",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="item 3: measure sizes with a kept result again"
    )
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    items = set(args.items) | ({3} if args.large else set())
    results: dict = {"load": " ".join(f"{v:.1f}" for v in os.getloadavg())}
    if 1 in items:
        results["item1"] = item1()
        print(json.dumps(results["item1"]), flush=True)
    if 2 in items:
        results["item2"] = clvmodel_run(10_000_000, "item2")
        print(json.dumps(results["item2"]), flush=True)
        results["item2_report"] = clvmodel_run(10_000_000, "item2-report", report=True)
        print(json.dumps(results["item2_report"]), flush=True)
    if 4 in items:
        results["item4"] = [item4("pnbd", 100_000), item4("bgnbd", 1_000_000)]
        print(json.dumps(results["item4"]), flush=True)
    if 3 in items:
        results["item3"] = []
        for n in args.large_sizes:
            results["item3"].append(large_run(n, args.fresh))
            print(json.dumps(results["item3"][-1]), flush=True)
    command = "make bench" if sys.argv[1:] == [] else shlex.join(["python", *sys.argv])
    write_results(results, args.out, command)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
