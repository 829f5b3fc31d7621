"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import DATA, LIFETIMES_DATA, cdnow_summary


@pytest.fixture(scope="session")
def _cdnow_master() -> pd.DataFrame:
    return cdnow_summary()


@pytest.fixture
def cdnow(_cdnow_master: pd.DataFrame) -> pd.DataFrame:
    """The 2,357-customer CDNOW summary in weeks (a fresh copy per test)."""
    frame = _cdnow_master.copy()
    frame.attrs = dict(_cdnow_master.attrs)
    return frame


# -- bundled data files (data/README.md, section CDNOW) ---------------------------------


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The repository's ``data/`` folder."""
    return DATA


@pytest.fixture(scope="session")
def cdnow_transactions_path() -> Path:
    """``data/cdnow_transactions.csv.gz``: the CDNOW master log (69,659 rows)."""
    return DATA / "cdnow_transactions.csv.gz"


@pytest.fixture(scope="session")
def cdnow_summary_path() -> Path:
    """``data/cdnow_summary.csv``: the 2,357-customer CDNOW summary in weeks."""
    return DATA / "cdnow_summary.csv"


@pytest.fixture(scope="session")
def cdnow_transactions(cdnow_transactions_path: Path) -> pd.DataFrame:
    """The CDNOW log read by pandas: ids as text, dates as datetime64, amounts as float.

    Shared by the whole session: do not modify it (take a ``.copy()``).
    """
    frame = pd.read_csv(
        cdnow_transactions_path, dtype={"customer_id": str, "date": str}, keep_default_na=False
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y-%m-%d")
    return frame


@pytest.fixture(scope="session")
def lifetimes_datasets() -> Path:
    """Folder of the datasets bundled with ``lifetimes`` (CDNOW_master.txt, ...)."""
    return LIFETIMES_DATA
