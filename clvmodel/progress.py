"""Progress of long jobs: one line per finished stage everywhere, a bar on a terminal.

:class:`Stages` times the stages of a job (``summary``, ``fit``, ``score``, ...): each
finished stage prints one line to stderr with its elapsed time and rows, also when stderr is
not a terminal (batch logs show where the time went), and the records go into ``run.json``
with the process's peak memory (:func:`peak_rss_mib`). :class:`Progress` draws an updating
bar, only when its stream is a terminal, so pipes and captured output stay clean. ::

    stages = Stages(log=print_to_stderr)
    with stages.stage("score", total=n_rows) as stage:
        for batch in batches:
            ...
            stage.advance(len(batch))          # the bar, on a terminal
    stages.records()                           # [{"name": "score", "seconds": ..., "rows": ...}]

A stage that needs none of the resources of the stages around it (pure numpy on arrays
already in memory) can run beside them on the other core: :meth:`Stages.start` runs it
in a thread, and the handle's ``join`` waits, re-raises its error, and records and prints
its line (with its own elapsed time) where the job joins it.
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TextIO, TypeVar

T = TypeVar("T")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Show ``label: done/total (pct) detail elapsed`` on one terminal line, updated in place.

    Parameters
    ----------
    label : str
        What is being done, e.g. ``"Writing figures"``.
    total : int, optional
        Number of steps; without it only the count is shown.
    stream : file-like, optional
        Where to write; ``sys.stderr`` (looked up when the reporter is made) by default.
    enabled : bool, optional
        Force showing (True) or hiding (False); by default shown only when ``stream`` is a
        terminal.
    min_interval : float
        Seconds between redraws (the last step is always drawn).
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        min_interval: float = 0.1,
    ) -> None:
        self.label = label
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.min_interval = min_interval
        self.done = 0
        self.detail = ""
        self._started = time.monotonic()
        self._last_draw = -float("inf")
        self._width = 0
        self._closed = False

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(failed=exc_type is not None)

    def advance(self, n: int = 1, *, detail: str | None = None) -> None:
        """Count ``n`` more steps done; ``detail`` names the step just finished or started."""
        self.done += n
        if detail is not None:
            self.detail = detail
        self._draw(force=self.total is not None and self.done >= self.total)

    def line(self) -> str:
        """The text of the progress line as it would be shown now."""
        count = f"{self.done:,}"
        if self.total:
            count += f"/{self.total:,} ({min(self.done / self.total, 1.0):.0%})"
        parts = [f"{self.label}: {count}"]
        if self.detail:
            parts.append(self.detail)
        parts.append(_elapsed(time.monotonic() - self._started))
        return "  ".join(parts)

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled or self._closed:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        width = max(shutil.get_terminal_size((80, 24)).columns - 1, 20)
        text = self.line()[:width]
        pad = " " * max(self._width - len(text), 0)
        self._width = len(text)
        try:
            self.stream.write(f"\r{text}{pad}")
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop reporting
            self.enabled = False

    def close(self, *, failed: bool = False) -> None:
        """Draw the final state and end the line (idempotent)."""
        if self._closed:
            return
        if failed:
            self.detail = "failed"
        self._draw(force=True)
        self._closed = True
        if self.enabled:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass


def progress(
    items: Iterable[T],
    label: str,
    *,
    total: int | None = None,
    stream: TextIO | None = None,
    enabled: bool | None = None,
) -> Iterator[T]:
    """Yield ``items`` while showing progress (see :class:`Progress`)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(label, total, stream=stream, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.advance()


def peak_rss_mib(*, children: bool = False) -> float:
    """Peak resident memory of this process so far, in MiB (``getrusage``; Linux: KiB);
    with ``children``, of its largest finished child process (the report's, see
    :mod:`clvmodel.report.child`; 0 when there was none)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    peak = resource.getrusage(who).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


class Stage:
    """One running stage: count its rows, and advance its bar (see :class:`Stages`)."""

    def __init__(self, name: str, bar: Progress | None) -> None:
        self.name = name
        self.rows: int | None = None
        self.detail = ""
        self._bar = bar

    def advance(self, rows: int) -> None:
        """``rows`` more rows done (adds to :attr:`rows`; moves the bar on a terminal)."""
        self.rows = (self.rows or 0) + int(rows)
        if self._bar is not None:
            self._bar.advance(int(rows))


class Stages:
    """Time named stages, print one line each when it ends, and keep the records.

    Parameters
    ----------
    log : callable, optional
        Receives each finished stage's line, e.g. ``summary: 2.31 s, 3,190,430 rows``.
    stream : file-like, optional
        Where progress bars go (only when it is a terminal); ``sys.stderr`` by default.
    """

    def __init__(
        self, log: Callable[[str], None] | None = None, *, stream: TextIO | None = None
    ) -> None:
        self.log = log
        self.stream = stream
        self._records: list[dict[str, object]] = []
        self._started = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str, *, total: int | None = None) -> Iterator[Stage]:
        """Time the ``with`` block as stage ``name``; ``total`` rows shows a bar on a terminal."""
        bar = Progress(name, total, stream=self.stream) if total else None
        current = Stage(name, bar)
        started = time.perf_counter()
        try:
            if bar is not None:
                bar.__enter__()
            yield current
        finally:
            if bar is not None:
                bar.close()
        self._finish(current, time.perf_counter() - started)

    def start(self, name: str, fn: Callable[[Stage], object], *, background: bool = True) -> Job:
        """Run ``fn(stage)`` as stage ``name`` in a thread, beside the stages that follow;
        ``join`` the returned :class:`Job` for its result (and its line). With
        ``background=False`` it runs here and now (one core), joined all the same."""
        job = Job(self, name, fn)
        if background:
            job._thread.start()
        else:
            job._run()
        return job

    def _finish(self, current: Stage, seconds: float) -> None:
        name = current.name
        self._records.append({"name": name, "seconds": round(seconds, 3), "rows": current.rows})
        if self.log is not None:
            rows = f", {current.rows:,} rows" if current.rows is not None else ""
            detail = f"; {current.detail}" if current.detail else ""
            self.log(f"{name}: {seconds:.2f} s{rows}{detail}")

    def records(self) -> list[dict[str, object]]:
        """``{"name", "seconds", "rows"}`` of every finished stage, in order."""
        return [dict(r) for r in self._records]

    def elapsed(self) -> float:
        """Seconds since the stages object was made."""
        return time.perf_counter() - self._started


class Job:
    """A stage running in a thread (:meth:`Stages.start`): :meth:`join` for its result."""

    def __init__(self, stages: Stages, name: str, fn: Callable[[Stage], T]) -> None:
        self._stages = stages
        self._stage = Stage(name, None)
        self._fn = fn
        self._result: object = None
        self._error: BaseException | None = None
        self._seconds = 0.0
        self._thread = threading.Thread(target=self._run, name=f"clvmodel {name}", daemon=True)

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            self._result = self._fn(self._stage)
        except BaseException as exc:  # re-raised in the joining thread
            self._error = exc
        self._seconds = time.perf_counter() - started

    def wait(self) -> None:
        """Wait for the stage to end, whatever its outcome (nothing is recorded)."""
        if self._thread.ident is not None:
            self._thread.join()

    def join(self) -> object:
        """Wait for the stage; re-raise its error, or record its line and return its result."""
        self.wait()  # a stage started in the background (else it ran in the caller)
        if self._error is not None:
            raise self._error
        self._stages._finish(self._stage, self._seconds)
        return self._result
