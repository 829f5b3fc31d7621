"""Input checks with named errors.

Messages follow one pattern: the argument or column, the rule, the bad value and how many
rows break it, e.g. ``The 'recency' column must be <= 'T'. Got recency=40.1, T=38.9 for
customer '17' (3 rows break this rule).``
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .exceptions import InputError, MissingColumnError

ID_COLUMN = "customer_id"


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, what: str = "data") -> None:
    """Raise :class:`MissingColumnError` naming each absent column and listing those present."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(
            f"The {what!r} argument must be a pandas DataFrame. Got {type(frame).__name__} instead."
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        present = ", ".join(map(repr, map(str, frame.columns))) or "none"
        names = ", ".join(map(repr, missing))
        raise MissingColumnError(
            f"The {what} is missing the column{'s' if len(missing) > 1 else ''} {names}. "
            f"Columns present: {present}."
        )


def customer_index(frame: pd.DataFrame) -> pd.Index:
    """Customer labels of a summary: its ``customer_id`` column if present, else its index."""
    if ID_COLUMN in frame.columns:
        # .array keeps the column's dtype: no object copy of Arrow-backed string ids.
        return pd.Index(frame[ID_COLUMN].array, name=ID_COLUMN)
    index = frame.index.copy()
    if index.name is None:
        index.name = ID_COLUMN
    return index


def plain(value: object) -> str:
    """``repr`` of a value as a user typed it: ``50.0``, not ``np.float64(50.0)``."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        value = item()
    elif hasattr(value, "tolist"):
        value = value.tolist()  # type: ignore[union-attr]
    return repr(value)


def _example(
    labels: pd.Index, bad: NDArray[np.bool_], detail: Sequence[NDArray[Any]], names: Sequence[str]
) -> str:
    i = int(np.flatnonzero(bad)[0])
    shown = ", ".join(f"{n}={plain(np.asarray(d)[i])}" for n, d in zip(names, detail, strict=True))
    count = int(bad.sum())
    rows = f"{count:,} row{'s' if count > 1 else ''}"
    return f"Got {shown} for customer {plain(labels[i])} ({rows} break this rule)."


def numeric_column(
    frame: pd.DataFrame, name: str, labels: pd.Index | None = None
) -> NDArray[np.float64]:
    """Column ``name`` as float64; non-numeric or missing values raise :class:`InputError`."""
    column = frame[name]
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        labels = customer_index(frame) if labels is None else labels
        raw = frame[name].to_numpy()
        raise InputError(
            f"The {name!r} column must hold finite numbers. " + _example(labels, bad, [raw], [name])
        )
    return values


def check_rule(
    bad: NDArray[np.bool_],
    rule: str,
    labels: pd.Index,
    detail: Sequence[NDArray[Any]],
    names: Sequence[str],
) -> None:
    """Raise :class:`InputError` with ``rule`` and the first offending row if any ``bad``."""
    if np.any(bad):
        raise InputError(f"{rule} " + _example(labels, bad, detail, names))


def check_rfm(
    labels: pd.Index,
    frequency: NDArray[np.float64],
    recency: NDArray[np.float64] | None = None,
    T: NDArray[np.float64] | None = None,
    monetary_value: NDArray[np.float64] | None = None,
) -> None:
    """Check the rules an RFM summary obeys; raise :class:`InputError` on the first broken one.

    frequency is a whole number >= 0; 0 <= recency <= T (T is 0 for a customer first
    seen at the observation end); recency is 0 when frequency
    is 0; monetary_value >= 0.
    """
    if frequency.size == 0:
        raise InputError("The data has no rows: there is nothing to fit or score.")
    check_rule(
        (frequency < 0) | (frequency != np.floor(frequency)),
        "The 'frequency' column must hold whole numbers >= 0.",
        labels,
        [frequency],
        ["frequency"],
    )
    if T is not None:
        check_rule(T < 0, "The 'T' column must be >= 0.", labels, [T], ["T"])
    if recency is not None:
        check_rule(
            recency < 0, "The 'recency' column must be >= 0.", labels, [recency], ["recency"]
        )
        if T is not None:
            check_rule(
                recency > T * (1 + 1e-12),
                "The 'recency' column must be <= 'T'.",
                labels,
                [recency, T],
                ["recency", "T"],
            )
        check_rule(
            (frequency == 0) & (recency != 0),
            "The 'recency' column must be 0 where 'frequency' is 0.",
            labels,
            [frequency, recency],
            ["frequency", "recency"],
        )
    if monetary_value is not None:
        check_rule(
            monetary_value < 0,
            "The 'monetary_value' column must be >= 0.",
            labels,
            [monetary_value],
            ["monetary_value"],
        )


def resolve_weights(
    frame: pd.DataFrame, weights: str | Sequence[float] | NDArray[np.float64] | None
) -> NDArray[np.float64]:
    """Weights as an array: ``None`` gives ones, a string names a column, else array-like."""
    n = len(frame)
    if weights is None:
        return np.ones(n)
    if isinstance(weights, str):
        require_columns(frame, [weights])
        w = numeric_column(frame, weights)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,):
            raise InputError(
                f"The 'weights' parameter must have one value per row ({n:,}). "
                f"Got shape {w.shape} instead."
            )
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise InputError("The 'weights' parameter must hold finite numbers >= 0.")
    return w
