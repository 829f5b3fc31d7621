"""Issue #8: property-based fuzzing of the whole path, transactions -> summary -> fits -> CLV.

Random logs with good and bad ids, dates and amounts, as DataFrames whose object columns hold
one or several Python types (str, int, float, None, ``datetime.date``, ``pandas.Timestamp``)
and as CSV files through the command line, in process. Properties: only clvmodel's own
errors; input rows = used + rejected; permuting rows changes nothing; every prediction finite
and in bounds; ``clvmodel run`` returns a documented exit status, with exactly one failure
line on stderr and no traceback, and on success a run whose ledger and customer counts
balance. ``make test`` runs a few examples per property; ``make test-slow`` 2,000 (the
``slow`` tests below).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clvmodel import CLVModelError, GammaGammaModel, score, summarise
from clvmodel.cli import main
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


DAY = st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2021, 12, 31))
FAR = st.sampled_from([dt.date(9999, 12, 31), dt.date(3000, 1, 1), dt.date(1900, 1, 1)])
#: Values of one Python type per kind; a column draws one kind, or mixes them all.
TYPED = {
    "customer_id": {
        "str": IDS,
        "int": st.one_of(st.sampled_from([0, 1, 2, 3, -1, 2**62]), st.none()),
    },
    "date": {
        "str": DATES,
        "date": st.one_of(DAY, FAR, st.none()),
        "timestamp": st.one_of(
            DAY.map(pd.Timestamp),
            st.sampled_from([pd.Timestamp("2200-01-01"), pd.Timestamp("2020-05-05 23:59:59")]),
            st.just(pd.NaT),
        ),
    },
    "amount": {
        "str": AMOUNTS.map(str),
        "float": st.one_of(st.floats(-10, 1e4), st.sampled_from([float("nan"), float("inf")])),
        "int": st.one_of(st.integers(-10, 10**6), st.none()),
    },
}


@st.composite
def frames(draw) -> pd.DataFrame:
    """A transaction log of 1-40 rows; each object column of one Python type, or mixed."""
    n = draw(st.integers(1, 40))
    columns = {}
    for name, kinds in TYPED.items():
        kind = draw(st.sampled_from([*kinds, "mixed"]))
        values = st.one_of(*kinds.values()) if kind == "mixed" else kinds[kind]
        columns[name] = pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype=object)
    return pd.DataFrame(columns)


def _check_pipeline(frame: pd.DataFrame) -> None:
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
@given(frame=frames())
def test_fuzz_transactions_to_clv(frame) -> None:
    _check_pipeline(frame)


@pytest.mark.slow
@SLOW
@given(frame=frames())
def test_fuzz_transactions_to_clv_slow(frame) -> None:
    _check_pipeline(frame)


#: stderr lines that are not failures: warnings and the per-stage progress lines.
NOT_A_FAILURE = re.compile(r"^clvmodel run: (warning \(|[a-z ]+: [0-9.]+ s, )")


def _check_cli(rows) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.csv"
        with log.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["customer_id", "date", "amount"])
            writer.writerows(["" if v is None else v for v in row] for row in rows)
        out, err = io.StringIO(), io.StringIO()
        argv = ["run", str(log), "--out", str(Path(tmp) / "run"), "--no-report", "--horizon", "4"]
        code = main(argv, stdout=out, stderr=err)
        lines = err.getvalue().splitlines()
        assert code in {0, 3, 4}, lines
        assert not any("Traceback" in line for line in lines)
        failures = [line for line in lines if not NOT_A_FAILURE.match(line)]
        if code != 0:
            assert len(failures) == 1 and failures[0].startswith("clvmodel run: "), lines
            assert not (Path(tmp) / "run").exists()
            return
        run = Path(tmp) / "run"
        meta = json.loads((run / "run.json").read_text())
        ledger = meta["ledger"]
        assert ledger["input_rows"] == len(rows)
        assert ledger["input_rows"] == ledger["used_rows"] + ledger["rejected_rows"]
        assert sum(ledger["by_reason"].values()) == ledger["rejected_rows"]
        assert meta["n_scored"] + meta["excluded_customers"] == meta["n_customers"]
        scores = pd.read_parquet(run / "scores.parquet")
        assert len(scores) == meta["n_scored"]
        numbers = scores.select_dtypes("number").to_numpy()
        assert np.all(np.isfinite(numbers))
        assert np.all((scores["p_alive"] >= 0) & (scores["p_alive"] <= 1))


@FAST
@given(rows=ROWS)
def test_fuzz_cli_run_on_csv(rows) -> None:
    _check_cli(rows)


@pytest.mark.slow
@SLOW
@given(rows=ROWS)
def test_fuzz_cli_run_on_csv_slow(rows) -> None:
    _check_cli(rows)


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
