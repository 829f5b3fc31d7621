"""Time units: one table, explicit conversions, no hidden 30-day months.

A unit is one of ``"D"`` (day), ``"W"`` (week, exactly 7 days), ``"M"`` (month, 365.25/12 =
30.4375 days) and ``"Y"`` (year, 365.25 days). Durations are measured continuously in the
unit: 10 days are 10/7 = 1.428571... weeks, never rounded to whole periods.
"""

from __future__ import annotations

from .exceptions import InputError

DAYS_PER_YEAR = 365.25

UNIT_DAYS: dict[str, float] = {
    "D": 1.0,
    "W": 7.0,
    "M": DAYS_PER_YEAR / 12.0,
    "Y": DAYS_PER_YEAR,
}

UNIT_NAMES: dict[str, str] = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}


def check_unit(unit: str, name: str = "freq") -> str:
    """Return ``unit`` upper-cased if it is a known time unit, else raise :class:`InputError`."""
    key = str(unit).upper()
    if key not in UNIT_DAYS:
        raise InputError(
            f"The {name!r} parameter must be one of {sorted(UNIT_DAYS)} "
            f"(day, week, month, year). Got {unit!r} instead."
        )
    return key


def unit_days(unit: str) -> float:
    """Length of one ``unit`` in days."""
    return UNIT_DAYS[check_unit(unit)]


def units_per_year(unit: str) -> float:
    """How many ``unit`` fit in a year of 365.25 days (52.178... weeks, 12 months)."""
    return DAYS_PER_YEAR / unit_days(unit)


def rate_per_unit(annual_rate: float, unit: str) -> float:
    """Convert an annual discount rate to the equivalent compound rate per ``unit``.

    ``(1 + annual_rate) ** (unit_days / 365.25) - 1``, so that discounting over a year of
    units gives exactly ``1 / (1 + annual_rate)``.
    """
    if not annual_rate > -1.0:
        raise InputError(
            f"The 'discount_rate' parameter must be greater than -1 (per year). "
            f"Got {annual_rate!r} instead."
        )
    return (1.0 + annual_rate) ** (1.0 / units_per_year(unit)) - 1.0
