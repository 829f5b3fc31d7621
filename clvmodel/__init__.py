"""clvmodel: probabilistic customer-lifetime-value models fitted by maximum likelihood.

The data flow is transactions -> RFM summary (:func:`rfm_summary`) -> purchase and spend
models (:class:`BetaGeoModel`, :class:`GammaGammaModel`, ...) -> predictions and discounted
CLV (:func:`customer_lifetime_value`).
"""

from __future__ import annotations

__version__ = "0.1.0"

from .exceptions import (
    BoundaryWarning,
    CLVModelError,
    ConvergenceWarning,
    FitError,
    HessianWarning,
    InputError,
    MissingColumnError,
    ModelFileError,
    NotFittedError,
    NotIdentifiedError,
    RejectedRowsWarning,
)
from .io import load_model, save_model
from .models import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    ShiftedBetaGeometricModel,
)
from .results import FitResult

#: Exported lazily, so that ``import clvmodel`` (and ``clvmodel fit`` on a summary) does not
#: load DuckDB or matplotlib.
_LAZY = {
    "rfm_summary": "data",
    "summarise": "data",
    "customer_lifetime_value": "clv",
    "score": "clv",
    "holdout_metrics": "evaluation",
    "compare_models": "compare",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'clvmodel' has no attribute {name!r}")


__all__ = [
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "BoundaryWarning",
    "CLVModelError",
    "ConvergenceWarning",
    "FitError",
    "FitResult",
    "GammaGammaModel",
    "HessianWarning",
    "InputError",
    "MissingColumnError",
    "ModelFileError",
    "ModifiedBetaGeoModel",
    "NotFittedError",
    "NotIdentifiedError",
    "ParetoNBDModel",
    "RejectedRowsWarning",
    "ShiftedBetaGeometricModel",
    "__version__",
    "compare_models",
    "customer_lifetime_value",
    "holdout_metrics",
    "load_model",
    "rfm_summary",
    "save_model",
    "score",
    "summarise",
]
