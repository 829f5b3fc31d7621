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

The package: :mod:`.dialect` (spellings, column kinds, reasons), :mod:`.rows` (steps 1-2, the
ledger and the rejects), :mod:`.summary` (steps 3-4, the fit table, the counts) and
:mod:`.tracking`.
"""

from .dialect import (
    DUCKDB,
    EXACT_TYPE,
    MAX_ABS_AMOUNT,
    REASONS,
    ColumnKind,
    Dialect,
    SourceSpec,
)
from .rows import (
    bounds_of_days_sql,
    bounds_sql,
    day_counts_sql,
    final_rows_sql,
    ledger_of_days_sql,
    ledger_sql,
    rejects_sql,
    rows_sql,
)
from .summary import (
    SPEND_SUM,
    customers_sql,
    fit_table_sql,
    occasions_sql,
    stats_sql,
    summary_sql,
    summary_stats_sql,
)
from .tracking import tracking_all_sql, tracking_of_summary_sql, tracking_sql

__all__ = [
    "DUCKDB",
    "EXACT_TYPE",
    "MAX_ABS_AMOUNT",
    "REASONS",
    "SPEND_SUM",
    "ColumnKind",
    "Dialect",
    "SourceSpec",
    "bounds_of_days_sql",
    "bounds_sql",
    "customers_sql",
    "day_counts_sql",
    "final_rows_sql",
    "fit_table_sql",
    "ledger_of_days_sql",
    "ledger_sql",
    "occasions_sql",
    "rejects_sql",
    "rows_sql",
    "stats_sql",
    "summary_sql",
    "summary_stats_sql",
    "tracking_all_sql",
    "tracking_of_summary_sql",
    "tracking_sql",
]
