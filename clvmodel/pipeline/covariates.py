"""Covariates in a pipeline run: the covariate file joined onto the engine's summaries.

The file (:func:`clvmodel.covariate_files.read_covariates`: CSV or Parquet, the customer id
column and numeric covariates, one row per customer) is registered in the DuckDB connection
and each summary table is replaced by itself with the covariate columns appended (a left
join on the id as text, the summary's row order kept). From then on the engine does the
rest unchanged: ``fit_table`` collapses rows on ``(frequency, recency, T, covariates)``,
``summary_batches`` hands the covariates to the scorer so that every customer is scored
with its own parameters, and ``summary.parquet`` carries them.

A customer of the log without a covariate row is an input error with a count; the
covariates of the customers a model is fitted on are checked as ``clvmodel fit`` checks
them (:func:`clvmodel.covariates.check_covariates`: non-numeric, missing or infinite,
constant, perfectly collinear), with one-line errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..exceptions import InputError, UsageError
from .config import RunConfig

#: Purchase models that take covariates.
COVARIATE_MODELS = ("bgnbd", "pnbd", "mbgnbd")


def check_covariate_config(config: RunConfig) -> None:
    """Refuse inconsistent covariate settings before any work (:class:`UsageError`)."""
    columns = config.covariate_columns
    if config.covariates and not columns:
        raise UsageError("--covariates needs --purchase-covariates and/or --dropout-covariates.")
    if not columns:
        return
    if not config.covariates:
        raise UsageError(
            "--purchase-covariates/--dropout-covariates need --covariates FILE (a run's "
            "summary is built from the log, which has no covariate columns)."
        )
    if config.purchase_model not in COVARIATE_MODELS:
        raise UsageError(
            f"Covariates are available for --model {', '.join(COVARIATE_MODELS)}. "
            f"Got {config.purchase_model!r}."
        )
    if config.engine != "duckdb":
        raise UsageError(
            f"Covariates are joined by the DuckDB engine: use --engine duckdb. "
            f"Got {config.engine!r}."
        )


def join_covariates(engine: Any, config: RunConfig, names: Sequence[str]) -> None:
    """Append the covariate columns to the engine's summaries ``names``, validated.

    Raises :class:`InputError` with counts when customers have no covariate row or the
    covariates cannot be fitted.
    """
    import pandas as pd

    from ..covariate_files import read_covariates
    from ..covariates import check_covariates

    columns = list(config.covariate_columns)
    assert config.covariates is not None
    path = config.covariates
    table = read_covariates(path, customer_col=config.customer_col, columns=columns)
    check_covariates(table, columns, fitting=False)  # one line on dtype before any SQL
    frame = pd.DataFrame({"clv_cov_id": table.index.to_numpy(), **{c: table[c] for c in columns}})
    con, q = engine.con, engine.dialect.quote
    con.register("clv_covariate_frame", frame.reset_index(drop=True))
    picked = ", ".join(f"c.{q(c)}" for c in columns)
    for name in names:
        summary = engine._summary_table(name)
        on = "CAST(s.customer_id AS VARCHAR) = c.clv_cov_id"
        n, missing = con.execute(
            f"SELECT COUNT(*), COUNT(*) FILTER (WHERE c.clv_cov_id IS NULL) FROM {summary} s "
            f"LEFT JOIN clv_covariate_frame c ON {on}"
        ).fetchone()
        if missing:
            example = [
                r[0]
                for r in con.execute(
                    f"SELECT CAST(s.customer_id AS VARCHAR) FROM {summary} s ANTI JOIN "
                    f"clv_covariate_frame c ON {on} LIMIT 3"
                ).fetchall()
            ]
            raise InputError(
                f"{missing:,} of {n:,} customers have no row in the covariate file "
                f"{str(path)!r} (e.g. {example})."
            )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE clv_with_covariates AS SELECT s.*, {picked} "
            f"FROM (SELECT *, rowid AS clv_order FROM {summary}) s "
            f"LEFT JOIN clv_covariate_frame c ON {on} ORDER BY s.clv_order"
        )
        con.execute("ALTER TABLE clv_with_covariates DROP COLUMN clv_order")
        con.execute(f"DROP TABLE {summary}")
        con.execute(f"ALTER TABLE clv_with_covariates RENAME TO {summary}")
        values = con.execute(f"SELECT {', '.join(q(c) for c in columns)} FROM {summary}").df()
        check_covariates(values, columns, fitting=True)
    con.unregister("clv_covariate_frame")
