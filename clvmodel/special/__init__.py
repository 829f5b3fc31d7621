"""Numerically delicate helpers, kept in one place with their own tests at extreme inputs.

Everything here works in log space: products of gamma functions become sums of ``gammaln``,
and sums of terms of very different size go through :func:`numpy.logaddexp`.

Modules: :mod:`.basic` (log(1 - e^x), log B(p, q) and other small pieces),
:mod:`.quadrature` (integrals of log-concave functions, vectorised over rows),
:mod:`.hypergeometric` (2F1 in log space), :mod:`.grid` (2F1(1, b; c; z) over a grid of
customers) and :mod:`.until_death` (BG/NBD's mean purchases until death).
"""

from __future__ import annotations

from .basic import count_index, log1mexp, log_beta, log_diff_exp, log_gamma_ratio
from .grid import log_hyp2f1_unit_grid
from .hypergeometric import log_hyp2f1, log_hyp2f1_unit
from .quadrature import LEVEL_RTOL, MODE_RTOL, LogDensity, logconcave_integral
from .until_death import SERIES_RATIO, mean_purchases_until_death

__all__ = [
    "LEVEL_RTOL",
    "MODE_RTOL",
    "SERIES_RATIO",
    "LogDensity",
    "count_index",
    "log1mexp",
    "log_beta",
    "log_diff_exp",
    "log_gamma_ratio",
    "log_hyp2f1",
    "log_hyp2f1_unit",
    "log_hyp2f1_unit_grid",
    "logconcave_integral",
    "mean_purchases_until_death",
]
