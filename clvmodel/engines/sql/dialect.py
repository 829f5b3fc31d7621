"""The SQL dialect and what an engine tells the queries about its input: the spellings that
differ between engines (:class:`Dialect`, :data:`DUCKDB`), the kinds of the source columns
(:class:`SourceSpec`), the reject reasons and the exact type of the amounts."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["text", "temporal", "numeric", "other"]
"""How a source column is parsed: text is parsed, temporal and numeric are cast, other is
cast to text first."""

REASONS: tuple[str, ...] = (
    "missing customer id",
    "missing date",
    "unparseable date",
    "missing amount",
    "non-numeric amount",
    "non-finite amount",
    "amount out of range",
    "after observation end",
)
"""Every reject reason, in the order they are checked (a row gets the first that applies)."""

EXACT_TYPE = "DECIMAL(38, 18)"
"""Amounts are summed in this exact type: 18 decimal places, 20 integer digits. Integer
arithmetic makes the sums independent of row order and of how the engine splits the work,
so every input path and every run give the same bits."""

MAX_ABS_AMOUNT = 1e15
"""Amounts of this size or more are rejected (``amount out of range``), so that the sum of
up to 100,000 of them fits :data:`EXACT_TYPE`."""


class Dialect:
    """Spellings that differ between SQL engines; the defaults are DuckDB's."""

    name = "duckdb"

    def quote(self, identifier: str) -> str:
        """Quote an identifier: ``"name"``."""
        return '"' + identifier.replace('"', '""') + '"'

    def literal(self, text: str) -> str:
        """A string literal: ``'text'`` with quotes doubled."""
        return "'" + text.replace("'", "''") + "'"

    def date_literal(self, day: _dt.date) -> str:
        """``DATE 'yyyy-mm-dd'`` (ANSI, also Spark)."""
        return f"DATE '{day.isoformat()}'"

    def double(self, value: float) -> str:
        """A DOUBLE constant that round-trips exactly."""
        return f"CAST({float(value)!r} AS DOUBLE)"

    def to_text(self, expr: str) -> str:
        """Cast to text (``STRING`` is understood by DuckDB and Spark alike)."""
        return f"CAST({expr} AS STRING)"

    def try_double(self, expr: str) -> str:
        """Parse text as a double, NULL when it is not a number."""
        return f"TRY_CAST({expr} AS DOUBLE)"

    def parse_timestamp(self, expr: str, date_format: str | None) -> str:
        """Parse text as a timestamp, NULL when it does not parse.

        Without a format, ISO 8601 (``1997-01-01``, ``1997-01-01 10:30:00``,
        ``1997-01-01T10:30:00``); with one, strptime codes (``%Y%m%d``).
        """
        if date_format is None:
            return f"TRY_CAST({expr} AS TIMESTAMP)"
        return f"try_strptime({expr}, {self.literal(date_format)})"

    def day_diff(self, start: str, end: str) -> str:
        """Whole days from ``start`` to ``end`` (two DATE expressions)."""
        return f"date_diff('day', {start}, {end})"

    def min_by(self, value: str, key: str) -> str:
        """``value`` of the row with the smallest ``key`` in a group (DuckDB and Spark 3)."""
        return f"min_by({value}, {key})"

    def is_finite(self, expr: str) -> str:
        """TRUE for a finite double (not NaN, not +/-infinity)."""
        return f"isfinite({expr})"

    def exact(self, expr: str) -> str:
        """A DOUBLE amount as :data:`EXACT_TYPE`: DuckDB multiplies by 10^18 in floating
        point and rounds half away from zero (``35.31`` becomes 35.310000000000004096)."""
        return f"CAST({expr} AS {EXACT_TYPE})"


DUCKDB = Dialect()


@dataclass(frozen=True)
class SourceSpec:
    """What the engine knows about the input relation's columns.

    Parameters
    ----------
    id_kind, date_kind : ColumnKind
        Kinds of ``src_id`` and ``src_date``.
    amount_kind : ColumnKind or None
        Kind of ``src_amount``; ``None`` when there is no amount column.
    date_format : str, optional
        strptime format for text dates; ``None`` parses ISO 8601. Ignored for temporal
        columns.
    """

    id_kind: ColumnKind
    date_kind: ColumnKind
    amount_kind: ColumnKind | None
    date_format: str | None = None

    @property
    def has_amount(self) -> bool:
        """Whether the input has an amount column."""
        return self.amount_kind is not None
