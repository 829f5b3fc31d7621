"""Simulated transaction logs for the benchmarks, written as Parquet in chunks.

``python bench/simlog.py N PATH`` writes a log of ``N`` customers simulated from BG/NBD +
Gamma-Gamma (:func:`clvmodel.simulate.bgnbd_transactions`, per-day rates r=0.3, alpha=30,
a=0.8, b=2.5, p=6, q=4, gamma=15, 84 acquisition days) to ``PATH``. Customers are simulated
in chunks of 500,000 with seed = chunk number (by one process per core), so a smaller
log is a prefix of a larger one and memory stays bounded; ids are ``C`` + 10 digits,
unique across chunks.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TRUTH = {"r": 0.3, "alpha": 30.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 15.0}
CHUNK = 500_000


def simulate_chunk(chunk: int, start: int, n: int) -> pa.Table:
    """Customers ``start + 1 .. start + n`` (chunk number ``chunk`` = seed) as an Arrow table."""
    from clvmodel.simulate import bgnbd_transactions

    tx = bgnbd_transactions(n, **TRUTH, unit="D", acquisition_days=84, seed=chunk)
    table = pa.Table.from_pandas(tx, preserve_index=False)
    local = pc.cast(pc.utf8_slice_codeunits(table["customer_id"], 1), pa.int64())  # 1..n
    number = pc.cast(pc.add(local, start), pa.string())
    ids = pc.binary_join_element_wise("C", pc.utf8_lpad(number, 10, "0"), "")
    return table.set_column(0, "customer_id", pc.cast(ids, pa.large_string()))


def _simulate(args: tuple[int, int, int]) -> pa.Table:
    return simulate_chunk(*args)


def write_log(n_customers: int, path: Path, workers: int | None = None) -> int:
    """Simulate ``n_customers`` and write them to ``path``; return the transaction count.

    Chunks are simulated by ``workers`` processes (default: one per core) and written in
    chunk order, so the file does not depend on the number of workers.
    """
    tmp = path.with_name(path.name + ".tmp")
    jobs = [
        (chunk, start, min(CHUNK, n_customers - start))
        for chunk, start in enumerate(range(0, n_customers, CHUNK))
    ]
    workers = max(1, min(workers or multiprocessing.cpu_count(), len(jobs)))
    rows = 0
    writer = None
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for table in pool.imap(_simulate, jobs):
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table, row_group_size=1 << 20)
                rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    return rows


if __name__ == "__main__":
    target = Path(sys.argv[2])
    target.parent.mkdir(parents=True, exist_ok=True)
    print(write_log(int(sys.argv[1]), target))
