"""Work beside the main process: a function run in a forked child, its result waited for.

The report draws its PNG charts in a child process while the parent writes the PDF
(matplotlib holds the GIL: threads would take turns on one core). The child is a fork, so
it starts with the run's files already read (shared copy-on-write, not copied) and needs
nothing pickled in; only its small result comes back, through a pipe, with any warnings it
raised. Where ``os.fork`` does not exist the function simply runs when its result is asked.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: What the child sends back: ("ok", value, warnings) or ("error", exception, warnings),
#: each warning as (message, category).
_Payload = tuple[str, Any, list[tuple[str, type[Warning]]]]


class ChildError(RuntimeError):
    """The child process ended without a result (killed, or its result could not be sent)."""


class Child(Generic[T]):
    """``fn()`` running in a forked child process (see the module docstring).

    :meth:`result` waits for it and returns its value, or raises its exception; the
    warnings it raised are passed to ``on_warning`` (by default re-issued). :meth:`cancel`
    stops it. The child never returns into the caller's code: it exits with ``os._exit``
    after sending its result (no atexit handlers, no flushing of the parent's buffers).
    """

    def __init__(
        self,
        fn: Callable[[], T],
        *,
        on_warning: Callable[[str, type[Warning]], None] | None = None,
    ) -> None:
        self._fn: Callable[[], T] | None = fn
        self._on_warning = on_warning or (lambda m, c: warnings.warn(m, c, stacklevel=3))
        self._pid: int | None = None
        self._read: int | None = None
        if not hasattr(os, "fork"):
            return
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read)
            _run_and_send(fn, write)  # does not return
        os.close(write)
        self._pid, self._read, self._fn = pid, read, None

    def result(self) -> T:
        """Wait for the child; its value, or its exception raised here."""
        if self._fn is not None:  # no fork: run it now
            fn, self._fn = self._fn, None
            return fn()
        assert self._read is not None and self._pid is not None
        with os.fdopen(self._read, "rb") as pipe:
            self._read = None
            data = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        if not data:
            raise ChildError(f"the chart process ended without a result (status {status})")
        kind, value, caught = pickle.loads(data)
        for message, category in caught:
            self._on_warning(message, category)
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Stop the child (if still running) and reap it."""
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGTERM)
                os.waitpid(self._pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self._pid = None
        if self._read is not None:
            os.close(self._read)
            self._read = None
        self._fn = None


def _run_and_send(fn: Callable[[], Any], write: int) -> None:
    code = 0
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            payload: _Payload = ("ok", fn(), [])
    except BaseException as exc:  # everything goes back to the parent
        payload = ("error", exc, [])
        code = 1
    try:
        sent = [(str(w.message), w.category) for w in caught]
        data = pickle.dumps((payload[0], payload[1], sent))
    except Exception as exc:  # an unpicklable result or exception
        data = pickle.dumps(("error", ChildError(f"the chart process failed: {exc!r}"), []))
        code = 1
    try:
        with os.fdopen(write, "wb") as pipe:
            pipe.write(data)
    finally:
        os._exit(code)
