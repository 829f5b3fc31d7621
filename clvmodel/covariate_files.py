"""Covariate files for the CLI: read, join onto the summary by customer id, validate.

A covariate file is CSV or Parquet with the customer id column and numeric covariate
columns, one row per customer. Every customer of the summary needs a row (a customer
without one is an input error with a count); rows for customers not in the summary are
ignored. Categorical columns are refused with their names (dummy-code them first).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .covariates import check_covariates
from .exceptions import InputError
from .inputs import _id_column, _suffix, file_columns


def read_covariates(path: str | Path, *, customer_col: str, columns: Sequence[str]) -> pd.DataFrame:
    """The covariate columns of ``path``, indexed by customer id as text."""
    path = Path(path)
    cols = file_columns(path)
    id_col = _id_column(cols, customer_col)
    if id_col is None:
        raise InputError(
            f"Covariate file {str(path)!r} has no customer id column {customer_col!r} "
            f"(columns: {cols})."
        )
    missing = [c for c in columns if c not in cols]
    if missing:
        raise InputError(
            f"{len(missing)} covariate column(s) missing from {str(path)!r}: {missing}. "
            f"Columns present: {cols}."
        )
    wanted = [id_col, *dict.fromkeys(columns)]
    if _suffix(path) == "parquet":
        import pyarrow.parquet as pq

        frame = pq.read_table(path, columns=wanted).to_pandas()
    else:
        frame = pd.read_csv(path, usecols=wanted, dtype={id_col: str})
    frame[id_col] = frame[id_col].astype(str)
    dup = int(frame[id_col].duplicated().sum())
    if dup:
        raise InputError(
            f"Covariate file {str(path)!r} has {dup:,} repeated customer id(s) in "
            f"{len(frame):,} rows: one row per customer."
        )
    return frame.set_index(id_col)


def attach_covariates(
    summary: pd.DataFrame,
    covariates: pd.DataFrame | None,
    columns: Sequence[str],
    *,
    fitting: bool = True,
) -> pd.DataFrame:
    """``summary`` with the covariate columns joined by customer id, validated
    (:func:`clvmodel.covariates.check_covariates`; for a fit strictly: no constant or
    collinear column either).

    ``covariates=None`` takes the columns from the summary itself.
    """
    columns = list(dict.fromkeys(columns))
    if covariates is None:
        check_covariates(summary, columns, fitting=fitting)
        return summary
    keys = summary.index.astype(str)
    found = keys.isin(covariates.index)
    if not found.all():
        example = list(keys[~found][:3])
        raise InputError(
            f"{int((~found).sum()):,} of {len(summary):,} customers have no row in the "
            f"covariate file (e.g. {example})."
        )
    out = summary.drop(columns=[c for c in columns if c in summary.columns])
    joined = covariates.loc[keys, columns]
    for c in columns:
        out[c] = joined[c].to_numpy()
    out.attrs = dict(summary.attrs)
    check_covariates(out, columns, fitting=fitting)
    return out
