"""RFM segmentation: recency, frequency and monetary scores 1-4 and named segments.

As PyMC-Marketing's ``rfm_segments`` does, each customer gets a quartile score for recency
(4: bought most recently), frequency (4: most repeat purchases) and monetary value (4: the
highest mean spend), the three digits make the RFM code (``"443"``), and the code is mapped
to a named segment (:data:`SEGMENTS`, PyMC-Marketing's default names and codes; every other
code is ``"Other"``).

Scores come from ranks in numpy (one sort per column, fine at tens of millions of
customers): a customer's score is ``1 + floor(4 * share of customers strictly below``
``them)``, so tied customers share a score and the many one-time buyers (frequency 0) all
score 1 on frequency, rather than being split at random across quartiles. Recency is scored
on the time since the last purchase, ``T - recency`` (shorter is better).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .exceptions import InputError
from .validation import customer_index, require_columns

#: Named segments by RFM code (PyMC-Marketing's defaults); codes not listed are "Other".
SEGMENTS: dict[str, tuple[str, ...]] = {
    name: tuple(codes.split())
    for name, codes in {
        "Premium Customer": "334 443 444 344 434 433 343 333",
        "Repeat Customer": "244 234 232 332 143 233 243",
        "Top Spender": "424 414 144 314 324 124 224 423 413 133 323 313 134",
        "At Risk Customer": "422 223 212 122 222 132 322 312 412 123 214",
        "Inactive Customer": "411 111 113 114 112 211 311",
    }.items()
}
OTHER = "Other"
#: Segment names in the order reports list them.
SEGMENT_ORDER: tuple[str, ...] = (*SEGMENTS, OTHER)


def quartile_scores(values: ArrayLike, *, higher_is_better: bool = True) -> NDArray[np.int8]:
    """Score 1-4 per value: ``1 + floor(4 * share of values strictly worse)``.

    Ties share the score of their lowest rank. ``higher_is_better=False`` scores small
    values highest (time since the last purchase).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return np.zeros(0, dtype=np.int8)
    if not np.all(np.isfinite(v)):
        raise InputError(
            f"RFM scores need finite values. Got {int(np.sum(~np.isfinite(v))):,} missing or "
            f"infinite ones."
        )
    key = v if higher_is_better else -v
    ordered = np.sort(key)
    below = np.searchsorted(ordered, key, side="left")
    return (1 + np.minimum(4 * below // len(v), 3)).astype(np.int8)


def segment_names(
    r: ArrayLike, f: ArrayLike, m: ArrayLike, segments: Mapping[str, Sequence[str]] = SEGMENTS
) -> tuple[NDArray[np.str_], NDArray[np.object_]]:
    """RFM codes (``"443"``) and segment names for arrays of scores 1-4."""
    r, f, m = (np.asarray(a, dtype=np.int64) for a in (r, f, m))
    number = 100 * r + 10 * f + m  # 111 .. 444
    lookup = np.full(445, OTHER, dtype=object)
    for name, codes in segments.items():
        for code in codes:
            lookup[int(code)] = name
    return number.astype(str), lookup[number]


def rfm_segments(
    data: pd.DataFrame, *, segments: Mapping[str, Sequence[str]] = SEGMENTS
) -> pd.DataFrame:
    """RFM scores and named segments of each customer of a summary or scores table.

    Parameters
    ----------
    data : DataFrame
        ``frequency``, ``recency``, ``T`` and ``monetary_value`` (as :func:`clvmodel.rfm_summary`
        writes them), labelled by ``customer_id`` (a column or the index).
    segments : mapping, optional
        Segment name to RFM codes; :data:`SEGMENTS` by default.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``: ``r_score``, ``f_score``, ``m_score`` (1-4),
        ``rfm_score`` (``"443"``) and ``segment``.
    """
    require_columns(data, ("frequency", "recency", "T", "monetary_value"), what="RFM summary")
    labels = customer_index(data)
    cols = {
        c: pd.to_numeric(data[c], errors="coerce").to_numpy(np.float64)
        for c in ("frequency", "recency", "T", "monetary_value")
    }
    r = quartile_scores(cols["T"] - cols["recency"], higher_is_better=False)
    f = quartile_scores(cols["frequency"])
    m = quartile_scores(np.nan_to_num(cols["monetary_value"]))
    code, name = segment_names(r, f, m, segments)
    return pd.DataFrame(
        {"r_score": r, "f_score": f, "m_score": m, "rfm_score": code, "segment": name},
        index=labels,
    )


def add_segments(
    scores: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    *,
    segments: Mapping[str, Sequence[str]] = SEGMENTS,
) -> pd.DataFrame:
    """``scores`` with the columns ``rfm_score`` and ``segment`` added (a new frame).

    The function the pipeline calls before writing ``scores``: the RFM columns come from
    ``summary`` (``monetary_value``; row order and ids as in ``scores``) or from ``scores``
    itself when it has them all. ``scores`` is not modified.
    """
    source = scores
    if "monetary_value" not in scores.columns:
        if summary is None:
            raise InputError(
                "Segments need monetary_value: pass the summary the scores were computed from."
            )
        if len(summary) != len(scores):
            raise InputError(
                f"The summary ({len(summary):,} rows) and the scores ({len(scores):,} rows) "
                f"must describe the same customers in the same order."
            )
        source = pd.DataFrame(
            {
                "frequency": scores["frequency"].to_numpy(),
                "recency": scores["recency"].to_numpy(),
                "T": scores["T"].to_numpy(),
                "monetary_value": summary["monetary_value"].to_numpy(),
            }
        )
    table = rfm_segments(source, segments=segments)
    out = scores.copy()
    out["rfm_score"] = table["rfm_score"].to_numpy()
    out["segment"] = table["segment"].to_numpy()
    return out


__all__ = [
    "OTHER",
    "SEGMENTS",
    "SEGMENT_ORDER",
    "add_segments",
    "quartile_scores",
    "rfm_segments",
    "segment_names",
]
