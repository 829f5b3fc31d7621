"""The report's numbers, computed once from the run folder: the one home of every figure a
page shows (the headline, the one definition of "active", value tiers, segments, actions).

Everything is numpy over whole columns (sorts and bincounts), so a run of ten million
customers costs a few passes over its arrays; pages only format what is here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..clv import expected_buyers
from ..clv_metrics import value_tiers
from ..segments import SEGMENT_ORDER, quartile_scores, segment_codes
from .run import RunFiles

#: Top share of customers, by predicted CLV or by past spend, counted as high value.
HIGH_VALUE_SHARE = 0.20
#: P(alive) band of the high-value customers at risk: still likely, but falling.
AT_RISK_P_ALIVE = (0.25, 0.60)
#: Below this P(alive) a high past spender is a win-back candidate (likely lapsed).
WIN_BACK_P_ALIVE = 0.25
#: Customers listed by name on the actions page for each action.
LISTED = 8


@dataclass
class Action:
    """One group of customers to act on: who, how many, what they are worth."""

    name: str
    rule: str
    mask: np.ndarray
    customers: int
    clv_total: float
    past_spend_total: float
    top: pd.DataFrame


@dataclass
class ReportNumbers:
    """Figures shared by the pages (see the module docstring)."""

    n_customers: int
    active_expected: float
    one_time: int
    buyers_expected: float | None
    active_caveat: str | None
    forecast_start: str | None
    forecast_end: str | None
    forecast_basis: str
    excluded: dict[str, int]
    excluded_total: int
    tiers: pd.DataFrame | None = None
    segments: pd.DataFrame | None = None
    segment_of: pd.Categorical | None = None
    actions: list[Action] = field(default_factory=list)
    past_spend: np.ndarray | None = None

    @property
    def active_share(self) -> float:
        """Expected active customers as a share of all scored."""
        return self.active_expected / self.n_customers if self.n_customers else float("nan")

    @property
    def buyers_share(self) -> float | None:
        """Expected buyers in the horizon as a share of all scored."""
        if self.buyers_expected is None or not self.n_customers:
            return None
        return self.buyers_expected / self.n_customers


def _aligned(run: RunFiles, column: str) -> np.ndarray | None:
    """A summary column in the row order of the scores (by customer id)."""
    summary = run.summary
    if column not in summary.columns:
        return None
    ids = run.scores["customer_id"].astype(str)
    values = pd.to_numeric(summary[column], errors="coerce")
    if len(summary) == len(ids) and summary.index.equals(pd.Index(ids)):
        return values.to_numpy(np.float64)
    return values.reindex(pd.Index(ids)).to_numpy(np.float64)


def _forecast(run: RunFiles, horizon: float) -> tuple[str | None, str | None, str]:
    """Start and end dates of the forecast, and what it is measured from."""
    from ..units import UNIT_DAYS

    info = run.run
    start = info.get("forecast_start")
    end = info.get("forecast_end")
    if start:
        basis = "the end of the data"
    elif info.get("calibration_end"):
        start, basis = info["calibration_end"], "the calibration end"
    else:
        start, basis = info.get("observation_end"), "the end of the data"
    if start and not end:
        days = UNIT_DAYS.get(run.unit, 7.0) * horizon
        end = (pd.Timestamp(start) + pd.Timedelta(days=round(days))).date().isoformat()
    return start, end, basis


def _excluded(run: RunFiles) -> tuple[dict[str, int], int]:
    info = run.run
    reasons = {str(k): int(v) for k, v in (info.get("excluded") or {}).items() if v}
    total = int(info.get("excluded_customers") or sum(reasons.values()) or 0)
    if total and not reasons:
        reasons = {"left out by the run (reason not recorded)": total}
    return reasons, total


def _buyers(run: RunFiles, horizon: float) -> float | None:
    """Σ P(at least one purchase in the horizon | history), where the model has it: from
    ``metrics.json`` ``totals`` when the run computed it for these customers over this
    horizon (on its distinct rows), otherwise from every customer's scores."""
    totals = run.metrics.get("totals") or {}
    if (
        "buyers_expected" in totals
        and totals.get("customers") == len(run.scores)
        and float(run.run.get("horizon") or 52.0) == horizon
    ):
        saved = totals["buyers_expected"]
        return None if saved is None else float(saved)
    model = run.purchase_model
    scores = run.scores
    frame = scores[[c for c in model.columns if c in scores.columns]]
    return expected_buyers(model, frame, t=horizon)


def top_positions(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest values, highest first, ties in position order (as a
    stable sort would list them), by a partial sort: the work is one pass, not a sort."""
    n = len(values)
    candidates = np.arange(n)
    if k <= 0:
        return candidates[:0]
    if k < n:
        kth = np.partition(values, n - k)[n - k]  # the k-th largest value
        candidates = np.flatnonzero(values >= kth)
    return candidates[np.argsort(-values[candidates], kind="stable")[:k]]


def _action(
    name: str, rule: str, mask: np.ndarray, scores: pd.DataFrame, past: np.ndarray, order: str
) -> Action:
    clv = scores["clv"].to_numpy(np.float64)
    idx = np.flatnonzero(mask)
    key = clv[idx] if order == "clv" else past[idx]
    pick = idx[top_positions(key, LISTED)]
    listed = scores.iloc[pick]  # the listed rows only (no column of every customer)
    top = pd.DataFrame(
        {
            "customer_id": listed["customer_id"].to_numpy(),
            "frequency": listed["frequency"].to_numpy(),
            "since_last": (listed["T"] - listed["recency"]).to_numpy(),
            "p_alive": listed["p_alive"].to_numpy(),
            "past_spend": past[pick],
            "clv": clv[pick],
        }
    )
    return Action(
        name, rule, mask, int(mask.sum()), float(clv[mask].sum()), float(past[mask].sum()), top
    )


def _spend(run: RunFiles) -> tuple[np.ndarray, np.ndarray]:
    """Mean spend per repeat purchase and past repeat spend of each scored customer.

    From the scores when they carry ``monetary_value`` (the period they were scored on);
    otherwise from the summary, its ``frequency`` times its ``monetary_value`` (in a
    refitted run the summary is the calibration period's; customers it lacks spent 0).
    """
    scores = run.scores
    if "monetary_value" in scores.columns:
        mean = np.nan_to_num(scores["monetary_value"].to_numpy(np.float64))
        return mean, scores["frequency"].to_numpy(np.float64) * mean
    mean_value = _aligned(run, "monetary_value")
    if mean_value is None:
        zero = np.zeros(len(scores))
        return zero, zero
    mean = np.nan_to_num(mean_value)
    freq = np.nan_to_num(_aligned(run, "frequency"))
    return mean, freq * mean


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` largest values (a partial sort; ties at the cut by position)."""
    mask = np.zeros(len(values), dtype=bool)
    if k >= len(values):
        mask[:] = True
    else:
        mask[np.argpartition(-values, k - 1)[:k]] = True
    return mask


def _segments(
    run: RunFiles, mean: np.ndarray, past: np.ndarray
) -> tuple[pd.DataFrame, pd.Categorical]:
    """Value by segment, and each customer's segment (the scores' column if present).

    ``mean`` and ``past`` are :func:`_spend`'s: each customer's mean and past spend."""
    scores = run.scores
    if "segment" in scores.columns:
        names = pd.Categorical(scores["segment"])
        order = [s for s in SEGMENT_ORDER if s in names.categories]
        order += sorted(set(names.categories) - set(order))
        names = names.reorder_categories(order)
    else:
        r = quartile_scores((scores["T"] - scores["recency"]).to_numpy(), higher_is_better=False)
        f = quartile_scores(scores["frequency"].to_numpy())
        m = quartile_scores(mean)
        _, index, labels = segment_codes(r, f, m)
        names = pd.Categorical.from_codes(index, categories=list(labels))
    code = np.asarray(names.codes, dtype=np.intp)
    k = len(names.categories)
    n = len(code)
    clv = scores["clv"].to_numpy(np.float64)
    counts = np.bincount(code, minlength=k)
    clv_sum = np.bincount(code, weights=clv, minlength=k)
    past_sum = np.bincount(code, weights=past, minlength=k)
    alive = np.bincount(code, weights=scores["p_alive"].to_numpy(np.float64), minlength=k)
    total_clv = float(clv.sum())
    table = pd.DataFrame(
        {
            "customers": counts,
            "customer_share": counts / n,
            "clv_total": clv_sum,
            "clv_share": clv_sum / total_clv if total_clv else np.nan,
            "clv_mean": clv_sum / np.maximum(counts, 1),
            "past_spend_total": past_sum,
            "p_alive_mean": alive / np.maximum(counts, 1),
        },
        index=pd.Index(list(names.categories), name="segment"),
    )
    return table[table["customers"] > 0], names


def report_numbers(run: RunFiles, horizon: float) -> ReportNumbers:
    """Compute the numbers of :class:`ReportNumbers` from the run's files."""
    scores = run.scores
    n = len(scores)
    p_alive = scores["p_alive"].to_numpy(np.float64)
    freq = scores["frequency"].to_numpy(np.float64) if "frequency" in scores else np.zeros(n)
    caveat = None
    if run.purchase_model.name == "bgnbd":
        caveat = (
            "BG/NBD counts every one-time buyer as active (P(alive) = 1), so this is high; "
            "expected buyers hold across models."
        )
    start, end, basis = _forecast(run, horizon)
    excluded, excluded_total = _excluded(run)
    numbers = ReportNumbers(
        n_customers=n,
        active_expected=float(p_alive.sum()),
        one_time=int(np.sum(freq == 0)),
        buyers_expected=_buyers(run, horizon),
        active_caveat=caveat,
        forecast_start=start,
        forecast_end=end,
        forecast_basis=basis,
        excluded=excluded,
        excluded_total=excluded_total,
    )
    if not run.has_clv:
        return numbers
    mean, past = _spend(run)
    numbers.past_spend = past
    numbers.tiers = value_tiers(
        scores, run.summary if run.scores_on_calibration else None, ranked=run.ranked_clv
    )
    numbers.segments, numbers.segment_of = _segments(run, mean, past)
    clv = scores["clv"].to_numpy(np.float64)
    cut = max(int(np.ceil(HIGH_VALUE_SHARE * n)), 1)
    top_clv, top_past = _top(clv, cut), _top(past, cut)
    top_past &= past > 0
    lo, hi = AT_RISK_P_ALIVE
    share = f"{HIGH_VALUE_SHARE:.0%}"
    numbers.actions = [
        _action(
            "High value, at risk",
            f"in the top {share} by predicted value or past spend, with P(alive) between "
            f"{lo:.2f} and {hi:.2f}",
            (top_clv | top_past) & (p_alive >= lo) & (p_alive < hi),
            scores,
            past,
            "clv",
        ),
        _action(
            "Win-back list",
            f"in the top {share} by past spend, with P(alive) below {WIN_BACK_P_ALIVE:.2f}: "
            f"most likely lapsed",
            top_past & (p_alive < WIN_BACK_P_ALIVE),
            scores,
            past,
            "past",
        ),
    ]
    return numbers


#: Labels of the actions in the customer lists, in the order of :attr:`ReportNumbers.actions`.
ACTION_LABELS = ("at risk", "win back")


def action_labels(numbers: ReportNumbers) -> pd.Categorical:
    """Per customer: the action they are listed for (``""`` when none; the first wins)."""
    code = np.zeros(numbers.n_customers, dtype=np.int8)
    for i, action in enumerate(numbers.actions[: len(ACTION_LABELS)], start=1):
        code[action.mask & (code == 0)] = i
    return pd.Categorical.from_codes(code, categories=["", *ACTION_LABELS])


def describe(numbers: ReportNumbers) -> dict[str, Any]:
    """The headline numbers as plain data (for tests and logs)."""
    return {
        "n_customers": numbers.n_customers,
        "active_expected": numbers.active_expected,
        "buyers_expected": numbers.buyers_expected,
        "forecast_start": numbers.forecast_start,
        "forecast_end": numbers.forecast_end,
        "excluded_customers": numbers.excluded_total,
    }
