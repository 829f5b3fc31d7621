"""The discounting grid of a forecast horizon, and the number check of its arguments.

Pure numpy, apart from :mod:`clvmodel.clv` (which imports the models), so that
:func:`clvmodel.pipeline.run_pipeline` refuses a bad horizon before any work without
importing the models first.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .exceptions import InputError

#: At most this many discounting steps in one horizon (bounds the work, not the data).
MAX_STEPS = 1_000_000


def _number(name: str, value: object) -> float:
    """``value`` as a finite float, or an :class:`InputError` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(
            f"The {name!r} parameter must be a number. Got {type(value).__name__} {value!r}."
        )
    number = float(value)
    if not np.isfinite(number):
        raise InputError(f"The {name!r} parameter must be finite. Got {number:g} instead.")
    return number


def _grid(horizon: float, step: float) -> NDArray[np.float64]:
    """Step ends ``step, 2 step, ..., horizon`` (the last one shortened to end at horizon)."""
    horizon, step = _number("horizon", horizon), _number("step", step)
    if not horizon > 0:
        raise InputError(f"The 'horizon' parameter must be > 0. Got {horizon:g} instead.")
    if not step > 0:
        raise InputError(f"The 'step' parameter must be > 0. Got {step:g} instead.")
    if horizon / step > MAX_STEPS:
        raise InputError(
            f"The 'horizon' / 'step' ratio must be at most {MAX_STEPS:,} discounting steps. "
            f"Got {horizon:g} / {step:g} instead."
        )
    n = int(np.ceil(horizon / step - 1e-9))
    return np.minimum(step * np.arange(1, n + 1, dtype=np.float64), horizon)
