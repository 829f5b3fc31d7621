"""The model registry: one module per model, all fitted through :mod:`clvmodel.models.fitting`."""

from __future__ import annotations

from typing import Any

from ..exceptions import ModelFileError
from .base import BaseModel, PurchaseModel
from .bgbb import BetaGeoBetaBinomModel
from .bgnbd import BetaGeoModel
from .gamma_gamma import GammaGammaModel
from .mbgnbd import ModifiedBetaGeoModel
from .pnbd import ParetoNBDModel
from .sbg import ShiftedBetaGeometricModel

#: Registry key -> model class. The key is what ``--model`` and model files use.
MODELS: dict[str, type[BaseModel]] = {
    BetaGeoModel.name: BetaGeoModel,
    GammaGammaModel.name: GammaGammaModel,
    ParetoNBDModel.name: ParetoNBDModel,
    ModifiedBetaGeoModel.name: ModifiedBetaGeoModel,
    BetaGeoBetaBinomModel.name: BetaGeoBetaBinomModel,
    ShiftedBetaGeometricModel.name: ShiftedBetaGeometricModel,
}


def get_model_class(name: str) -> type[BaseModel]:
    """The model class registered as ``name``."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelFileError(
            f"Unknown model {name!r}. Known models: {', '.join(sorted(MODELS))}."
        ) from None


def model_from_dict(payload: dict[str, Any], expected: str | None = None) -> BaseModel:
    """Rebuild a fitted model from its model-file content."""
    name = payload.get("model")
    cls = get_model_class(str(name))
    if expected is not None and expected not in (cls.name, cls.kind):
        raise ModelFileError(f"expected a {expected} model, the file holds {cls.name!r}.")
    return cls.from_dict(payload)


__all__ = [
    "MODELS",
    "BaseModel",
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "PurchaseModel",
    "ShiftedBetaGeometricModel",
    "get_model_class",
    "model_from_dict",
]
