"""BG/NBD: published CDNOW estimates, agreement with lifetimes, gradient, invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifetimes import BetaGeoFitter
from reference import BGNBD_CDNOW, BGNBD_CDNOW_CUSTOMER, BGNBD_CDNOW_LL

from clvmodel import BetaGeoModel, InputError, MissingColumnError, NotFittedError
from clvmodel.likelihoods import bgnbd_loglik
from clvmodel.simulate import bgnbd_summary


@pytest.fixture(scope="module")
def fitted(_cdnow_master: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(_cdnow_master)


@pytest.fixture(scope="module")
def reference(fitted: BetaGeoModel) -> BetaGeoFitter:
    """lifetimes' fitter with our parameters: predictions compared at identical parameters."""
    ref = BetaGeoFitter()
    ref.params_ = pd.Series(fitted.params_.to_numpy(), index=["r", "alpha", "a", "b"])
    return ref


def test_published_cdnow_estimates(fitted: BetaGeoModel) -> None:
    for name, value in BGNBD_CDNOW.items():
        assert fitted.params_[name] == pytest.approx(value, abs=5e-4), name
    assert fitted.log_likelihood_ == pytest.approx(BGNBD_CDNOW_LL, abs=0.05)
    assert fitted.n_customers_ == 2357
    assert fitted.time_unit_ == "W"
    assert fitted.result_.converged


def test_standard_errors_match_lifetimes(cdnow: pd.DataFrame, fitted: BetaGeoModel) -> None:
    ref = BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    np.testing.assert_allclose(fitted.params_.to_numpy(), ref.params_.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(
        fitted.standard_errors_.to_numpy(), ref.summary["se(coef)"].to_numpy(), rtol=2e-3
    )


def test_published_customer_prediction(fitted: BetaGeoModel) -> None:
    c = BGNBD_CDNOW_CUSTOMER
    one = pd.DataFrame({k: [c[k]] for k in ("frequency", "recency", "T")}, index=["x"])
    assert fitted.expected_purchases(one, t=c["t"])["x"] == pytest.approx(c["expected"], abs=5e-4)


@pytest.mark.parametrize("t", [0.5, 10.0, 39.0, 78.0, 500.0])
def test_expected_purchases_match_lifetimes(cdnow, fitted, reference, t) -> None:
    ours = fitted.expected_purchases(cdnow, t=t)
    theirs = reference.conditional_expected_number_of_purchases_up_to_time(
        t, cdnow["frequency"], cdnow["recency"], cdnow["T"]
    )
    assert list(ours.index) == list(cdnow.index)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-6)


def test_p_alive_matches_lifetimes(cdnow, fitted, reference) -> None:
    ours = fitted.p_alive(cdnow).to_numpy()
    theirs = reference.conditional_probability_alive(
        cdnow["frequency"], cdnow["recency"], cdnow["T"]
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert np.all(ours[cdnow["frequency"].to_numpy() == 0] == 1.0)


def test_new_customer_predictions_match_lifetimes(fitted, reference) -> None:
    t = np.array([0.1, 1.0, 10.0, 39.0, 78.0, 1000.0])
    np.testing.assert_allclose(
        fitted.expected_purchases_new_customer(t),
        reference.expected_number_of_purchases_up_to_time(t),
        rtol=1e-6,
    )
    for n in [0, 1, 2, 3, 7, 20]:
        for t in [1.0, 39.0, 200.0]:
            assert fitted.probability_of_purchases(t=t, n=n) == pytest.approx(
                reference.probability_of_n_purchases_up_to_time(t, n), rel=1e-6
            )


def test_probabilities_of_counts_sum_to_one(fitted) -> None:
    p = fitted.probability_of_purchases(t=39.0, n=np.arange(400))
    assert np.all(p >= 0)
    assert p.sum() == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    log_params=st.lists(st.floats(-3, 3), min_size=4, max_size=4),
    x=st.integers(0, 300),
    frac=st.floats(0.0, 1.0),
    T=st.floats(0.05, 500.0),
)
def test_gradient_matches_finite_differences(log_params, x, frac, T) -> None:
    params = np.exp(np.array(log_params))
    xs, tx, Ts = np.array([float(x)]), np.array([frac * T if x else 0.0]), np.array([T])
    _, grad = bgnbd_loglik(params, xs, tx, Ts, gradient=True)
    for i in range(4):
        h = 1e-6 * params[i]
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        num = (bgnbd_loglik(up, xs, tx, Ts) - bgnbd_loglik(down, xs, tx, Ts)) / (2 * h)
        assert grad[i, 0] == pytest.approx(num[0], rel=1e-4, abs=1e-6)


def test_permuting_customers_and_collapsing_rows_change_nothing(cdnow, fitted) -> None:
    shuffled = cdnow.sample(frac=1.0, random_state=3)
    again = BetaGeoModel(collapse=False).fit(shuffled)
    np.testing.assert_allclose(again.params_, fitted.params_, rtol=1e-6)
    assert again.log_likelihood_ == pytest.approx(fitted.log_likelihood_, rel=1e-10)


def test_weights_equal_repeated_rows(cdnow) -> None:
    half = cdnow.iloc[::2]
    doubled = pd.concat([half, half])
    by_rows = BetaGeoModel(collapse=False).fit(doubled)
    by_weights = BetaGeoModel().fit(half, weights=np.full(len(half), 2.0))
    np.testing.assert_allclose(by_weights.params_, by_rows.params_, rtol=1e-6)
    np.testing.assert_allclose(by_weights.standard_errors_, by_rows.standard_errors_, rtol=1e-4)


def test_rescaling_time_rescales_alpha_only(cdnow, fitted) -> None:
    days = cdnow.assign(recency=cdnow["recency"] * 7, T=cdnow["T"] * 7)
    in_days = BetaGeoModel().fit(days, time_unit="D")
    expected = fitted.params_ * np.array([1, 7, 1, 1])
    np.testing.assert_allclose(in_days.params_, expected, rtol=1e-5)
    # Densities of purchase times scale by 1/7 per repeat purchase.
    shift = cdnow["frequency"].sum() * np.log(7)
    assert in_days.log_likelihood_ == pytest.approx(fitted.log_likelihood_ - shift, abs=1e-4)


def test_recovers_simulated_parameters() -> None:
    truth = {"r": 0.5, "alpha": 6.0, "a": 1.2, "b": 3.0}
    rng = np.random.default_rng(20261123)
    sim = bgnbd_summary(50_000, **truth, T=rng.uniform(20, 60, 50_000), seed=rng)
    model = BetaGeoModel().fit(sim)
    z = (model.params_ - pd.Series(truth)) / model.standard_errors_
    assert np.all(np.abs(z) < 3), z


def test_predictions_need_a_fit_and_do_not_mutate(cdnow) -> None:
    with pytest.raises(NotFittedError, match="Call 'fit'"):
        BetaGeoModel().p_alive(cdnow)
    model = BetaGeoModel().fit(cdnow)
    before = cdnow.copy()
    model.expected_purchases(cdnow, t=10)
    model.p_alive(cdnow)
    pd.testing.assert_frame_equal(cdnow, before)


def test_bad_input_is_named(cdnow) -> None:
    with pytest.raises(MissingColumnError, match=r"'T'.*Columns present: 'frequency', 'recency'"):
        BetaGeoModel().fit(cdnow[["frequency", "recency"]])
    broken = cdnow.copy()
    broken.loc[broken.index[:3], "recency"] = 100.0
    with pytest.raises(InputError, match=r"'recency' column must be <= 'T'.*3 rows"):
        BetaGeoModel().fit(broken)
    with pytest.raises(InputError, match="whole numbers"):
        BetaGeoModel().fit(cdnow.assign(frequency=cdnow["frequency"] + 0.5))
