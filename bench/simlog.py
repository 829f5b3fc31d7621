"""Simulated transaction logs for the benchmarks, written as Parquet in chunks.

``python bench/simlog.py N PATH`` writes a log of ``N`` customers simulated from BG/NBD +
Gamma-Gamma (:func:`clvmodel.simulate.bgnbd_transactions`, per-day rates r=0.3, alpha=30,
a=0.8, b=2.5, p=6, q=4, gamma=15, 84 acquisition days) to ``PATH``. Customers are simulated
in chunks of 500,000 with seed = chunk number, so a smaller log is a prefix of a larger
one and memory stays bounded; ids are ``C`` + 10 digits, unique across chunks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

TRUTH = {"r": 0.3, "alpha": 30.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 15.0}
CHUNK = 500_000


def write_log(n_customers: int, path: Path) -> int:
    """Simulate ``n_customers`` and write them to ``path``; return the transaction count."""
    from clvmodel.simulate import bgnbd_transactions

    tmp = path.with_name(path.name + ".tmp")
    rows = 0
    writer = None
    try:
        for chunk, start in enumerate(range(0, n_customers, CHUNK)):
            n = min(CHUNK, n_customers - start)
            tx = bgnbd_transactions(n, **TRUTH, unit="D", acquisition_days=84, seed=chunk)
            local = tx["customer_id"].str.slice(1).astype(np.int64).to_numpy()  # 1..n
            tx["customer_id"] = np.char.add("C", np.char.zfill((start + local).astype("U10"), 10))
            table = pa.Table.from_pandas(tx, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=1 << 20)
            rows += len(tx)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    return rows


if __name__ == "__main__":
    target = Path(sys.argv[2])
    target.parent.mkdir(parents=True, exist_ok=True)
    print(write_log(int(sys.argv[1]), target))
