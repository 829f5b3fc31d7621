"""Rebuild the bundled data files from the copies shipped in the ``lifetimes`` package.

    python data/make_data.py            # writes clvmodel/datasets/cdnow_transactions.csv.gz,
                                        # cdnow_summary.csv and donations.csv (package data;
                                        # data/ holds links to the first two)

The output is byte-for-byte reproducible: values are copied as text (never through
floats), and the gzip stream has no file name and a fixed modification time of 0.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE_DATA = HERE.parent / "clvmodel" / "datasets"

TRANSACTIONS_HEADER = "customer_id,date,quantity,amount"
SUMMARY_HEADER = "customer_id,frequency,recency,T,monetary_value"
N_TRANSACTIONS = 69_659
N_CUSTOMERS = 23_570
N_SUMMARY = 2_357


def lifetimes_datasets() -> Path:
    """Folder of lifetimes' bundled datasets, found without importing lifetimes."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("lifetimes is not installed: pip install 'lifetimes>=0.11.3'")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def cdnow_transactions_csv(master: Path) -> str:
    """CDNOW_master.txt (whitespace-separated ``id YYYYMMDD cds dollars``) as CSV text."""
    lines = master.read_text(encoding="ascii").splitlines()
    if lines[0].split() != ["customer_id", "date", "number_of_cds", "dollar_value"]:
        raise SystemExit(f"Unexpected header in {master}: {lines[0]!r}")
    out = [TRANSACTIONS_HEADER]
    for line in lines[1:]:
        if not line.strip():
            continue
        customer, day, cds, dollars = line.split()
        if len(day) != 8 or not day.isdigit():
            raise SystemExit(f"Unexpected date {day!r} in {master}")
        out.append(f"{customer},{day[:4]}-{day[4:6]}-{day[6:]},{cds},{dollars}")
    if len(out) - 1 != N_TRANSACTIONS:
        raise SystemExit(f"Expected {N_TRANSACTIONS:,} transactions, got {len(out) - 1:,}")
    customers = {row.split(",", 1)[0] for row in out[1:]}
    if len(customers) != N_CUSTOMERS:
        raise SystemExit(f"Expected {N_CUSTOMERS:,} customers, got {len(customers):,}")
    return "\n".join(out) + "\n"


def cdnow_summary_csv(summary: Path) -> str:
    """cdnow_customers_summary_with_transactions.csv (``ID,x,t_x,T,zbar``) renamed."""
    lines = [line for line in summary.read_text(encoding="ascii").splitlines() if line.strip()]
    if lines[0].split(",") != ["ID", "x", "t_x", "T", "zbar"]:
        raise SystemExit(f"Unexpected header in {summary}: {lines[0]!r}")
    if len(lines) - 1 != N_SUMMARY:
        raise SystemExit(f"Expected {N_SUMMARY:,} customers, got {len(lines) - 1:,}")
    return "\n".join([SUMMARY_HEADER, *lines[1:]]) + "\n"


def gzip_bytes(text: str) -> bytes:
    """Gzip ``text`` with no file name and mtime 0, so equal text gives equal bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("ascii"))
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=PACKAGE_DATA, help="output folder (default: clvmodel/datasets/)"
    )
    parser.add_argument("--source", type=Path, default=None, help="lifetimes datasets folder")
    args = parser.parse_args(argv)
    source = args.source or lifetimes_datasets()
    args.out.mkdir(parents=True, exist_ok=True)

    transactions = args.out / "cdnow_transactions.csv.gz"
    transactions.write_bytes(gzip_bytes(cdnow_transactions_csv(source / "CDNOW_master.txt")))
    summary = args.out / "cdnow_summary.csv"
    summary.write_text(
        cdnow_summary_csv(source / "cdnow_customers_summary_with_transactions.csv"),
        encoding="ascii",
        newline="\n",
    )
    donations = args.out / "donations.csv"
    donations.write_bytes((source / "donations.csv").read_bytes())
    for path in (transactions, summary, donations):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
