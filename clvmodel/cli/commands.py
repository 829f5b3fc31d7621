"""What each ``clvmodel`` sub-command does, given its parsed arguments (:data:`COMMANDS`).

Each command imports only what it needs: ``fit`` on a summary file never loads DuckDB or
matplotlib.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

from ..exceptions import (
    FitError,
    InputError,
)
from .parser import (
    CANDIDATES,
    DEMO_CALIBRATION_END,
    DEMO_DATA,
    MODEL_KEYS,
    build_parser,
    split_commas,
)


class ExitStatus(IntEnum):
    """Exit codes of the ``clvmodel`` command."""

    OK = 0
    ERROR = 1
    USAGE = 2
    INPUT_ERROR = 3
    FIT_ERROR = 4
    MODEL_FILE_ERROR = 5


def _with_covariates(summary, args: argparse.Namespace, columns: Sequence[str], fitting: bool):  # type: ignore[no-untyped-def]
    """The summary with the covariate columns joined (see :mod:`clvmodel.covariate_files`)."""
    if not columns:
        return summary
    from ..covariate_files import attach_covariates, read_covariates

    table = None
    if args.covariates:
        table = read_covariates(args.covariates, customer_col=args.customer_col, columns=columns)
    return attach_covariates(summary, table, columns, fitting=fitting)


def _quiet(_: str) -> None:
    pass


def _say(stream: TextIO, message: str) -> None:
    stream.write(message + "\n")
    stream.flush()


def _write_rejects_beside(loaded: object, out: Path, err: TextIO) -> None:
    from .logs import rejects_beside

    result = getattr(loaded, "result", None)
    if result is None:
        return
    rejects_beside(result.rejects, result.ledger, out, err)


def _cmd_fit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..inputs import load_input
    from ..io import save_model
    from ..models import get_model_class
    from .logs import fit_log, is_log, reads_log_summary

    cls = get_model_class("bgnbd" if args.model == "auto" else args.model)
    target = Path(args.out)
    covs = {
        "purchase_covariates": split_commas(args.purchase_covariates),
        "dropout_covariates": split_commas(args.dropout_covariates),
    }
    columns = covs["purchase_covariates"] + covs["dropout_covariates"]
    if columns and (args.model == "auto" or cls.name not in ("bgnbd", "pnbd", "mbgnbd")):
        raise InputError(
            f"Covariates are available for --model bgnbd, pnbd and mbgnbd. Got {args.model!r}."
        )
    if args.covariates and not columns:
        raise InputError("--covariates needs --purchase-covariates and/or --dropout-covariates.")
    started = time.perf_counter()
    options = {
        "freq": args.freq,
        "customer_col": args.customer_col,
        "date_col": args.date_col,
        "amount_col": args.amount_col if cls.kind == "spend" else None,
        "date_format": args.date_format,
        "observation_end": args.observation_end,
        "memory_limit": args.memory_limit,
    }
    if not columns and is_log(args.input) and reads_log_summary(cls):
        model = fit_log(args, cls, options, target, out, err)
        save_model(model, target)
        _say(out, str(model.result_))
        _say(err, f"wrote {target.resolve()} ({time.perf_counter() - started:.2f} s)")
        return ExitStatus.OK
    # A summary file is read without its ids (the fit needs none); should the data break a
    # rule, it is read again with them so that the error names the customer.
    only = None if columns else (*cls.columns, "weights")  # covariates join on the ids
    loaded = load_input(args.input, only=only, **options)
    _write_rejects_beside(loaded, target, err)
    loaded.summary = _with_covariates(loaded.summary, args, columns, True)
    if args.model == "auto":
        from ..compare import compare_models

        model = _chosen(compare_models(loaded.summary, models=_candidates(args.candidates)), out)
        save_model(model, target)
        _say(out, str(model.result_))
        _say(err, f"wrote {target.resolve()} ({time.perf_counter() - started:.2f} s)")
        return ExitStatus.OK
    make = (lambda **kw: cls(**covs, **kw)) if columns else cls  # type: ignore[call-arg]
    try:
        model = make(allow_unconverged=args.allow_unconverged).fit(loaded.summary)
    except FitError:
        raise
    except InputError:
        if loaded.kind != "summary" or columns:
            raise
        cls().fit(load_input(args.input, **options).summary)
        raise
    save_model(model, target)
    _say(out, str(model.result_))
    _say(err, f"wrote {target.resolve()} ({time.perf_counter() - started:.2f} s)")
    return ExitStatus.OK


def say_total(err: TextIO, totals: dict[str, Any], level: float, method: str) -> None:
    """The line of ``score --intervals``: the total CLV (else purchases) and its interval."""
    key = "clv" if "clv" in totals else "expected_purchases"
    t = totals[key]
    _say(
        err,
        f"total {key} {t['estimate']:,.2f}, {level:.0%} interval "
        f"[{t['lower']:,.2f}, {t['upper']:,.2f}] ({method})",
    )


def _chosen(comparison: Any, out: TextIO) -> Any:
    """Print a model comparison's table and choice; return the chosen model."""
    key, reason = comparison.choose()
    _say(out, comparison.table.to_string(float_format=lambda v: f"{v:.6g}"))
    _say(out, f"chose {key}: {reason}")
    return comparison.models[key]


def _cmd_score(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..clv import score
    from ..inputs import load_input
    from ..io import load_model, write_frame
    from .logs import score_streaming, score_streams

    purchase = load_model(args.model, expected="purchase")
    spend = load_model(args.spend_model, expected="spend") if args.spend_model else None
    unit = purchase.time_unit_
    if args.freq is not None and unit is not None and args.freq.upper() != unit:
        raise InputError(
            f"--freq {args.freq!r} differs from the unit the model was fitted in ({unit!r}); "
            f"omit --freq or refit."
        )
    target = Path(args.out)
    design = getattr(purchase, "design", None)
    if score_streams(args, target, purchase, spend) and not (design.columns if design else ()):
        return score_streaming(args, purchase, spend, target, err)
    loaded = load_input(
        args.input,
        freq=args.freq or unit,
        customer_col=args.customer_col,
        date_col=args.date_col,
        amount_col=args.amount_col if spend is not None else None,
        date_format=args.date_format,
        observation_end=args.observation_end,
        memory_limit=args.memory_limit,
    )
    _write_rejects_beside(loaded, target, err)
    summary = _with_covariates(loaded.summary, args, design.columns if design else (), False)
    options = {
        "horizon": args.horizon,
        "spend_model": spend,
        "discount_rate": args.discount_rate,
        "margin": args.margin,
        "step": args.step,
    }
    scores = score(purchase, summary, **options)
    if args.intervals is not None:
        from ..intervals import prediction_intervals

        bounds = prediction_intervals(
            purchase,
            summary,
            level=args.intervals,
            method=args.interval_method,
            n_draws=args.draws,
            **options,
        )
        for name in bounds.columns:
            if name.endswith(("_lower", "_upper")):
                scores[name] = bounds[name].to_numpy()
        say_total(err, bounds.attrs["totals"], args.intervals, args.interval_method)
    write_frame(scores, target)
    _say(err, f"wrote {len(scores):,} scores to {target.resolve()}")
    return ExitStatus.OK


def _run(args: argparse.Namespace, source: str, out_dir: str, err: TextIO) -> int:
    from ..pipeline import RunConfig, run_pipeline

    config = RunConfig(
        customer_col=args.customer_col,
        date_col=args.date_col,
        amount_col=args.amount_col or None,
        date_format=args.date_format,
        freq=args.freq,
        observation_end=args.observation_end,
        calibration_end=args.calibration_end,
        purchase_model=args.model,
        candidates=_candidates(args.candidates),
        horizon=args.horizon,
        discount_rate=args.discount_rate,
        margin=args.margin,
        memory_limit=args.memory_limit,
        currency=args.currency,
        engine=getattr(args, "engine", "duckdb"),
        spark_master=getattr(args, "spark_master", "local[*]"),
        spark_driver_memory=getattr(args, "spark_driver_memory", None),
        allow_unconverged=args.allow_unconverged,
        **_run_covariates(args),
    )
    # One line per stage on stderr, terminal or not (a bar as well on a terminal).
    run_pipeline(
        source,
        out_dir,
        config,
        report=not args.no_report,
        fmt=args.format,
        log=lambda m: _say(err, f"clvmodel run: {m}"),
    )
    _say(err, f"run written to {Path(out_dir).resolve()}")
    return ExitStatus.OK


def _run_covariates(args: argparse.Namespace) -> dict[str, Any]:
    """RunConfig's covariate and interval settings of `run` (none for `demo`)."""
    return {
        "covariates": getattr(args, "covariates", None),
        "purchase_covariates": split_commas(getattr(args, "purchase_covariates", None)),
        "dropout_covariates": split_commas(getattr(args, "dropout_covariates", None)),
        "intervals": getattr(args, "intervals", None),
    }


def _cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return _run(args, args.input, args.out, err)


def _cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not DEMO_DATA.exists():
        raise InputError(f"The bundled demo data {DEMO_DATA} is missing (reinstall clvmodel).")
    argv = [
        "run",
        str(DEMO_DATA),
        "--out",
        args.out,
        "--freq",
        "W",
        "--calibration-end",
        DEMO_CALIBRATION_END,
        "--discount-rate",
        str(args.discount_rate),
        "--margin",
        str(args.margin),
        "--format",
        args.format,
        "--memory-limit",
        args.memory_limit,
    ]
    if args.currency:
        argv += ["--currency", args.currency]
    if args.horizon is not None:
        argv += ["--horizon", str(args.horizon)]
    if args.no_report:
        argv.append("--no-report")
    return _run(build_parser().parse_args(argv), str(DEMO_DATA), args.out, err)


def _candidates(text: str | None) -> tuple[str, ...]:
    names = split_commas(text or CANDIDATES)
    unknown = [n for n in names if n not in MODEL_KEYS]
    if unknown or not names:
        raise InputError(
            f"--candidates/--models takes registry keys separated by commas "
            f"({', '.join(MODEL_KEYS)}). Got {text!r}."
        )
    return names


def _cmd_compare(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..compare import compare_models
    from ..inputs import load_input
    from ..io import write_json
    from .logs import compare_log, is_log

    read = {
        "customer_col": args.customer_col,
        "date_col": args.date_col,
        "amount_col": None,
        "date_format": args.date_format,
        "observation_end": args.observation_end,
        "calibration_end": args.calibration_end,
        "memory_limit": args.memory_limit,
    }
    candidates = _candidates(args.models)
    if is_log(args.input):  # summarised in DuckDB, compared on its distinct rows
        comparison = compare_log(args, read, candidates, err)
    else:
        loaded = load_input(args.input, freq=args.freq, **read)
        comparison = compare_models(loaded.summary, models=candidates)
    _chosen(comparison, out)
    write_json(args.out, comparison.to_dict())
    _say(err, f"wrote {Path(args.out).resolve()}")
    return ExitStatus.OK


def _cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..report import write_report

    run_dir = Path(args.run_dir)
    if not (run_dir / "run.json").exists():
        raise InputError(f"{run_dir} is not a run folder: it has no run.json (see `clvmodel run`).")
    figures, pdf = write_report(run_dir, currency=args.currency)
    _say(
        err,
        f"wrote {len(figures)} charts to {(run_dir / 'figures').resolve()} and {pdf.resolve()}",
    )
    return ExitStatus.OK


COMMANDS = {
    "fit": _cmd_fit,
    "score": _cmd_score,
    "run": _cmd_run,
    "report": _cmd_report,
    "compare": _cmd_compare,
    "demo": _cmd_demo,
}
