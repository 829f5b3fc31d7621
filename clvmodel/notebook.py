"""The notebook face of scoring: :func:`score` returns a frame indexed by customer id, like
the model methods (``p_alive``, ``expected_purchases``) do.

:func:`clvmodel.clv.score` (which the pipeline writes to ``scores``) keeps ``customer_id`` as
a column; this is the same table with the id as its index, exported as ``clvmodel.score``.
"""

from __future__ import annotations

import pandas as pd

from . import clv
from .models.base import PurchaseModel
from .models.gamma_gamma import GammaGammaModel


def score(
    purchase_model: PurchaseModel,
    data: pd.DataFrame,
    *,
    horizon: float,
    spend_model: GammaGammaModel | None = None,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    step: float = 1.0,
) -> pd.DataFrame:
    """One row per customer, indexed by ``customer_id``: the summary columns, ``p_alive``,
    ``expected_purchases`` (next ``horizon`` units) and, with a spend model,
    ``expected_spend`` and ``clv``.

    The arguments are those of :func:`clvmodel.clv.score`; ``data`` is not modified.

    Examples
    --------
    >>> scores = clvmodel.score(bgnbd, summary, horizon=52, spend_model=spend,  # doctest: +SKIP
    ...                         discount_rate=0.1)
    >>> scores.loc["00042", "clv"]                                             # doctest: +SKIP
    """
    table = clv.score(
        purchase_model,
        data,
        horizon=horizon,
        spend_model=spend_model,
        discount_rate=discount_rate,
        margin=margin,
        step=step,
    )
    return table.set_index("customer_id")
