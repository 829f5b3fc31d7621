"""Exact amounts in Spark as integer limbs: the summary SQL's sums without DECIMAL arithmetic.

The shared SQL (:mod:`clvmodel.engines.sql`) sums amounts in :data:`~clvmodel.engines.sql.
EXACT_TYPE`, DECIMAL(38, 18), so that sums do not depend on row order. DuckDB does that in
128-bit integers; Spark does every DECIMAL(38, 18) operation in ``java.math.BigDecimal``
objects, one allocation per row and step, and that was most of the Spark summary's time
(with ``round`` on a double, which Spark also does through ``BigDecimal``).

Here the same exact value is carried as four signed 64-bit integers. An amount ``x``
becomes DuckDB's ``n = round(|x| 10^18)`` (the double product rounded half away from zero,
:meth:`~clvmodel.engines.spark.dialect.SparkDialect.exact`), split exactly in double
arithmetic into ``n = c3 2^96 + c2 2^64 + c1 2^32 + c0`` with each ``c < 2^32``, each
signed as ``x``. Sums are sums of the limbs (``BIGINT``: exact for up to 2^31 rows of one
customer), differences are differences of the limbs, and only each customer's totals are
turned back into the DECIMAL(38, 18) value ``(a3 2^96 + a2 2^64 + a1 2^32 + a0) 10^-18``
(:func:`decimal`), which the shared :func:`~clvmodel.engines.sql.summary_sql` reads as
before: the same values, bit for bit, as the DECIMAL sums.

The queries:

- :func:`grouped_sql`: one pass over the classified rows, grouped by reason, customer (for
  valid rows) and day: the purchase occasions of every valid row (any date) with their row
  counts and amount limbs, and the rejected rows counted by reason and day;
- :func:`customers_sql`: per-customer aggregates of the occasions up to the observation
  end, as :func:`clvmodel.engines.sql.customers_sql`, amounts as limbs;
- :func:`amounts_sql`: those aggregates with the amounts as DECIMAL(38, 18), for
  :func:`~clvmodel.engines.sql.summary_sql`.
"""

from __future__ import annotations

import datetime as _dt

from ..sql import EXACT_TYPE, Dialect

#: Limb names, most significant first, and their weights' exponents of two.
LIMBS = ("a3", "a2", "a1", "a0")
_SHIFTS = (96, 64, 32, 0)


def _round_half_away(v: str) -> str:
    """``round(v)`` for a non-negative double, half away from zero, without Spark's
    ``round`` (which goes through ``BigDecimal``): ``floor(v)``, plus one when the
    fraction (exact: ``v - floor(v)`` is representable) is at least one half; from 2^52
    on every double is a whole number. Equal to Spark's and DuckDB's rounding for every
    double (a double is never on the other side of one half from its shortest decimal)."""
    whole = f"CAST(floor({v}) AS DOUBLE)"
    return (
        f"CASE WHEN {v} >= CAST({float(2**52)!r} AS DOUBLE) THEN {v} "
        f"WHEN {v} - {whole} >= 0.5 THEN {whole} + 1 ELSE {whole} END"
    )


def _limb_columns() -> str:
    """Select-list text: the four signed limbs ``a3 .. a0`` from the columns ``sign`` and
    ``y`` = ``round(|amount| 10^18)`` (a whole double below 2^110): each limb is the floor
    of a power-of-two quotient, below 2^32, and each remainder is exact."""
    out = []
    rest = "y"
    for name, shift in zip(LIMBS, _SHIFTS, strict=True):
        if shift:
            weight = f"CAST({float(2**shift)!r} AS DOUBLE)"
            limb = f"floor({rest} / {weight})"
            out.append(f"sign * CAST({limb} AS BIGINT) AS {name}")
            rest = f"({rest} - {limb} * {weight})"
        else:
            out.append(f"sign * CAST({rest} AS BIGINT) AS {name}")
    return ",\n  ".join(out)


def grouped_sql(rows: str, *, has_amount: bool) -> str:
    """The classified rows (:func:`~clvmodel.engines.sql.rows_sql`) grouped in one pass by
    ``reason``, ``customer_id`` (valid rows only; NULL for rejected rows) and ``txn_date``.

    Columns ``reason``, ``customer_id``, ``txn_date``, ``n_rows`` and, with an amount
    column, the summed limbs ``a3 .. a0``. The rows with a NULL reason are the purchase
    occasions of all valid rows (the observation end is applied by the readers: an
    occasion is a customer and a day, so dropping the rows after a day drops whole
    occasions); the others count the rejected rows by reason and day.
    """
    limbs = ""
    sums = ""
    if has_amount:
        y = f"abs(amount * CAST({1e18!r} AS DOUBLE))"
        limbs = (
            ",\n    CASE WHEN reason IS NULL THEN (CASE WHEN amount < 0 THEN -1 ELSE 1 END) END"
            f" AS sign,\n    CASE WHEN reason IS NULL THEN {_round_half_away(y)} END AS y"
        )
        sums = "".join(f", SUM({name}) AS {name}" for name in LIMBS)
    return f"""
WITH classified AS (
  SELECT reason, CASE WHEN reason IS NULL THEN customer_id END AS customer_id,
    txn_date{limbs}
  FROM {rows}
), split AS (
  SELECT reason, customer_id, txn_date{"," if has_amount else ""}
  {_limb_columns() if has_amount else ""}
  FROM classified
)
SELECT reason, customer_id, txn_date, COUNT(*) AS n_rows{sums}
FROM split
GROUP BY reason, customer_id, txn_date
"""


def days_sql(grouped: str) -> str:
    """The rows counted by reason and day (as :func:`~clvmodel.engines.sql.day_counts_sql`)
    from :func:`grouped_sql`; ``n_occasions`` counts the purchase occasions of the day."""
    return (
        "SELECT reason, txn_date, SUM(n_rows) AS n_rows, COUNT(*) AS n_occasions "
        f"FROM {grouped} GROUP BY reason, txn_date"
    )


def occasions_sql(grouped: str, observation_end: _dt.date, d: Dialect) -> str:
    """The purchase occasions on or before ``observation_end`` (limbs for the amount)."""
    return (
        f"SELECT * FROM {grouped} "
        f"WHERE reason IS NULL AND txn_date <= {d.date_literal(observation_end)}"
    )


def customers_sql(
    occasions: str,
    calibration_end: _dt.date,
    *,
    has_amount: bool,
    d: Dialect,
    holdout: bool = True,
) -> str:
    """:func:`clvmodel.engines.sql.customers_sql` on the occasions of :func:`occasions_sql`,
    with ``repeat_amount`` and ``holdout_amount`` as limbs ``repeat_a3 ..`` and
    ``holdout_a3 ..`` (the first occasion's limbs by ``min_by``, subtracted limb by limb;
    one ``min_by`` per limb, as a struct would turn the hash aggregate into a sort)."""

    def first(a: str) -> str:
        return d.min_by(a, "txn_date")

    if not holdout:
        amounts = "".join(f"\n  SUM({a}) - {first(a)} AS repeat_{a}," for a in LIMBS if has_amount)
        return f"""
SELECT
  customer_id,
  MIN(txn_date) AS first_date,
  MAX(txn_date) AS last_date,
  COUNT(*) - 1 AS frequency,{amounts}
  COUNT(*) AS n_occasions
FROM {occasions}
GROUP BY customer_id
"""
    cal = d.date_literal(calibration_end)
    upto = f"txn_date <= {cal}"
    kept = f"MIN(txn_date) <= {cal}"
    amounts = ""
    if has_amount:
        for a in LIMBS:
            amounts += (
                f"\n  CASE WHEN {kept} THEN SUM(CASE WHEN {upto} THEN {a} ELSE 0 END)"
                f" - {first(a)} ELSE 0 END AS repeat_{a},"
            )
        for a in LIMBS:
            amounts += f"\n  SUM(CASE WHEN txn_date > {cal} THEN {a} ELSE 0 END) AS holdout_{a},"
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


def decimal(prefix: str) -> str:
    """The DECIMAL(38, 18) value of the limbs ``{prefix}a3 .. {prefix}a0``.

    The integer ``n = a3 2^96 + a2 2^64 + a1 2^32 + a0`` is formed in DECIMAL(38, 0)
    (integer products and sums keep scale 0; exact below 10^38, as DECIMAL(38, 18) is
    below 10^20), then scaled by 10^-18 through its text (``'<n>E-18'`` parses exactly):
    decimal division or multiplication would round to fewer decimals at this precision.
    """
    terms = " + ".join(
        f"CAST({prefix}{a} AS DECIMAL(20, 0)) * CAST('{2**shift}' AS DECIMAL(30, 0))"
        for a, shift in zip(LIMBS, _SHIFTS, strict=True)
    )
    n = f"CAST({terms} AS DECIMAL(38, 0))"
    return f"CAST(concat(CAST({n} AS STRING), 'E-18') AS {EXACT_TYPE})"


def amounts_sql(customers: str, *, has_amount: bool, holdout: bool) -> str:
    """The per-customer aggregates of :func:`customers_sql` with ``repeat_amount`` (and
    ``holdout_amount``) as DECIMAL(38, 18), the columns
    :func:`~clvmodel.engines.sql.summary_sql` reads."""
    if not has_amount:
        return f"SELECT * FROM {customers}"
    cols = [f"{decimal('repeat_')} AS repeat_amount"]
    if holdout:
        cols.append(f"{decimal('holdout_')} AS holdout_amount")
    return f"SELECT *, {', '.join(cols)} FROM {customers}"
