"""BG/BB: published donations estimates, lifetimes, DERT, the period summary, fit path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import LIFETIMES_DATA
from lifetimes import BetaGeoBetaBinomFitter

from clvmodel import FitError, InputError, load_model, save_model
from clvmodel.likelihoods import bgbb_loglik
from clvmodel.models import MODELS, BetaGeoBetaBinomModel
from clvmodel.models.bgbb import bgbb_summary, dert, expected_purchases, expected_purchases_new

# Fader, Hardie & Shang (2010), "Customer-Base Analysis in a Discrete-Time Noncontractual
# Setting", Marketing Science 29(6), p. 1093: the 11,104 first-time supporters of 1995 of a
# nonprofit, observed over the six annual drives 1996-2001.
BGBB_DONATIONS = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
BGBB_DONATIONS_LL = -33225.6
NAMES = list(BGBB_DONATIONS)


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    frame = pd.read_csv(LIFETIMES_DATA / "donations.csv")
    frame.attrs["time_unit"] = "Y"
    return frame


@pytest.fixture(scope="module")
def fitted(donations: pd.DataFrame) -> BetaGeoBetaBinomModel:
    return BetaGeoBetaBinomModel().fit(donations)


@pytest.fixture(scope="module")
def reference(fitted: BetaGeoBetaBinomModel) -> BetaGeoBetaBinomFitter:
    ref = BetaGeoBetaBinomFitter()
    ref.params_ = pd.Series(fitted.params_.to_numpy(), index=NAMES)
    return ref


def _cols(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(frame[c].to_numpy(dtype=float) for c in ("frequency", "recency", "periods"))  # type: ignore[return-value]


def test_registered() -> None:
    assert MODELS["bgbb"] is BetaGeoBetaBinomModel


def test_published_donations_estimates(fitted, donations) -> None:
    for name, value in BGBB_DONATIONS.items():
        assert fitted.params_[name] == pytest.approx(value, abs=5e-4), name
    assert fitted.log_likelihood_ == pytest.approx(BGBB_DONATIONS_LL, abs=0.05)
    # The weights column was used: 11,104 donors in 22 rows.
    assert len(donations) == 22 and fitted.n_customers_ == 11_104
    assert fitted.time_unit_ == "Y" and fitted.result_.converged


def test_matches_lifetimes_fit(fitted, donations) -> None:
    ref = BetaGeoBetaBinomFitter().fit(*_cols(donations), weights=donations["weights"])
    np.testing.assert_allclose(fitted.params_, ref.params_[NAMES], rtol=1e-4)
    np.testing.assert_allclose(
        fitted.standard_errors_, ref.summary["se(coef)"].to_numpy(), rtol=5e-3
    )
    theirs = BetaGeoBetaBinomFitter._loglikelihood(fitted.params_.to_numpy(), *_cols(donations))
    assert float(theirs @ donations["weights"]) == pytest.approx(fitted.log_likelihood_, abs=1e-6)


def test_weights_column_equals_explicit_weights_and_repeated_rows(donations, fitted) -> None:
    explicit = BetaGeoBetaBinomModel().fit(
        donations.drop(columns="weights"), weights=donations["weights"].to_numpy()
    )
    np.testing.assert_allclose(explicit.params_, fitted.params_, rtol=1e-8)
    rows = donations.loc[donations.index.repeat(donations["weights"])].drop(columns="weights")
    by_rows = BetaGeoBetaBinomModel(collapse=False).fit(rows.reset_index(drop=True))
    np.testing.assert_allclose(by_rows.params_, fitted.params_, rtol=1e-6)
    np.testing.assert_allclose(by_rows.standard_errors_, fitted.standard_errors_, rtol=1e-4)


def test_summary_and_json_round_trip(tmp_path, fitted, donations) -> None:
    table = fitted.summary()
    assert list(table.index) == NAMES
    assert table.attrs["aic"] == pytest.approx(8 - 2 * fitted.log_likelihood_)
    back = load_model(save_model(fitted, tmp_path / "bgbb.json"))
    assert type(back) is BetaGeoBetaBinomModel
    np.testing.assert_array_equal(back.params_, fitted.params_)
    pd.testing.assert_series_equal(back.p_alive(donations), fitted.p_alive(donations))


@pytest.mark.parametrize("m", [0, 1, 2, 5])
def test_probability_alive_matches_lifetimes(donations, fitted, reference, m) -> None:
    ours = fitted.probability_alive(donations, periods_ahead=m).to_numpy()
    theirs = reference.conditional_probability_alive(m, *_cols(donations))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    if m == 0:
        np.testing.assert_array_equal(fitted.p_alive(donations).to_numpy(), ours)


@pytest.mark.parametrize("t", [1, 2, 5, 10, 50])
def test_expected_purchases_match_lifetimes(donations, fitted, reference, t) -> None:
    ours = fitted.expected_purchases(donations, t=t).to_numpy()
    theirs = reference.conditional_expected_number_of_purchases_up_to_time(t, *_cols(donations))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_expected_purchases_are_the_sum_over_future_opportunities(fitted, donations) -> None:
    """E[X(n, n+m)] = Σ_k P(alive at n+k) E[p | alive]: eq. (13) against its definition."""
    al, be, _, _ = fitted.params_.to_numpy()
    x, _, n = _cols(donations)
    mean_p = (al + x) / (al + be + n)
    direct = sum(
        fitted.probability_alive(donations, periods_ahead=k).to_numpy() * mean_p
        for k in range(1, 8)
    )
    np.testing.assert_allclose(fitted.expected_purchases(donations, t=7), direct, rtol=1e-10)


def test_expected_purchases_are_continuous_at_gamma_one() -> None:
    """δ/(γ-1) [..] is 0/0 at γ = 1: a Taylor series takes over within 1e-3 of 1."""
    x, tx, n = np.array([3.0]), np.array([5.0]), np.array([6.0])

    def f(g: float) -> float:
        return float(expected_purchases(np.array([1.2, 0.75, g, 2.8]), 10, x, tx, n)[0])

    # Either side of the switch to the series.
    assert f(1 - 1e-3 - 1e-12) == pytest.approx(f(1 - 1e-3 + 1e-12), rel=1e-10)
    # Smooth through γ = 1: the second difference is O(h^2 f'') ~ 1e-14.
    h = 1e-7
    assert abs(f(1 + h) - 2 * f(1.0) + f(1 - h)) < 1e-12
    new = [expected_purchases_new(np.array([1.2, 0.75, g, 2.8]), 10) for g in (1 - 1e-9, 1.0)]
    assert new[0] == pytest.approx(new[1], rel=1e-8)


def test_dert_equals_the_discounted_sum_of_expected_purchases(fitted, donations) -> None:
    """DERT (eq. 14) = Σ_k (E[X(n, n+k)] - E[X(n, n+k-1)]) / (1+d)^k, summed to k = 3000."""
    params = fitted.params_.to_numpy()
    x, tx, n = _cols(donations)
    brute = sum(
        (expected_purchases(params, k, x, tx, n) - expected_purchases(params, k - 1, x, tx, n))
        / 1.1**k
        for k in range(1, 3000)
    )
    ours = fitted.discounted_expected_residual_transactions(donations, discount_rate=0.1)
    np.testing.assert_allclose(ours.to_numpy(), brute, rtol=1e-10)
    np.testing.assert_allclose(dert(params, 0.1, x, tx, n), brute, rtol=1e-10)
    # Monthly opportunities: the annual rate becomes (1.1)^(1/12) - 1 per opportunity.
    monthly = BetaGeoBetaBinomModel.from_params(BGBB_DONATIONS, time_unit="M")
    got = monthly.discounted_expected_residual_transactions(donations.iloc[:3], discount_rate=0.1)
    np.testing.assert_allclose(
        got, dert(monthly._params(), 1.1 ** (1 / 12) - 1, x[:3], tx[:3], n[:3]), rtol=1e-12
    )


def test_log_likelihood_gradient(donations) -> None:
    x, tx, n = _cols(donations)
    params = np.array([1.1, 0.8, 0.7, 2.5])
    _, grad = bgbb_loglik(params, x, tx, n, gradient=True)
    for i in range(4):
        h = 1e-6 * params[i]
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        num = (bgbb_loglik(up, x, tx, n) - bgbb_loglik(down, x, tx, n)) / (2 * h)
        np.testing.assert_allclose(grad[i], num, rtol=1e-6, atol=1e-8)


def test_bad_histories_are_named() -> None:
    good = pd.DataFrame({"frequency": [1, 0], "recency": [2, 0], "periods": [6, 6]})
    with pytest.raises(InputError, match=r"'recency' column must be <= 'periods'.*1 row"):
        BetaGeoBetaBinomModel().fit(good.assign(recency=[7, 0]))
    with pytest.raises(InputError, match=r"'frequency' column must be <= 'recency'"):
        BetaGeoBetaBinomModel().fit(good.assign(frequency=[3, 0]))
    with pytest.raises(InputError, match="whole numbers"):
        BetaGeoBetaBinomModel().fit(good.assign(periods=[6.5, 6]))


def test_a_failed_fit_raises_a_named_error(donations) -> None:
    with pytest.raises(FitError, match="did not converge") as info:
        BetaGeoBetaBinomModel(max_iter=1, initial_params={"alpha": 50.0}).fit(donations)
    assert "ITERATIONS REACHED LIMIT" in info.value.optimizer_message


# ----------------------------------------------------------------- bgbb_summary


def test_bgbb_summary_definitions() -> None:
    log = pd.DataFrame(
        {
            "id": ["a", "a", "a", "a", "b", "c", "c", "d", "d"],
            "date": [
                "1995-03-01",  # a: first purchase (period 0)
                "1995-11-30",  # a: same year, not an opportunity after the first
                "1997-05-01",  # a: opportunity 2
                "1997-06-01",  # a: same period, counted once
                "1995-07-01",  # b: never again
                "1996-01-01",  # c: first purchase in 1996, so 5 opportunities to 2001
                "2001-12-31",  # c: opportunity 5
                "1995-02-02",  # d: first
                "2002-01-05",  # d: after observation_end, ignored
            ],
        }
    )
    before = log.copy()
    table = bgbb_summary(log, customer_col="id", date_col="date", observation_end="2001-12-31")
    pd.testing.assert_frame_equal(log, before)
    assert table.attrs["time_unit"] == "Y"
    expected = pd.DataFrame(
        {
            "frequency": [0, 1, 1],
            "recency": [0, 2, 5],
            "periods": [6, 6, 5],
            "weights": [2, 1, 1],
        }
    )
    pd.testing.assert_frame_equal(table, expected)


def test_bgbb_summary_rebuilds_simulated_histories() -> None:
    """A random purchase matrix written as a dated log, summarised by month."""
    rng = np.random.default_rng(11)
    n_customers, n_periods = 400, 9
    buys = rng.random((n_customers, n_periods)) < rng.uniform(0.1, 0.9, (n_customers, 1))
    start = rng.integers(0, 3, n_customers)  # acquired in month 0, 1 or 2
    rows = []
    for i in range(n_customers):
        rows.append((i, pd.Timestamp(2020, 1 + start[i], 3)))
        for k in np.flatnonzero(buys[i, : n_periods - start[i]]):
            rows.append((i, pd.Timestamp(2020, 1 + start[i] + k + 1, 15)))
    log = pd.DataFrame(rows, columns=["customer", "day"])
    table = bgbb_summary(
        log, customer_col="customer", date_col="day", period="M", observation_end="2020-10-31"
    )
    periods = n_periods - start
    freq = np.array([buys[i, : periods[i]].sum() for i in range(n_customers)])
    last = np.array(
        [np.flatnonzero(buys[i, : periods[i]]).max() + 1 if freq[i] else 0 for i in range(400)]
    )
    expected = (
        pd.DataFrame({"frequency": freq, "recency": last, "periods": periods})
        .groupby(["frequency", "recency", "periods"])
        .size()
        .rename("weights")
        .reset_index()
        .astype(np.int64)
    )
    pd.testing.assert_frame_equal(table, expected)
    assert table["weights"].sum() == n_customers and table.attrs["time_unit"] == "M"
    BetaGeoBetaBinomModel().fit(table)  # the table is ready to fit, weights included


def test_bgbb_summary_rejects_bad_input() -> None:
    log = pd.DataFrame({"id": [1, 2], "date": ["2020-01-01", "not a date"]})
    with pytest.raises(InputError, match="'date' column must hold dates"):
        bgbb_summary(log, customer_col="id", date_col="date")
    with pytest.raises(InputError, match="'period' parameter"):
        bgbb_summary(log, customer_col="id", date_col="date", period="Q")
