"""Acceptance 3 of issue 11: a published covariate-model estimate from an independent
implementation.

CLVTools 0.12.1 (R 4.6.1), ``latentAttrition(... pnbd / bgnbd, static covariates Gender and
Channel on both processes)`` on the apparel data (600 customers, weekly, T.cal = 104),
recorded as oracle fixtures in the public repository neilmurrayee/clvtools
(``tests/fixtures/inference_pnbd_staticcov.json``, ``bgnbd_staticcov_fit.json``); the
numbers and the customer-by-sufficient-statistic table are in ``tests/data/`` (see the
``source`` field of ``clvtools_staticcov.json``). CLVTools names the coefficients
``trans.<cov>`` (our ``purchase:<cov>``) and ``life.<cov>`` (our ``dropout:<cov>``), in the
same parameterisation.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodel.models import BetaGeoModel, ParetoNBDModel

HERE = Path(__file__).parent / "data"
COVS = ["gender", "channel"]


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((HERE / "clvtools_staticcov.json").read_text())


@pytest.fixture(scope="module")
def apparel() -> pd.DataFrame:
    return pd.read_csv(HERE / "apparel_staticcov_cbs.csv", index_col="customer")


def _ours(name: str) -> str:
    process, cov = name.split(".")
    return f"{'purchase' if process == 'trans' else 'dropout'}:{cov.lower()}"


def test_pareto_nbd_static_covariates_match_clvtools(reference, apparel) -> None:
    """The likelihood is CLVTools' to 1e-9 at its estimates; our optimum is 2e-5 higher
    (CLVTools' optimiser stops with gradients of about 1e-2, ours below 1e-10), so the
    estimates agree to 0.01 standard errors (about 2e-3 relative), not to all printed
    digits, and the standard errors to 1 %."""
    ref = reference["pnbd_staticcov"]
    model = ParetoNBDModel(purchase_covariates=COVS, dropout_covariates=COVS).fit(apparel)
    names = ("r", "alpha", "s", "beta", *(k for k in ref if "." in k))
    ours = [n if "." not in n else _ours(n) for n in names]
    at_ref = pd.Series({o: ref[n] for o, n in zip(ours, names, strict=True)})[
        list(model.param_names)
    ]
    arrays, _ = model._arrays(apparel)
    ll_at_ref = model._fit_problem()[0](at_ref.to_numpy(), *arrays).sum()
    assert ll_at_ref == pytest.approx(ref["logLik"], abs=1e-9)
    assert model.n_customers_ == ref["nobs"] == 600
    assert ref["logLik"] <= model.log_likelihood_ <= ref["logLik"] + 1e-4
    assert model.result_.aic == pytest.approx(ref["AIC"], abs=1e-3)
    assert model.result_.bic == pytest.approx(ref["BIC"], abs=1e-3)
    for o, n in zip(ours, names, strict=True):
        se = ref["se"][n]
        assert abs(model.params_[o] - ref[n]) < 0.01 * se, n
        assert model.standard_errors_[o] == pytest.approx(se, rel=0.01), n


def test_bg_nbd_static_covariates_match_clvtools(reference, apparel) -> None:
    """CLVTools' a and b sit far out on a ridge (a = 4603, b = 33985): only the
    log-likelihood and the purchase coefficients are comparable; ours must be equal or
    better, and the purchase coefficients agree."""
    ref = reference["bgnbd_staticcov"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ridge: boundary / no standard errors
        model = BetaGeoModel(purchase_covariates=COVS, dropout_covariates=COVS).fit(apparel)
    assert model.log_likelihood_ >= ref["logLik"] - 1e-6
    assert model.log_likelihood_ == pytest.approx(ref["logLik"], abs=0.05)
    for name in ("trans.Gender", "trans.Channel"):
        assert model.params_[_ours(name)] == pytest.approx(ref[name], rel=2e-3), name
    assert model.params_["r"] == pytest.approx(ref["r"], rel=2e-3)
    assert np.isfinite(model.params_).all()
