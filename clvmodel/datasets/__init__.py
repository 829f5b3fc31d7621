"""Data sets shipped with clvmodel as package data, loadable from an installed wheel.

- :func:`load_cdnow`: the CDNOW transaction log (Fader & Hardie): 69,659 purchases of the
  23,570 customers who first bought in the first quarter of 1997, to 1998-06-30.
- :func:`load_cdnow_summary`: the RFM summary (weeks) of the 2,357-customer 1/10 sample of
  Fader, Hardie & Lee (2005), calibration to 1997-09-30.
- :func:`load_donations`: the BG/BB donations data of Fader, Hardie & Shang (2010): 11,104
  donors over 6 yearly opportunities, as 22 weighted rows.

The files are copies of those in the ``lifetimes`` package, made by ``data/make_data.py``;
``data/README.md`` describes every column. :func:`path` gives a file's location, e.g. for
the command line (``clvmodel run "$(python -c 'import clvmodel.datasets as d;
print(d.path("cdnow_transactions.csv.gz"))')" --out run``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from ..exceptions import InputError

FILES = ("cdnow_transactions.csv.gz", "cdnow_summary.csv", "donations.csv")


def path(name: str) -> Path:
    """Location of the bundled file ``name`` (one of :data:`FILES`)."""
    if name not in FILES:
        raise InputError(f"The 'name' parameter must be one of {list(FILES)}. Got {name!r}.")
    return Path(str(resources.files(__name__).joinpath(name)))


def load_cdnow() -> pd.DataFrame:
    """The CDNOW transaction log: ``customer_id`` (text, ``"00001"``...), ``date``
    (datetime64), ``quantity`` (CDs) and ``amount`` (dollars); 69,659 rows."""
    frame = pd.read_csv(
        path("cdnow_transactions.csv.gz"),
        dtype={"customer_id": str, "date": str},
        keep_default_na=False,
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y-%m-%d")
    return frame


def load_cdnow_summary() -> pd.DataFrame:
    """The 2,357-customer CDNOW summary in weeks (calibration to 1997-09-30), indexed by
    ``customer_id``: ``frequency``, ``recency``, ``T``, ``monetary_value``; the time unit is
    in ``attrs["time_unit"]``."""
    frame = pd.read_csv(path("cdnow_summary.csv"), dtype={"customer_id": str})
    frame = frame.set_index("customer_id")
    frame.attrs["time_unit"] = "W"
    return frame


def load_donations() -> pd.DataFrame:
    """The BG/BB donations data: ``frequency``, ``recency``, ``periods`` (6 yearly
    opportunities) and ``weights`` (donors with that history); 22 rows, 11,104 donors."""
    frame = pd.read_csv(path("donations.csv"))
    frame.attrs["time_unit"] = "Y"
    return frame


__all__ = ["FILES", "load_cdnow", "load_cdnow_summary", "load_donations", "path"]
