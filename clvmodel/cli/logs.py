"""The sub-commands' paths on a transaction log that stream as ``clvmodel run`` does
(:mod:`clvmodel.pipeline.logs`): ``score`` (to Parquet), ``fit`` and ``compare`` summarise the
log in DuckDB and read it in batches or as distinct rows with their counts. What each path
takes is decided here (:func:`score_streams`, :func:`reads_log_summary`); everything else
goes through :func:`clvmodel.inputs.load_input` in :mod:`.commands`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .commands import ExitStatus, _candidates, _chosen, _say, say_total


def rejects_beside(rejects: Any, ledger: Any, out: Path, err: TextIO) -> None:
    """Write the rejected rows beside ``out`` (``NAME.rejects.csv``) and say how the rows
    were used."""
    from ..io import write_frame

    name = out.name.split(".")[0]
    path = out.with_name(f"{name}.rejects.csv")
    write_frame(rejects, path)
    _say(
        err,
        f"read {ledger.input_rows:,} rows: {ledger.used_rows:,} used, "
        f"{ledger.rejected_rows:,} rejected (see {path.resolve()})",
    )


def fit_log(
    args: argparse.Namespace,
    cls: Any,
    options: dict[str, Any],
    target: Path,
    out: TextIO,
    err: TextIO,
) -> Any:
    """``fit`` on a transaction log: summarised in DuckDB (:mod:`clvmodel.pipeline.logs`),
    the model fitted (or, for ``auto``, the candidates compared) on the summary's distinct
    rows and their customer counts."""
    from ..pipeline.logs import fit_rows_of_log, log_stages, summarised_log

    stages = log_stages(lambda m: _say(err, m), "fit")
    read = {**options, "freq": args.freq or "W"}
    columns = cls.columns if args.model != "auto" else ("frequency", "recency", "T")
    with summarised_log(args.input, **read, stages=stages) as (engine, rows):
        rejects_beside(rows.rejects, rows.ledger, target, err)
        table = fit_rows_of_log(engine, columns, time_unit=rows.unit)
    with stages.stage("fit") as st:
        if args.model == "auto":
            from ..compare import compare_models

            candidates = _candidates(args.candidates)
            model = _chosen(compare_models(table, models=candidates, weights="weights"), out)
        else:
            model = cls(allow_unconverged=args.allow_unconverged).fit(table, weights="weights")
        st.rows = rows.customers
    return model


def is_log(path: str) -> bool:
    """Whether the input file is a transaction log (not a summary), from its columns."""
    from ..inputs import file_columns, is_summary

    return not is_summary(file_columns(path))


def score_streams(args: argparse.Namespace, target: Path, *models: Any) -> bool:
    """Whether ``score`` runs on the engine's summary in batches (:mod:`clvmodel.pipeline.logs`):
    for a transaction log without covariates, intervals by the delta method if any, models
    reading the log summary's columns, and Parquet scores (a CSV keeps pandas' format:
    ``write_frame``)."""
    if args.covariates or target.suffix.lower() != ".parquet":
        return False
    if args.intervals is not None and args.interval_method != "delta":
        return False  # parameter draws or refits need the whole summary
    return is_log(args.input) and reads_log_summary(*models)


#: Columns of a transaction log's summary that a model can read. Models reading others
#: (BG/BB's ``periods``, sBG's cohort table) need a summary file: they keep the pandas
#: path, which says which column is missing.
LOG_SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")


def reads_log_summary(*models: Any) -> bool:
    """Whether every model (a class or a fitted model; ``None`` ignored) reads only
    :data:`LOG_SUMMARY_COLUMNS`."""
    return all(m is None or set(m.columns) <= set(LOG_SUMMARY_COLUMNS) for m in models)


def score_streaming(
    args: argparse.Namespace, purchase: Any, spend: Any, target: Path, err: TextIO
) -> int:
    """``score`` on a transaction log: summarised in DuckDB, scored batch by batch."""
    from ..pipeline.logs import check_scoring, log_stages, score_log, summarised_log

    check_scoring(purchase, spend, horizon=args.horizon, step=args.step)  # before the summary
    stages = log_stages(lambda m: _say(err, m), "score")
    with summarised_log(
        args.input,
        freq=args.freq or purchase.time_unit_ or "W",
        customer_col=args.customer_col,
        date_col=args.date_col,
        amount_col=args.amount_col if spend is not None else None,
        date_format=args.date_format,
        observation_end=args.observation_end,
        stages=stages,
        memory_limit=args.memory_limit,
    ) as (engine, rows):
        rejects_beside(rows.rejects, rows.ledger, target, err)
        n, totals = score_log(
            engine,
            rows,
            purchase,
            spend,
            target,
            horizon=args.horizon,
            discount_rate=args.discount_rate,
            margin=args.margin,
            step=args.step,
            stages=stages,
            intervals=args.intervals,
        )
    if totals is not None:
        say_total(err, totals, args.intervals, args.interval_method)
    _say(err, f"wrote {n:,} scores to {target.resolve()}")
    return ExitStatus.OK


def compare_log(
    args: argparse.Namespace, read: dict[str, Any], candidates: Sequence[str], err: TextIO
) -> Any:
    """``compare`` on a transaction log (:mod:`clvmodel.pipeline.logs`)."""
    from ..compare import compare_models
    from ..pipeline.logs import compared_rows_of_log, log_stages, summarised_log

    stages = log_stages(lambda m: _say(err, m), "compare")
    freq = args.freq or "W"
    with summarised_log(args.input, freq=freq, **read, stages=stages) as (engine, rows):
        table = compared_rows_of_log(engine, time_unit=rows.unit)
    with stages.stage("compare") as st:
        comparison = compare_models(table, models=candidates, weights="weights")
        st.rows = rows.customers
    return comparison
