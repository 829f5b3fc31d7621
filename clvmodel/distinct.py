"""Distinct rows: compute once per distinct row, scatter back.

Customers of one cohort with the same history share their data row, and the fits and
predictions are functions of the row: :func:`group_rows` finds the groups by hashing (no
sort), so callers evaluate on ``rows[first]`` and gather with ``values[group]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

Groups = tuple[NDArray[np.intp], NDArray[np.intp]]


def group_rows(columns: Sequence[NDArray[np.float64]]) -> Groups | None:
    """Group identical rows: ``(group, first)`` with ``group[i]`` the group of row ``i``
    (numbered in order of first appearance) and ``first[g]`` the first row of group ``g``.

    Each column is factorised and the codes combined into one key, which is factorised in
    turn (hashing, no sort). ``None`` when the combined key could overflow 64 bits.
    """
    n = len(columns[0])
    codes = np.zeros(n, dtype=np.int64)
    span = 1
    for c in columns:
        col_codes, uniques = pd.factorize(np.asarray(c))
        span *= max(len(uniques), 1)
        if span >= 2**62:
            return None
        codes = codes * len(uniques) + col_codes
    group, _ = pd.factorize(codes)
    n_groups = int(group.max()) + 1 if n else 0
    first = np.empty(n_groups, dtype=np.intp)
    first[group[::-1]] = np.arange(n - 1, -1, -1)
    return group.astype(np.intp, copy=False), first
