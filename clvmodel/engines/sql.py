"""The RFM summary as SQL text: one definition, run by any engine that speaks the dialect.

The queries use plain SQL (CTEs, ``CASE``, ``GROUP BY``, inner joins, ``DATE 'yyyy-mm-dd'``
literals); the few functions whose spelling
differs between engines (identifier quoting, day differences, date parsing, finiteness)
go through a :class:`Dialect`. :data:`DUCKDB` is the dialect run today
(:mod:`clvmodel.engines.duckdb`); a Spark SQL dialect would override ``quote``
(backticks), ``day_diff`` (``datediff(end, start)``), ``parse_timestamp``
(``try_to_timestamp`` with a Java pattern), ``is_finite`` and ``exact``: that is
:data:`clvmodel.engines.spark.dialect.SPARK`.

Contract with the engine
------------------------
The engine exposes the input as a relation with the columns

``src_row``
    1-based position of the row in the input (first data row = 1).
``src_id``, ``src_date``, ``src_amount``
    The customer id, date and amount columns exactly as read (any type; ``src_amount`` is
    absent when there is no amount column).

and tells :class:`SourceSpec` the kind of each column. The queries then

1. classify every row (:func:`rows_sql`): parse the date (timestamps truncated to the
   calendar date) and the amount, and give each row at most one reject reason, checked in
   this order: ``missing customer id``, ``missing date``, ``unparseable date``,
   ``missing amount``, ``non-numeric amount``, ``non-finite amount``,
   ``amount out of range``;
2. mark valid rows dated after the observation end as rejected with reason
   ``after observation end`` (:func:`final_rows_sql`); the rows left are the *used* rows;
3. merge the used rows of a customer on one calendar day into one purchase occasion, amounts
   summed (:func:`occasions_sql`), and aggregate the occasions per customer
   (:func:`customers_sql`);
4. turn the aggregates into frequency, recency, T and monetary value (:func:`summary_sql`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
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


def _empty_after_trim(text: str) -> str:
    """TRUE when ``trim(text) = ''``; ``trim`` (which copies the string) only runs on the
    values that start with a space: any other non-empty value keeps its first character.
    ``CASE`` evaluates each branch on its own rows only, in DuckDB and Spark alike."""
    return f"CASE WHEN {text} LIKE ' %' THEN trim({text}) = '' ELSE {text} = '' END"


def _trimmed(text: str) -> str:
    """``trim(text)``, copying only the values with a leading or trailing space."""
    return f"CASE WHEN {text} LIKE ' %' OR {text} LIKE '% ' THEN trim({text}) ELSE {text} END"


def _blank(expr: str, kind: ColumnKind, d: Dialect) -> str:
    """TRUE when a raw value is missing: NULL, or text that is empty or only spaces."""
    if kind == "text":
        return f"({expr} IS NULL OR {_empty_after_trim(expr)})"
    if kind == "other":
        return f"({expr} IS NULL OR {_empty_after_trim(d.to_text(expr))})"
    return f"({expr} IS NULL)"


def _date_expr(spec: SourceSpec, d: Dialect) -> str:
    """The calendar date of ``src_date`` (time of day dropped), NULL when unparseable."""
    if spec.date_kind == "temporal":
        return "CAST(src_date AS DATE)"
    text = "src_date" if spec.date_kind == "text" else d.to_text("src_date")
    return f"CAST({d.parse_timestamp(_trimmed(text), spec.date_format)} AS DATE)"


def _amount_expr(spec: SourceSpec, d: Dialect) -> str:
    """``src_amount`` as a double, NULL when it is not a number."""
    if spec.amount_kind == "numeric":
        return "CAST(src_amount AS DOUBLE)"
    text = "src_amount" if spec.amount_kind == "text" else d.to_text("src_amount")
    return d.try_double(_trimmed(text))


def rows_sql(relation: str, spec: SourceSpec, d: Dialect = DUCKDB) -> str:
    """Classify each input row.

    Returns a query with columns ``row_no``, ``customer_id`` (as given), ``txn_date`` (DATE),
    ``amount`` (DOUBLE; only with an amount column) and ``reason`` (NULL for a valid row,
    else the first reject reason that applies, see :data:`REASONS`).
    """
    amount_cols = ""
    amount_checks = ""
    if spec.has_amount:
        assert spec.amount_kind is not None
        amount_cols = (
            f",\n    {_blank('src_amount', spec.amount_kind, d)} AS amount_blank"
            f",\n    {_amount_expr(spec, d)} AS amount"
        )
        amount_checks = (
            "\n    WHEN amount_blank THEN 'missing amount'"
            "\n    WHEN amount IS NULL THEN 'non-numeric amount'"
            f"\n    WHEN NOT {d.is_finite('amount')} THEN 'non-finite amount'"
            f"\n    WHEN abs(amount) >= {d.double(MAX_ABS_AMOUNT)} THEN 'amount out of range'"
        )
    amount_out = ",\n  amount" if spec.has_amount else ""
    return f"""
WITH parsed AS (
  SELECT
    src_row AS row_no,
    src_id AS customer_id,
    {_blank("src_id", spec.id_kind, d)} AS id_blank,
    {_blank("src_date", spec.date_kind, d)} AS date_blank,
    {_date_expr(spec, d)} AS txn_date{amount_cols}
  FROM {relation}
)
SELECT
  row_no,
  customer_id,
  txn_date{amount_out},
  CASE
    WHEN id_blank THEN 'missing customer id'
    WHEN date_blank THEN 'missing date'
    WHEN txn_date IS NULL THEN 'unparseable date'{amount_checks}
  END AS reason
FROM parsed
"""


def bounds_sql(rows: str) -> str:
    """Counts and date range of the classified rows: ``input_rows``, ``valid_rows``,
    ``first_date`` and ``last_date`` (of the valid rows)."""
    return f"""
SELECT
  COUNT(*) AS input_rows,
  SUM(CASE WHEN reason IS NULL THEN 1 ELSE 0 END) AS valid_rows,
  MIN(CASE WHEN reason IS NULL THEN txn_date END) AS first_date,
  MAX(CASE WHEN reason IS NULL THEN txn_date END) AS last_date
FROM {rows}
"""


def day_counts_sql(rows: str) -> str:
    """The classified rows counted by ``(reason, txn_date)``: one pass over the input that
    answers :func:`bounds_sql`, :func:`ledger_sql` for any observation end, and the last
    valid date before a day (:func:`bounds_of_days_sql`, :func:`ledger_of_days_sql`). The
    table has one row per reason and calendar day, whatever the number of rows."""
    return f"SELECT reason, txn_date, COUNT(*) AS n_rows FROM {rows} GROUP BY reason, txn_date"


def bounds_of_days_sql(days: str) -> str:
    """:func:`bounds_sql` from the day counts of :func:`day_counts_sql`."""
    return f"""
SELECT
  SUM(n_rows) AS input_rows,
  SUM(CASE WHEN reason IS NULL THEN n_rows ELSE 0 END) AS valid_rows,
  MIN(CASE WHEN reason IS NULL THEN txn_date END) AS first_date,
  MAX(CASE WHEN reason IS NULL THEN txn_date END) AS last_date
FROM {days}
"""


def ledger_of_days_sql(days: str, observation_end: _dt.date, d: Dialect = DUCKDB) -> str:
    """:func:`ledger_sql` of :func:`final_rows_sql` from the day counts: valid rows dated
    after ``observation_end`` count as ``after observation end``."""
    after = f"reason IS NULL AND txn_date > {d.date_literal(observation_end)}"
    return f"""
SELECT CASE WHEN {after} THEN 'after observation end' ELSE reason END AS reason,
  SUM(n_rows) AS n_rows
FROM {days}
GROUP BY 1
"""


def final_rows_sql(
    rows: str, observation_end: _dt.date, *, has_amount: bool, d: Dialect = DUCKDB
) -> str:
    """The classified rows with valid rows after ``observation_end`` rejected as
    ``after observation end``; rows whose ``reason`` is NULL are the used rows."""
    amount = " amount," if has_amount else ""
    return f"""
SELECT
  row_no, customer_id, txn_date,{amount}
  COALESCE(
    reason,
    CASE WHEN txn_date > {d.date_literal(observation_end)} THEN 'after observation end' END
  ) AS reason
FROM {rows}
"""


def ledger_sql(final_rows: str) -> str:
    """Rows counted by final reason; the NULL reason counts the used rows."""
    return f"SELECT reason, COUNT(*) AS n_rows FROM {final_rows} GROUP BY reason"


def rejects_sql(
    relation: str,
    final_rows: str,
    names: tuple[str, ...],
    d: Dialect = DUCKDB,
) -> str:
    """Rejected rows with their row number, original values as text and reason.

    ``names`` are the output names of the id, date (and amount) columns, in that order.
    """
    sources = ("src_id", "src_date", "src_amount")[: len(names)]
    values = ",\n  ".join(
        f"{d.to_text('s.' + src)} AS {d.quote(name)}"
        for src, name in zip(sources, names, strict=True)
    )
    return f"""
SELECT
  s.src_row AS {d.quote("row")},
  {values},
  r.reason AS {d.quote("reason")}
FROM {relation} AS s
JOIN {final_rows} AS r ON s.src_row = r.row_no
WHERE r.reason IS NOT NULL
ORDER BY s.src_row
"""


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
