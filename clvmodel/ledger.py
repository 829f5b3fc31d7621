"""The rejects ledger: where every input row went.

Each input row is either *used* or *rejected* with one reason, so that
``input_rows == used_rows + rejected_rows`` holds for every run; :meth:`RowLedger.check`
raises when it does not (a bug, never a data problem).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RowLedger:
    """Counts of input rows: used, rejected, and rejected by reason.

    Attributes
    ----------
    input_rows : int
        Rows read from the input.
    used_rows : int
        Rows that entered the summary.
    rejected_rows : int
        Rows left out, each for one reason.
    by_reason : Mapping[str, int]
        Rejected rows counted by reason (e.g. ``"unparseable date"``), largest count first.
    """

    input_rows: int
    used_rows: int
    rejected_rows: int
    by_reason: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ordered = dict(sorted(self.by_reason.items(), key=lambda kv: (-kv[1], kv[0])))
        object.__setattr__(self, "by_reason", {str(k): int(v) for k, v in ordered.items()})

    def check(self) -> RowLedger:
        """Raise :class:`AssertionError` unless input = used + rejected = used + sum by reason.

        Returns
        -------
        RowLedger
            ``self``, so that ``ledger = RowLedger(...).check()`` reads naturally.
        """
        by_reason_total = sum(self.by_reason.values())
        if min(self.input_rows, self.used_rows, self.rejected_rows) < 0:
            raise AssertionError(f"Row counts must be >= 0. Got {self.to_dict()}.")
        if self.input_rows != self.used_rows + self.rejected_rows:
            raise AssertionError(
                f"Row ledger does not balance: {self.input_rows:,} input rows != "
                f"{self.used_rows:,} used + {self.rejected_rows:,} rejected."
            )
        if by_reason_total != self.rejected_rows:
            raise AssertionError(
                f"Row ledger does not balance: {self.rejected_rows:,} rejected rows != "
                f"{by_reason_total:,} counted by reason {self.by_reason}."
            )
        return self

    def describe(self) -> str:
        """One line, e.g. ``3 of 10 input rows rejected: 2 unparseable date, 1 missing amount``."""
        reasons = ", ".join(f"{n:,} {reason}" for reason, n in self.by_reason.items())
        text = f"{self.rejected_rows:,} of {self.input_rows:,} input rows rejected"
        return f"{text}: {reasons}" if reasons else text

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready): the three counts and ``by_reason``."""
        return {
            "input_rows": self.input_rows,
            "used_rows": self.used_rows,
            "rejected_rows": self.rejected_rows,
            "by_reason": dict(self.by_reason),
        }
