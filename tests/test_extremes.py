"""Every model at extreme inputs: finite log-likelihoods and gradients, predictions in bounds.

Customers with up to 10,000 purchases, ages from 0.01 to 10,000 time units, parameters from
1e-3 to 1e3 (six orders of magnitude), drawn by Hypothesis. Where lifetimes, BTYD and
CLVTools overflow or return NaN (the Gauss hypergeometric terms of Pareto/NBD and BG/NBD-type
expectations), every value here must be finite, probabilities in [0, 1] and expected
purchases non-negative and non-decreasing in the horizon.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from clvmodel.likelihoods import bgbb_loglik, mbgnbd_loglik, pnbd_loglik, sbg_loglik
from clvmodel.models import bgbb, bgnbd, mbgnbd, pnbd, sbg

PARAM = st.floats(-3.0, 3.0)  # log10 of a parameter
FREQ = st.integers(0, 10_000)
AGE = st.floats(-2.0, 4.0)  # log10 T
FRAC = st.floats(0.0, 1.0)
HORIZONS = np.array([0.0, 0.01, 1.0, 39.0, 1e3, 1e4])


def _customers(xs: list[int], ages: list[float], fracs: list[float]):
    x = np.array(xs, dtype=float)
    T = 10.0 ** np.array(ages)
    tx = np.where(x > 0, np.array(fracs) * T, 0.0)
    return x, tx, T


def _check_purchase_predictions(module, params, x, tx, T) -> None:
    alive = module.p_alive(params, x, tx, T)
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
    paths = np.array([module.expected_purchases(params, t, x, tx, T) for t in HORIZONS])
    assert np.all(np.isfinite(paths)) and np.all(paths >= 0)
    assert np.all(paths[0] == 0)
    assert np.all(np.diff(paths, axis=0) >= -1e-12 * np.abs(paths[1:]))
    new = module.expected_purchases_new(params, HORIZONS)
    assert np.all(np.isfinite(new)) and np.all(np.diff(new) >= -1e-12 * new[1:])
    probs = module.probability_of_purchases(params, 39.0, np.array([0, 1, 5, 100]))
    assert np.all(np.isfinite(probs)) and np.all((probs >= 0) & (probs <= 1 + 1e-12))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    log_params=st.lists(PARAM, min_size=4, max_size=4),
    xs=st.lists(FREQ, min_size=3, max_size=3),
    ages=st.lists(AGE, min_size=3, max_size=3),
    fracs=st.lists(FRAC, min_size=3, max_size=3),
)
def test_pareto_nbd_at_extremes(log_params, xs, ages, fracs) -> None:
    params = 10.0 ** np.array(log_params)
    x, tx, T = _customers(xs, ages, fracs)
    ll, grad = pnbd_loglik(params, x, tx, T, gradient=True)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(grad))
    _check_purchase_predictions(pnbd, params, x, tx, T)
    d = pnbd.dert(params, 0.01, x, tx, T)
    assert np.all(np.isfinite(d)) and np.all(d >= 0)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    log_params=st.lists(PARAM, min_size=4, max_size=4),
    xs=st.lists(FREQ, min_size=3, max_size=3),
    ages=st.lists(AGE, min_size=3, max_size=3),
    fracs=st.lists(FRAC, min_size=3, max_size=3),
)
def test_mbg_nbd_at_extremes(log_params, xs, ages, fracs) -> None:
    params = 10.0 ** np.array(log_params)
    x, tx, T = _customers(xs, ages, fracs)
    ll, grad = mbgnbd_loglik(params, x, tx, T, gradient=True)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(grad))
    _check_purchase_predictions(mbgnbd, params, x, tx, T)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    log_params=st.lists(PARAM, min_size=4, max_size=4),
    n=st.integers(0, 10_000),
    fracs=st.lists(FRAC, min_size=2, max_size=2),
    log_d=st.floats(-3.0, 0.0),
)
def test_bg_bb_at_extremes(log_params, n, fracs, log_d) -> None:
    params = 10.0 ** np.array(log_params)
    tx = np.floor(fracs[0] * n)
    x = np.floor(fracs[1] * tx)
    if tx > 0:
        x = max(x, 1.0)
    x_, tx_, n_ = np.array([x, 0.0, x]), np.array([tx, 0.0, tx]), np.array([n, n, tx])
    ll, grad = bgbb_loglik(params, x_, tx_, n_, gradient=True)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(grad)) and np.all(ll <= 1e-12)
    alive = bgbb.probability_alive(params, x_, tx_, n_, m=1)
    assert np.all((alive >= 0) & (alive <= 1))
    paths = np.array([bgbb.expected_purchases(params, m, x_, tx_, n_) for m in (0, 1, 10, 10**4)])
    assert np.all(np.isfinite(paths)) and np.all(paths >= 0)
    assert np.all(np.diff(paths, axis=0) >= -1e-12 * paths[1:])
    d = bgbb.dert(params, 10.0**log_d, x_, tx_, n_)
    assert np.all(np.isfinite(d)) and np.all(d >= 0)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    log_params=st.lists(PARAM, min_size=2, max_size=2),
    t=st.integers(1, 10_000),
    log_d=st.floats(-3.0, 0.0),
)
def test_sbg_at_extremes(log_params, t, log_d) -> None:
    params = 10.0 ** np.array(log_params)
    ll, grad = sbg_loglik(params, np.array([t, t]), np.array([0.0, 1.0]), gradient=True)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(grad)) and np.all(ll <= 0)
    s = sbg.survival(params, np.array([0, 1, t, 10 * t]))
    assert s[0] == 1 and np.all(np.diff(s) <= 0) and np.all(s >= 0)
    r = sbg.retention_rate(params, np.array([1, t]))
    assert np.all((r >= 0) & (r <= 1))
    derl = sbg.derl(params, 10.0**log_d, np.array([0, t]))
    assert np.all(np.isfinite(derl)) and np.all(derl >= 0)
    assert np.all(derl <= (1 + 10.0**log_d) / 10.0**log_d + 1e-9)  # at most Σ (1+d)^-k


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    log_params=st.lists(PARAM, min_size=4, max_size=4),
    xs=st.lists(FREQ, min_size=3, max_size=3),
    ages=st.lists(AGE, min_size=3, max_size=3),
    fracs=st.lists(FRAC, min_size=3, max_size=3),
    a_is_one=st.booleans(),
)
def test_bg_nbd_at_extremes(log_params, xs, ages, fracs, a_is_one) -> None:
    params = 10.0 ** np.array(log_params)
    if a_is_one:  # the removable singularity of FHL (2005) eq. (10)
        params[2] = 1.0
    x, tx, T = _customers(xs, ages, fracs)
    _check_purchase_predictions(bgnbd, params, x, tx, T)


def _counted_pnbd_fit(frequency, recency, T, monkeypatch):
    """Fit Pareto/NBD to a tiny log; return the outcome ("fitted" or "failed"), the likelihood
    evaluations and the categories of the warnings the fit raised."""
    import warnings

    import pandas as pd

    from clvmodel import CLVModelError
    from clvmodel.likelihoods import PnbdSums
    from clvmodel.models.pnbd import ParetoNBDModel

    calls = []
    inner = PnbdSums.__call__

    def counted(self, params, gradient):
        calls.append(gradient)
        return inner(self, params, gradient)

    monkeypatch.setattr(PnbdSums, "__call__", counted)
    data = pd.DataFrame({"frequency": frequency, "recency": recency, "T": T})
    data.index = pd.Index([f"c{i}" for i in range(len(data))], name="customer_id")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ParetoNBDModel().fit(data)
            outcome = "fitted"
        except CLVModelError:
            outcome = "failed"
    return outcome, len(calls), {w.category for w in caught}


def test_pnbd_fits_of_tiny_degenerate_logs_do_not_grind(monkeypatch) -> None:
    """Logs of 2-3 customers from the fuzz suite (weekly, issue #8): the fit drifts to
    parameters in the millions. One used to take 5 s (114 evaluations, one of them through a
    quadrature bisecting on rounding noise); the other 339 s (68,744 evaluations of BFGS
    wandering along a ridge flat to the last digit) before failing. The first still fits,
    each in a bounded number of steps.

    The second log's likelihood rises along a ridge towards the no-heterogeneity limit, flat
    to the last digit: where BFGS stops on it depends on the CPU's rounding. On some hosts it
    reaches the bound and the fit raises the failed-fit error; on others (an AMD EPYC,
    2026-12-02) the gradient falls below tolerance first, and the fit is kept with a
    BoundaryWarning (the estimates drift to the edge of the parameter space) and a
    HessianWarning (no standard errors). Either way the user is told that the data do not
    identify the parameters, and the fit ends in a bounded number of steps."""
    from clvmodel.exceptions import BoundaryWarning, HessianWarning

    outcome, n, _ = _counted_pnbd_fit([0.0, 1.0], [0.0, 474 / 7], [132 / 7, 474 / 7], monkeypatch)
    assert outcome == "fitted" and n < 400, n
    outcome, n, caught = _counted_pnbd_fit(
        [1.0, 0.0, 0.0], [213 / 7, 0.0, 0.0], [213 / 7, 117 / 7, 879 / 7], monkeypatch
    )
    assert n < 2_000, n
    assert outcome == "failed" or {BoundaryWarning, HessianWarning} <= caught, (outcome, caught)


def test_bg_nbd_expected_purchases_increase_at_saturation() -> None:
    """The stored Hypothesis example of test_bg_nbd_at_extremes: (r, α, a, b) = (1, 1, 100, 1),
    692 purchases at t_x = 0, T = 1. From t = 1 on, (1 + κp)^-693 is negligible and the
    expected purchases saturate at 1.35e-207; two quadratures of the whole integrand fell
    by 1.07e-12 of it between t = 1 and t = 39 (E[1/p] less a vanishing rest is exact)."""
    x, tx, T = _customers([692], [0.0], [0.0])
    _check_purchase_predictions(bgnbd, (1.0, 1.0, 100.0, 1.0), x, tx, T)
