"""Ridge penalties (lifetimes' ``penalizer_coef``, and on covariate coefficients) and the
likelihood-ratio test between nested fits (issue 11, points 2 and 3)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from helpers import cdnow_summary

from clvmodel import BetaGeoModel, InputError, lr_test
from clvmodel.simulate import covariate_summary


@pytest.fixture(scope="module")
def cdnow_unit_T() -> pd.DataFrame:
    """CDNOW in units of its longest age: lifetimes rescales T to max 1 before penalising,
    so only there do both penalise the same parameters."""
    s = cdnow_summary()
    scale = s["T"].max()
    out = s.assign(recency=s["recency"] / scale, T=s["T"] / scale)
    out.attrs = {}
    return out


@pytest.mark.parametrize("penalizer", [0.01, 0.1])
def test_penalizer_coef_matches_lifetimes(cdnow_unit_T: pd.DataFrame, penalizer: float) -> None:
    """lifetimes 0.11 BetaGeoFitter(penalizer_coef=...) is the independent implementation;
    its optimiser stops at about 1e-6 relative, hence rtol 1e-5."""
    lifetimes = pytest.importorskip("lifetimes")
    d = cdnow_unit_T
    ref = lifetimes.BetaGeoFitter(penalizer_coef=penalizer).fit(d.frequency, d.recency, d["T"])
    ours = BetaGeoModel(penalizer_coef=penalizer).fit(d)
    np.testing.assert_allclose(ours.params_.to_numpy(), ref.params_.to_numpy(), rtol=1e-5)
    # lifetimes' objective is the mean negative penalised log-likelihood.
    penalised = -ref._negative_log_likelihood_ * len(d)
    assert ours.result_.penalized_log_likelihood == pytest.approx(penalised, rel=1e-9)
    # The reported log-likelihood is the unpenalised one at the penalised estimates, and
    # AIC/BIC come from it.
    unpen = float(ours.loglik(d).sum())
    assert ours.log_likelihood_ == pytest.approx(unpen, rel=1e-12)
    assert ours.log_likelihood_ - penalised == pytest.approx(
        len(d) * penalizer * float(np.sum(ours.params_**2)), rel=1e-9
    )
    assert ours.result_.aic == pytest.approx(2 * 4 - 2 * unpen)
    assert ours.summary().attrs["penalized_log_likelihood"] == pytest.approx(penalised)


def _two_covariates(n: int, seed: int, dropout_value: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = pd.DataFrame(
        {"female": rng.integers(0, 2, n).astype(float), "value": rng.integers(-2, 3, n) * 1.0}
    )
    return covariate_summary(
        "bgnbd",
        n,
        params={"r": 0.8, "alpha": 4.0, "a": 0.8, "b": 2.5},
        covariates=z,
        purchase={"female": 0.4, "value": 0.3},
        dropout={"female": 0.0, "value": dropout_value},
        T=np.round(rng.uniform(20, 52, n)),
        seed=rng,
    )


def test_coefficient_penalty_shrinks_towards_zero() -> None:
    data = _two_covariates(4_000, 1, 0.3)
    cov = {"purchase_covariates": ["female", "value"], "dropout_covariates": ["value"]}
    sizes = [
        np.abs(BetaGeoModel(coef_penalizer=c, **cov).fit(data).params_.iloc[4:]).sum()
        for c in (0.0, 0.01, 0.1, 100.0)
    ]
    assert all(a > b for a, b in itertools.pairwise(sizes)), sizes
    assert sizes[-1] < 0.01 * sizes[0]


def test_lr_test_dropped_covariate_and_equality_constraint() -> None:
    data = _two_covariates(10_000, 2, 0.3)
    full = BetaGeoModel(
        purchase_covariates=["female", "value"], dropout_covariates=["female", "value"]
    ).fit(data)
    # The true dropout effect of 'female' is 0: dropping it is not rejected.
    no_female = BetaGeoModel(
        purchase_covariates=["female", "value"], dropout_covariates=["value"]
    ).fit(data)
    test = lr_test(no_female, full)
    assert test.df == 1
    assert test.statistic == pytest.approx(2 * (full.log_likelihood_ - no_female.log_likelihood_))
    assert test.p_value > 0.01
    # LR and Wald agree asymptotically: LR ~ z^2 for one coefficient.
    z = full.summary().loc["dropout:female", "z"]
    assert test.statistic == pytest.approx(z**2, abs=0.5 + 0.1 * z**2)
    # 'value' acts equally (0.3) on both processes: the constraint holds.
    equal = BetaGeoModel(
        purchase_covariates=["female", "value"],
        dropout_covariates=["female", "value"],
        equal_covariates=["value"],
    ).fit(data)
    assert "purchase=dropout:value" in equal.param_names
    assert lr_test(equal, full).df == 1
    assert lr_test(equal, full).p_value > 0.01
    # Dropping the real purchase effect of 'value' is rejected.
    no_value = BetaGeoModel(
        purchase_covariates=["female"], dropout_covariates=["female", "value"]
    ).fit(data)
    assert lr_test(no_value, full).p_value < 1e-10
    with pytest.raises(InputError, match="more free parameters"):
        lr_test(full, no_value)
    with pytest.raises(InputError, match="unpenalised"):
        lr_test(no_value, BetaGeoModel(penalizer_coef=0.1).fit(data))
