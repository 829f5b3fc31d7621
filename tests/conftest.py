"""Shared fixtures."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import cdnow_summary


@pytest.fixture(scope="session")
def _cdnow_master() -> pd.DataFrame:
    return cdnow_summary()


@pytest.fixture
def cdnow(_cdnow_master: pd.DataFrame) -> pd.DataFrame:
    """The 2,357-customer CDNOW summary in weeks (a fresh copy per test)."""
    frame = _cdnow_master.copy()
    frame.attrs = dict(_cdnow_master.attrs)
    return frame
