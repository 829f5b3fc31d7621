"""Whether this machine has the memory the report needs, asked before the report reads a row.

The report reads every customer's scores and summary into memory, and its forked children
(:mod:`.child`) add their own arrays to that. So its peak memory grows with the number of
customers: :func:`report_memory_mib` says how much, from measurements, and
:func:`check_report_memory` refuses, with what it needs and what there is, a report this
machine could not finish. Without the check, the kernel would kill the process part-way. For
a run, that happens after the scores were computed, so the whole run would be lost.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..exceptions import InsufficientMemoryError

#: The report's peak memory as ``BASE_MIB`` + ``BYTES_PER_CUSTOMER`` × customers: the line
#: through the largest summed proportional set size of ``clvmodel report`` and its children
#: (sampled every 0.2 s) seen at each of two sizes, simulated BG/NBD + Gamma-Gamma runs in
#: Parquet without a holdout (bench/RESULTS.md, 2026-12-02): 555 MiB at 1M customers (551
#: and 555 in two runs) and 2,454 MiB at 10M (2,407 and 2,429, and 2,454 in an earlier run).
#: At 100M customers the report (178 s) peaked at 21,464 MiB, against the line's 21,444.
BASE_MIB = 344.0
BYTES_PER_CUSTOMER = 221.25
#: The report is refused unless this times its need is available (sampling misses peaks).
MARGIN = 1.05

_MIB = 2.0**20


def report_memory_mib(customers: int) -> float:
    """The memory the report of a run with ``customers`` scored customers needs, in MiB.

    Parameters
    ----------
    customers : int
        Customers in the run's scores (``run.json`` ``n_scored``).

    Returns
    -------
    float
        ``BASE_MIB + BYTES_PER_CUSTOMER * customers / 2**20``.
    """
    return BASE_MIB + BYTES_PER_CUSTOMER * max(int(customers), 0) / _MIB


def available_memory_mib(
    meminfo: Path = Path("/proc/meminfo"),
    cgroup: Path | None = None,
    v1: Path | None = None,
) -> float | None:
    """Memory this process can still take without the kernel killing something, in MiB.

    The smallest of Linux's ``MemAvailable`` (free memory plus the page cache it can drop)
    and the headroom of each cgroup memory limit over this process: cgroup v2 ``memory.max``
    of its group and the groups above it, or cgroup v1 ``memory.limit_in_bytes``, less the
    group's use without its inactive page cache (which the kernel drops before it kills).
    ``cgroup`` and ``v1`` default to this process's own groups (``/proc/self/cgroup``).
    ``None`` where nothing can be read (not Linux): the caller does not check then.
    """
    found: list[float] = []
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(float(line.split()[1]) / 1024.0)  # kB
                break
    except (OSError, ValueError, IndexError):
        pass
    if cgroup is None and v1 is None:
        cgroup, v1 = _own_cgroups()
    groups = [cgroup, *cgroup.parents] if cgroup is not None else []
    for group in groups:  # v2: every limit from this group up to the root
        room = _headroom(group, "memory.max", "memory.current", "inactive_file")
        if room is not None:
            found.append(room)
        if group == Path("/sys/fs/cgroup"):
            break
    if v1 is not None:
        room = _headroom(
            v1, "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
        )
        if room is not None:
            found.append(room)
    return min(found) if found else None


def _own_cgroups() -> tuple[Path | None, Path | None]:
    """This process's cgroup v2 folder and cgroup v1 memory folder (``None`` if absent)."""
    root = Path("/sys/fs/cgroup")
    v2 = v1 = None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            v2 = root / path.lstrip("/")
        elif "memory" in controllers.split(","):
            v1 = root / "memory" / path.lstrip("/")
    return v2, v1


def _headroom(group: Path, limit_file: str, usage_file: str, cache_key: str) -> float | None:
    """``limit - (usage - inactive page cache)`` of one cgroup in MiB; ``None`` without a
    limit (``max``, or v1's "unlimited" of about 2^63) or when the files cannot be read."""
    try:
        limit_text = (group / limit_file).read_text().strip()
        if limit_text == "max" or float(limit_text) >= 2.0**60:
            return None
        used = float((group / usage_file).read_text().strip())
    except (OSError, ValueError):
        return None
    cache = 0.0
    try:
        for line in (group / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == cache_key:
                cache = float(value)
                break
    except (OSError, ValueError):
        pass
    return max(float(limit_text) - max(used - cache, 0.0), 0.0) / _MIB


def _own_rss_mib() -> float:
    """This process's resident memory now, in MiB (0 where ``/proc`` is absent)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / _MIB


def check_report_memory(customers: int | None, *, available_mib: float | None = None) -> None:
    """Raise :class:`~clvmodel.exceptions.InsufficientMemoryError` when this machine lacks the
    memory the report of ``customers`` customers needs (:func:`report_memory_mib`, times
    :data:`MARGIN`).

    ``available_mib`` defaults to :func:`available_memory_mib`; nothing is checked when it
    or ``customers`` is unknown (``None``).
    """
    if customers is None:
        return
    if available_mib is None:
        available_mib = available_memory_mib()
    if available_mib is None or not math.isfinite(available_mib):
        return
    need = report_memory_mib(customers)
    # What this process holds already (the interpreter, its libraries, a run's leftovers) is
    # part of the need's base, and no longer in what is available.
    have = available_mib + min(_own_rss_mib(), BASE_MIB)
    if need * MARGIN > have:
        raise InsufficientMemoryError(
            f"the report of {int(customers):,} customers needs about "
            f"{math.ceil(need / 102.4) / 10:.1f} GiB of memory and this machine has "
            f"{math.floor(have / 102.4) / 10:.1f} GiB available; write it on a machine with "
            f"more memory (`clvmodel report RUN_DIR`; the run's scores and models do not "
            f"need it)"
        )
