"""Intervals on predictions and CLV: parametric draws from the estimates' covariance, the
bootstrap, or the delta method.

Parametric (the default): parameter vectors are drawn from the normal approximation of the
maximum-likelihood estimates on the scale they were fitted on (logs of the positive
parameters, covariate coefficients as they are), where that approximation is best; every
prediction is recomputed for each draw on the distinct data rows only and scattered back;
the interval at ``level`` is the central quantile range of the draws. Bootstrap: customers
are resampled with replacement (multinomial weights), both models refitted, and the refits
used as the draws. The purchase and spend models are drawn independently (they are fitted
separately), or from the same resample for the bootstrap.

Delta (``method="delta"``, the fast one): the same normal approximation, with each
prediction linearised in the fitted-scale parameters on the scale where it is closest to
normal (logit for P(alive), log for the positive quantities): ``g(pred) ± z sqrt(J Σ Jᵀ)``.
It is the limit of the parametric draws when the covariance is small. The gradients ``J``
are in closed form where the model allows it (BG/NBD and MBG/NBD with Gamma-Gamma, see
:mod:`clvmodel.intervals.delta`; about the cost of scoring once more) and forward
differences otherwise (``1 + k`` evaluations instead of ``1 + n_draws``).

:func:`total_intervals` gives the intervals of the totals over customers from collapsed
rows (one per distinct purchase history), whatever the number of customers.
"""

from .predictions import QUANTITIES, parameter_draws, prediction_intervals
from .predictions import _distinct as _distinct  # tests group rows as the intervals do
from .totals import total_intervals

__all__ = ["QUANTITIES", "parameter_draws", "prediction_intervals", "total_intervals"]
