"""Intervals on predictions and CLV (issue 11, point 4): parametric draws, the delta method,
the bootstrap, and coverage by simulation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodel import BetaGeoModel, GammaGammaModel, InputError
from clvmodel.clv import customer_lifetime_value, score
from clvmodel.intervals import prediction_intervals
from clvmodel.simulate import bgnbd_summary, covariate_summary, gamma_gamma_spend

QUANTITIES = ["p_alive", "expected_purchases", "expected_spend", "clv"]


@pytest.fixture(scope="module")
def fitted(_cdnow_master: pd.DataFrame):
    bg = BetaGeoModel().fit(_cdnow_master)
    gg = GammaGammaModel().fit(_cdnow_master)
    return _cdnow_master, bg, gg


def test_parametric_and_delta_intervals_agree_and_hold_the_point(fitted) -> None:
    data, bg, gg = fitted
    args = {"horizon": 52, "step": 4, "spend_model": gg, "discount_rate": 0.1, "level": 0.9}
    draws = prediction_intervals(bg, data, n_draws=300, **args)
    delta = prediction_intervals(bg, data, method="delta", **args)
    point = score(bg, data, **{k: v for k, v in args.items() if k != "level"})
    if "customer_id" in point.columns:  # clvmodel.clv.score returns the id as a column
        point = point.set_index("customer_id")
    for name in QUANTITIES:
        np.testing.assert_allclose(draws[name], point[name], rtol=1e-12)
        np.testing.assert_allclose(delta[name], point[name], rtol=1e-12)
        assert draws.index.astype(str).equals(point.index.astype(str))
        lo, hi = draws[f"{name}_lower"].to_numpy(), draws[f"{name}_upper"].to_numpy()
        value = point[name].to_numpy()
        assert (lo <= hi).all() and (delta[f"{name}_lower"] <= delta[f"{name}_upper"]).all()
        inside = (lo <= value * (1 + 1e-12)) & (value <= hi * (1 + 1e-12))
        assert inside.mean() > 0.99, name
        # Where the interval has width, the two methods agree to 15 % of it (Monte Carlo
        # error of a 300-draw 5 % quantile is about 4 %; the rest is skewness the
        # linearisation on the logit/log scale does not capture).
        width = hi - lo
        wide = width > 1e-9 * np.maximum(np.abs(value), 1e-300)
        for b in ("lower", "upper"):
            gap = np.abs(draws[f"{name}_{b}"] - delta[f"{name}_{b}"]).to_numpy()
            assert np.quantile(gap[wide] / width[wide], 0.95) < 0.15, (name, b)
    tot_d, tot_p = delta.attrs["totals"]["clv"], draws.attrs["totals"]["clv"]
    assert tot_d["estimate"] == pytest.approx(point["clv"].sum(), rel=1e-10)
    assert tot_d["lower"] == pytest.approx(tot_p["lower"], rel=0.01)
    assert tot_d["upper"] == pytest.approx(tot_p["upper"], rel=0.01)
    assert tot_p["lower"] < tot_p["estimate"] < tot_p["upper"]


def test_bootstrap_and_covariate_models() -> None:
    rng = np.random.default_rng(4)
    n = 1_500
    z = pd.DataFrame({"female": rng.integers(0, 2, n).astype(float)})
    data = covariate_summary(
        "bgnbd",
        n,
        params={"r": 0.8, "alpha": 4.0, "a": 0.8, "b": 2.5},
        covariates=z,
        purchase={"female": 0.5},
        dropout={"female": -0.3},
        T=np.round(rng.uniform(20, 52, n)),
        seed=rng,
    )
    data["monetary_value"] = gamma_gamma_spend(data["frequency"], p=6, q=4, gamma=15, seed=rng)
    bg = BetaGeoModel(purchase_covariates=["female"], dropout_covariates=["female"]).fit(data)
    gg = GammaGammaModel().fit(data)
    delta = prediction_intervals(bg, data, horizon=26, spend_model=gg, method="delta")
    boot = prediction_intervals(bg, data, horizon=26, spend_model=gg, method="bootstrap", n_draws=8)
    for frame in (delta, boot):
        assert frame.columns.tolist()[:3] == ["p_alive", "expected_purchases", "expected_spend"]
        assert np.isfinite(frame.to_numpy()).all()
        assert (frame["clv_lower"] <= frame["clv_upper"]).all()
    # Two customers with one history and different covariates get different values.
    twins = data[(data.frequency == 0) & (data["T"] == data["T"].iloc[0])]
    assert delta.loc[twins.index, "expected_purchases"].nunique() == 2
    with pytest.raises(InputError, match="'method' parameter"):
        prediction_intervals(bg, data, horizon=26, method="jackknife")
    with pytest.raises(InputError, match="'level' parameter"):
        prediction_intervals(bg, data, horizon=26, level=90)


# The fixed customers of the coverage study: (x, t_x, T, mean spend).
FIXED = pd.DataFrame(
    {
        "frequency": [0, 2, 8, 1],
        "recency": [0.0, 20.0, 38.0, 5.0],
        "T": [40.0, 40.0, 40.0, 50.0],
        "monetary_value": [0.0, 30.0, 20.0, 100.0],
    },
    index=pd.Index([1, 2, 3, 4], name="customer_id"),
)
TRUTH_BG = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}
TRUTH_GG = {"p": 6.0, "q": 4.0, "gamma": 15.0}


def coverage(reps: int, n: int, method: str, seed: int = 2026) -> pd.Series:
    """Share of repetitions whose 90 % interval of CLV covers the true-parameter CLV."""
    truth = customer_lifetime_value(
        BetaGeoModel.from_params(TRUTH_BG),
        GammaGammaModel.from_params(TRUTH_GG),
        FIXED,
        horizon=26,
        step=2,
    )
    rng = np.random.default_rng(seed)
    hits = np.zeros(len(FIXED))
    for _ in range(reps):
        sim = bgnbd_summary(n, **TRUTH_BG, T=np.round(rng.uniform(30, 60, n)), seed=rng)
        sim["monetary_value"] = gamma_gamma_spend(sim["frequency"], **TRUTH_GG, seed=rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bg, gg = BetaGeoModel().fit(sim), GammaGammaModel().fit(sim)
        iv = prediction_intervals(
            bg, FIXED, horizon=26, step=2, spend_model=gg, level=0.9, method=method, seed=rng
        )
        hits += ((iv["clv_lower"] <= truth) & (truth <= iv["clv_upper"])).to_numpy()
    return pd.Series(hits / reps, index=FIXED.index)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["parametric", "delta"])
def test_coverage_of_90_percent_clv_intervals(method: str) -> None:
    """Acceptance 4: 300 refits on 2,000 simulated customers each.

    Recorded (seed 2026, this code): parametric 0.900 / 0.867 / 0.893 / 0.890, delta
    0.873 / 0.897 / 0.903 / 0.890 for the four fixed customers (about 5 and 1 minutes).
    """
    cov = coverage(300, 2_000, method)
    print(f"coverage ({method}):", cov.round(3).to_dict())
    assert ((cov >= 0.85) & (cov <= 0.95)).all(), cov
