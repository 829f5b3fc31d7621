"""clvmodel: probabilistic customer-lifetime-value models fitted by maximum likelihood.

The data flow is transactions -> RFM summary (:func:`rfm_summary`) -> purchase and spend
models (:class:`BetaGeoModel`, :class:`GammaGammaModel`, ...) -> predictions and discounted
CLV (:func:`customer_lifetime_value`).

Every public name but the exceptions is imported on first use (PEP 562 ``__getattr__``):
``import clvmodel`` (and the ``clvmodel`` command's start) loads neither pandas, scipy nor
DuckDB, so ``clvmodel run`` can start its DuckDB queries first and import the models
beside them (:mod:`clvmodel.pipeline.run`). ``from clvmodel import BetaGeoModel``,
``clvmodel.BetaGeoModel``, ``dir(clvmodel)`` and ``from clvmodel import *`` work as with
eager imports, and type checkers read the ``TYPE_CHECKING`` block below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # what __getattr__ imports, for type checkers and IDEs
    from . import datasets, plotting, segments
    from . import report as report  # an attribute, not in __all__
    from .clv import customer_lifetime_value
    from .compare import compare_models
    from .data import rfm_summary, summarise
    from .evaluation import holdout_metrics
    from .io import load_model, save_model
    from .models import (
        BetaGeoBetaBinomModel,
        BetaGeoModel,
        GammaGammaModel,
        ModifiedBetaGeoModel,
        ParetoNBDModel,
        ShiftedBetaGeometricModel,
    )
    from .notebook import score
    from .results import FitResult, LRTest, lr_test

#: Public name -> the submodule that defines it.
_LAZY = {
    "BetaGeoBetaBinomModel": "models",
    "BetaGeoModel": "models",
    "GammaGammaModel": "models",
    "ModifiedBetaGeoModel": "models",
    "ParetoNBDModel": "models",
    "ShiftedBetaGeometricModel": "models",
    "FitResult": "results",
    "LRTest": "results",
    "lr_test": "results",
    "load_model": "io",
    "save_model": "io",
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
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'clvmodel' has no attribute {name!r}")
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
