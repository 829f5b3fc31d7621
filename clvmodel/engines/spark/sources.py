"""What the Spark engine reads: file kinds, column kinds, column checks, small conversions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...exceptions import InputError, MissingColumnError
from ..sql import ColumnKind

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


def column_kind(data_type: DataType) -> ColumnKind:
    """Map a Spark column type to how :mod:`clvmodel.engines.sql` parses it."""
    from pyspark.sql import types as T

    if isinstance(data_type, T.StringType | T.VarcharType | T.CharType):
        return "text"
    if isinstance(data_type, T.DateType | T.TimestampType | T.TimestampNTZType):
        return "temporal"
    if isinstance(data_type, T.NumericType):
        return "numeric"
    return "other"


def file_format(path: str) -> str:
    """``"csv"`` or ``"parquet"`` from a path, folder or glob.

    A folder is Parquet unless its name ends in a CSV suffix (Spark writes both kinds as
    folders of part files); anything else with no known suffix raises :class:`InputError`.
    """
    name = path.rstrip("/").lower()
    if name.endswith(CSV_SUFFIXES) or name.endswith(tuple(s + "*" for s in CSV_SUFFIXES)):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES) or name.endswith(tuple(s + "*" for s in PARQUET_SUFFIXES)):
        return "parquet"
    if "://" not in path and Path(path).is_dir():
        files = [p.name.lower() for p in Path(path).iterdir() if not p.name.startswith(("_", "."))]
        if files and all(f.endswith(CSV_SUFFIXES) for f in files):
            return "csv"
        return "parquet"
    allowed = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
    raise InputError(
        f"The 'data' argument must be a Spark DataFrame, or a file, folder or glob of files "
        f"ending in {allowed}. Got {path!r} instead."
    )


def require_spark_columns(frame: DataFrame, columns: Any, *, what: str = "data") -> None:
    """Raise :class:`MissingColumnError` naming each absent column and listing those present
    (the message of :func:`clvmodel.validation.require_columns`)."""
    present = list(frame.columns)
    missing = [c for c in columns if c not in present]
    if missing:
        names = ", ".join(map(repr, missing))
        listed = ", ".join(map(repr, map(str, present))) or "none"
        raise MissingColumnError(
            f"The {what} is missing the column{'s' if len(missing) > 1 else ''} {names}. "
            f"Columns present: {listed}."
        )


def _local_missing(path: str) -> bool:
    """Whether a local path (no URL scheme, no glob) does not exist."""
    if "://" in path or any(c in path for c in "*?["):
        return False
    return not Path(path).exists()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _to_pandas(frame: DataFrame) -> pd.DataFrame:
    """``frame.toPandas()`` with text columns as plain Python strings (object dtype)."""
    out = frame.toPandas()
    for name in out.columns:
        if pd.api.types.is_string_dtype(out[name].dtype) and out[name].dtype != object:
            out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out
