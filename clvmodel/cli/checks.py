"""Arguments refused before any work: absurd values, and outputs that would overwrite inputs."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..exceptions import (
    UsageError,
)
from .parser import MODEL_KEYS

_STRPTIME = set("aAwdbBmyYHIpMSfzZjUWcxXGuV%")
#: Bounds of the numeric options: beyond them a value is a mistake, not a setting.
MAX_HORIZON = 36_525.0  # 100 years in days
MAX_GRID = 100_000  # CLV discounting steps in one horizon
MAX_DISCOUNT = 10.0  # 1000 % a year


def _usage(rule: str, value: object) -> UsageError:
    shown = value if isinstance(value, str) else f"{float(value):g}"  # type: ignore[arg-type]
    return UsageError(f"{rule}. Got {shown} instead.")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse absurd or inconsistent arguments before any work (:class:`UsageError`, exit 2)."""
    import math
    from datetime import date

    freq = getattr(args, "freq", None)
    if freq is not None and freq.upper() not in {"D", "W", "M", "Y"}:
        raise _usage("--freq must be one of D, W, M, Y", repr(freq))
    if args.command == "run" and args.model != "auto" and args.model not in MODEL_KEYS:
        raise _usage(f"--model must be auto or one of {', '.join(MODEL_KEYS)}", args.model)
    fmt = getattr(args, "date_format", None)
    if fmt is not None:
        codes = fmt.split("%")[1:]
        if not fmt or any(not c or c[0] not in _STRPTIME for c in codes if c != ""):
            raise _usage("--date-format must be a strptime format such as %d/%m/%Y", repr(fmt))
    for name in ("observation_end", "calibration_end"):
        value = getattr(args, name, None)
        if value is not None:
            try:
                date.fromisoformat(str(value)[:10])
            except ValueError:
                flag = "--" + name.replace("_", "-")
                raise _usage(f"{flag} must be an ISO date (YYYY-MM-DD)", repr(value)) from None
    horizon = getattr(args, "horizon", None)
    if horizon is not None and not (math.isfinite(horizon) and 0 < horizon <= MAX_HORIZON):
        raise _usage(f"--horizon must be a number in (0, {MAX_HORIZON:g}]", horizon)
    step = getattr(args, "step", None)
    if step is not None:
        if not (math.isfinite(step) and step > 0):
            raise _usage("--step must be a number > 0", step)
        if horizon is not None and horizon / step > MAX_GRID:
            raise _usage(f"--horizon / --step must be at most {MAX_GRID:,} steps", horizon / step)
    rate = getattr(args, "discount_rate", None)
    if rate is not None and not (math.isfinite(rate) and 0 <= rate <= MAX_DISCOUNT):
        raise _usage(f"--discount-rate must be an annual rate in [0, {MAX_DISCOUNT:g}]", rate)
    level = getattr(args, "intervals", None)
    if level is not None and not (math.isfinite(level) and 0 < level < 1):
        raise _usage("--intervals must be a level in (0, 1), e.g. 0.90", level)
    draws = getattr(args, "draws", None)
    if level is not None and draws is not None and draws < 2:  # on every path alike
        raise _usage("--draws must be at least 2", draws)
    margin = getattr(args, "margin", None)
    if margin is not None and not (math.isfinite(margin) and 0 <= margin <= 1):
        raise _usage("--margin must be a fraction of spend in [0, 1]", margin)
    _check_outputs(args)


def _check_outputs(args: argparse.Namespace) -> None:
    """The output path must not be the input, nor the rejects file written beside it."""
    target = getattr(args, "out", None)
    if target is None or args.command not in {"fit", "score"}:
        return
    out = Path(target)
    if args.command == "score":
        name = out.name.lower()
        if not (name.endswith((".csv", ".csv.gz", ".parquet"))):
            raise _usage("--out must end in .csv, .csv.gz or .parquet", repr(str(out)))
    rejects = out.with_name(f"{out.name.split('.')[0]}.rejects.csv")
    same = {os.path.abspath(out)}
    for other, what in ((rejects, "the rejects file"), (Path(args.input), "the input")):
        if os.path.abspath(other) in same or (
            out.exists() and other.exists() and os.path.samefile(out, other)
        ):
            raise _usage(f"--out must differ from {what} of this command", repr(str(out)))
    for flag in ("model", "spend_model"):
        value = getattr(args, flag, None)
        if args.command == "score" and value and os.path.abspath(value) in same:
            raise _usage("--out must differ from the model files", repr(str(out)))
