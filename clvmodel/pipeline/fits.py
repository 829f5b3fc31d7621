"""The run's fits: what each reads from the engine, and the fit itself (numpy only).

:class:`Fits` splits every fit into the engine's part (``purchase_table``, ``spend_table``:
the distinct rows with their counts, one query each) and the numpy part (``fit_purchase``,
``fit_spend``), so that the run can query the engine from one thread and then fit the spend
model beside the purchase model (:func:`beside`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from ..engines.duckdb import DuckDBSummaryEngine
from ..engines.sql import SPEND_SUM
from ..exceptions import InputError
from ..io import write_json
from ..models import get_model_class
from ..models.base import PurchaseModel
from ..models.gamma_gamma import GammaGammaModel
from .config import RunConfig

T = TypeVar("T")


#: The summary columns a model comparison reads (:func:`clvmodel.compare.compare_models`).
COMPARED_COLUMNS = ("frequency", "recency", "T", "frequency_holdout", "duration_holdout")

#: Collapsed rows: the distinct rows' columns, customers per row, summed spend (or None).
Collapsed = tuple[tuple[np.ndarray, ...], np.ndarray, "np.ndarray | None"]


def collapsed_rows(engine: Any, name: str, columns: Sequence[str], *, spend: bool) -> Collapsed:
    """Distinct rows of ``columns``, customers per row and, with ``spend``, the summed
    ``frequency × monetary_value`` (0 for customers without a repeat purchase), from the
    engine's :meth:`~clvmodel.engines.SummaryEngine.fit_table`."""
    arrays, weights = engine.fit_table(name, columns, spend_sum=spend)
    spend_sum = arrays.pop(SPEND_SUM) if spend else None
    return tuple(arrays[c] for c in columns), weights, spend_sum


def fit_purchase_model(
    key: str,
    summary: pd.DataFrame,
    *,
    weights: np.ndarray | None = None,
    allow_unconverged: bool = False,
    covariates: dict[str, Any] | None = None,
) -> PurchaseModel:
    """Fit the purchase model registered as ``key`` on ``summary`` (rows weighted);
    ``covariates``: its covariate settings (``purchase_covariates``, ...)."""
    cls = get_model_class(key)
    if not issubclass(cls, PurchaseModel):
        raise InputError(f"{key!r} is not a purchase model; choose one of the purchase models.")
    model = cls(allow_unconverged=allow_unconverged, **(covariates or {}))  # type: ignore[call-arg]
    return model.fit(summary, weights=weights)


def _frame(arrays: dict[str, np.ndarray], unit: str) -> pd.DataFrame:
    frame = pd.DataFrame(arrays)
    frame.attrs["time_unit"] = unit
    return frame


class Fits:
    """Fit the purchase (and spend) model on one summary of the engine."""

    def __init__(
        self,
        engine: DuckDBSummaryEngine,
        config: RunConfig,
        unit: str,
        collapsed: dict[tuple[str, ...], Collapsed] | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.unit = unit
        #: The purchase fits' collapsed rows with their summed spend, by (summary, columns),
        #: which the totals' interval reuses (:func:`clvmodel.pipeline.uncertainty.run_totals`).
        self.collapsed = {} if collapsed is None else collapsed

    def purchase(self, name: str) -> tuple[PurchaseModel, dict[str, PurchaseModel], str, Any]:
        """The chosen model, every fitted candidate, the reason and the comparison (or None)."""
        return self.fit_purchase(self.purchase_table(name))

    def purchase_table(self, name: str) -> tuple[Any, np.ndarray | None]:
        """What the purchase fit reads from the engine: the collapsed rows and their weights
        (for ``auto``, collapsed on the holdout columns too, for the comparison)."""
        cfg = self.config
        if cfg.purchase_model == "auto":
            columns = [c for c in self.engine.summary_columns(name) if c in COMPARED_COLUMNS]
            arrays, weights = self.engine.fit_table(name, columns)
            return _frame(arrays, self.unit), weights
        cls = get_model_class(cfg.purchase_model)
        columns = (*cls.columns, *cfg.covariate_columns)  # rows collapse on the covariates too
        rows, weights, spend_sum = collapsed_rows(
            self.engine, name, columns, spend=cfg.amount_col is not None
        )
        if spend_sum is not None:
            self.collapsed[(name, *columns)] = (rows, weights, spend_sum)
        return _frame(dict(zip(columns, rows, strict=True)), self.unit), weights

    def fit_purchase(
        self, table: tuple[Any, np.ndarray | None]
    ) -> tuple[PurchaseModel, dict[str, PurchaseModel], str, Any]:
        """:meth:`purchase` on the rows of :meth:`purchase_table` (numpy only)."""
        cfg = self.config
        rows, weights = table
        if cfg.purchase_model == "auto":
            from ..compare import compare_models

            comparison = compare_models(rows, models=cfg.candidates, weights=weights)
            key, reason = comparison.choose()
            return comparison.models[key], dict(comparison.models), reason, comparison
        model = fit_purchase_model(
            cfg.purchase_model,
            rows,
            weights=weights,
            allow_unconverged=cfg.allow_unconverged,
            covariates=cfg.covariate_settings,
        )
        return model, {model.name: model}, f"{model.name} as requested", None

    def spend(self, name: str) -> tuple[GammaGammaModel | None, dict[str, int]]:
        """The Gamma-Gamma fit and the customers it left out, by reason."""
        return self.fit_spend(self.spend_table(name))

    def spend_table(self, name: str) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
        """What the Gamma-Gamma fit reads from the engine (None without amounts)."""
        if self.config.amount_col is None:
            return None
        return self.engine.fit_table(name, GammaGammaModel.columns)

    def fit_spend(
        self, table: tuple[dict[str, np.ndarray], np.ndarray] | None
    ) -> tuple[GammaGammaModel | None, dict[str, int]]:
        """:meth:`spend` on the rows of :meth:`spend_table` (numpy only)."""
        if table is None:
            return None, {}
        arrays, weights = table
        model = GammaGammaModel(allow_unconverged=self.config.allow_unconverged).fit(
            _frame(arrays, self.unit), weights=weights
        )
        x, m = arrays["frequency"], arrays["monetary_value"]
        left_out = {
            "gamma-gamma fit: no repeat purchase (scored with the mean spend)": round(
                float(weights[x == 0].sum())
            ),
            "gamma-gamma fit: mean spend <= 0": round(float(weights[(x > 0) & (m <= 0)].sum())),
        }
        return model, {k: n for k, n in left_out.items() if n}


def beside(fn: Callable[[], T], background: bool) -> Callable[[], T]:
    """Start ``fn()`` in a thread (``background``) or run it now; the returned callable
    waits for its result, or re-raises its error."""
    if not background:
        value = fn()
        return lambda: value
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clvmodel")
    future = pool.submit(fn)
    pool.shutdown(wait=False)
    return future.result


def fit_statistics(models: dict[str, PurchaseModel]) -> dict[str, dict[str, Any]]:
    return {
        key: {
            "log_likelihood": m.result_.log_likelihood,
            "aic": m.result_.aic,
            "bic": m.result_.bic,
        }
        for key, m in models.items()
    }


def save_models(models: list[Any], folder: Path, run_id: str) -> None:
    for model in models:
        if model is not None:
            write_json(folder / f"{model.name}.json", {**model.to_dict(), "run_id": run_id})
