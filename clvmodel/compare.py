"""Choosing a purchase model: fit several on the same calibration data and rank them.

:func:`compare_models` fits each candidate on the calibration columns of a summary
(``frequency, recency, T``) and reports, one row per model, the log-likelihood, AIC and BIC
and, when the summary has holdout columns (``frequency_holdout, duration_holdout``, from
:func:`clvmodel.rfm_summary` with ``calibration_end``), the holdout accuracy of
:func:`clvmodel.evaluation.holdout_metrics`. :meth:`ComparisonResult.choose` picks one: by
holdout RMSE per customer when there is a holdout period (what the model is for), by BIC
otherwise. A candidate whose fit fails is kept in the table with its error.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .evaluation import HOLDOUT_COLUMNS, holdout_metrics, weighted_holdout_metrics
from .exceptions import CLVModelError, InputError
from .models import MODELS
from .models.base import PurchaseModel
from .validation import numeric_column, require_columns, resolve_weights

#: Purchase models compared by default (continuous-time RFM summaries).
DEFAULT_CANDIDATES = ("bgnbd", "pnbd", "mbgnbd")

_COLUMNS = [
    "model",
    "n_params",
    "log_likelihood",
    "aic",
    "bic",
    "converged",
    "mae",
    "rmse",
    "actual_purchases",
    "predicted_purchases",
    "aggregate_error",
    "rank_log_likelihood",
    "rank_bic",
    "rank_rmse",
    "warnings",
    "error",
]


def _json_value(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is None:
        return None
    return value


@dataclass
class ComparisonResult:
    """Fitted candidates and their fit and holdout statistics.

    Attributes
    ----------
    table : DataFrame
        One row per candidate, indexed by model key: ``n_params, log_likelihood, aic, bic,
        converged``, holdout ``mae, rmse, actual_purchases, predicted_purchases,
        aggregate_error`` (NaN without holdout columns), ``rank_*`` (1 = best; ties share a
        rank), ``warnings`` and ``error`` (text; empty when the fit worked).
    models : dict
        Model key -> fitted model, for the candidates whose fit worked.
    has_holdout : bool
        Whether the summary had holdout columns.
    """

    table: pd.DataFrame
    models: dict[str, PurchaseModel] = field(default_factory=dict)
    has_holdout: bool = False

    def choose(self) -> tuple[str, str]:
        """The best candidate and why.

        By holdout RMSE per customer when the summary had a holdout period, by BIC
        otherwise (the log-likelihood penalised for parameters, comparable across these
        models because they are fitted on the same data).

        Returns
        -------
        key, reason : str
            The registry key of the chosen model and a sentence saying why.

        Raises
        ------
        CLVModelError
            When no candidate could be fitted.
        """
        ok = self.table[self.table["error"] == ""]
        if ok.empty:
            errors = "; ".join(f"{k}: {e}" for k, e in self.table["error"].items())
            raise CLVModelError(f"No candidate model could be fitted ({errors}).")
        if self.has_holdout and ok["rmse"].notna().any():
            ranked = ok.sort_values(["rmse", "bic"])
            key = str(ranked.index[0])
            best = ranked.iloc[0]
            reason = (
                f"{key} predicts the holdout period best: RMSE {best['rmse']:.4f} purchases "
                f"per customer"
            )
            if len(ranked) > 1:
                second = ranked.iloc[1]
                reason += f" against {second['rmse']:.4f} for {ranked.index[1]}"
            reason += (
                f" (predicted {best['predicted_purchases']:,.1f} purchases in total, actual "
                f"{best['actual_purchases']:,.0f})."
            )
            return key, reason
        ranked = ok.sort_values("bic")
        key = str(ranked.index[0])
        best = ranked.iloc[0]
        reason = f"{key} has the lowest BIC, {best['bic']:,.2f}"
        if len(ranked) > 1:
            gap = float(ranked.iloc[1]["bic"] - best["bic"])
            reason += f", {gap:,.2f} below {ranked.index[1]}"
        reason += " (no holdout period to compare predictions on)."
        return key, reason

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content: the table as records (NaN as null) and the choice."""
        records = []
        for key, row in self.table.iterrows():
            record = {"key": str(key)}
            record.update({c: _json_value(row[c]) for c in self.table.columns})
            records.append(record)
        try:
            chosen, reason = self.choose()
        except CLVModelError as exc:
            chosen, reason = None, str(exc)
        return {
            "has_holdout": self.has_holdout,
            "candidates": records,
            "chosen": chosen,
            "reason": reason,
        }


def compare_models(
    summary: pd.DataFrame,
    *,
    models: Sequence[str] = DEFAULT_CANDIDATES,
    time_unit: str | None = None,
    weights: str | Sequence[float] | np.ndarray | None = None,
) -> ComparisonResult:
    """Fit each candidate purchase model on ``summary`` and rank them.

    Parameters
    ----------
    summary : DataFrame
        Calibration summary with ``frequency, recency, T`` (and optionally
        ``frequency_holdout, duration_holdout``); ``attrs["time_unit"]`` gives the unit.
        Not modified.
    models : sequence of str
        Registry keys of purchase models (see :data:`clvmodel.models.MODELS`).
    time_unit : str, optional
        Unit of the data when ``summary.attrs`` has none.
    weights : str or array-like, optional
        Customers per row (a column name or one number per row), for distinct rows with
        their counts, e.g. :meth:`clvmodel.engines.duckdb.DuckDBSummaryEngine.fit_table`
        on the calibration and holdout columns: every figure is then that of the
        customers the rows stand for (the fits weighted, the holdout accuracy by
        :func:`clvmodel.evaluation.weighted_holdout_metrics`).

    Returns
    -------
    ComparisonResult
        ``.table``, ``.models``, ``.choose()`` and ``.to_dict()``.

    Raises
    ------
    InputError
        For an unknown or non-purchase model key, or an empty candidate list. A candidate
        whose fit fails does not raise: its error is in the table.
    """
    keys = list(models)
    if not keys:
        raise InputError("The 'models' parameter must name at least one model. Got none.")
    for key in keys:
        cls = MODELS.get(key)
        if cls is None or not issubclass(cls, PurchaseModel):
            purchase = sorted(k for k, c in MODELS.items() if issubclass(c, PurchaseModel))
            raise InputError(
                f"The 'models' parameter must hold purchase-model keys ({', '.join(purchase)}). "
                f"Got {key!r} instead."
            )
    require_columns(summary, ("frequency", "recency", "T"), what="calibration summary")
    has_holdout = all(c in summary.columns for c in HOLDOUT_COLUMNS)
    row_weights = None if weights is None else resolve_weights(summary, weights)
    rows: list[dict[str, Any]] = []
    fitted: dict[str, PurchaseModel] = {}
    for key in dict.fromkeys(keys):
        row: dict[str, Any] = {c: np.nan for c in _COLUMNS}
        row.update(model=key, n_params=len(MODELS[key].param_names), warnings="", error="")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = MODELS[key]()
                model.fit(summary, time_unit=time_unit, weights=row_weights)  # type: ignore[call-arg]
                assert isinstance(model, PurchaseModel)
                res = model.result_
                row.update(
                    log_likelihood=res.log_likelihood,
                    aic=res.aic,
                    bic=res.bic,
                    converged=res.converged,
                )
                if has_holdout:
                    metrics = _holdout(model, summary, row_weights)
                    row.update({k: metrics[k] for k in _COLUMNS if k in metrics})
                fitted[key] = model
            except (CLVModelError, ValueError, FloatingPointError) as exc:
                row["error"] = f"{type(exc).__name__}: {exc}"
        row["warnings"] = "; ".join(f"{w.category.__name__}: {w.message}" for w in caught)
        for w in caught:  # recorded in the table and still shown
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        rows.append(row)
    table = pd.DataFrame(rows, columns=_COLUMNS).set_index("model")
    table["converged"] = table["converged"].astype(object)
    ok = table["error"] == ""
    for col, rank_col, ascending in (
        ("log_likelihood", "rank_log_likelihood", False),
        ("bic", "rank_bic", True),
        ("rmse", "rank_rmse", True),
    ):
        table[rank_col] = table[col].where(ok).rank(ascending=ascending, method="min")
    table.attrs["time_unit"] = summary.attrs.get("time_unit", time_unit)
    return ComparisonResult(table=table, models=fitted, has_holdout=has_holdout)


def _holdout(model: PurchaseModel, summary: pd.DataFrame, weights: np.ndarray | None) -> dict:
    """The holdout accuracy of ``model`` on ``summary``'s rows (weighted by ``weights``)."""
    if weights is None:
        return holdout_metrics(model, summary)
    arrays = tuple(numeric_column(summary, c) for c in model.columns)
    actual, duration = (numeric_column(summary, c) for c in HOLDOUT_COLUMNS)
    return weighted_holdout_metrics(model, arrays, actual, duration, weights)
