"""Parameter recovery: data simulated from each model's story, fitted, within 3 standard errors.

Fixed seeds; each estimate's z-score ``(estimate - truth) / standard error`` must be below 3
in absolute value (a check of the estimates and of the standard errors together).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodel.models import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    ShiftedBetaGeometricModel,
)
from clvmodel.simulate import (
    bgbb_histories,
    bgnbd_summary,
    gamma_gamma_spend,
    mbgnbd_summary,
    pnbd_summary,
    sbg_cohort,
)


def _z(model, truth: dict[str, float]) -> pd.Series:
    z = (model.params_ - pd.Series(truth)) / model.standard_errors_
    assert z.notna().all(), z
    return z


def test_bgnbd_and_gamma_gamma_with_50000_customers() -> None:
    rng = np.random.default_rng(20261124)
    n = 50_000
    purchases = {"r": 0.4, "alpha": 5.0, "a": 0.9, "b": 2.8}
    spend = {"p": 6.0, "q": 3.5, "gamma": 15.0}
    sim = bgnbd_summary(n, **purchases, T=rng.uniform(13, 78, n), seed=rng)
    sim["monetary_value"] = gamma_gamma_spend(sim["frequency"], **spend, seed=rng)
    bg = BetaGeoModel().fit(sim)
    assert np.all(np.abs(_z(bg, purchases)) < 3), _z(bg, purchases)
    gg = GammaGammaModel().fit(sim)
    assert gg.n_excluded_ == int((sim["frequency"] == 0).sum())
    assert np.all(np.abs(_z(gg, spend)) < 3), _z(gg, spend)


def test_pareto_nbd() -> None:
    rng = np.random.default_rng(20261125)
    truth = {"r": 0.6, "alpha": 8.0, "s": 0.8, "beta": 12.0}
    sim = pnbd_summary(20_000, **truth, T=rng.uniform(20, 60, 20_000), seed=rng)
    model = ParetoNBDModel().fit(sim)
    assert np.all(np.abs(_z(model, truth)) < 3), _z(model, truth)
    # The simulator's latent state agrees with the model's P(alive) on average.
    assert model.p_alive(sim).mean() == pytest.approx(sim["alive"].mean(), abs=0.01)


def test_mbg_nbd() -> None:
    rng = np.random.default_rng(20261126)
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}
    sim = mbgnbd_summary(20_000, **truth, T=rng.uniform(20, 60, 20_000), seed=rng)
    model = ModifiedBetaGeoModel().fit(sim)
    assert np.all(np.abs(_z(model, truth)) < 3), _z(model, truth)
    assert model.p_alive(sim).mean() == pytest.approx(sim["alive"].mean(), abs=0.01)


def test_bg_bb() -> None:
    truth = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}
    sim = bgbb_histories(20_000, **truth, periods=8, seed=20261127)
    model = BetaGeoBetaBinomModel().fit(sim)
    assert np.all(np.abs(_z(model, truth)) < 3), _z(model, truth)
    assert model.p_alive(sim).mean() == pytest.approx(sim["alive"].mean(), abs=0.01)


def test_shifted_beta_geometric() -> None:
    truth = {"gamma": 0.7, "delta": 1.2}
    cohort = sbg_cohort(5_000, **truth, periods=10, seed=20261128)
    model = ShiftedBetaGeometricModel().fit(cohort)
    assert np.all(np.abs(_z(model, truth)) < 3), _z(model, truth)
