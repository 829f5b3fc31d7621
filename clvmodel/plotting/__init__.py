"""Charts of fitted models and their predictions: ``f(model, data, ..., *, ax=None) -> Axes``.

Every function draws on ``ax`` when given (and leaves the rest of its figure alone) or on a
new pyplot figure otherwise, never changes its inputs or matplotlib's settings, and returns
the Axes with a title, labelled axes (units included) and a legend where two series are
compared. matplotlib is imported on first use; without a display the Agg backend is used.
Charts of many customers draw aggregates, histograms, thinned curves (at most
``MAX_LINE_POINTS`` points) or a seeded sample (``SCATTER_SAMPLE`` customers), never one
mark per customer.

Each chart of many customers is two steps: its data, computed once from every customer as
a small frozen dataclass (``GainsCurve.of(...)``), and the drawing of that data
(``.draw(ax)``), so that one computation can be drawn several times (a PNG file and a PDF
page); ``plot_*`` does both.

Modules: :mod:`.fit` (histogram, holdout), :mod:`.tracking` (tracking over calendar time),
:mod:`.matrices` (frequency x recency), :mod:`.heterogeneity` (mixing distributions),
:mod:`.value` (CLV charts), :mod:`.customers` (one customer's P(alive)) and :mod:`.style`
(colours, labels, the shared look).

Purchase-model charts use only the interface every :class:`~clvmodel.models.base.PurchaseModel`
has (``_arrays``, ``_expected_purchases``, ``_p_alive``, ``params_``, ``time_unit_``,
``name``) plus, where a model has them, ``probability_of_purchases`` and
``expected_purchases_new_customer``. A chart a model cannot support raises
:class:`ChartUnavailableError`, which says why.
"""

from __future__ import annotations

from .customers import p_alive_path, plot_p_alive_decay, plot_p_alive_history
from .fit import (
    FrequencyHistogram,
    HoldoutByFrequency,
    expected_frequency_counts,
    plot_frequency_histogram,
    plot_holdout_by_frequency,
)
from .heterogeneity import MixingDistribution, mixing_distributions, plot_heterogeneity
from .matrices import FrequencyRecencyGrid, plot_expected_purchases_matrix, plot_p_alive_matrix
from .style import (
    ACCENT,
    ACTUAL,
    HOLDOUT_SHADE,
    MAX_LINE_POINTS,
    MODEL,
    MODEL_LABELS,
    MUTED,
    SCATTER_SAMPLE,
    ChartUnavailableError,
    model_label,
    sample_rows,
    unit_name,
)
from .tracking import (
    Tracking,
    expected_tracking,
    new_customer_expectation,
    plot_tracking,
    tracking_table,
)
from .value import (
    ClvDistribution,
    DecileShares,
    GainsCurve,
    ValueRisk,
    plot_clv_distribution,
    plot_gains_curve,
    plot_value_by_decile,
    plot_value_risk,
)

__all__ = [
    "ACCENT",
    "ACTUAL",
    "HOLDOUT_SHADE",
    "MAX_LINE_POINTS",
    "MODEL",
    "MODEL_LABELS",
    "MUTED",
    "SCATTER_SAMPLE",
    "ChartUnavailableError",
    "ClvDistribution",
    "DecileShares",
    "FrequencyHistogram",
    "FrequencyRecencyGrid",
    "GainsCurve",
    "HoldoutByFrequency",
    "MixingDistribution",
    "Tracking",
    "ValueRisk",
    "expected_frequency_counts",
    "expected_tracking",
    "mixing_distributions",
    "model_label",
    "new_customer_expectation",
    "p_alive_path",
    "plot_clv_distribution",
    "plot_expected_purchases_matrix",
    "plot_frequency_histogram",
    "plot_gains_curve",
    "plot_heterogeneity",
    "plot_holdout_by_frequency",
    "plot_p_alive_decay",
    "plot_p_alive_history",
    "plot_p_alive_matrix",
    "plot_tracking",
    "plot_value_by_decile",
    "plot_value_risk",
    "sample_rows",
    "tracking_table",
    "unit_name",
]
