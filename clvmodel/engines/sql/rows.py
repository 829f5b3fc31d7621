"""Every input row classified (parsed, with at most one reject reason), counted and listed:
steps 1 and 2 of :mod:`clvmodel.engines.sql`, and the ledger's and the rejects' queries."""

from __future__ import annotations

import datetime as _dt

from .dialect import DUCKDB, MAX_ABS_AMOUNT, ColumnKind, Dialect, SourceSpec


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
