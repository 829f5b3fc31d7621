"""A tiny progress reporter for long steps: one updating line on a terminal, silence elsewhere.

Progress goes to stderr, and only when stderr is a terminal: logs, pipes, CI and tests see
nothing, so output files and captured stdout stay clean. ::

    with Progress("Writing figures", total=len(charts)) as progress:
        for name, draw in charts:
            draw()
            progress.advance(detail=name)
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterable, Iterator
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
