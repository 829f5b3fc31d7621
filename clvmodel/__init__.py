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
from .results import FitResult, LRTest, lr_test

#: Exported lazily, so that ``import clvmodel`` (and ``clvmodel fit`` on a summary) does not
#: load DuckDB or matplotlib.
_LAZY = {
    "rfm_summary": "data",
    "summarise": "data",
    "customer_lifetime_value": "clv",
    "score": "notebook",
    "holdout_metrics": "evaluation",
    "compare_models": "compare",
}


#: Submodules reachable as attributes (``clvmodel.plotting.plot_tracking(...)``), also lazily.
_SUBMODULES = ("datasets", "plotting", "segments", "report")


def __getattr__(name: str) -> object:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
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
    "LRTest",
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
    "datasets",
    "holdout_metrics",
    "load_model",
    "lr_test",
    "plotting",
    "rfm_summary",
    "save_model",
    "score",
    "segments",
    "summarise",
]
