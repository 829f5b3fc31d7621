"""The ``clvmodel`` command: fit, score, run and demo over CSV/Parquet files.

``main(argv) -> int`` runs in-process (tests call it directly) and returns an
:class:`ExitStatus`; failures a user can act on print one line to stderr. Each command
imports only what it needs: ``fit`` on a summary file never loads DuckDB or matplotlib.

The package: :mod:`.parser` (options), :mod:`.checks` (arguments refused before any work),
:mod:`.commands` (what each sub-command does), :mod:`.logs` (their streaming paths on a
transaction log) and, here, :func:`main` with its exit statuses.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from ..exceptions import (
    CLVModelError,
    EngineUnavailableError,
    FitError,
    InsufficientMemoryError,
    ModelFileError,
    UsageError,
)
from .checks import check_arguments
from .commands import COMMANDS, ExitStatus, _say
from .parser import DEMO_DATA, build_parser

__all__ = ["DEMO_DATA", "ExitStatus", "build_parser", "check_arguments", "main"]


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the ``clvmodel`` command and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).
    stdout, stderr : text streams, optional
        Where results and messages go (default: the process's own).
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        return int(exc.code or 0)

    def show(message, category, *_args: object, **_kw: object) -> None:  # type: ignore[no-untyped-def]
        text = _one_line(str(message))
        _say(err, f"clvmodel {args.command}: warning ({category.__name__}): {text}")

    def fail(message: object, code: int) -> int:
        if SIGNALLED:  # whatever error the signal surfaced as (DuckDB's, a cleanup's)
            message, code = _stopped()
        _say(err, f"clvmodel {args.command}: {_one_line(str(message))}")
        return code

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            check_arguments(args)
            return int(COMMANDS[args.command](args, out, err))
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (entry_point): unwound, then here
        return fail(*_stopped())
    except EngineUnavailableError as exc:  # says itself what to install
        return fail(exc, ExitStatus.USAGE)
    except UsageError as exc:
        return fail(f"error: {exc}", ExitStatus.USAGE)
    except FitError as exc:
        return fail(f"fit failed: {exc}", ExitStatus.FIT_ERROR)
    except ModelFileError as exc:
        return fail(exc, ExitStatus.MODEL_FILE_ERROR)
    except InsufficientMemoryError as exc:
        return fail(exc, ExitStatus.ERROR)
    except (CLVModelError, ValueError) as exc:
        return fail(exc, ExitStatus.INPUT_ERROR)
    except OSError as exc:
        text = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        return fail(text, ExitStatus.INPUT_ERROR)
    except (EOFError, RecursionError, OverflowError, MemoryError) as exc:
        return fail(f"cannot read the input ({type(exc).__name__}: {exc})", 3)
    except Exception as exc:
        duckdb = sys.modules.get("duckdb")
        if duckdb is not None and isinstance(exc, duckdb.OutOfMemoryException):
            limit = getattr(args, "memory_limit", None)
            from ..engines import AUTO_MEMORY_RULE, is_auto

            auto = not limit or is_auto(limit)
            option = (
                f"the automatic memory limit ({AUTO_MEMORY_RULE})"
                if auto
                else f"--memory-limit {limit}"
            )
            return fail(
                f"DuckDB ran out of memory within {option} ({_one_line(str(exc))}); give it "
                f"more with --memory-limit (e.g. {'4GB' if auto else '2GB'}; beyond it, it "
                f"spills to disk)",
                ExitStatus.ERROR,
            )
        if duckdb is not None and isinstance(exc, duckdb.Error):
            return fail(f"cannot process the input: {exc}", ExitStatus.INPUT_ERROR)
        if "java.lang.OutOfMemoryError" in str(exc):  # a Py4JJavaError from Spark
            return fail(
                "Spark ran out of memory (java.lang.OutOfMemoryError): give it more with "
                "--spark-driver-memory (e.g. 4g; on a local master the executors share the "
                "driver's) or, on a cluster, spark.executor.memory",
                ExitStatus.ERROR,
            )
        return fail(f"internal error ({type(exc).__name__}): {exc}", ExitStatus.ERROR)


def _one_line(text: str) -> str:
    """The first non-empty line of a message (DuckDB appends the failing SQL)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else text.strip()


#: Signals :func:`entry_point` has received (SIGTERM, and SIGINT where Python handles it).
SIGNALLED: list[int] = []
_HANDLED: list[int] = []  # the signals entry_point handles


class Terminated(KeyboardInterrupt):
    """SIGTERM in the ``clvmodel`` command (:func:`entry_point`), unwound as Ctrl-C is: the
    engine's spill folder, the staged run folder and files half-written are removed."""


def _on_signal(signum: int, frame: object) -> None:
    SIGNALLED.append(signum)
    for other in _HANDLED:  # the cleanup that follows runs to its end
        signal.signal(other, signal.SIG_IGN)
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _stopped() -> tuple[str, int]:
    """The line and exit status (128 + the signal) of a command stopped by a signal."""
    term = signal.SIGTERM in SIGNALLED or isinstance(sys.exc_info()[1], Terminated)
    how, signum = ("terminated", signal.SIGTERM) if term else ("interrupted", signal.SIGINT)
    return f"{how}; the files in progress were removed, earlier outputs left as they were", (
        128 + signum
    )


def entry_point() -> None:  # pragma: no cover - exercised by the installed script
    """The ``clvmodel`` console script: :func:`main`, then exit without interpreter teardown.

    Tearing down pandas, scipy and pyarrow takes about 0.1 s, a tenth of a whole ``fit`` on
    a million customers. Every file is written atomically and closed before ``main``
    returns, so only the standard streams need flushing. SIGTERM unwinds as Ctrl-C does
    (:class:`Terminated`), exit status 143.
    """
    _HANDLED.append(signal.SIGTERM)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored
        _HANDLED.append(signal.SIGINT)
    for signum in _HANDLED:
        signal.signal(signum, _on_signal)
    try:
        code = main()
    except KeyboardInterrupt:  # a signal before or after main's own handling
        message, code = _stopped()
        sys.stderr.write(f"clvmodel: {message}\n")
    for signum in _HANDLED:  # done: nothing left to unwind while the streams flush
        signal.signal(signum, signal.SIG_IGN)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry_point()
