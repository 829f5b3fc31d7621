"""Discounted CLV and scoring: formula, units, agreement with lifetimes where comparable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter

from clvmodel import BetaGeoModel, GammaGammaModel, InputError
from clvmodel.clv import customer_lifetime_value, discounted_purchases, score
from clvmodel.units import rate_per_unit, units_per_year


@pytest.fixture(scope="module")
def models(_cdnow_master):
    return BetaGeoModel().fit(_cdnow_master), GammaGammaModel().fit(_cdnow_master)


def test_matches_lifetimes_when_its_hidden_month_is_made_explicit(cdnow) -> None:
    """lifetimes steps in 30-day "months" at a monthly rate; the same sum, stated explicitly."""
    days = cdnow.assign(recency=cdnow["recency"] * 7, T=cdnow["T"] * 7)
    days.attrs["time_unit"] = "D"
    bg = BetaGeoModel().fit(days)
    gg = GammaGammaModel().fit(days)
    ref_bg = BetaGeoFitter()
    ref_bg.params_ = pd.Series(bg.params_.to_numpy(), index=["r", "alpha", "a", "b"])
    ref_bg.predict = ref_bg.conditional_expected_number_of_purchases_up_to_time
    ref_gg = GammaGammaFitter()
    ref_gg.params_ = pd.Series(gg.params_.to_numpy(), index=["p", "q", "v"])
    monthly = 0.01
    theirs = ref_gg.customer_lifetime_value(
        ref_bg,
        days["frequency"],
        days["recency"],
        days["T"],
        days["monetary_value"],
        time=12,
        discount_rate=monthly,
        freq="D",
    )
    annual = (1 + monthly) ** (365.25 / 30) - 1
    ours = customer_lifetime_value(bg, gg, days, horizon=360, step=30, discount_rate=annual)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-9)


def test_undiscounted_clv_is_spend_times_purchases(cdnow, models) -> None:
    bg, gg = models
    clv = customer_lifetime_value(bg, gg, cdnow, horizon=52, margin=0.3)
    expected = 0.3 * gg.expected_spend(cdnow) * bg.expected_purchases(cdnow, t=52)
    np.testing.assert_allclose(clv.to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_discounting_a_single_step(cdnow, models) -> None:
    bg, _ = models
    horizon = units_per_year("W")
    d = discounted_purchases(bg, cdnow, horizon=horizon, step=horizon, discount_rate=0.1)
    undiscounted = bg.expected_purchases(cdnow, t=horizon)
    np.testing.assert_allclose(d.to_numpy(), undiscounted.to_numpy() / 1.1, rtol=1e-12)


def test_discounting_is_monotone_and_partial_steps_add_up(cdnow, models) -> None:
    bg, _ = models
    a = discounted_purchases(bg, cdnow, horizon=10.5, step=1.0, discount_rate=0.0)
    np.testing.assert_allclose(a, bg.expected_purchases(cdnow, t=10.5), rtol=1e-12)
    low = discounted_purchases(bg, cdnow, horizon=52, discount_rate=0.05)
    high = discounted_purchases(bg, cdnow, horizon=52, discount_rate=0.25)
    assert np.all(high.to_numpy() <= low.to_numpy())


def test_rate_conversion() -> None:
    assert (1 + rate_per_unit(0.1, "M")) ** 12 == pytest.approx(1.1)
    assert (1 + rate_per_unit(0.1, "D")) ** 365.25 == pytest.approx(1.1)
    assert rate_per_unit(0.1, "Y") == pytest.approx(0.1)
    with pytest.raises(InputError, match="greater than -1"):
        rate_per_unit(-1.5, "W")


def test_score_table(cdnow, models) -> None:
    bg, gg = models
    before = cdnow.copy()
    table = score(bg, cdnow, horizon=39, spend_model=gg, discount_rate=0.1)
    pd.testing.assert_frame_equal(cdnow, before)
    assert list(table.columns) == [
        "customer_id",
        "frequency",
        "recency",
        "T",
        "p_alive",
        "expected_purchases",
        "expected_spend",
        "clv",
    ]
    assert table["customer_id"].tolist() == cdnow.index.tolist()
    assert table["frequency"].dtype == np.int64
    assert table["clv"].to_numpy() == pytest.approx(
        customer_lifetime_value(bg, gg, cdnow, horizon=39, discount_rate=0.1).to_numpy()
    )
    assert "clv" not in score(bg, cdnow, horizon=39).columns


def test_unit_mismatch_is_refused(cdnow, models) -> None:
    bg, gg = models
    days = cdnow.copy()
    days.attrs["time_unit"] = "D"
    with pytest.raises(InputError, match="fitted in 'W'"):
        customer_lifetime_value(bg, gg, days, horizon=10)
    with pytest.raises(InputError, match="'horizon' parameter must be > 0"):
        customer_lifetime_value(bg, gg, cdnow, horizon=0)
