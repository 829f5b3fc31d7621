"""MBG/NBD: agreement with lifetimes' ModifiedBetaGeoFitter on CDNOW, closed forms, fit path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from lifetimes import ModifiedBetaGeoFitter
from scipy.special import hyp2f1

from clvmodel import FitError, load_model, save_model
from clvmodel.likelihoods import mbgnbd_loglik
from clvmodel.models import MODELS, ModifiedBetaGeoModel
from clvmodel.models.mbgnbd import expected_purchases, p_alive

NAMES = ["r", "alpha", "a", "b"]


def _cols(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(frame[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def fitted(_cdnow_master: pd.DataFrame) -> ModifiedBetaGeoModel:
    return ModifiedBetaGeoModel().fit(_cdnow_master)


@pytest.fixture(scope="module")
def lifetimes_fit(_cdnow_master: pd.DataFrame) -> ModifiedBetaGeoFitter:
    return ModifiedBetaGeoFitter().fit(*_cols(_cdnow_master))


@pytest.fixture(scope="module")
def reference(fitted: ModifiedBetaGeoModel) -> ModifiedBetaGeoFitter:
    ref = ModifiedBetaGeoFitter()
    ref.params_ = pd.Series(fitted.params_.to_numpy(), index=NAMES)
    return ref


def test_registered() -> None:
    assert MODELS["mbgnbd"] is ModifiedBetaGeoModel


def test_estimates_and_standard_errors_match_lifetimes(fitted, lifetimes_fit, cdnow) -> None:
    # lifetimes on CDNOW: r 0.5248, alpha 6.1830, a 0.8914, b 1.6140.
    np.testing.assert_allclose(fitted.params_, lifetimes_fit.params_[NAMES], rtol=1e-4)
    np.testing.assert_allclose(
        fitted.standard_errors_, lifetimes_fit.summary["se(coef)"].to_numpy(), rtol=2e-3
    )
    x, tx, T = _cols(cdnow)
    theirs = -ModifiedBetaGeoFitter._negative_log_likelihood(
        np.log(lifetimes_fit.params_[NAMES].to_numpy()), x, tx, T, np.ones(len(x)), 0.0
    ) * len(x)
    assert fitted.log_likelihood_ == pytest.approx(theirs, abs=1e-3)
    assert fitted.log_likelihood_ == pytest.approx(-9582.13, abs=0.01)
    assert fitted.result_.converged and fitted.n_customers_ == 2357


def test_summary_and_json_round_trip(tmp_path, fitted, cdnow) -> None:
    table = fitted.summary(0.9)
    assert list(table.index) == NAMES and "lower 90%" in table.columns
    assert table.attrs["bic"] == pytest.approx(4 * np.log(2357) - 2 * fitted.log_likelihood_)
    back = load_model(save_model(fitted, tmp_path / "m.json"))
    assert type(back) is ModifiedBetaGeoModel
    assert json.loads((tmp_path / "m.json").read_text())["model"] == "mbgnbd"
    np.testing.assert_array_equal(back.params_, fitted.params_)
    assert back.summary().equals(fitted.summary())
    pd.testing.assert_series_equal(back.p_alive(cdnow), fitted.p_alive(cdnow))


def test_p_alive_matches_lifetimes_and_is_below_one_without_repeat(cdnow, fitted, reference):
    ours = fitted.p_alive(cdnow).to_numpy()
    np.testing.assert_allclose(
        ours, reference.conditional_probability_alive(*_cols(cdnow)), rtol=1e-6
    )
    r, alpha, a, b = fitted.params_.to_numpy()
    zero = cdnow["frequency"].to_numpy() == 0
    # Batislam et al. (2007): 1 / (1 + a/b ((α+T)/α)^r) for x = 0, strictly below 1.
    T0 = cdnow["T"].to_numpy()[zero]
    np.testing.assert_allclose(ours[zero], 1 / (1 + a / b * ((alpha + T0) / alpha) ** r))
    assert ours[zero].max() < 1.0


@pytest.mark.parametrize("t", [0.5, 10.0, 39.0, 78.0, 1000.0])
def test_expected_purchases_match_lifetimes(cdnow, fitted, reference, t) -> None:
    ours = fitted.expected_purchases(cdnow, t=t).to_numpy()
    theirs = np.asarray(
        reference.conditional_expected_number_of_purchases_up_to_time(t, *_cols(cdnow))
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_new_customer_predictions_match_lifetimes(fitted, reference) -> None:
    t = np.array([0.1, 1.0, 10.0, 39.0, 78.0, 1000.0])
    np.testing.assert_allclose(
        fitted.expected_purchases_new_customer(t),
        reference.expected_number_of_purchases_up_to_time(t),
        rtol=1e-6,
    )
    # lifetimes computes the tail as 1 - a finite sum, which cancels for large n at small t;
    # compare where that sum keeps 8 digits.
    for n in (0, 1, 2, 3, 7, 20):
        for t in (1.0, 39.0, 200.0):
            if n > 5 and t < 10:
                continue
            assert float(fitted.probability_of_purchases(t=t, n=n)) == pytest.approx(
                reference.probability_of_n_purchases_up_to_time(t, n), rel=1e-6
            ), (n, t)


def test_probabilities_of_counts_sum_to_one_and_give_the_mean(fitted) -> None:
    n = np.arange(3000)
    for t in (1.0, 39.0):
        p = fitted.probability_of_purchases(t=t, n=n)
        assert np.all(p >= 0)
        assert p.sum() == pytest.approx(1.0, abs=1e-10)
        assert (n * p).sum() == pytest.approx(
            float(fitted.expected_purchases_new_customer(t)), rel=1e-8
        )


def test_expected_purchases_equal_the_hypergeometric_closed_form() -> None:
    """Where scipy's hyp2f1 is accurate, the posterior integral equals Batislam et al. eq. (6)
    including at a = 1 (0/0 in the closed form) approached from both sides."""
    x, tx, T = np.array([0.0, 2.0, 7.0]), np.array([0.0, 20.0, 35.0]), np.array([39.0] * 3)
    for a in (0.5, 1 - 1e-3, 1 + 1e-3, 2.5):
        params = np.array([0.6, 5.0, a, 1.8])
        r, alpha, _, b = params
        t = 26.0
        z = t / (alpha + T + t)
        closed = (
            (a + b + x)
            / (a - 1)
            * (
                1
                - hyp2f1(r + x, b + x + 1, a + b + x, z)
                * ((alpha + T) / (alpha + T + t)) ** (r + x)
            )
            * p_alive(params, x, tx, T)
        )
        np.testing.assert_allclose(expected_purchases(params, t, x, tx, T), closed, rtol=1e-7)


def test_log_likelihood_matches_lifetimes_and_its_gradient(cdnow) -> None:
    x, tx, T = _cols(cdnow)
    params = np.array([0.52, 6.2, 0.9, 1.6])
    ours, grad = mbgnbd_loglik(params, x, tx, T, gradient=True)
    lt = np.log(params)
    theirs = -ModifiedBetaGeoFitter._negative_log_likelihood(lt, x, tx, T, np.ones(len(x)), 0)
    assert ours.mean() == pytest.approx(theirs, rel=1e-12)
    for i in range(4):
        h = 1e-6 * params[i]
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        num = (mbgnbd_loglik(up, x, tx, T) - mbgnbd_loglik(down, x, tx, T)) / (2 * h)
        np.testing.assert_allclose(grad[i], num, rtol=1e-5, atol=1e-7)


def test_weights_and_rescaling(cdnow, fitted) -> None:
    half = cdnow.iloc[::2]
    by_rows = ModifiedBetaGeoModel(collapse=False).fit(pd.concat([half, half]))
    by_weights = ModifiedBetaGeoModel().fit(half, weights=np.full(len(half), 2.0))
    np.testing.assert_allclose(by_weights.params_, by_rows.params_, rtol=1e-6)
    days = cdnow.assign(recency=cdnow["recency"] * 7, T=cdnow["T"] * 7)
    in_days = ModifiedBetaGeoModel().fit(days, time_unit="D")
    np.testing.assert_allclose(in_days.params_, fitted.params_ * np.array([1, 7, 1, 1]), rtol=1e-5)


def test_a_failed_fit_raises_a_named_error_with_the_optimiser_message(cdnow) -> None:
    with pytest.raises(FitError, match="did not converge") as info:
        ModifiedBetaGeoModel(max_iter=1, initial_params={"r": 40.0, "a": 30.0}).fit(cdnow)
    assert "ITERATIONS REACHED LIMIT" in info.value.optimizer_message
