"""P(X(T, T+t) = n | history) for the continuous purchase models (issue 11, point 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodel.models import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel

HISTORIES = pd.DataFrame(
    {
        "frequency": [0, 1, 3, 7, 20],
        "recency": [0.0, 10.0, 30.0, 20.0, 38.0],
        "T": [38.0, 38.0, 38.0, 38.0, 39.0],
    },
    index=pd.Index(list("abcde"), name="customer_id"),
)


def conditional_pmf(model, data: pd.DataFrame, t: float, counts) -> pd.DataFrame:
    """P(X(T, T+t) = n | history), one column per n."""
    return pd.DataFrame({n: model.probability_of_purchases(data, t=t, n=n) for n in counts})


MODELS = [
    BetaGeoModel.from_params({"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}),
    ModifiedBetaGeoModel.from_params({"r": 0.52, "alpha": 6.2, "a": 0.89, "b": 1.6}),
    ParetoNBDModel.from_params({"r": 0.55, "alpha": 10.6, "s": 0.61, "beta": 11.7}),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_pmf_sums_to_one_and_its_mean_is_the_expected_purchases(model) -> None:
    t = 26.0
    pmf = conditional_pmf(model, HISTORIES, t, range(150))
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-9)
    mean = pmf.to_numpy() @ np.arange(150)
    np.testing.assert_allclose(mean, model.expected_purchases(HISTORIES, t=t), rtol=1e-7)
    zero = pmf[0]
    alive = model.p_alive(HISTORIES)
    assert (zero >= 1 - alive - 1e-12).all()  # the dead buy nothing


def test_pareto_nbd_matches_lifetimes_note_028() -> None:
    """lifetimes' ParetoNBDFitter implements Fader, Hardie & Shang's eq. (16) directly."""
    lifetimes = pytest.importorskip("lifetimes")
    model = MODELS[2]
    ref = lifetimes.ParetoNBDFitter()
    ref.params_ = pd.Series(model.params_.to_dict())
    pmf = conditional_pmf(model, HISTORIES, 10.0, [0, 1, 2, 5])
    for cid, row in HISTORIES.iterrows():
        for n in (0, 1, 2, 5):
            expected = ref.conditional_probability_of_n_purchases_up_to_time(
                n, 10.0, row.frequency, row.recency, row["T"]
            )
            assert pmf.loc[cid, n] == pytest.approx(float(expected), rel=1e-6, abs=1e-12)


def test_covariates_give_each_customer_their_own_distribution() -> None:
    data = pd.concat([HISTORIES.assign(g=0.0), HISTORIES.assign(g=1.0)])
    data.index = pd.Index(range(len(data)), name="customer_id")
    model = BetaGeoModel(purchase_covariates=["g"], dropout_covariates=["g"])
    model.result_ = MODELS[0].result_.__class__(
        model="bgnbd",
        param_names=model.param_names,
        params=np.r_[MODELS[0].result_.params, 0.7, -0.4],
        covariance=np.full((6, 6), np.nan),
        log_likelihood=np.nan,
        n_obs=0,
        log_scale=(True,) * 4 + (False,) * 2,
    )
    model.time_unit_ = None
    pmf = conditional_pmf(model, data, 26.0, range(300))
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(
        pmf.to_numpy() @ np.arange(300), model.expected_purchases(data, t=26.0), rtol=1e-7
    )
    assert not np.allclose(pmf.iloc[:5].to_numpy(), pmf.iloc[5:].to_numpy())
