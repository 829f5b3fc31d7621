"""The run folder as the report reads it: ``run.json``, the summary, the scores, the models."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..clv_metrics import RankedCLV, has_holdout
from ..exceptions import CLVModelWarning, InputError
from ..io import load_model, read_json
from .memory import check_report_memory

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
        ``summary.parquet`` or ``summary.csv`` indexed by ``customer_id`` (text), with
        ``attrs`` ``time_unit``, ``first_date``, ``observation_end`` and ``calibration_end``
        from ``run.json``.
    scores : DataFrame
        ``scores.parquet`` or ``scores.csv`` (``customer_id`` as text).
    metrics : dict
        ``metrics.json`` (empty when absent).
    tracking : DataFrame or None
        ``tracking.csv``.
    purchase_model, spend_model
        The models named in ``run.json``, loaded from ``models/``.
    check_model : PurchaseModel or None
        ``models/calibration/KEY.json`` when present (see :attr:`holdout_model`).
    scores_path : Path or None
        The scores file read (``scores.parquet`` or ``scores.csv``).
    """

    directory: Path
    run: dict[str, Any]
    summary: pd.DataFrame
    scores: pd.DataFrame
    metrics: dict[str, Any]
    tracking: pd.DataFrame | None
    purchase_model: PurchaseModel
    spend_model: BaseModel | None
    check_model: PurchaseModel | None = None
    scores_path: Path | None = None
    skipped: list[str] = field(default_factory=list)

    @property
    def holdout_model(self) -> PurchaseModel:
        """The model the holdout checks: fitted on the calibration period.

        ``models/calibration/KEY.json`` when the run refitted on the whole log for its
        forecast, else the purchase model itself (fitted on the calibration period).
        """
        return self.check_model if self.check_model is not None else self.purchase_model

    @property
    def refit(self) -> bool:
        """Whether the forecast models were refitted on the whole log after the holdout check
        (``models/calibration/`` present): the scores then describe the whole log, and the
        summary the calibration period with its holdout."""
        return self.check_model is not None

    @property
    def scores_on_calibration(self) -> bool:
        """Whether the scores come from the calibration fit, so that they can be compared
        customer by customer with the holdout (a run with a holdout and no refit)."""
        return self.holdout and not self.refit

    @property
    def currency(self) -> str | None:
        """Currency of the amounts: ``run.json`` ``currency`` or ``config.currency``."""
        config = self.run.get("config") or {}
        value = self.run.get("currency") or config.get("currency")
        return str(value) if value else None

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

    @cached_property
    def ranked_clv(self) -> RankedCLV:
        """Predicted CLV, with holdout spend where the scores can be compared with it
        (:attr:`scores_on_calibration`), customers ranked once for every value chart and
        table (:class:`~clvmodel.clv_metrics.RankedCLV`)."""
        return RankedCLV.of(self.scores, self.summary if self.scores_on_calibration else None)

    def skip(self, message: str, *, stacklevel: int = 2) -> None:
        """Record ``message`` (a chart or section left out) in :attr:`skipped` and warn
        with a :class:`ReportWarning`, once per message (the PNG charts and the PDF leave
        the same charts out)."""
        if message not in self.skipped:
            self.skipped.append(message)
            warnings.warn(message, ReportWarning, stacklevel=stacklevel + 1)


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise InputError(
            f"The run directory {str(path.parent)!r} has no {path.name} ({what}). "
            f"Write it with `clvmodel run` first."
        )
    return path


def data_file(directory: Path, stem: str, what: str) -> Path:
    """``DIR/STEM.parquet`` (a file or a folder of part files) if present, else
    ``DIR/STEM.csv`` (the run-folder contract)."""
    for suffix in (".parquet", ".csv"):
        path = directory / f"{stem}{suffix}"
        if path.is_file() or (suffix == ".parquet" and path.is_dir()):
            return path
    return _need(directory / f"{stem}.csv", what)


def read_table(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A Parquet or CSV table, only ``columns`` of it where present; ids as text."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        present = pq.ParquetDataset(path).schema.names  # a file or a folder of part files
        wanted = None if columns is None else [c for c in columns if c in present]
        table = pq.read_table(path, columns=wanted)
        # Numeric columns become views of the Arrow buffers, each released as it is
        # converted; the reader's scratch memory goes back to the system, not to the pool.
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
        pa.default_memory_pool().release_unused()
    else:
        wanted_set = None if columns is None else set(columns)
        frame = pd.read_csv(
            path,
            dtype={"customer_id": str},
            usecols=None if wanted_set is None else (lambda c: c in wanted_set),
        )
    if "customer_id" in frame.columns:
        frame["customer_id"] = frame["customer_id"].astype(str)
    return frame


#: Columns the report reads (the others are not loaded).
SUMMARY_COLUMNS = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "periods",
    "monetary_value",
    "frequency_holdout",
    "monetary_value_holdout",
    "duration_holdout",
)
SCORES_COLUMNS = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "periods",
    "monetary_value",
    "p_alive",
    "expected_purchases",
    "expected_spend",
    "clv",
    "rfm_score",
    "segment",
)


def load_run(run_dir: str | Path) -> RunFiles:
    """Read the run directory ``run_dir`` (see the module docstring for the files).

    ``summary`` and ``scores`` are read from Parquet when the run wrote Parquet, else CSV,
    and only the columns the report uses. With ``models/calibration/KEY.json`` (a run that
    refitted on the whole log after its holdout check) the calibration model is the one the
    holdout charts and figures check.

    Raises :class:`~clvmodel.exceptions.InsufficientMemoryError`, before reading the
    customers, when this machine lacks the memory the report of the scores' customers needs
    (:func:`~.memory.check_report_memory`).
    """
    directory = Path(run_dir)
    if not directory.is_dir():
        raise InputError(f"The run directory {str(directory)!r} does not exist.")
    from ..rundir import check_run_folder

    run = check_run_folder(directory)
    key = run.get("purchase_model")
    if not key:
        raise InputError(f"{directory / 'run.json'} names no purchase_model.")
    purchase = load_model(
        _need(directory / "models" / f"{key}.json", f"the {key} model"), expected="purchase"
    )
    design = getattr(purchase, "design", None)
    covariates = design.columns if design is not None else ()  # the model reads them too
    calibration_path = directory / "models" / "calibration" / f"{key}.json"
    refit = calibration_path.is_file()
    scores_path = data_file(directory, "scores", "the customer scores")
    check_report_memory(_customers_in(scores_path, run))  # before reading a customer
    scores = read_table(scores_path, (*SCORES_COLUMNS, *covariates))
    summary = _read_summary(
        data_file(directory, "summary", "the RFM summary"),
        (*SUMMARY_COLUMNS, *covariates),
        None if refit else scores,
    )
    summary.attrs.update(
        {
            "time_unit": run.get("time_unit"),
            "first_date": run.get("first_date"),
            "observation_end": run.get("observation_end"),
            "calibration_end": run.get("calibration_end"),
        }
    )
    metrics_path = directory / "metrics.json"
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    tracking_path = directory / "tracking.csv"
    tracking = pd.read_csv(tracking_path) if tracking_path.is_file() else None
    spend_key = run.get("spend_model")
    spend = (
        load_model(_need(directory / "models" / f"{spend_key}.json", f"the {spend_key} model"))
        if spend_key
        else None
    )
    check = load_model(calibration_path, expected="purchase") if refit else None
    return RunFiles(
        directory,
        run,
        summary,
        scores,
        metrics,
        tracking,
        purchase,
        spend,
        check_model=check,
        scores_path=scores_path,
    )


def _customers_in(scores: Path, run: dict[str, Any]) -> int | None:
    """Rows of the scores file, without reading it: Parquet's metadata (a file or a folder
    of part files), else ``run.json``'s ``n_scored``; ``None`` when neither says."""
    if scores.suffix == ".parquet":
        import pyarrow.parquet as pq

        return sum(part.metadata.num_rows for part in pq.ParquetDataset(scores).fragments)
    n = run.get("n_scored")
    return n if isinstance(n, int) else None


#: Summary columns a run without a refit also wrote into its scores, customer by customer.
SHARED_COLUMNS = ("frequency", "recency", "T")


def _read_summary(path: Path, columns: Sequence[str], scores: pd.DataFrame | None) -> pd.DataFrame:
    """The summary's ``columns``, indexed by ``customer_id`` (text).

    With ``scores`` (a run without a refit, whose scores describe the summary's rows): where
    the two list the same customers in the same order, the ids, and each of
    :data:`SHARED_COLUMNS` whose values are the scores' too (same dtype, equal arrays), are
    the scores' own, not a second copy (about 400 MB at ten million customers). From
    Parquet each such column is read alone, compared, and dropped when equal. Sharing is
    copy-on-write: changing one frame leaves the other as it was.
    """
    shared = (
        []
        if scores is None or "customer_id" not in scores.columns
        else [c for c in SHARED_COLUMNS if c in scores.columns]
    )
    by_column = path.suffix == ".parquet"  # (a CSV file is parsed once, whole)
    frame = read_table(path, [c for c in columns if not (by_column and c in shared)])
    if "customer_id" not in frame.columns:
        raise InputError(f"{path} has no 'customer_id' column.")
    if not shared:
        return frame.set_index("customer_id")
    assert scores is not None
    ids = pd.Index(frame["customer_id"], name="customer_id")
    same_rows = ids.equals(pd.Index(scores["customer_id"]))
    if same_rows:
        ids = pd.Index(scores["customer_id"], name="customer_id")
    data: dict[str, pd.Series] = {}
    for c in columns:
        if c == "customer_id":
            continue
        if c in shared:
            own = frame if c in frame.columns else read_table(path, [c])
            if c not in own.columns:
                continue
            values, theirs = own[c], scores[c]
            same = (
                same_rows
                and values.dtype == theirs.dtype
                and np.array_equal(values.to_numpy(), theirs.to_numpy(), equal_nan=True)
            )
            data[c] = (theirs if same else values).set_axis(ids)
            del own, values
        elif c in frame.columns:
            data[c] = frame[c].set_axis(ids)
    return pd.DataFrame(data, index=ids, copy=False)
