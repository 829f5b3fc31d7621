"""Shifted-beta-geometric: the published cohorts of Fader & Hardie (2007), DERL, fit path."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln

from clvmodel import HessianWarning, InputError, load_model, save_model
from clvmodel.likelihoods import sbg_loglik
from clvmodel.models import MODELS, ShiftedBetaGeometricModel
from clvmodel.models.sbg import derl, discounted_expected_lifetime, expected_lifetime, survival

# Fader & Hardie (2007), "How to Project Customer Retention", Journal of Interactive
# Marketing 21(1), p. 80 and 82: customers still active at the start of years 0-7 of two
# cohorts of 1,000, and the estimates fitted on them.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
SBG_PUBLISHED = {
    "regular": (REGULAR, {"gamma": 0.704, "delta": 1.182}),
    "high end": (HIGH_END, {"gamma": 0.668, "delta": 3.806}),
}


def _cohort(counts: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"period": range(len(counts)), "customers": counts})


def _direct_ll(counts: list[int], gamma: float, delta: float) -> float:
    """Eq. (4)-(6) summed by hand: losses in each year and the survivors after year 7."""
    n = np.asarray(counts, dtype=float)
    t = np.arange(1, len(n))
    lost = n[:-1] - n[1:]
    log_p = betaln(gamma + 1, delta + t - 1) - betaln(gamma, delta)
    log_s = betaln(gamma, delta + t[-1]) - betaln(gamma, delta)
    return float(lost @ log_p + n[-1] * log_s)


@pytest.fixture(scope="module", params=list(SBG_PUBLISHED))
def case(request) -> tuple[str, ShiftedBetaGeometricModel, list[int], dict[str, float]]:
    counts, published = SBG_PUBLISHED[request.param]
    model = ShiftedBetaGeometricModel().fit(_cohort(counts), time_unit="Y")
    return request.param, model, counts, published


def test_registered() -> None:
    assert MODELS["sbg"] is ShiftedBetaGeometricModel
    assert ShiftedBetaGeometricModel.kind == "retention"


def test_published_estimates(case) -> None:
    _, model, counts, published = case
    for name, value in published.items():
        assert model.params_[name] == pytest.approx(value, abs=5e-4), name
    # The maximum: the direct sum at our estimates, and above it at the printed values.
    best = _direct_ll(counts, *model.params_)
    assert model.log_likelihood_ == pytest.approx(best, rel=1e-12)
    assert best >= _direct_ll(counts, *published.values())
    assert model.n_customers_ == 1000 and model.result_.converged


def test_published_log_likelihoods() -> None:
    """At the published estimates: regular -1680.27, high end -1611.16 (eq. 6 summed)."""
    regular = ShiftedBetaGeometricModel().fit(_cohort(REGULAR))
    high = ShiftedBetaGeometricModel().fit(_cohort(HIGH_END))
    assert regular.log_likelihood_ == pytest.approx(-1680.27, abs=0.01)
    assert high.log_likelihood_ == pytest.approx(-1611.16, abs=0.01)


def test_summary_json_and_per_outcome_log_likelihood(tmp_path, case) -> None:
    _, model, counts, _ = case
    table = model.summary()
    assert list(table.index) == ["gamma", "delta"]
    assert np.all(table["std_error"] > 0)
    assert table.attrs["bic"] == pytest.approx(2 * np.log(1000) - 2 * model.log_likelihood_)
    back = load_model(save_model(model, tmp_path / "sbg.json"))
    assert type(back) is ShiftedBetaGeometricModel and back.time_unit_ == "Y"
    np.testing.assert_array_equal(back.params_, model.params_)
    assert back.summary().equals(model.summary())
    parts = model.loglik(_cohort(counts))
    assert parts.sum() == pytest.approx(model.log_likelihood_, rel=1e-12)
    assert parts.index[-1] == "active after 7"


def test_survival_and_retention_curves(case) -> None:
    _, model, counts, _ = case
    g, d = model.params_
    t = np.arange(0, 13)
    s = model.survival(t)
    assert s.iloc[0] == 1.0 and np.all(np.diff(s) < 0)
    r = model.retention(t[1:])
    np.testing.assert_allclose(r.to_numpy(), s.to_numpy()[1:] / s.to_numpy()[:-1], rtol=1e-12)
    np.testing.assert_allclose(r.to_numpy(), (d + t[1:] - 1) / (g + d + t[1:] - 1))
    assert np.all(np.diff(r) > 0)  # retention rises with tenure (heterogeneity)
    fitted_counts = model.expected_survivors(t[:8], cohort_size=1000)
    assert np.max(np.abs(fitted_counts.to_numpy() - counts)) < 25


def test_derl_and_del_equal_their_discounted_sums(case) -> None:
    _, model, _, _ = case
    params = model.params_.to_numpy()
    d = 0.1
    horizon = np.arange(0, 2_000)  # 1.1^-2000 is 1e-83
    for n_renewals in (0, 1, 4, 20):
        n = n_renewals + 1
        # Alive after n-1 renewals: pays for period n if it renews (undiscounted), etc.
        cond = survival(params, n - 1 + 1 + horizon) / survival(params, n - 1)
        brute = float(np.sum(cond / (1 + d) ** horizon))
        assert float(derl(params, d, n_renewals)) == pytest.approx(brute, rel=1e-10)
    del_brute = float(np.sum(survival(params, horizon) / (1 + d) ** horizon))
    assert discounted_expected_lifetime(params, d) == pytest.approx(del_brute, rel=1e-10)
    # DEL = 1 + DERL(0) / (1 + d): the first period, then the residual from period 1 on.
    assert model.discounted_expected_lifetime(discount_rate=d) == pytest.approx(
        1 + float(model.discounted_expected_residual_lifetime(discount_rate=d).iloc[0]) / 1.1
    )


def test_expected_lifetime() -> None:
    assert expected_lifetime(np.array([0.7, 1.2])) == np.inf  # E[1/θ] diverges for γ <= 1
    g, d = 3.5, 2.0
    t = np.arange(0, 100_000)
    assert expected_lifetime(np.array([g, d])) == pytest.approx(
        float(survival(np.array([g, d]), t).sum()), rel=1e-8
    )


def test_homogeneous_cohort_warns_that_standard_errors_are_unavailable() -> None:
    """Exactly geometric survivors (one churn rate for all): the likelihood rises toward
    γ, δ → ∞ with γ/(γ+δ) = 0.2 and is flat there; the Hessian is singular."""
    counts = np.round(100_000 * 0.8 ** np.arange(8)).astype(int)
    with pytest.warns(HessianWarning, match="standard errors are not available"):
        model = ShiftedBetaGeometricModel().fit(_cohort(list(counts)))
    g, d = model.params_
    assert g / (g + d) == pytest.approx(0.2, abs=1e-3)
    assert g > 100 and np.all(np.isnan(model.standard_errors_))


@pytest.mark.parametrize("counts", [[100, 100, 100], [100, 0, 0]])
def test_cohorts_without_information_are_refused(counts) -> None:
    with pytest.raises(InputError, match=r"at the boundary.*cannot be computed"):
        ShiftedBetaGeometricModel().fit(_cohort(counts))


def test_bad_cohort_tables_are_named() -> None:
    with pytest.raises(InputError, match=r"'period' column must be 0, 1, \.\.\., 2"):
        ShiftedBetaGeometricModel().fit(pd.DataFrame({"period": [0, 2, 3], "customers": [9, 5, 4]}))
    with pytest.raises(InputError, match=r"must not increase.*period 2"):
        ShiftedBetaGeometricModel().fit(_cohort([100, 80, 90]))
    with pytest.raises(InputError, match="takes no 'weights'"):
        ShiftedBetaGeometricModel().fit(_cohort([100, 80, 60]), weights=[1, 2, 3])
    model = ShiftedBetaGeometricModel().fit(_cohort(REGULAR))
    with pytest.raises(InputError, match="needs the length of a period"):
        model.discounted_expected_residual_lifetime(discount_rate=0.1)
    with pytest.raises(InputError, match=">= 1"):
        model.retention([0, 1])


def test_gradient_matches_finite_differences() -> None:
    t = np.array([1.0, 2.0, 5.0, 7.0, 7.0])
    c = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    params = np.array([0.7, 1.2])
    _, grad = sbg_loglik(params, t, c, gradient=True)
    for i in range(2):
        h = 1e-6 * params[i]
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        num = (sbg_loglik(up, t, c) - sbg_loglik(down, t, c)) / (2 * h)
        np.testing.assert_allclose(grad[i], num, rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sbg_loglik(params, t, c, gradient=True)
