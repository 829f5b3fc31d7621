"""Issue #8, one test per numbered defect (each failed on main before the fix).

The CLI cases with their exit codes are in ``test_cli_table.py``, the SIGKILL test in
``test_run_folder.py`` and the property-based suite in ``test_fuzz.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from clvmodel.models import bgnbd

#: BG/NBD fitted on the CDNOW calibration summary (FHL 2005, Table 1 rounded).
CDNOW_BGNBD = np.array([0.243, 4.414, 0.793, 2.426])


# -- 1. BG/NBD expected purchases finite, non-negative, increasing ----------------------


@pytest.mark.parametrize(
    "params",
    [
        CDNOW_BGNBD,
        np.array([0.5, 2.0, 1.0, 3.0]),  # a = 1: FHL eq. (10) divides by a - 1
        np.array([0.5, 2.0, 0.218, 0.507]),  # a + b < 1: 2F1 legitimately negative
        np.array([0.5, 2.0, 0.9, 0.3]),  # b < 1 < a + b
    ],
)
def test_defect1_bgnbd_predictions_are_finite_at_heavy_buyers_and_singular_params(params):
    x = np.array([10000.0, 500.0, 1e6, 1e4, 0.0, 1.0, 0.0])
    tx = np.array([99.9, 0.5, 1.0, 1e-6, 0.0, 0.0, 0.0])
    T = np.array([100.0, 0.5, 1.0, 1e-6, 0.0, 0.0, 30.0])
    paths = np.array(
        [bgnbd.expected_purchases(params, t, x, tx, T) for t in (0.0, 1e-9, 1.0, 52.0, 1e4)]
    )
    assert np.all(np.isfinite(paths)) and np.all(paths >= 0)
    assert np.all(paths[0] == 0) and np.all(paths[1] > 0)
    assert np.all(np.diff(paths, axis=0) > 0)
    new = bgnbd.expected_purchases_new(params, np.array([0.0, 1.0, 52.0]))
    assert np.all(np.isfinite(new)) and new[0] == 0 and np.all(np.diff(new) > 0)


def test_defect1_bgnbd_limit_at_a_equal_1_is_continuous():
    x, tx, T = np.array([0.0, 3.0, 40.0]), np.array([0.0, 20.0, 30.0]), np.full(3, 39.0)
    at_one = bgnbd.expected_purchases(np.array([0.5, 2.0, 1.0, 3.0]), 39.0, x, tx, T)
    for eps in (1e-3, -1e-3):
        near = bgnbd.expected_purchases(np.array([0.5, 2.0, 1.0 + eps, 3.0]), 39.0, x, tx, T)
        np.testing.assert_allclose(at_one, near, rtol=2e-3)


def test_defect1_negative_2f1_matches_the_closed_form():
    """a + b + x - 1 < 0 for one-time buyers: the value is the closed form's, not NaN."""
    from scipy.special import hyp2f1

    r, alpha, a, b = 0.5, 2.0, 0.218, 0.507
    T, t = np.array([10.0, 30.0]), 52.0
    z = t / (alpha + T + t)
    c = a + b - 1.0
    closed = c / (a - 1.0) * (1.0 - ((alpha + T) / (alpha + T + t)) ** r * hyp2f1(r, b, c, z))
    ours = bgnbd.expected_purchases(np.array([r, alpha, a, b]), t, np.zeros(2), np.zeros(2), T)
    np.testing.assert_allclose(ours, closed, rtol=1e-12)


def test_defect1_probability_of_purchases_does_not_scale_with_n():
    probs = bgnbd.probability_of_purchases(CDNOW_BGNBD, 39.0, np.array([0, 1, 5, 100, 10**12]))
    assert np.all(np.isfinite(probs)) and np.all((probs >= 0) & (probs <= 1))
    assert probs[-1] == 0.0


# -- 2. model files validated on load ----------------------------------------------------


def _bgnbd_file(tmp_path, **changes):
    import json

    from clvmodel import BetaGeoModel

    payload = BetaGeoModel.from_params(
        dict(zip("r alpha a b".split(), CDNOW_BGNBD, strict=True))
    ).to_dict()
    for key, value in changes.items():
        if key in payload["params"]:
            payload["params"][key] = value
        else:
            payload[key] = value
    path = tmp_path / "m.json"
    path.write_text(json.dumps(payload, allow_nan=True))
    return path


@pytest.mark.parametrize(
    "changes",
    [
        {"r": -1.0},
        {"alpha": 0.0},
        {"a": float("nan")},
        {"b": float("inf")},
        {"r": True},
        {"r": "0.24"},
        {"covariance": "x"},
        {"covariance": [[1.0, 2.0]]},
        {"n_customers": "many"},
        {"n_customers": True},
        {"notes": 5},
        {"converged": "yes"},
        {"params": {"r": 1.0}},
    ],
)
def test_defect2_bad_model_files_raise_model_file_error_naming_the_file(tmp_path, changes):
    from clvmodel import ModelFileError, load_model

    path = _bgnbd_file(tmp_path, **changes)
    with pytest.raises(ModelFileError, match=r"m\.json"):
        load_model(path)


def test_defect2_deep_nesting_pickle_directory_and_none(tmp_path):
    import pickle

    from clvmodel import ModelFileError, load_model

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    pick = tmp_path / "model.pkl"
    pick.write_bytes(pickle.dumps({"params": [1, 2]}))
    for bad in (deep, pick, tmp_path, None, 3):
        with pytest.raises(ModelFileError):
            load_model(bad)


# -- 3. a fit that did not converge is an error, or kept on request -------------------------


def _summary(x, tx, T):
    import pandas as pd

    frame = pd.DataFrame({"frequency": x, "recency": tx, "T": T}, dtype=float)
    frame.index = pd.Index([f"c{i}" for i in range(len(frame))], name="customer_id")
    return frame


@pytest.mark.parametrize(
    ("x", "tx", "T", "words"),
    [
        ([1, 2, 3, 1], [0, 0, 0, 0], [10, 10, 10, 10], "recency 0"),
        ([1, 2, 3, 4], [10, 10, 10, 10], [10, 10, 10, 10], "nobody in this log appears to"),
        ([0, 0, 0, 0], [0, 0, 0, 0], [10, 5, 10, 3], "nobody in this log made a repeat"),
        ([0, 0, 0], [0, 0, 0], [0, 0, 0], "no time at all"),
    ],
)
@pytest.mark.parametrize("key", ["bgnbd", "pnbd", "mbgnbd"])
def test_defect3_unidentified_fits_raise_fit_error_in_plain_words(key, x, tx, T, words):
    import warnings

    from clvmodel import FitError
    from clvmodel.models import get_model_class

    cls = get_model_class(key)
    with pytest.raises(FitError, match=words):
        cls().fit(_summary(x, tx, T))
    if not any(T):
        return  # nothing to fit, even on request
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = cls(allow_unconverged=True).fit(_summary(x, tx, T))
    assert np.all(np.isfinite(kept.params_))


def test_defect3_bgbb_with_no_opportunities_is_not_a_fit():
    import pandas as pd

    from clvmodel import BetaGeoBetaBinomModel, FitError

    data = pd.DataFrame({"frequency": [0, 0], "recency": [0, 0], "periods": [0, 0]}, dtype=float)
    with pytest.raises(FitError, match="no time at all"):
        BetaGeoBetaBinomModel().fit(data)


def test_defect3_gamma_gamma_without_repeat_buyers_is_a_fit_error():
    import pandas as pd

    from clvmodel import FitError, GammaGammaModel

    data = pd.DataFrame({"frequency": [0, 0], "monetary_value": [10.0, 5.0]})
    with pytest.raises(FitError):
        GammaGammaModel().fit(data)


# -- 9. named errors instead of tracebacks (Python API) -----------------------------------


@pytest.fixture(scope="module")
def fitted_pair():
    from helpers import cdnow_summary

    from clvmodel import BetaGeoModel, GammaGammaModel

    summary = cdnow_summary()
    return summary, BetaGeoModel().fit(summary), GammaGammaModel().fit(summary)


@pytest.mark.parametrize("horizon", [None, "52", float("inf"), float("nan"), True])
def test_defect9_clv_horizon_must_be_a_finite_number(fitted_pair, horizon):
    from clvmodel import InputError, customer_lifetime_value

    summary, purchase, spend = fitted_pair
    with pytest.raises(InputError, match="horizon"):
        customer_lifetime_value(purchase, spend, summary, horizon=horizon)


def test_defect9_purchase_model_as_spend_model_and_fit_on_a_dict(fitted_pair):
    from clvmodel import BetaGeoModel, InputError, customer_lifetime_value, score

    summary, purchase, _ = fitted_pair
    with pytest.raises(InputError, match="spend_model"):
        customer_lifetime_value(purchase, purchase, summary, horizon=52)
    with pytest.raises(InputError, match="spend_model"):
        score(purchase, summary, horizon=52, spend_model=purchase)
    with pytest.raises(InputError, match="DataFrame"):
        BetaGeoModel().fit({"frequency": [1], "recency": [1], "T": [2]})


@pytest.mark.parametrize(
    "ids",
    [[True, 1, 1], [1, "1", 2]],
)
def test_defect10_mixed_type_id_columns_are_refused(ids):
    import pandas as pd

    from clvmodel import InputError, summarise

    frame = pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype=object),
            "date": ["2020-01-01", "2020-02-01", "2020-03-01"],
            "amount": [1.0, 2.0, 3.0],
        }
    )
    with pytest.raises(InputError, match="mixes Python types"):
        summarise(frame)


def test_defect9_period_dates_are_refused():
    import pandas as pd

    from clvmodel import InputError, summarise

    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "a"],
            "date": pd.period_range("2020-01", periods=3, freq="M"),
            "amount": [1.0, 2.0, 3.0],
        }
    )
    with pytest.raises(InputError, match="Periods"):
        summarise(frame)


def test_defect7_rows_after_today_are_rejected_unless_observation_end_says_so():
    import warnings

    import pandas as pd

    from clvmodel import RejectedRowsWarning, summarise

    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b"],
            "date": ["2020-01-01", "2020-02-01", "2020-01-05", "9999-12-31"],
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    )
    with pytest.warns(RejectedRowsWarning, match="after today"):
        result = summarise(frame, freq="W")
    assert result.ledger.by_reason == {"after observation end": 1}
    assert result.summary.attrs["observation_end"] == "2020-02-01"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RejectedRowsWarning)
        kept = summarise(frame, freq="M", observation_end="2021-01-01")
    assert kept.ledger.by_reason == {"after observation end": 1}


def test_defect7_an_observation_end_centuries_away_is_refused_not_a_hang():
    import pandas as pd

    from clvmodel import InputError, summarise

    frame = pd.DataFrame(
        {"customer_id": ["a", "a"], "date": ["2020-01-01", "3000-01-01"], "amount": [1.0, 2.0]}
    )
    with pytest.raises(InputError, match="more than 200 years"):
        summarise(frame, observation_end="9999-12-31")


def test_defect1_fuzz_finding_huge_a_with_b_below_1_is_finite():
    """Found by the 2,000-example fuzz run: a = 2034, b = 1.5e-4 for a customer with T = 0
    (the Gauss-Jacobi nodes overflow; the (1-p)^b form takes over)."""
    params = np.array([7709842.19, 591455037.0, 2034.28, 0.000154208])
    x, tx, T = np.array([1.0, 0.0]), np.array([76.7, 0.0]), np.array([77.7, 0.0])
    e = bgnbd.expected_purchases(params, 52.0, x, tx, T)
    assert np.all(np.isfinite(e)) and np.all(e > 0)
    # the customer is almost surely gone after one purchase: g(1) = 1 - (1+κ)^-m bounds it
    kappa = 52.0 / params[1]
    assert e[1] == pytest.approx(-np.expm1(-params[0] * np.log1p(kappa)), rel=1e-3)
