"""Work beside the main process: a function run in a forked child, its result waited for.

The report computes its charts' data beside its numbers, and then draws its PNG charts and
writes its customer lists beside the PDF, in child processes (numpy's passes over every
customer and matplotlib hold the GIL: threads would take turns on one core).
A child is a fork, so it starts with the run's files already read (shared copy-on-write,
not copied) and needs nothing pickled in; only its small result comes back, through a
pipe, with any warnings it raised.

Forking is done on Linux only (macOS system libraries are not fork-safe; Windows has no
fork), and not when ``CLVMODEL_NO_FORK`` is set or the fork fails (out of memory, process
limits): then the function simply runs, in this process, when its result is asked for.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: What the child sends back: ("ok", value, warnings) or ("error", exception, warnings),
#: each warning as (message, category).
_Payload = tuple[str, Any, list[tuple[str, type[Warning]]]]


class ChildError(RuntimeError):
    """The child process failed in a way its own exception cannot say: it was killed, or
    its result or exception could not be sent back."""


def can_fork() -> bool:
    """Whether :class:`Child` forks here (see the module docstring)."""
    return sys.platform.startswith("linux") and not os.environ.get("CLVMODEL_NO_FORK")


class Child(Generic[T]):
    """``fn()`` running in a forked child process (see the module docstring).

    :meth:`result` waits for it and returns its value, or raises its exception; the
    warnings it raised are passed to ``on_warning`` (by default re-issued). :meth:`cancel`
    stops it. The child never returns into the caller's code: whatever happens it ends
    with ``os._exit`` (no atexit handlers, no flushing of the parent's buffers), and it
    ignores SIGINT (Ctrl-C reaches the parent, which cancels it).

    Parameters
    ----------
    fn : callable
        What to run.
    what : str
        What it is, for messages (``"the chart process"``).
    on_warning : callable, optional
        Called with ``(message, category)`` for each warning the child raised.
    """

    def __init__(
        self,
        fn: Callable[[], T],
        *,
        what: str = "the child process",
        on_warning: Callable[[str, type[Warning]], None] | None = None,
    ) -> None:
        self._fn: Callable[[], T] | None = fn
        self.what = what
        self._on_warning = on_warning or (lambda m, c: warnings.warn(m, c, stacklevel=3))
        self._pid: int | None = None
        self._read: int | None = None
        if not can_fork():
            return
        for stream in (sys.stdout, sys.stderr):  # so the child does not write them again
            try:
                if stream is not None:
                    stream.flush()
            except Exception:  # a closed or broken stream: nothing to flush
                pass
        read, write = os.pipe()
        parent = os.getpid()
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns on forking a multi-threaded process; the child here
                # only runs ``fn`` and exits (the libraries' pools have at-fork handlers).
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:  # no memory or no process left: run in this process instead
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # the child: never returns from here
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                os.close(read)
                _run_and_send(fn, write, parent)
            finally:
                os._exit(1)
        os.close(write)
        self._pid, self._read, self._fn = pid, read, None

    def result(self) -> T:
        """Wait for the child; its value, or its exception raised here."""
        if self._fn is not None:  # no fork: run it now
            fn, self._fn = self._fn, None
            return fn()
        assert self._read is not None and self._pid is not None
        try:
            with os.fdopen(self._read, "rb") as pipe:
                self._read = None
                data = pipe.read()
            _, status = os.waitpid(self._pid, 0)
            self._pid = None
        except BaseException:  # interrupted while waiting: stop and reap the child
            self.cancel()
            raise
        code = os.waitstatus_to_exitcode(status)
        if not data:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            raise ChildError(f"{self.what} {how} without a result")
        try:
            kind, value, caught = pickle.loads(data)
        except Exception as exc:
            raise ChildError(f"{self.what} sent a result that cannot be read: {exc!r}") from None
        for message, category in caught:
            self._on_warning(message, category)
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Stop the child (if still running: SIGTERM, on which it unwinds, its atomic writes
        removing their temporary files) and reap it."""
        if self._read is not None:  # first, so that a child writing its result cannot block
            os.close(self._read)
            self._read = None
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGTERM)
                os.waitpid(self._pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self._pid = None
        self._fn = None


def _stop(signum: int, frame: Any) -> None:
    """SIGTERM in a child (:meth:`Child.cancel`): unwind, so that atomic writes in progress
    remove their temporary files."""
    raise SystemExit(128 + signum)


def _sendable(payload: _Payload) -> bytes:
    """``payload`` pickled, checked to load back; else the error as a :class:`ChildError`
    naming the exception (or the result) that could not be sent, with the child's
    traceback as text."""
    kind, value, caught = payload
    sent = []
    for message, category in caught:  # a category that does not pickle is sent as Warning
        try:
            pickle.loads(pickle.dumps(category))
        except Exception:
            category = Warning
        sent.append((message, category))
    try:
        data = pickle.dumps((kind, value, sent))
        pickle.loads(data)
        return data
    except BaseException as exc:  # even what a __reduce__ may raise
        if kind == "error":
            text = "".join(traceback.format_exception(value)).rstrip()
            error = ChildError(f"{type(value).__name__}: {value}\n{text}")
        else:
            error = ChildError(f"its result could not be sent back: {exc!r}")
        return pickle.dumps(("error", error, sent))


def _die_with(parent: int) -> None:
    """Have the kernel send this child SIGTERM when the thread that forked it ends (Linux's
    ``PR_SET_PDEATHSIG``), and stop now if the parent has already gone: a run killed
    part-way (SIGKILL) must not leave a child writing into its folder, which the next run
    removes. The fork happens on the main thread of the run or the report command."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError, TypeError):  # no prctl: the child outlives a kill
        return
    if os.getppid() != parent:
        raise SystemExit(128 + signal.SIGTERM)


#: prctl's option number for the parent-death signal (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


def _run_and_send(fn: Callable[[], Any], write: int, parent: int | None = None) -> None:
    signal.signal(signal.SIGTERM, _stop)
    if parent is not None:
        _die_with(parent)
    code = 0
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = fn()
        payload: _Payload = ("ok", value, [])
    except BaseException as exc:  # everything goes back to the parent
        payload = ("error", exc, [])
        code = 1
    data = _sendable((payload[0], payload[1], [(str(w.message), w.category) for w in caught]))
    with os.fdopen(write, "wb") as pipe:
        pipe.write(data)
    os._exit(code)
