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

from ..exceptions import InsufficientMemoryError
from ..machine import MIB, available_memory_mib, own_rss_mib

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
    return BASE_MIB + BYTES_PER_CUSTOMER * max(int(customers), 0) / MIB


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
    have = available_mib + min(own_rss_mib(), BASE_MIB)
    if need * MARGIN > have:
        raise InsufficientMemoryError(
            f"the report of {int(customers):,} customers needs about "
            f"{math.ceil(need / 102.4) / 10:.1f} GiB of memory and this machine has "
            f"{math.floor(have / 102.4) / 10:.1f} GiB available; write it on a machine with "
            f"more memory (`clvmodel report RUN_DIR`; the run's scores and models do not "
            f"need it)"
        )
