"""Numbers, amounts, dates and spans as the report writes them."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..plotting import unit_name
from ..units import UNIT_DAYS

DASH = "\N{EN DASH}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt_number(value: Any, digits: int = 3) -> str:
    """``1234.5`` -> ``"1,235"``, ``0.01234`` -> ``"0.0123"``; missing -> ``"n/a"``."""
    if _missing(value):
        return "n/a"
    v = float(value)
    if abs(v) >= 10**digits:
        return f"{v:,.0f}"
    return f"{v:,.{digits}g}" if v != 0 else "0"


def fmt_count(value: Any) -> str:
    """A count or expected count, rounded to a whole number: ``956.17`` -> ``"956"``."""
    return "n/a" if _missing(value) else f"{float(value):,.0f}"


def fmt_money(value: Any, currency: str | None = None) -> str:
    """Amounts: whole numbers from 1,000, two decimals below; with the currency, a code
    before (``"EUR 1,234"``) or a symbol against it (``"$1,234"``, ``"-€5.00"``)."""
    if _missing(value):
        return "n/a"
    v = float(value)
    text = f"{abs(v):,.0f}" if abs(v) >= 1000 else f"{abs(v):,.2f}"
    sign = "-" if v < 0 and text.strip("0.,") else ""
    if not currency:
        return sign + text
    if currency.isalpha() and len(currency) > 1:
        return f"{sign}{currency} {text}"
    return f"{sign}{currency}{text}"


def fmt_pct(value: Any, digits: int = 0, *, signed: bool = False) -> str:
    """``0.123`` -> ``"12%"``."""
    if _missing(value):
        return "n/a"
    return f"{float(value):{'+' if signed else ''}.{digits}%}"


def _date(value: Any) -> str:
    return pd.Timestamp(value).strftime("%d %b %Y") if value else "n/a"


def _span(start: Any, end: Any, unit: str, *, shown_start: Any = None) -> str:
    length = (pd.Timestamp(end) - pd.Timestamp(start)) / pd.Timedelta(days=UNIT_DAYS[unit])
    first = _date(shown_start if shown_start is not None else start)
    return f"{first} {DASH} {_date(end)} ({length:.1f} {unit_name(unit)})"
