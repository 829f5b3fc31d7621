"""Where the RFM summary runs.

:mod:`clvmodel.engines.sql` holds the one definition of the summary as SQL text, with the
few engine-specific spellings behind a :class:`~clvmodel.engines.sql.Dialect`;
:mod:`clvmodel.engines.duckdb` runs it in an in-memory DuckDB connection on DataFrames, CSV
and Parquet files. Users call :func:`clvmodel.data.rfm_summary`, not the engines.
"""
