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
    RejectedRowsWarning,
)
from .io import load_model, save_model
from .models import BetaGeoModel, GammaGammaModel
from .results import FitResult

__all__ = [
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
    "NotFittedError",
    "RejectedRowsWarning",
    "__version__",
    "load_model",
    "save_model",
]
