"""Benchmark: intervals on P(alive), expected purchases, spend and CLV against point scoring.

Acceptance 5 of issue 11: intervals for 1M customers take at most 5x the time of point
scoring. Customers are simulated from BG/NBD + Gamma-Gamma with daily data (``T`` and
``recency`` whole days, as a real RFM summary has), both models are fitted, then timed in
this one process (best of ``--repeat``):

  point        clvmodel.score: P(alive), expected purchases, expected spend, discounted CLV
  delta        prediction_intervals(method="delta")  (closed-form gradients for BG/NBD and
               Gamma-Gamma; the step sums once more per BG/NBD parameter on distinct (x, T))
  parametric   prediction_intervals(method="parametric", n_draws=--draws)

    python bench/intervals.py --customers 1000000 --draws 100 --out bench/INTERVALS.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

TRUTH = {"r": 0.3, "alpha": 30.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 15.0}


def simulate(n: int, seed: int = 0):
    from clvmodel.simulate import bgnbd_summary, gamma_gamma_spend

    rng = np.random.default_rng(seed)
    T = rng.integers(30, 540, n).astype(np.float64)
    bg = {k: TRUTH[k] for k in ("r", "alpha", "a", "b")}
    s = bgnbd_summary(n, **bg, T=T, seed=rng)[["frequency", "recency", "T"]]
    s["recency"] = np.floor(s["recency"])
    s["monetary_value"] = np.round(
        gamma_gamma_spend(s["frequency"], p=6.0, q=4.0, gamma=15.0, seed=rng), 2
    )
    s.attrs["time_unit"] = "D"
    return s


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--horizon", type=float, default=360.0, help="days")
    ap.add_argument("--step", type=float, default=30.0, help="discounting step, days")
    ap.add_argument("--methods", nargs="+", default=["delta", "parametric"])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)

    from clvmodel import BetaGeoModel, GammaGammaModel
    from clvmodel.clv import score
    from clvmodel.intervals import prediction_intervals

    data = simulate(args.customers)
    bg, gg = BetaGeoModel().fit(data), GammaGammaModel().fit(data)
    common = {"horizon": args.horizon, "spend_model": gg, "discount_rate": 0.1, "step": args.step}
    tasks = {"point": lambda: score(bg, data, **common)}
    if "delta" in args.methods:
        tasks["delta"] = lambda: prediction_intervals(bg, data, method="delta", **common)
    if "parametric" in args.methods:
        tasks["parametric"] = lambda: prediction_intervals(
            bg, data, method="parametric", n_draws=args.draws, **common
        )
    seconds, cpu = {}, {}
    for name, task in tasks.items():
        best, best_cpu = np.inf, np.inf
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            task()
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        seconds[name], cpu[name] = best, best_cpu
        print(
            f"{name:<11} {best:8.2f} s ({best_cpu:7.2f} CPU s)  "
            f"{best / seconds['point']:6.2f} x point ({best_cpu / cpu['point']:6.2f} x in CPU)",
            flush=True,
        )
    cols = [data[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value")]
    distinct = len({tuple(r) for r in np.stack(cols, axis=1)[: min(len(data), 2_000_000)]})
    result = {
        "customers": args.customers,
        "distinct_rows": distinct,
        "draws": args.draws,
        "horizon_days": args.horizon,
        "step_days": args.step,
        "seconds": seconds,
        "ratio_to_point": {k: v / seconds["point"] for k, v in seconds.items()},
        "cpu_seconds": cpu,
        "cpu_ratio_to_point": {k: v / cpu["point"] for k, v in cpu.items()},
        "acceptance_5_delta_within_5x": seconds.get("delta", np.inf) <= 5 * seconds["point"],
        # On a shared machine the CPU ratio is the honest one (wall time waits for others).
        "acceptance_5_delta_within_5x_cpu": cpu.get("delta", np.inf) <= 5 * cpu["point"],
        "machine": platform.platform(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
