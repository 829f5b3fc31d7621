"""Gamma-Gamma: published CDNOW estimates, lifetimes agreement, recovery, rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes import GammaGammaFitter
from reference import GAMMA_GAMMA_CDNOW, GAMMA_GAMMA_CDNOW_N

from clvmodel import GammaGammaModel, InputError, summarise
from clvmodel.exceptions import ConvergenceWarning, FitError
from clvmodel.simulate import bgnbd_summary, gamma_gamma_spend


@pytest.fixture(scope="module")
def fitted(_cdnow_master: pd.DataFrame) -> GammaGammaModel:
    return GammaGammaModel().fit(_cdnow_master)


def test_published_cdnow_estimates(fitted) -> None:
    assert fitted.params_["p"] == pytest.approx(GAMMA_GAMMA_CDNOW["p"], abs=5e-3)
    assert fitted.params_["q"] == pytest.approx(GAMMA_GAMMA_CDNOW["q"], abs=5e-3)
    assert fitted.params_["gamma"] == pytest.approx(GAMMA_GAMMA_CDNOW["gamma"], abs=1e-2)
    assert fitted.n_customers_ == GAMMA_GAMMA_CDNOW_N
    assert fitted.n_excluded_ == 2357 - GAMMA_GAMMA_CDNOW_N
    assert any("left out" in note for note in fitted.result_.notes)


def test_matches_lifetimes(cdnow, fitted) -> None:
    repeat = cdnow[cdnow["frequency"] > 0]
    ref = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    np.testing.assert_allclose(fitted.params_.to_numpy(), ref.params_.to_numpy(), rtol=1e-4)
    ref.params_ = pd.Series(fitted.params_.to_numpy(), index=["p", "q", "v"])
    theirs = ref.conditional_expected_average_profit(cdnow["frequency"], cdnow["monetary_value"])
    np.testing.assert_allclose(fitted.expected_spend(cdnow).to_numpy(), theirs, rtol=1e-10)


def test_expected_spend_shrinks_towards_population_mean(fitted) -> None:
    mean = fitted.population_mean_spend()
    data = pd.DataFrame({"frequency": [0, 1, 10, 1000], "monetary_value": [0.0, 200.0] * 2})
    spend = fitted.expected_spend(data).to_numpy()
    assert spend[0] == pytest.approx(mean)
    assert mean < spend[1] < spend[3] < 200.0


def test_recovers_simulated_parameters() -> None:
    truth = {"p": 4.0, "q": 3.5, "gamma": 20.0}
    sim = bgnbd_summary(50_000, r=0.5, alpha=6.0, a=1.2, b=3.0, T=52.0, seed=7)
    sim["monetary_value"] = gamma_gamma_spend(sim["frequency"], **truth, seed=8)
    model = GammaGammaModel().fit(sim)
    z = (model.params_ - pd.Series(truth)) / model.standard_errors_
    assert np.all(np.abs(z) < 3), z


def test_spend_rules(cdnow) -> None:
    zero = cdnow.copy()
    zero.loc[zero.index[:2], "monetary_value"] = 0.0  # customers 1 and 2 are repeat buyers
    model = GammaGammaModel().fit(zero)
    assert model.n_customers_ == GAMMA_GAMMA_CDNOW_N - 2
    assert model.n_excluded_ == 2357 - GAMMA_GAMMA_CDNOW_N + 2
    assert any(
        "2 customers with repeat purchases but mean spend <= 0 left out" in n
        for n in model.result_.notes
    )
    zero.loc[zero["frequency"] > 0, "monetary_value"] = 0.0
    with pytest.raises(InputError, match="frequency > 0 and monetary_value > 0"):
        GammaGammaModel().fit(zero)
    low_q = GammaGammaModel.from_params({"p": 1.0, "q": 0.9, "gamma": 1.0})
    with pytest.raises(InputError, match="q > 1"):
        low_q.expected_spend(cdnow)


def test_a_fit_with_no_finite_mean_spend_is_a_fit_error() -> None:
    """Two repeat buyers (mean spend 544 and 24,072) fit q = 0.516: a spend distribution
    with no finite mean. The fit raises FitError (exit 4 in the CLI) instead of returning a
    model whose every CLV then fails (the fuzz property of tests/test_fuzz.py found it);
    with allow_unconverged it warns and returns the model."""
    log = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "c", "c"],
            "date": ["2019-01-01", "2019-04-19", "2019-08-24", "2019-01-01", "2020-11-17"],
            "amount": [0, 769, 319, 0, 24072],
        }
    )
    summary = summarise(log, freq="W").summary
    with pytest.raises(FitError, match=r"q=0\.516\d* <= 1: .*no finite mean"):
        GammaGammaModel().fit(summary)
    with pytest.warns(ConvergenceWarning, match="no finite mean"):
        model = GammaGammaModel(allow_unconverged=True).fit(summary)
    assert model.params_["q"] == pytest.approx(0.5163, abs=1e-3)
    with pytest.raises(InputError, match="q > 1"):
        model.expected_spend(summary)
