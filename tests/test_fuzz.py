"""Issue #8: property-based fuzzing of the whole path, transactions -> summary -> fits -> CLV.

Random logs with good and bad ids, dates and amounts, as DataFrames of mixed Python types.
Properties: only clvmodel's own errors; input rows = used + rejected; permuting rows
changes nothing; every prediction finite and in bounds. ``make test`` runs a few examples
per property; ``make test-slow`` 2,000 (the ``slow`` tests below).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clvmodel import CLVModelError, GammaGammaModel, score, summarise
from clvmodel.models import get_model_class

IDS = st.one_of(st.sampled_from(["a", "b", "c", "d", "e", ""]), st.none())
DATES = st.one_of(
    st.dates(
        min_value=pd.Timestamp("2019-01-01").date(), max_value=pd.Timestamp("2021-12-31").date()
    ).map(str),
    st.sampled_from(["", "not a date", "2020-02-30", "9999-12-31", "3000-01-01"]),
)
AMOUNTS = st.one_of(st.floats(-10, 1e4), st.sampled_from(["x", "", "1e400"]))
ROWS = st.lists(st.tuples(IDS, DATES, AMOUNTS), min_size=1, max_size=40)
FAST = settings(
    max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
SLOW = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))


def _frame(rows) -> pd.DataFrame:
    ids, dates, amounts = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype=object),
            "date": pd.Series(dates, dtype=object),
            "amount": pd.Series([str(a) for a in amounts], dtype=object),
        }
    )


def _check_pipeline(rows) -> None:
    frame = _frame(rows)
    try:
        result = summarise(frame, freq="W")
    except CLVModelError:
        return
    ledger = result.ledger
    assert ledger.input_rows == len(frame) == ledger.used_rows + ledger.rejected_rows
    shuffled = summarise(frame.sample(frac=1.0, random_state=0), freq="W").summary
    pd.testing.assert_frame_equal(result.summary.sort_index(), shuffled.sort_index())
    summary = result.summary
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            spend = GammaGammaModel().fit(summary)
        except CLVModelError:
            spend = None
        for key in ("bgnbd", "pnbd", "mbgnbd"):
            try:
                model = get_model_class(key)().fit(summary)
            except CLVModelError:
                continue
            scores = score(model, summary, horizon=52.0, spend_model=spend)
            alive = scores["p_alive"].to_numpy()
            assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
            e = scores["expected_purchases"].to_numpy()
            assert np.all(np.isfinite(e)) and np.all(e >= 0)
            if spend is not None:
                assert np.all(np.isfinite(scores["clv"].to_numpy()))


@FAST
@given(rows=ROWS)
def test_fuzz_transactions_to_clv(rows) -> None:
    _check_pipeline(rows)


@pytest.mark.slow
@SLOW
@given(rows=ROWS)
def test_fuzz_transactions_to_clv_slow(rows) -> None:
    _check_pipeline(rows)


def _check_predictions(key, log_params, x, frac, T, t) -> None:
    cls = get_model_class(key)
    params = dict(zip(cls.param_names, 10.0 ** np.array(log_params), strict=True))
    model = cls.from_params(params)
    tx = np.where(np.array(x) > 0, np.array(frac) * np.array(T), 0.0)
    data = pd.DataFrame({"frequency": np.array(x, dtype=float), "recency": tx, "T": np.array(T)})
    data.index = pd.Index([f"c{i}" for i in range(len(data))], name="customer_id")
    e0 = model.expected_purchases(data, t=t).to_numpy()
    e1 = model.expected_purchases(data, t=2 * t).to_numpy()
    alive = model.p_alive(data).to_numpy()
    assert np.all(np.isfinite(e0)) and np.all(e0 >= 0) and np.all(e1 >= e0 * (1 - 1e-9))
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))


PRED = dict(
    key=st.sampled_from(["bgnbd", "pnbd", "mbgnbd"]),
    log_params=st.lists(st.floats(-3, 3), min_size=4, max_size=4),
    x=st.lists(st.sampled_from([0, 1, 2, 10, 500, 10**4, 10**6]), min_size=3, max_size=3),
    frac=st.lists(st.floats(0, 1), min_size=3, max_size=3),
    T=st.lists(st.sampled_from([0.0, 1e-6, 0.5, 10.0, 100.0, 1e4]), min_size=3, max_size=3),
    t=st.sampled_from([1e-9, 0.01, 1.0, 52.0, 1e4]),
)


@FAST
@given(**PRED)
def test_fuzz_predictions_finite_and_in_bounds(key, log_params, x, frac, T, t) -> None:
    _check_predictions(key, log_params, x, frac, T, t)


@pytest.mark.slow
@SLOW
@given(**PRED)
def test_fuzz_predictions_finite_and_in_bounds_slow(key, log_params, x, frac, T, t) -> None:
    _check_predictions(key, log_params, x, frac, T, t)
