"""Reading what the CLI is given: a transaction log or a ready summary, told apart by columns.

A file whose columns include ``frequency`` and ``recency`` (or ``period`` and ``customers``
for a retention cohort) is a summary and is read as it is; anything else is a transaction
log and goes through :func:`clvmodel.data.summarise` (DuckDB), which is imported only then,
so fitting a summary never pays for DuckDB.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .engines import DEFAULT_MEMORY_LIMIT
from .exceptions import InputError
from .units import check_unit

#: Columns that mark a file as a summary rather than a transaction log.
SUMMARY_MARKERS = ({"frequency", "recency"}, {"period", "customers"})
#: Column names taken as the customer id of a summary file, in order of preference.
ID_CANDIDATES = ("customer_id", "id", "ID", "customer", "CustomerID")
SUMMARY_COLUMNS = {
    "frequency",
    "recency",
    "T",
    "periods",
    "monetary_value",
    "weights",
    "period",
    "customers",
    "frequency_holdout",
    "monetary_value_holdout",
    "duration_holdout",
}


@dataclass
class LoadedInput:
    """A summary ready for a model, with the row ledger when it came from a transaction log."""

    summary: pd.DataFrame
    kind: str  # "summary" or "transactions"
    source: str
    result: Any = None  # clvmodel.data.SummaryResult for transaction logs
    notes: list[str] = field(default_factory=list)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    if name.endswith(".csv") or name.endswith(".csv.gz") or name.endswith(".txt"):
        return "csv"
    raise InputError(
        f"Input files must be CSV (.csv, .csv.gz) or Parquet (.parquet). Got {str(path)!r}."
    )


def file_columns(path: str | Path) -> list[str]:
    """Column names of a CSV or Parquet file, read from its header or schema only."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"Input file {str(path)!r} does not exist.")
    if _suffix(path) == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as raw:
        first = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="").readline()
    if not first.strip():
        raise InputError(f"Input file {str(path)!r} is empty: it has no header row.")
    return next(csv.reader([first]))


def is_summary(columns: list[str]) -> bool:
    """Whether ``columns`` are those of a summary (not a transaction log)."""
    cols = set(columns)
    return any(marker <= cols for marker in SUMMARY_MARKERS)


def _id_column(columns: list[str], customer_col: str | None) -> str | None:
    if customer_col and customer_col in columns:
        return customer_col
    for name in ID_CANDIDATES:
        if name in columns:
            return name
    others = [c for c in columns if c not in SUMMARY_COLUMNS]
    return others[0] if len(others) == 1 else None


def read_summary(
    path: str | Path,
    *,
    time_unit: str | None,
    customer_col: str | None = None,
    only: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a summary file; its id column (if any) becomes the ``customer_id`` index, as text.

    With ``only``, just those columns are read (those present) and no id column: customers
    are then labelled by row position. Fitting needs no ids, and skipping a million of them
    saves time.
    """
    path = Path(path)
    columns = file_columns(path)
    id_col = None if only is not None else _id_column(columns, customer_col)
    wanted = None if only is None else [c for c in columns if c in set(only)]
    if _suffix(path) == "parquet":
        import pyarrow.parquet as pq

        frame = pq.read_table(path, columns=wanted).to_pandas()
    else:
        frame = pd.read_csv(path, dtype={id_col: str} if id_col else None, usecols=wanted)
    if id_col and id_col in frame.columns:  # a Parquet index comes back as the index
        frame = frame.set_index(id_col)
    frame.index.name = "customer_id"
    if time_unit is not None:
        frame.attrs["time_unit"] = check_unit(time_unit)
    return frame


def load_input(
    path: str | Path,
    *,
    freq: str | None,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = "amount",
    date_format: str | None = None,
    observation_end: str | None = None,
    calibration_end: str | None = None,
    only: Sequence[str] | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> LoadedInput:
    """Load a summary file as it is, or summarise a transaction log (rejects counted).

    Parameters
    ----------
    path : path-like
        CSV or Parquet file.
    only : sequence of str, optional
        For a summary file: read just these columns, without ids (see :func:`read_summary`).
    freq : str or None
        Time unit of the summary (a summary file's own unit, or the unit to summarise a
        transaction log in).
    customer_col, date_col, amount_col, date_format, observation_end, calibration_end, memory_limit
        How to read, cut and summarise a transaction log (see
        :func:`clvmodel.data.summarise`).
    """
    columns = file_columns(path)
    if is_summary(columns):
        if calibration_end is not None:
            raise InputError(
                "--calibration-end needs a transaction log; the input is already a summary."
            )
        summary = read_summary(path, time_unit=freq, customer_col=customer_col, only=only)
        return LoadedInput(summary=summary, kind="summary", source=str(path))
    from .data import summarise

    result = summarise(
        str(path),
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        freq=freq or "W",
        observation_end=observation_end,
        calibration_end=calibration_end,
        date_format=date_format,
        memory_limit=memory_limit,
    )
    return LoadedInput(summary=result.summary, kind="transactions", source=str(path), result=result)
