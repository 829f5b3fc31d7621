"""Time-invariant covariates (issue 11): likelihood gradients, per-customer parameters,
parameter recovery, reduction to the model without covariates, constraints, files, errors.

Parameterisation of CLVTools / PyMC-Marketing (see :mod:`clvmodel.covariates`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodel import HessianWarning, InputError, load_model, save_model
from clvmodel.covariates import check_covariates
from clvmodel.likelihoods import bgnbd_loglik, mbgnbd_loglik, pnbd_loglik
from clvmodel.models import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel
from clvmodel.simulate import covariate_summary

MODELS = {
    "bgnbd": (BetaGeoModel, {"r": 0.8, "alpha": 4.0, "a": 0.8, "b": 2.5}),
    "mbgnbd": (ModifiedBetaGeoModel, {"r": 0.8, "alpha": 4.0, "a": 0.8, "b": 2.5}),
    "pnbd": (ParetoNBDModel, {"r": 0.8, "alpha": 4.0, "s": 0.6, "beta": 8.0}),
}
PURCHASE = {"female": 0.4, "value": -0.3}
DROPOUT = {"female": -0.5, "value": 0.2}


def _covariates(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "female": rng.integers(0, 2, n).astype(float),
            "value": rng.integers(-2, 3, n).astype(float),  # five levels: rows still collapse
        }
    )


def _simulate(name: str, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    params = MODELS[name][1]
    T = np.round(rng.uniform(20, 52, n))
    z = _covariates(n, seed + 1)
    return covariate_summary(
        name, n, params=params, covariates=z, purchase=PURCHASE, dropout=DROPOUT, T=T, seed=rng
    )


def _fit(name: str, data: pd.DataFrame, **kwargs: object):
    cls = MODELS[name][0]
    kwargs.setdefault("purchase_covariates", ["female", "value"])
    kwargs.setdefault("dropout_covariates", ["female", "value"])
    return cls(**kwargs).fit(data)


@pytest.mark.parametrize("core", [bgnbd_loglik, mbgnbd_loglik, pnbd_loglik])
def test_per_customer_parameters_equal_one_call_per_customer(core) -> None:
    rng = np.random.default_rng(3)
    n = 40
    x = rng.integers(0, 12, n).astype(float)
    T = rng.uniform(5, 40, n)
    tx = np.where(x > 0, T * rng.uniform(0.1, 1, n), 0.0)
    rows = [0.7, rng.uniform(0.5, 12, n), rng.uniform(0.3, 3, n), rng.uniform(0.5, 12, n)]
    ll, grad = core(rows, x, tx, T, gradient=True)
    for i in range(n):
        p = [v if np.ndim(v) == 0 else v[i] for v in rows]
        ll_i, g_i = core(p, x[i : i + 1], tx[i : i + 1], T[i : i + 1], gradient=True)
        assert ll[i] == pytest.approx(ll_i[0], rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(grad[:, i], g_i[:, 0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(MODELS))
def test_analytic_gradient_through_the_links(name: str) -> None:
    data = _simulate(name, 300, 11)
    model = MODELS[name][0](
        purchase_covariates=["female", "value"],
        dropout_covariates=["female", "value"],
        equal_covariates=["value"],
        fixed_coefficients={"dropout:female": 0.3},
    )
    lik, names, log_scale, _ = model._fit_problem()
    assert names[4:] == ("purchase:female", "purchase=dropout:value")
    assert list(log_scale) == [True] * 4 + [False] * 2
    arrays, _ = model._arrays(data)
    theta = np.r_[list(MODELS[name][1].values()), 0.25, -0.15]
    _, grad = lik(theta, *arrays, gradient=True)
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = 1e-6 * max(1.0, abs(theta[j]))
        num = (lik(theta + e, *arrays) - lik(theta - e, *arrays)) / (2 * e[j])
        np.testing.assert_allclose(grad[j], num, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_recovery_with_covariates_20000_customers(name: str) -> None:
    """Every estimate within 3 standard errors of the truth (acceptance 1)."""
    data = _simulate(name, 20_000, {"bgnbd": 101, "mbgnbd": 202, "pnbd": 303}[name])
    model = _fit(name, data)
    truth = pd.Series(
        {
            **MODELS[name][1],
            **{f"purchase:{k}": v for k, v in PURCHASE.items()},
            **{f"dropout:{k}": v for k, v in DROPOUT.items()},
        }
    )
    z = (model.params_ - truth) / model.standard_errors_
    assert z.notna().all() and (z.abs() < 3).all(), z
    table = model.summary()
    assert {"z", "p_value"} <= set(table.columns)
    assert table.loc["purchase:value", "p_value"] < 1e-10
    assert np.isnan(table.loc["r", "z"])


@pytest.mark.parametrize("name", list(MODELS))
def test_zero_or_fixed_covariates_reduce_to_the_plain_model(name: str) -> None:
    """Acceptance 2: parameters and log-likelihood equal the no-covariate fit to 1e-8."""
    data = _simulate(name, 3_000, 7).drop(columns=["female", "value"])
    plain = MODELS[name][0]().fit(data)
    zero = data.assign(z1=0.0, z2=0.0)
    with pytest.warns(HessianWarning, match="not identified"):
        m0 = _fit(name, zero, purchase_covariates=["z1"], dropout_covariates=["z1", "z2"])
    np.testing.assert_allclose(m0.params_.iloc[:4], plain.params_, rtol=1e-8)
    np.testing.assert_array_equal(m0.params_.iloc[4:], 0.0)
    assert m0.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-8, abs=1e-8)

    const = data.assign(one=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m1 = _fit(
            name,
            const,
            purchase_covariates=["one"],
            dropout_covariates=["one"],
            fixed_coefficients={"purchase:one": 0.0, "dropout:one": 0.0},
        )
    assert m1.param_names == plain.param_names
    np.testing.assert_allclose(m1.params_, plain.params_, rtol=1e-8)
    assert m1.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-8, abs=1e-8)
    np.testing.assert_allclose(m1.p_alive(const), plain.p_alive(data), rtol=1e-8)


def test_predictions_use_each_customers_parameters() -> None:
    data = _simulate("bgnbd", 2_000, 5)
    model = _fit("bgnbd", data)
    own = model.customer_params(data)
    for i in (0, 1, 2):
        single = BetaGeoModel.from_params(own.iloc[i].to_dict())
        row = data.iloc[[i]]
        assert model.expected_purchases(row, t=10).iloc[0] == pytest.approx(
            single.expected_purchases(row, t=10).iloc[0], rel=1e-12
        )
        assert model.p_alive(row).iloc[0] == pytest.approx(single.p_alive(row).iloc[0], rel=1e-12)


@pytest.mark.parametrize("name", ["bgnbd", "pnbd"])
def test_model_file_keeps_coefficients_names_and_covariance(name: str, tmp_path) -> None:
    data = _simulate(name, 2_000, 9)
    model = _fit(name, data, equal_covariates=["female"])
    path = save_model(model, tmp_path / "m.json")
    back = load_model(path)
    assert back.param_names == model.param_names
    assert "purchase=dropout:female" in back.param_names
    np.testing.assert_array_equal(back.result_.covariance, model.result_.covariance)
    pd.testing.assert_series_equal(back.p_alive(data), model.p_alive(data))
    pd.testing.assert_frame_equal(back.summary(), model.summary())


def test_fit_refuses_bad_covariates() -> None:
    data = _simulate("bgnbd", 500, 1)
    with pytest.raises(InputError, match=r"missing from the data: \['income'\]"):
        _fit("bgnbd", data, purchase_covariates=["income"], dropout_covariates=[])
    with pytest.raises(InputError, match="one value for all 500 customers"):
        _fit("bgnbd", data.assign(one=1.0), purchase_covariates=["one"], dropout_covariates=[])


def test_check_covariates_messages_with_counts() -> None:
    z = _covariates(1_000, 2)
    check_covariates(z, ["female", "value"])
    with pytest.raises(InputError, match=r"2 missing or infinite value\(s\) of 1,000 rows"):
        check_covariates(z.assign(value=z["value"].where(z.index > 1)), ["female", "value"])
    with pytest.raises(InputError, match=r"not numeric: \['region'\].*dummy-code"):
        check_covariates(z.assign(region="north"), ["female", "region"])
    with pytest.raises(InputError, match="one value for all 1,000"):
        check_covariates(z.assign(c=2.0), ["female", "c"])
    with pytest.raises(InputError, match="'both' is a linear combination"):
        check_covariates(
            z.assign(both=2 * z["female"] - z["value"] + 1), ["female", "value", "both"]
        )
    with pytest.raises(InputError, match="in both the purchase and the dropout lists"):
        BetaGeoModel(purchase_covariates=["a"], equal_covariates=["a"])
