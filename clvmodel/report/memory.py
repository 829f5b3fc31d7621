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
from pathlib import Path

from ..exceptions import InsufficientMemoryError

#: The report's peak memory as ``BASE_MIB`` + ``BYTES_PER_CUSTOMER`` × customers: the line
#: through the largest summed proportional set size of ``clvmodel report`` and its children
#: (sampled every 0.2 s) seen at each of two sizes, simulated BG/NBD + Gamma-Gamma runs in
#: Parquet without a holdout (bench/RESULTS.md, 2026-12-02): 555 MiB at 1M customers (551
#: and 555 in two runs) and 2,454 MiB at 10M (2,407 and 2,429, and 2,454 in an earlier run).
BASE_MIB = 344.0
BYTES_PER_CUSTOMER = 221.25

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
    meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")
) -> float | None:
    """Memory this process can still take without the kernel killing something, in MiB.

    The smaller of Linux's ``MemAvailable`` (free memory plus the page cache it can drop)
    and, under a cgroup v2 memory limit, that limit less the group's current use. ``None``
    where neither can be read (not Linux): the caller does not check then.
    """
    found: list[float] = []
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(float(line.split()[1]) / 1024.0)  # kB
                break
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            used = float((cgroup / "memory.current").read_text().strip())
            found.append(max(float(limit) - used, 0.0) / _MIB)
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def check_report_memory(customers: int | None, *, available_mib: float | None = None) -> None:
    """Raise :class:`~clvmodel.exceptions.InsufficientMemoryError` when this machine lacks the
    memory the report of ``customers`` customers needs (:func:`report_memory_mib`).

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
    if need > available_mib:
        raise InsufficientMemoryError(
            f"the report of {int(customers):,} customers needs about {_gib(need)} of memory "
            f"and this machine has {_gib(available_mib)} available; write it with "
            f"`clvmodel report RUN_DIR` on a machine with more memory (the run's scores and "
            f"models do not need it)"
        )


def _gib(mib: float) -> str:
    return f"{mib / 1024.0:.1f} GiB"
