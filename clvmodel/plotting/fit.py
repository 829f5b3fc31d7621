"""How the model fits: repeat-purchase histogram and holdout purchases by frequency (tracking
over time is in :mod:`.tracking`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .style import (
    ACTUAL,
    MODEL,
    ChartUnavailableError,
    _axes,
    _frequency_ticks,
    _model_columns,
    _note,
    _style,
    _thousands,
    model_label,
    unit_name,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..models.base import PurchaseModel

Array = NDArray[np.float64]


# --------------------------------------------------------------- 1. frequency histogram
def expected_frequency_counts(
    model: PurchaseModel,
    summary: pd.DataFrame,
    *,
    max_frequency: int = 7,
    columns: dict[str, Array] | None = None,
) -> Array:
    """Model-expected customers with 0, 1, ..., ``max_frequency``+ repeat purchases.

    ``Σ_i P(X(T_i) = n)`` over customers, from the model's ``probability_of_purchases``
    (for BG/NBD, Fader, Hardie & Lee 2005 eq. 8); the last entry is the rest.
    ``columns`` are the model's columns of ``summary`` when already read and checked.
    """
    if not hasattr(model, "probability_of_purchases"):
        raise ChartUnavailableError(
            f"{model_label(model)} has no probability_of_purchases(t=, n=): the expected "
            f"frequency distribution cannot be computed."
        )
    cols = _model_columns(model, summary) if columns is None else columns
    if "T" not in cols:
        raise ChartUnavailableError(f"{model_label(model)} has no 'T' column: no histogram.")
    T = cols["T"]
    uniq, counts = np.unique(np.round(T, 9), return_counts=True)
    n = np.arange(max_frequency, dtype=np.float64)
    prob = np.asarray(model.probability_of_purchases(t=uniq[:, None], n=n[None, :]))
    expected = np.empty(max_frequency + 1)
    expected[:max_frequency] = counts @ prob
    expected[max_frequency] = len(T) - expected[:max_frequency].sum()
    return expected


@dataclass(frozen=True, eq=False)  # numpy fields: equal only to itself
class FrequencyHistogram:
    """What :func:`plot_frequency_histogram` draws (a chart's data, then its drawing, as in
    :mod:`.value`): customers by repeat purchases, actual and model-expected."""

    actual: Array
    expected: Array | None
    label: str
    split: bool

    @classmethod
    def of(
        cls, model: PurchaseModel, summary: pd.DataFrame, *, max_frequency: int = 7
    ) -> FrequencyHistogram:
        """The counts of ``summary`` and ``model`` (see :func:`plot_frequency_histogram`)."""
        cols = _model_columns(model, summary)
        freq = cols["frequency"].astype(np.int64)
        k = int(max_frequency)
        actual = np.bincount(np.minimum(freq, k), minlength=k + 1).astype(np.float64)
        try:
            expected: Array | None = expected_frequency_counts(
                model, summary, max_frequency=k, columns=cols
            )
        except ChartUnavailableError:
            expected = None
        split = bool(summary.attrs.get("calibration_end")) or "frequency_holdout" in summary.columns
        return cls(actual, expected, model_label(model), split)

    def draw(self, ax: Axes | None = None) -> Axes:
        """Draw the counts on ``ax``."""
        ax = _axes(ax)
        actual, expected, label = self.actual, self.expected, self.label
        k = len(actual) - 1
        pos = np.arange(k + 1)
        width = 0.4 if expected is not None else 0.6
        shift = width / 2 if expected is not None else 0.0
        ax.bar(pos - shift, actual, width, color=ACTUAL, label="Actual")
        if expected is not None:
            ax.bar(pos + shift, expected, width, color=MODEL, label=f"Model ({label})")
        else:
            _note(ax, f"{label} gives no purchase-count\ndistribution: actual only")
        ax.set_xticks(pos, _frequency_ticks(k))
        ax.yaxis.set_major_formatter(_thousands())
        split = self.split
        return _style(
            ax,
            title="Repeat purchases per customer" + (" (calibration)" if split else ""),
            xlabel="Repeat purchases in the "
            + ("calibration period" if split else "observed period"),
            ylabel="Customers",
            legend=expected is not None,
        )


def plot_frequency_histogram(
    model: PurchaseModel, summary: pd.DataFrame, *, max_frequency: int = 7, ax: Axes | None = None
) -> Axes:
    """Customers by repeat purchases in the calibration period: actual vs model-expected.

    Expected counts are ``Σ_i P(X(T_i) = n)`` (see :func:`expected_frequency_counts`); for a
    model without ``probability_of_purchases`` only the actual counts are drawn, with a note.
    """
    return FrequencyHistogram.of(model, summary, max_frequency=max_frequency).draw(ax)


# ------------------------------------------------------------ 2. calibration vs holdout
@dataclass(frozen=True, eq=False)  # numpy fields: equal only to itself
class HoldoutByFrequency:
    """What :func:`plot_holdout_by_frequency` draws: mean holdout purchases, actual and
    predicted, and customers, by calibration frequency."""

    means: pd.DataFrame
    label: str
    length: str

    @classmethod
    def of(
        cls, model: PurchaseModel, summary: pd.DataFrame, *, max_frequency: int = 7
    ) -> HoldoutByFrequency:
        """The means of ``summary`` and ``model`` (see :func:`plot_holdout_by_frequency`)."""
        from ..evaluation import holdout_predictions

        if "frequency_holdout" not in summary.columns:
            raise ChartUnavailableError(
                "The summary has no holdout columns (frequency_holdout, duration_holdout): "
                "summarise with a calibration end to compare with a holdout period."
            )
        pred = holdout_predictions(model, summary)
        freq = _model_columns(model, summary)["frequency"].astype(np.int64)
        k = int(max_frequency)
        group = np.minimum(freq, k)
        frame = pd.DataFrame(
            {"group": group, "actual": pred["actual"].to_numpy(), "predicted": pred["predicted"]}
        )
        means = frame.groupby("group").agg(
            actual=("actual", "mean"), predicted=("predicted", "mean"), n=("actual", "size")
        )
        means = means.reindex(range(k + 1))
        duration = pd.to_numeric(summary["duration_holdout"]).to_numpy(np.float64)
        unit = unit_name(model.time_unit_)
        length = (
            f"{duration[0]:.3g} {unit}"
            if np.allclose(duration, duration[0])
            else f"{duration.min():.3g}-{duration.max():.3g} {unit}"
        )
        return cls(means, model_label(model), length)

    def draw(self, ax: Axes | None = None) -> Axes:
        """Draw the means on ``ax``."""
        ax = _axes(ax)
        means = self.means
        k = len(means) - 1
        pos = np.arange(k + 1)
        ax.plot(pos, means["actual"], "-o", color=ACTUAL, label="Actual", linewidth=2, markersize=5)
        ax.plot(
            pos,
            means["predicted"],
            "--s",
            color=MODEL,
            label=f"Predicted ({self.label})",
            linewidth=2,
            markersize=5,
        )
        counts = means["n"].fillna(0).astype(int)
        ticks = [f"{t}\n{c:,}" for t, c in zip(_frequency_ticks(k), counts, strict=True)]
        ax.set_xticks(pos, ticks)
        ax.set_ylim(bottom=0)
        return _style(
            ax,
            title="Holdout purchases by calibration frequency",
            xlabel="Repeat purchases in the calibration period (and customers in the group)",
            ylabel=f"Mean purchases in the holdout ({self.length})",
            legend=True,
            legend_loc="upper left",
        )


def plot_holdout_by_frequency(
    model: PurchaseModel, summary: pd.DataFrame, *, max_frequency: int = 7, ax: Axes | None = None
) -> Axes:
    """Mean holdout purchases by calibration frequency (0..k+), actual vs predicted.

    Uses :func:`clvmodel.evaluation.holdout_predictions`; the summary needs
    ``frequency_holdout`` and ``duration_holdout``.
    """
    return HoldoutByFrequency.of(model, summary, max_frequency=max_frequency).draw(ax)
