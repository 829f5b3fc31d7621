"""The run folder as the report reads it: ``run.json``, the summary, the scores, the models."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..clv_metrics import has_holdout
from ..exceptions import CLVModelWarning, InputError
from ..io import load_model, read_json

if TYPE_CHECKING:
    from ..models.base import BaseModel, PurchaseModel


class ReportWarning(CLVModelWarning):
    """A chart or section of the report was left out; the message says which and why."""


@dataclass
class RunFiles:
    """Everything the report reads from a run directory.

    Attributes
    ----------
    directory : Path
    run : dict
        ``run.json``.
    summary : DataFrame
        ``summary.csv`` indexed by ``customer_id`` (text), with ``attrs`` ``time_unit``,
        ``first_date``, ``observation_end`` and ``calibration_end`` from ``run.json``.
    scores : DataFrame
        ``scores.csv`` (``customer_id`` as text).
    metrics : dict
        ``metrics.json`` (empty when absent).
    tracking : DataFrame or None
        ``tracking.csv``.
    purchase_model, spend_model
        The models named in ``run.json``, loaded from ``models/``.
    """

    directory: Path
    run: dict[str, Any]
    summary: pd.DataFrame
    scores: pd.DataFrame
    metrics: dict[str, Any]
    tracking: pd.DataFrame | None
    purchase_model: PurchaseModel
    spend_model: BaseModel | None
    skipped: list[str] = field(default_factory=list)

    @property
    def unit(self) -> str:
        """Time unit key (``"W"``)."""
        return str(self.run.get("time_unit") or self.purchase_model.time_unit_ or "W").upper()

    @property
    def holdout(self) -> bool:
        """Whether the run has a calibration end and the summary its holdout columns."""
        return bool(self.run.get("calibration_end")) and has_holdout(self.summary)

    @property
    def has_clv(self) -> bool:
        """Whether the scores carry CLV (a spend model was fitted)."""
        return "clv" in self.scores.columns and self.scores["clv"].notna().all()


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise InputError(
            f"The run directory {str(path.parent)!r} has no {path.name} ({what}). "
            f"Write it with `clvmodel run` first."
        )
    return path


def load_run(run_dir: str | Path) -> RunFiles:
    """Read the run directory ``run_dir`` (see the module docstring for the files)."""
    directory = Path(run_dir)
    if not directory.is_dir():
        raise InputError(f"The run directory {str(directory)!r} does not exist.")
    run = read_json(_need(directory / "run.json", "what was run"))
    summary = pd.read_csv(
        _need(directory / "summary.csv", "the RFM summary"), dtype={"customer_id": str}
    )
    if "customer_id" not in summary.columns:
        raise InputError(f"{directory / 'summary.csv'} has no 'customer_id' column.")
    summary = summary.set_index("customer_id")
    summary.attrs.update(
        {
            "time_unit": run.get("time_unit"),
            "first_date": run.get("first_date"),
            "observation_end": run.get("observation_end"),
            "calibration_end": run.get("calibration_end"),
        }
    )
    scores = pd.read_csv(
        _need(directory / "scores.csv", "the customer scores"), dtype={"customer_id": str}
    )
    metrics_path = directory / "metrics.json"
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    tracking_path = directory / "tracking.csv"
    tracking = pd.read_csv(tracking_path) if tracking_path.is_file() else None
    key = run.get("purchase_model")
    if not key:
        raise InputError(f"{directory / 'run.json'} names no purchase_model.")
    purchase = load_model(
        _need(directory / "models" / f"{key}.json", f"the {key} model"), expected="purchase"
    )
    spend_key = run.get("spend_model")
    spend = (
        load_model(_need(directory / "models" / f"{spend_key}.json", f"the {spend_key} model"))
        if spend_key
        else None
    )
    return RunFiles(directory, run, summary, scores, metrics, tracking, purchase, spend)
