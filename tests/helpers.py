"""Shared test helpers: paths to the bundled and reference data."""

from __future__ import annotations

from pathlib import Path

import lifetimes
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
LIFETIMES_DATA = Path(lifetimes.__file__).parent / "datasets"


def cdnow_summary() -> pd.DataFrame:
    """The 2,357-customer CDNOW summary in weeks, with monetary value (lifetimes' copy)."""
    frame = pd.read_csv(LIFETIMES_DATA / "cdnow_customers_summary_with_transactions.csv")
    frame.columns = ["customer_id", "frequency", "recency", "T", "monetary_value"]
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame = frame.set_index("customer_id")
    frame.attrs["time_unit"] = "W"
    return frame


#: Per-day BG/NBD + Gamma-Gamma parameters of the simulated logs (issue 7's, bench/simlog.py).
SIMULATED_TRUTH = {"r": 0.3, "alpha": 30.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 15.0}
