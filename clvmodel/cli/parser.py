"""The ``clvmodel`` command line: its sub-commands and their options (:func:`build_parser`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__

#: The bundled CDNOW log (package data, so the demo runs from a wheel install too).
DEMO_DATA = Path(__file__).resolve().parents[1] / "datasets" / "cdnow_transactions.csv.gz"
DEMO_OUT = Path("reports") / "demo"
DEMO_CALIBRATION_END = "1997-09-30"
CANDIDATES = "bgnbd,pnbd,mbgnbd"
#: The keys of :data:`clvmodel.models.MODELS` (a test checks they match), known without
#: importing the models: parsing the arguments then loads neither pandas nor scipy.
MODEL_KEYS = ("bgbb", "bgnbd", "gamma-gamma", "mbgnbd", "pnbd", "sbg")


def split_commas(text: str | None) -> tuple[str, ...]:
    """An option's list: ``"a, b"`` -> ``("a", "b")``; ``None`` or empty -> ``()``."""
    return tuple(c.strip() for c in (text or "").split(",") if c.strip())


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show every option's default, unless its help already states it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        return text if "default" in text else super()._get_help_string(action)


def _add_input_options(p: argparse.ArgumentParser, *, freq_default: str | None) -> None:
    p.add_argument(
        "--freq",
        default=freq_default,
        help="time unit: D, W, M (365.25/12 days) or Y (365.25 days)"
        + (f"; default {freq_default}" if freq_default else "; default: the model's unit"),
    )
    p.add_argument("--customer-col", default="customer_id", help="customer id column")
    p.add_argument("--date-col", default="date", help="transaction date column")
    p.add_argument("--amount-col", default="amount", help="transaction amount column")
    p.add_argument("--date-format", default=None, help="strptime format of non-ISO dates")
    p.add_argument("--observation-end", default=None, help="end of observation (ISO date)")


def _add_memory_option(p: argparse.ArgumentParser) -> None:
    from ..engines import AUTO_MEMORY_RULE, DEFAULT_MEMORY_LIMIT

    p.add_argument(
        "--memory-limit",
        default=DEFAULT_MEMORY_LIMIT,
        help="memory limit of DuckDB's summary of a transaction log (it spills to disk "
        f"beyond it); default auto: {AUTO_MEMORY_RULE}",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``clvmodel`` command."""
    parser = argparse.ArgumentParser(
        prog="clvmodel",
        description="Customer-lifetime-value models from transaction logs.",
    )
    parser.add_argument("--version", action="version", version=f"clvmodel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = sub.add_parser("fit", help="fit a model to a transaction log or an RFM summary")
    fit.add_argument("input", help="transaction log or summary (CSV or Parquet)")
    fit.add_argument(
        "--model",
        required=True,
        choices=[*MODEL_KEYS, "auto"],
        help="model to fit; auto: the purchase model with the lowest BIC among --candidates",
    )
    fit.add_argument("--candidates", default=None, help=f"models auto compares ({CANDIDATES})")
    fit.add_argument("--out", required=True, help="model file to write (JSON)")
    _add_unconverged_option(fit)
    _add_input_options(fit, freq_default="W")
    _add_memory_option(fit)
    _add_covariate_options(fit, fitting=True)

    sc = sub.add_parser("score", help="score customers with fitted models")
    sc.add_argument("input", help="transaction log or summary (CSV or Parquet)")
    sc.add_argument("--model", required=True, help="purchase model file (JSON)")
    sc.add_argument("--spend-model", default=None, help="spend model file (JSON), for CLV")
    sc.add_argument(
        "--horizon", required=True, type=float, help="prediction horizon in the model's unit"
    )
    sc.add_argument("--discount-rate", type=float, default=0.0, help="annual discount rate")
    sc.add_argument("--margin", type=float, default=1.0, help="profit margin on spend")
    sc.add_argument(
        "--step", type=float, default=1.0, help="CLV discounting step in the model's unit"
    )
    sc.add_argument("--out", required=True, help="scores file (.csv or .parquet)")
    sc.add_argument(
        "--intervals",
        type=float,
        default=None,
        metavar="LEVEL",
        help="add <name>_lower/<name>_upper columns at this level (e.g. 0.90)",
    )
    sc.add_argument(
        "--interval-method",
        choices=["delta", "parametric", "bootstrap"],
        default="delta",
        help="delta (default, fast), parametric (--draws parameter draws) or bootstrap",
    )
    sc.add_argument("--draws", type=int, default=200, help="draws or bootstrap refits")
    _add_input_options(sc, freq_default=None)
    _add_memory_option(sc)
    _add_covariate_options(sc, fitting=False)

    run = sub.add_parser(
        "run",
        help="the whole pipeline: summary, fits, scores, figures",
        formatter_class=_DefaultsFormatter,
    )
    run.add_argument("input", help="transaction log (CSV or Parquet)")
    run.add_argument("--out", required=True, help="output folder")
    _add_run_options(run)
    _add_covariate_options(run, fitting=True)
    run.add_argument(
        "--intervals",
        type=float,
        default=None,
        metavar="LEVEL",
        help="add <name>_lower/<name>_upper columns to the scores at this level (delta method)",
    )

    cmp_ = sub.add_parser("compare", help="fit candidate purchase models and rank them")
    cmp_.add_argument("input", help="transaction log (CSV or Parquet)")
    cmp_.add_argument("--calibration-end", default=None, help="end of the calibration period")
    cmp_.add_argument("--models", default=CANDIDATES, help=f"candidates (default {CANDIDATES})")
    cmp_.add_argument("--out", default="comparison.json", help="JSON file for the ranking")
    _add_input_options(cmp_, freq_default="W")
    _add_memory_option(cmp_)

    rep = sub.add_parser("report", help="re-render charts and the PDF report of a run folder")
    rep.add_argument("run_dir", help="folder written by `clvmodel run`")
    _add_currency_option(rep, default=None)

    demo = sub.add_parser(
        "demo",
        help="run the pipeline on the bundled CDNOW data",
        formatter_class=_DefaultsFormatter,
        description=f"`clvmodel run` on the bundled CDNOW log with --freq W and "
        f"--calibration-end {DEMO_CALIBRATION_END}; every other setting is run's default.",
    )
    demo.add_argument("--out", default=str(DEMO_OUT), help="output folder")
    _add_output_options(demo)
    _add_currency_option(demo, default="USD")
    return parser


def _add_covariate_options(p: argparse.ArgumentParser, *, fitting: bool) -> None:
    p.add_argument(
        "--covariates",
        default=None,
        metavar="FILE",
        help="CSV/Parquet with the customer id and numeric covariates, one row per customer"
        + ("" if fitting else " (for a model fitted with covariates)")
        + "; default: the columns of the input summary",
    )
    if fitting:
        p.add_argument("--purchase-covariates", default=None, metavar="COL,COL")
        p.add_argument("--dropout-covariates", default=None, metavar="COL,COL")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    """Options of `run` and `demo` about what is written and shown (shared defaults)."""
    from ..pipeline import DEFAULT_DISCOUNT_RATE

    p.add_argument(
        "--horizon",
        type=float,
        default=None,
        help="CLV horizon in --freq units (default: one year in whole units: 52 weeks, "
        "365 days, 12 months or 1 year)",
    )
    p.add_argument(
        "--discount-rate", type=float, default=DEFAULT_DISCOUNT_RATE, help="annual discount rate"
    )
    p.add_argument("--margin", type=float, default=1.0, help="profit margin on spend")
    p.add_argument(
        "--format",
        choices=["parquet", "csv"],
        default="parquet",
        help="format of summary and scores (summary.parquet or summary.csv, ...)",
    )
    p.add_argument("--no-report", action="store_true", help="skip the charts and the PDF report")
    _add_memory_option(p)


def _add_currency_option(p: argparse.ArgumentParser, *, default: str | None) -> None:
    p.add_argument(
        "--currency",
        default=default,
        help="currency of the amounts, shown on every money figure of the report (EUR, $, ...)"
        + (f"; default {default}" if default else "; default: the run's, else none"),
    )


def _add_unconverged_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-unconverged",
        action="store_true",
        help="write a model whose fit did not converge (flagged converged=false)",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    _add_input_options(p, freq_default="W")
    _add_unconverged_option(p)
    p.add_argument("--calibration-end", default=None, help="end of the calibration period")
    p.add_argument(
        "--model",
        default="bgnbd",
        help="purchase model; auto: best by holdout RMSE, or BIC without holdout",
    )
    p.add_argument("--candidates", default=CANDIDATES, help="models auto compares")
    _add_output_options(p)
    _add_currency_option(p, default=None)
    p.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="where the summary runs: duckdb (this machine, default) or spark (INPUT: a "
        "file, folder or glob Spark reads; needs pip install 'clvmodel[spark]' and Java)",
    )
    p.add_argument(
        "--spark-master",
        default="local[*]",
        help="Spark master when no session is active (default local[*]; spark-submit sets it)",
    )
    p.add_argument(
        "--spark-driver-memory",
        default=None,
        metavar="SIZE",
        help="spark.driver.memory of a session started here, e.g. 4g (on a local master the "
        "executors share it; default: Spark's own, 1g)",
    )
