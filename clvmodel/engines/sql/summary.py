"""From the used rows to the RFM summary: purchase occasions, per-customer aggregates and the
summary (steps 3 and 4 of :mod:`clvmodel.engines.sql`), the fits' collapsed table and the
customer counts."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

from .dialect import DUCKDB, EXACT_TYPE, Dialect


def occasions_sql(final_rows: str, *, has_amount: bool, d: Dialect = DUCKDB) -> str:
    """Purchase occasions: one row per (customer, calendar day) with a used row.

    Columns ``customer_id``, ``txn_date`` and, with an amount column, ``amount`` (the sum of
    that day's amounts, exact, as :data:`EXACT_TYPE`).
    """
    amount = f", SUM({d.exact('amount')}) AS amount" if has_amount else ""
    return f"""
SELECT customer_id, txn_date{amount}
FROM {final_rows}
WHERE reason IS NULL
GROUP BY customer_id, txn_date
"""


def customers_sql(
    occasions: str,
    calibration_end: _dt.date,
    *,
    has_amount: bool,
    d: Dialect = DUCKDB,
    holdout: bool = True,
) -> str:
    """Per-customer aggregates of the purchase occasions (:func:`occasions_sql`).

    Columns: ``customer_id``, ``first_date`` (first occasion), ``last_date`` (last occasion
    on or before ``calibration_end``), ``frequency`` (occasions after the first, on or
    before ``calibration_end``), ``frequency_holdout`` (occasions after
    ``calibration_end``), ``n_occasions``, and with an amount column ``repeat_amount`` and
    ``holdout_amount`` (summed amounts of those occasions). Without a calibration split pass
    the observation end as ``calibration_end``. The repeat figures are those of customers
    whose first occasion is on or before ``calibration_end`` (the others are left out of
    the summary): all their occasions up to it, less the first one.

    One aggregation, no join: the first occasion's amount is ``min_by(amount, txn_date)``
    (one occasion per customer and day), subtracted exactly in :data:`EXACT_TYPE`.

    ``holdout=False`` says that no occasion is after ``calibration_end`` (no calibration
    split): the same figures by plain aggregates (a third of the work on tens of millions
    of occasions), without the holdout columns.
    """
    if not holdout:
        repeat = (
            f"SUM(amount) - {d.min_by('amount', 'txn_date')} AS repeat_amount,"
            if has_amount
            else ""
        )
        return f"""
SELECT
  customer_id,
  MIN(txn_date) AS first_date,
  MAX(txn_date) AS last_date,
  COUNT(*) - 1 AS frequency,{repeat}
  COUNT(*) AS n_occasions
FROM {occasions}
GROUP BY customer_id
"""
    cal = d.date_literal(calibration_end)
    zero = f"CAST(0 AS {EXACT_TYPE})"
    upto = f"txn_date <= {cal}"
    kept = f"MIN(txn_date) <= {cal}"
    amounts = (
        f"""
  CASE WHEN {kept}
    THEN SUM(CASE WHEN {upto} THEN amount ELSE {zero} END) - {d.min_by("amount", "txn_date")}
    ELSE {zero} END AS repeat_amount,
  SUM(CASE WHEN txn_date > {cal} THEN amount ELSE {zero} END) AS holdout_amount,"""
        if has_amount
        else ""
    )
    return f"""
SELECT
  customer_id,
  MIN(txn_date) AS first_date,
  MAX(CASE WHEN {upto} THEN txn_date END) AS last_date,
  CASE WHEN {kept} THEN SUM(CASE WHEN {upto} THEN 1 ELSE 0 END) - 1 ELSE 0 END AS frequency,
  SUM(CASE WHEN txn_date > {cal} THEN 1 ELSE 0 END) AS frequency_holdout,{amounts}
  COUNT(*) AS n_occasions
FROM {occasions}
GROUP BY customer_id
"""


def summary_sql(
    customers: str,
    *,
    unit_days: float,
    observation_end: _dt.date,
    calibration_end: _dt.date | None,
    has_amount: bool,
    d: Dialect = DUCKDB,
    ordered: bool = True,
) -> str:
    """The RFM summary, one row per customer, ordered by customer id (if ``ordered``).

    With ``t0`` the customer's first occasion, ``end`` the calibration end if given (else
    the observation end), and durations in days divided by ``unit_days``:

    - ``frequency``: occasions after ``t0`` and on or before ``end``;
    - ``recency``: last occasion on or before ``end`` minus ``t0`` (0 when frequency is 0);
    - ``T``: ``end`` minus ``t0``;
    - ``monetary_value``: mean amount of those repeat occasions, 0 when there are none;
    - with a calibration end, ``frequency_holdout`` (occasions in (end, observation_end]),
      ``monetary_value_holdout`` (their mean amount, 0 when none) and
      ``duration_holdout`` (observation_end minus end).

    Customers whose first occasion is after ``end`` are left out.
    """
    end = d.date_literal(calibration_end or observation_end)
    unit = d.double(unit_days)

    def in_units(start: str, stop: str) -> str:
        return f"CAST({d.day_diff(start, stop)} AS DOUBLE) / {unit}"

    def mean(total: str, count: str) -> str:
        ratio = f"CAST({total} AS DOUBLE) / CAST({count} AS DOUBLE)"
        return f"CASE WHEN {count} > 0 THEN {ratio} ELSE {d.double(0.0)} END"

    columns = [
        f"CAST(frequency AS BIGINT) AS {d.quote('frequency')}",
        f"{in_units('first_date', 'last_date')} AS {d.quote('recency')}",
        f"{in_units('first_date', end)} AS {d.quote('T')}",
    ]
    if has_amount:
        columns.append(f"{mean('repeat_amount', 'frequency')} AS {d.quote('monetary_value')}")
    if calibration_end is not None:
        columns.append(f"CAST(frequency_holdout AS BIGINT) AS {d.quote('frequency_holdout')}")
        if has_amount:
            columns.append(
                f"{mean('holdout_amount', 'frequency_holdout')} "
                f"AS {d.quote('monetary_value_holdout')}"
            )
        obs = d.date_literal(observation_end)
        columns.append(f"{in_units(end, obs)} AS {d.quote('duration_holdout')}")
    selected = ",\n  ".join(columns)
    return f"""
SELECT
  customer_id AS {d.quote("customer_id")},
  {selected}
FROM {customers}
WHERE first_date <= {end}
{"ORDER BY customer_id" if ordered else ""}
"""


#: The column of :func:`fit_table_sql` (with ``spend_sum``) summing each row's customers'
#: ``frequency × monetary_value`` (0 for those without a repeat purchase).
SPEND_SUM = "clv_spend_sum"


def fit_table_sql(
    summary: str,
    columns: Sequence[str],
    *,
    where: str | None = None,
    spend_sum: bool = False,
    d: Dialect = DUCKDB,
) -> str:
    """Distinct rows of ``columns`` with their customer count ``clv_weight`` and, with
    ``spend_sum``, :data:`SPEND_SUM`; ordered by the columns (the same rows, in the same
    order, from every engine, so that a fit on them is the same fit)."""
    cols = ", ".join(d.quote(c) for c in columns)
    cond = f" WHERE {where}" if where else ""
    extra = (
        f", SUM(CASE WHEN frequency > 0 THEN frequency * COALESCE(monetary_value, 0) "
        f"ELSE 0 END) AS {SPEND_SUM}"
        if spend_sum
        else ""
    )
    return (
        f"SELECT {cols}, COUNT(*) AS clv_weight{extra} FROM {summary}{cond} "
        f"GROUP BY {cols} ORDER BY {cols}"
    )


def stats_sql(customers: str, end: _dt.date, d: Dialect = DUCKDB) -> str:
    """``customers`` (all with a used row), ``excluded_customers`` (first occasion after
    ``end``) and ``n_transactions`` (occasions of the customers kept)."""
    cutoff = d.date_literal(end)
    return f"""
SELECT
  COUNT(*) AS customers,
  SUM(CASE WHEN first_date > {cutoff} THEN 1 ELSE 0 END) AS excluded_customers,
  SUM(CASE WHEN first_date <= {cutoff} THEN n_occasions ELSE 0 END) AS n_transactions
FROM {customers}
"""


def summary_stats_sql(summary: str) -> str:
    """:func:`stats_sql` read from a summary without a calibration split (every customer
    kept, and ``frequency + 1`` occasions each), when no per-customer table is kept."""
    return f"""
SELECT COUNT(*) AS customers, 0 AS excluded_customers,
  SUM(frequency) + COUNT(*) AS n_transactions
FROM {summary}
"""
