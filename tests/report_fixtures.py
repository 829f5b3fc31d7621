"""Build a run directory like ``clvmodel run`` writes, for the plotting and report tests.

The layout follows :mod:`clvmodel.pipeline`; it is built here from a simulated log (or
CDNOW) so the charts and the report can be tested without the CLI. Run as a script to
make one to look at::

    python tests/report_fixtures.py /tmp/run            # simulated, with a holdout
    python tests/report_fixtures.py /tmp/run --cdnow    # full CDNOW, 23,570 customers
    python tests/report_fixtures.py /tmp/run --no-holdout
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvmodel import BetaGeoModel, GammaGammaModel, __version__
from clvmodel.clv import score
from clvmodel.clv_metrics import clv_metrics
from clvmodel.evaluation import holdout_metrics, holdout_predictions
from clvmodel.io import save_model, write_frame, write_json
from clvmodel.simulate import bgnbd_transactions
from clvmodel.units import unit_days

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT / "data" / "cdnow_transactions.csv.gz"

#: Simulation settings: CDNOW-like BG/NBD and Gamma-Gamma parameters, weekly rates.
SIM = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 15.0}


def simulated_transactions(n_customers: int = 2000, seed: int = 7) -> pd.DataFrame:
    """A simulated log: ``customer_id, date, amount`` from 2024-01-01 to 2025-06-30."""
    return bgnbd_transactions(n_customers, **SIM, unit="W", seed=seed)


def summarise(
    transactions: pd.DataFrame, *, freq: str, calibration_end: str | None, observation_end: str
) -> pd.DataFrame:
    """The RFM summary, by :func:`clvmodel.data.rfm_summary`."""
    from clvmodel.data import rfm_summary

    return rfm_summary(
        transactions,
        freq=freq,
        calibration_end=calibration_end,
        observation_end=observation_end,
    )


def tracking_table(
    transactions: pd.DataFrame, summary: pd.DataFrame, *, freq: str, observation_end: str
) -> pd.DataFrame:
    """Repeat purchase occasions of the summary's customers per period since the first date.

    ``t`` is the end of each period in units since the first date (the last one cut at the
    observation end), ``date`` the calendar day it ends on, ``actual`` the count.
    """
    days = unit_days(freq)
    tx = transactions[["customer_id", "date"]].copy()
    tx["customer_id"] = tx["customer_id"].astype(str)
    tx["date"] = pd.to_datetime(tx["date"]).dt.normalize()
    tx = tx[tx["customer_id"].isin(summary.index.astype(str))]
    tx = tx.drop_duplicates()
    first = tx.groupby("customer_id")["date"].transform("min")
    repeat = tx[tx["date"] > first]
    first_date = pd.Timestamp(summary.attrs["first_date"])
    end = pd.Timestamp(observation_end)
    span = (end - first_date).days / days
    n = int(np.ceil(span - 1e-9))
    t = np.minimum(np.arange(1, n + 1, dtype=np.float64), span)
    since = (repeat["date"] - first_date).dt.days.to_numpy() / days
    # Period k covers [t_{k-1}, t_k): a purchase on day d falls in the first period ending after d.
    period = np.searchsorted(t, since, side="right")
    counts = np.bincount(period[period < n], minlength=n)
    dates = first_date + pd.to_timedelta(np.round(t * days), unit="D") - pd.Timedelta(days=1)
    return pd.DataFrame({"t": t, "date": dates.strftime("%Y-%m-%d"), "actual": counts})


def build_run_dir(
    out: str | Path,
    *,
    transactions: pd.DataFrame | None = None,
    freq: str = "W",
    calibration_end: str | None = "2024-12-31",
    observation_end: str = "2025-06-30",
    horizon: float = 52.0,
    discount_rate: float = 0.1,
    margin: float = 1.0,
    input_name: str = "simulated_transactions.csv",
) -> Path:
    """Fit BG/NBD and Gamma-Gamma and write the run directory files to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if transactions is None:
        transactions = simulated_transactions()
    summary = summarise(
        transactions, freq=freq, calibration_end=calibration_end, observation_end=observation_end
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        purchase = BetaGeoModel().fit(summary)
        # CDNOW has a few zero-value purchases: the spend model needs positive amounts.
        usable = (summary["frequency"] == 0) | (summary["monetary_value"] > 0)
        spend = GammaGammaModel().fit(summary[usable])
    write_frame(summary, out / "summary.csv", index=True)
    save_model(purchase, out / "models" / f"{purchase.name}.json")
    save_model(spend, out / "models" / f"{spend.name}.json")
    scores = score(
        purchase,
        summary,
        horizon=horizon,
        spend_model=spend,
        discount_rate=discount_rate,
        margin=margin,
    )
    write_frame(scores, out / "scores.csv")
    holdout = calibration_end is not None
    entry: dict[str, Any] = {
        "log_likelihood": purchase.result_.log_likelihood,
        "aic": purchase.result_.aic,
        "bic": purchase.result_.bic,
    }
    if holdout:
        entry.update(holdout_metrics(purchase, summary))
    predicted = holdout_predictions(purchase, summary)["predicted"] if holdout else None
    metrics = {
        "models": {purchase.name: entry},
        "holdout": entry if holdout else None,
        "clv": clv_metrics(scores, summary, predicted_holdout_purchases=predicted),
    }
    write_json(out / "metrics.json", metrics)
    tracking = tracking_table(transactions, summary, freq=freq, observation_end=observation_end)
    write_frame(tracking, out / "tracking.csv")
    attrs = summary.attrs
    run = {
        "clvmodel_version": __version__,
        "input": input_name,
        "time_unit": freq,
        "first_date": attrs.get("first_date"),
        "observation_end": attrs.get("observation_end"),
        "calibration_end": attrs.get("calibration_end"),
        "ledger": {
            "input_rows": attrs.get("input_rows"),
            "used_rows": attrs.get("used_rows"),
            "rejected_rows": attrs.get("rejected_rows"),
            "by_reason": {},
        },
        "n_customers": len(summary),
        "n_transactions": attrs.get("n_transactions"),
        "purchase_model": purchase.name,
        "spend_model": spend.name,
        "choice_reason": "BG/NBD as requested (the default purchase model)",
        "horizon": horizon,
        "discount_rate": discount_rate,
        "margin": margin,
    }
    write_json(out / "run.json", run)
    return out


def cdnow_transactions() -> pd.DataFrame:
    """The full CDNOW log (23,570 customers)."""
    return pd.read_csv(CDNOW, dtype={"customer_id": str}, parse_dates=["date"])


if __name__ == "__main__":
    args = sys.argv[1:]
    target = Path(args[0])
    cal: str | None
    if "--cdnow" in args:
        tx, cal, obs, name = cdnow_transactions(), "1997-09-30", "1998-06-30", str(CDNOW.name)
    else:
        tx, cal, obs, name = simulated_transactions(), "2024-12-31", "2025-06-30", "simulated"
    if "--no-holdout" in args:
        cal = None
    build_run_dir(
        target,
        transactions=tx,
        calibration_end=cal,
        observation_end=obs,
        input_name=name,
    )
    print(target)
