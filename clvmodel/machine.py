"""What this machine has: the memory a process can still take (Linux, cgroup-aware).

Used where a size is chosen or a job refused before work starts: the DuckDB engine's
automatic memory limit (:func:`clvmodel.engines.auto_memory_limit`) and the report's memory
check (:mod:`clvmodel.report.memory`).
"""

from __future__ import annotations

import os
from pathlib import Path

MIB = 2.0**20


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
    return max(float(limit_text) - max(used - cache, 0.0), 0.0) / MIB


def own_rss_mib() -> float:
    """This process's resident memory now, in MiB (0 where ``/proc`` is absent)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / MIB
