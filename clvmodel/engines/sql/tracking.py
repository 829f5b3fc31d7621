"""Repeat purchase occasions per period of one time unit (the tracking chart's actuals)."""

from __future__ import annotations

import datetime as _dt

from .dialect import DUCKDB, Dialect


def tracking_sql(
    occasions: str,
    customers: str,
    *,
    first_date: _dt.date,
    end: _dt.date,
    unit_days: float,
    d: Dialect = DUCKDB,
) -> str:
    """Repeat purchase occasions of the summarised customers per period of one unit.

    Period ``k`` (0-based) holds the occasions ``s`` days after ``first_date`` with
    ``k <= s / unit_days < k + 1``. Only customers whose first occasion is on or before
    ``end`` (the calibration end, else the observation end) count, with all their repeat
    occasions up to the observation end. Periods without occasions are absent.
    """
    since = f"CAST({d.day_diff(d.date_literal(first_date), 'o.txn_date')} AS DOUBLE)"
    # Subqueries, not CTEs: Spark (4.x) does not substitute persisted tables read inside a
    # CTE definition, and would recompute them from the input.
    return f"""
SELECT period, COUNT(*) AS actual
FROM (
  SELECT CAST(FLOOR({since} / {d.double(unit_days)}) AS BIGINT) AS period
  FROM {occasions} AS o
  JOIN {customers} AS c ON o.customer_id = c.customer_id
  WHERE c.first_date <= {d.date_literal(end)} AND o.txn_date > c.first_date
) AS repeats
GROUP BY period
ORDER BY period
"""


def tracking_all_sql(
    occasions: str,
    customers: str,
    *,
    first_date: _dt.date,
    unit_days: float,
    d: Dialect = DUCKDB,
) -> str:
    """:func:`tracking_sql` when every customer counts (no calibration split), without the
    join: per period, all occasions less the customers' first occasions."""
    unit = d.double(unit_days)
    start = d.date_literal(first_date)

    def period(day: str) -> str:
        return f"CAST(FLOOR(CAST({d.day_diff(start, day)} AS DOUBLE) / {unit}) AS BIGINT)"

    return _repeats_per_period(occasions, period("txn_date"), customers, period("first_date"))


def tracking_of_summary_sql(
    occasions: str,
    summary: str,
    *,
    first_date: _dt.date,
    observation_end: _dt.date,
    unit_days: float,
    d: Dialect = DUCKDB,
) -> str:
    """:func:`tracking_all_sql` with the customers' first occasions read from a summary
    without a calibration split (:func:`summary_sql`), which has no ``first_date``: a
    customer's first occasion is ``round(T × unit_days)`` days before ``observation_end``
    (``T`` is that whole number of days divided by ``unit_days``, within a few ulps)."""
    unit = d.double(unit_days)
    start = d.date_literal(first_date)
    to_end = d.day_diff(start, d.date_literal(observation_end))

    def period(days: str) -> str:
        return f"CAST(FLOOR(CAST({days} AS DOUBLE) / {unit}) AS BIGINT)"

    first = f"{to_end} - CAST(round({d.quote('T')} * {unit}) AS BIGINT)"
    return _repeats_per_period(
        occasions, period(d.day_diff(start, "txn_date")), summary, period(first)
    )


def _repeats_per_period(occasions: str, period: str, customers: str, first_period: str) -> str:
    """Per period, the occasions less the customers' first occasions (periods with none
    left out)."""
    return f"""
SELECT e.period AS period, e.n - COALESCE(f.n, 0) AS actual
FROM (
  SELECT {period} AS period, COUNT(*) AS n FROM {occasions} GROUP BY 1
) AS e LEFT JOIN (
  SELECT {first_period} AS period, COUNT(*) AS n FROM {customers} GROUP BY 1
) AS f ON e.period = f.period
WHERE e.n - COALESCE(f.n, 0) > 0
ORDER BY period
"""
