"""RFM summary (clvmodel.data) against an independent pandas computation, lifetimes and the
published CDNOW summary; file and DataFrame inputs; rejects and the row ledger."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clvmodel.data import SummaryResult, rfm_summary, summarise, tracking_counts, write_rejects
from clvmodel.exceptions import InputError, MissingColumnError, RejectedRowsWarning

CDNOW_ROWS = 69_659
CDNOW_CUSTOMERS = 23_570
FLOAT_RTOL = 1e-12


# -- an independent reference: plain pandas, no SQL -------------------------------------


def pandas_rfm(
    tx: pd.DataFrame,
    *,
    days_per_unit: float,
    observation_end: str,
    calibration_end: str | None = None,
) -> pd.DataFrame:
    """Frequency/recency/T/monetary value (and holdout columns) with pandas groupbys."""
    obs = pd.Timestamp(observation_end)
    end = pd.Timestamp(calibration_end) if calibration_end else obs
    tx = tx.assign(day=pd.to_datetime(tx["date"]).dt.normalize())
    tx = tx[tx["day"] <= obs]
    occasions = tx.groupby(["customer_id", "day"], as_index=False)["amount"].sum()
    first = occasions.groupby("customer_id")["day"].min()
    first = first[first <= end]
    occasions = occasions[occasions["customer_id"].isin(first.index)]
    occasions = occasions.assign(first=occasions["customer_id"].map(first))
    cal = occasions[occasions["day"] <= end]
    repeat = cal[cal["day"] > cal["first"]]
    out = pd.DataFrame(index=first.index.sort_values())
    out["frequency"] = repeat.groupby("customer_id").size().reindex(out.index, fill_value=0)
    last = cal.groupby("customer_id")["day"].max().reindex(out.index)
    out["recency"] = (last - first.reindex(out.index)).dt.days / days_per_unit
    out["T"] = (end - first.reindex(out.index)).dt.days / days_per_unit
    out["monetary_value"] = (
        repeat.groupby("customer_id")["amount"].mean().reindex(out.index, fill_value=0.0)
    )
    if calibration_end:
        hold = occasions[occasions["day"] > end].groupby("customer_id")["amount"]
        out["frequency_holdout"] = hold.size().reindex(out.index, fill_value=0)
        out["monetary_value_holdout"] = hold.mean().reindex(out.index, fill_value=0.0)
        out["duration_holdout"] = (obs - end).days / days_per_unit
    return out


def assert_summary_matches(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same customers in the same order; integers exact, floats to FLOAT_RTOL."""
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_array_equal(got.index.to_numpy(), expected.index.to_numpy())
    for col in got.columns:
        if col.startswith("frequency"):
            assert got[col].dtype == np.int64
            np.testing.assert_array_equal(got[col].to_numpy(), expected[col].to_numpy(), col)
        else:
            assert got[col].dtype == np.float64
            np.testing.assert_allclose(
                got[col].to_numpy(), expected[col].to_numpy(), rtol=FLOAT_RTOL, atol=0, err_msg=col
            )


# -- the CDNOW master log ------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_weekly(cdnow_transactions_path: Path) -> pd.DataFrame:
    return rfm_summary(cdnow_transactions_path, freq="W")


def test_the_summary_takes_duckdbs_memory_limit(
    cdnow_transactions_path: Path, cdnow_weekly: pd.DataFrame
) -> None:
    import duckdb

    with pytest.raises(duckdb.OutOfMemoryException):  # not the data's fault: no InputError
        rfm_summary(cdnow_transactions_path, memory_limit="1MB")
    with pytest.raises(InputError, match=r"memory limit must be a size .* Got 'lots'"):
        rfm_summary(cdnow_transactions_path, memory_limit="lots")
    got = rfm_summary(cdnow_transactions_path, memory_limit="200MB")
    pd.testing.assert_frame_equal(got, cdnow_weekly, check_exact=True)


def test_bundled_transactions_file(cdnow_transactions_path: Path, lifetimes_datasets: Path) -> None:
    with gzip.open(cdnow_transactions_path, "rt") as fh:
        lines = fh.read().splitlines()
    assert lines[:3] == [
        "customer_id,date,quantity,amount",
        "00001,1997-01-01,1,11.77",
        "00002,1997-01-12,1,12.00",
    ]
    assert len(lines) == CDNOW_ROWS + 1
    # Same values as lifetimes' CDNOW_master.txt, row for row.
    master = (lifetimes_datasets / "CDNOW_master.txt").read_text().split()[4:]
    ours = [field for line in lines[1:] for field in line.split(",")]
    assert [v.replace("-", "") for v in ours[1::4]] == master[1::4]
    assert ours[0::4] == master[0::4]
    assert ours[3::4] == master[3::4]
    # Reproducible: fixed mtime and no file name in the gzip header.
    header = cdnow_transactions_path.read_bytes()[:10]
    assert header[4:8] == b"\x00\x00\x00\x00" and not header[3] & 0x08


@pytest.mark.parametrize("freq, days", [("D", 1.0), ("W", 7.0)])
def test_cdnow_matches_pandas(
    cdnow_transactions_path: Path, cdnow_transactions: pd.DataFrame, freq: str, days: float
) -> None:
    got = rfm_summary(cdnow_transactions_path, freq=freq)
    expected = pandas_rfm(cdnow_transactions, days_per_unit=days, observation_end="1998-06-30")
    assert_summary_matches(got, expected)
    assert len(got) == CDNOW_CUSTOMERS
    assert got.index.name == "customer_id"
    assert got.index[:3].tolist() == ["00001", "00002", "00003"]
    n_occasions = cdnow_transactions.groupby(["customer_id", "date"]).ngroups
    assert got.attrs == {
        "time_unit": freq,
        "observation_end": "1998-06-30",
        "calibration_end": None,
        "first_date": "1997-01-01",
        "input_rows": CDNOW_ROWS,
        "used_rows": CDNOW_ROWS,
        "rejected_rows": 0,
        "rows_after_observation_end": 0,
        "n_transactions": n_occasions,
        "excluded_customers": 0,
    }
    # Rows on one day merge: fewer occasions than rows.
    assert n_occasions == int(got["frequency"].sum()) + len(got) < CDNOW_ROWS


def test_file_and_frame_inputs_agree(
    tmp_path: Path,
    cdnow_transactions_path: Path,
    cdnow_transactions: pd.DataFrame,
    cdnow_weekly: pd.DataFrame,
) -> None:
    parquet = tmp_path / "cdnow.parquet"
    cdnow_transactions.to_parquet(parquet, index=False)  # typed: datetime64 dates, float amounts
    text = pd.read_csv(cdnow_transactions_path, dtype=str, keep_default_na=False)  # all text
    others = {
        "parquet": rfm_summary(parquet, freq="W"),
        "typed frame": rfm_summary(cdnow_transactions, freq="W"),
        "text frame": rfm_summary(text, freq="W"),
    }
    for name, other in others.items():
        pd.testing.assert_frame_equal(other, cdnow_weekly, check_exact=True, obj=name)
        assert other.attrs == cdnow_weekly.attrs, name


def test_calibration_split_matches_pandas(cdnow_transactions: pd.DataFrame) -> None:
    got = rfm_summary(
        cdnow_transactions, freq="M", calibration_end="1997-09-30", observation_end="1998-06-30"
    )
    expected = pandas_rfm(
        cdnow_transactions,
        days_per_unit=365.25 / 12,
        observation_end="1998-06-30",
        calibration_end="1997-09-30",
    )
    assert_summary_matches(got, expected)
    assert (got["duration_holdout"] == 273 / 30.4375).all()


# -- lifetimes' CDNOW sample and summary (Fader, Hardie & Lee 2005) -------------------------


def test_cdnow_sample_reproduces_published_summary(
    lifetimes_datasets: Path, cdnow_summary_path: Path
) -> None:
    # CDNOW_sample.txt: master-log id, sample id (0001-2357), date, CDs, dollars. The sample
    # id (column 2) is the ID of lifetimes' cdnow_customers_summary.csv: summarising by it
    # reproduces that file row for row. (The master-log id gives the same numbers under
    # other labels: the two ids are one-to-one.)
    sample = pd.read_csv(
        lifetimes_datasets / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "sample_id", "date", "cds", "amount"],
        dtype={"master_id": str, "sample_id": str, "date": str},
    )
    assert sample.groupby("sample_id")["master_id"].nunique().max() == 1
    got = rfm_summary(
        sample,
        customer_col="sample_id",
        date_format="%Y%m%d",
        freq="W",
        calibration_end="1997-09-30",
    )
    assert len(got) == 2357
    assert got.attrs["excluded_customers"] == 0
    published = pd.read_csv(lifetimes_datasets / "cdnow_customers_summary.csv", index_col="ID")
    bundled = pd.read_csv(cdnow_summary_path, index_col="customer_id")
    np.testing.assert_array_equal(got.index.astype(int), published.index)
    np.testing.assert_array_equal(got.index.astype(int), bundled.index)
    # Published values are rounded to 2 decimals; ties (x.xx5) may round either way.
    tol = 0.005 + 1e-9
    for ref in (published, bundled):
        np.testing.assert_array_equal(got["frequency"].to_numpy(), ref["frequency"].to_numpy())
        np.testing.assert_allclose(
            got["recency"].to_numpy(), ref["recency"].to_numpy(), rtol=0, atol=tol
        )
        np.testing.assert_allclose(got["T"].to_numpy(), ref["T"].to_numpy(), rtol=0, atol=tol)
    np.testing.assert_allclose(
        got["monetary_value"].to_numpy(), bundled["monetary_value"].to_numpy(), rtol=0, atol=tol
    )
    assert got.loc["0001", ["frequency", "recency", "T"]].tolist() == [2, 213 / 7, 272 / 7]


def test_calibration_holdout_matches_lifetimes(cdnow_transactions: pd.DataFrame) -> None:
    from lifetimes.utils import calibration_and_holdout_data

    ref = calibration_and_holdout_data(
        cdnow_transactions,
        "customer_id",
        "date",
        calibration_period_end="1997-09-30",
        observation_period_end="1998-03-31",
        freq="D",
        freq_multiplier=1,
        monetary_value_col="amount",
    ).sort_index()
    result = summarise(
        cdnow_transactions, freq="D", calibration_end="1997-09-30", observation_end="1998-03-31"
    )
    got = result.summary
    np.testing.assert_array_equal(got.index.to_numpy(), ref.index.to_numpy())
    pairs = {
        "frequency": "frequency_cal",
        "recency": "recency_cal",
        "T": "T_cal",
        "monetary_value": "monetary_value_cal",
        "frequency_holdout": "frequency_holdout",
        "duration_holdout": "duration_holdout",
    }
    for ours, theirs in pairs.items():
        np.testing.assert_allclose(
            got[ours].to_numpy(np.float64),
            ref[theirs].to_numpy(),
            rtol=FLOAT_RTOL,
            atol=0,
            err_msg=ours,
        )
    # Definitional difference: lifetimes' monetary_value_holdout is the mean of the holdout
    # *transactions*, ours the mean of holdout *occasions* (same-day amounts summed, as in
    # the calibration period). They agree exactly where no holdout day has two rows.
    tx = cdnow_transactions
    hold = tx[(tx["date"] > "1997-09-30") & (tx["date"] <= "1998-03-31")]
    per_day = hold.groupby(["customer_id", "date"]).size()
    merged = per_day[per_day > 1].index.get_level_values("customer_id").unique()
    same = ~got.index.isin(merged)
    np.testing.assert_allclose(
        got.loc[same, "monetary_value_holdout"],
        ref.loc[same, "monetary_value_holdout"],
        rtol=FLOAT_RTOL,
    )
    assert len(merged) > 0
    assert (
        got.loc[merged, "monetary_value_holdout"] > ref.loc[merged, "monetary_value_holdout"]
    ).all()
    # Rows after the observation end are not used, and are counted.
    after = int((tx["date"] > "1998-03-31").sum())
    assert after > 0
    assert result.ledger.by_reason == {"after observation end": after}
    assert got.attrs["rows_after_observation_end"] == after
    assert got.attrs["used_rows"] == CDNOW_ROWS - after


# -- small hand-made cases ---------------------------------------------------------------


def frame(rows: list[tuple[object, object, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"])


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_leading_zeros_survive_from_csv(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "t.csv",
        "customer_id,date,amount\n00001,2020-01-01,1\n0002,2020-01-02,2\n3,2020-01-03,3\n"
        "00001,2020-01-08,4\n",
    )
    for source in (path, pd.read_csv(path, dtype={"customer_id": str})):
        got = rfm_summary(source)
        assert got.index.tolist() == ["00001", "0002", "3"]
        assert got.loc["00001", "frequency"] == 1
        assert got.loc["00001", "monetary_value"] == 4.0


def test_integer_ids_keep_their_dtype_and_input_is_unchanged() -> None:
    data = frame([(7, "2020-01-01", 1.0), (3, "2020-01-02", 2.0), (7, "2020-01-05", 3.0)])
    before = data.copy()
    got = rfm_summary(data, freq="D")
    assert got.index.dtype == np.int64 and got.index.tolist() == [3, 7]
    pd.testing.assert_frame_equal(data, before)


def test_same_day_purchases_are_one_occasion() -> None:
    data = frame(
        [
            ("a", "2020-01-01 09:00", 10.0),
            ("a", "2020-01-01 17:30", 5.0),  # same day: one occasion of 15
            ("a", "2020-01-11 08:00", 7.0),
            ("a", "2020-01-11 23:59", 3.0),  # same day: one occasion of 10
        ]
    )
    got = rfm_summary(data, freq="D")
    assert got.loc["a"].to_dict() == {
        "frequency": 1,
        "recency": 10.0,
        "T": 10.0,
        "monetary_value": 10.0,
    }
    assert got.attrs["n_transactions"] == 2 and got.attrs["used_rows"] == 4


@pytest.mark.parametrize("freq, days", [("D", 1.0), ("W", 7.0), ("M", 30.4375), ("Y", 365.25)])
def test_time_is_continuous_in_the_unit(freq: str, days: float) -> None:
    data = frame([("a", "2020-01-01", 1.0), ("a", "2020-01-11", 2.0), ("b", "2020-03-01", 3.0)])
    got = rfm_summary(data, freq=freq, observation_end="2020-03-01")
    assert got.loc["a", "recency"] == 10 / days  # 10 days = 10/7 weeks, not 1 or 2
    assert got.loc["a", "T"] == 60 / days
    assert got.loc["b", "T"] == 0.0  # first seen on the observation end
    assert got.attrs["time_unit"] == freq


def test_bad_rows_are_rejected_with_reasons(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        "customer_id,date,amount\n"
        "00001,2020-01-01,10\n"
        "00001,2020-13-45,5\n"  # row 2
        ",2020-01-03,5\n"  # row 3
        "00002,2020-01-04,abc\n"  # row 4
        "00002,2020-01-05,7\n",
    )
    result = summarise(path)
    rejects = result.rejects.astype(object).where(result.rejects.notna(), None)
    assert rejects.to_dict("list") == {
        "row": [2, 3, 4],
        "customer_id": ["00001", None, "00002"],
        "date": ["2020-13-45", "2020-01-03", "2020-01-04"],
        "amount": ["5", "5", "abc"],
        "reason": ["unparseable date", "missing customer id", "non-numeric amount"],
    }
    ledger = result.ledger
    assert (ledger.input_rows, ledger.used_rows, ledger.rejected_rows) == (5, 2, 3)
    assert ledger.input_rows == ledger.used_rows + ledger.rejected_rows
    assert ledger.by_reason == {
        "missing customer id": 1,
        "non-numeric amount": 1,
        "unparseable date": 1,
    }
    assert result.summary.index.tolist() == ["00001", "00002"]
    with pytest.warns(
        RejectedRowsWarning, match=r"3 of 5 input rows rejected: 1 missing customer id"
    ):
        summary = rfm_summary(path)
    assert summary.attrs["rejected_rows"] == 3

    written = write_rejects(result, tmp_path / "out" / "rejects.csv")
    back = pd.read_csv(written, dtype=str)
    assert back.columns.tolist() == ["row", "customer_id", "date", "amount", "reason"]
    assert back["reason"].tolist() == result.rejects["reason"].tolist()


def test_every_reject_reason() -> None:
    data = frame(
        [
            ("a", "2020-01-01", "1"),
            ("  ", "2020-01-01", "1"),  # blank id
            (None, "2020-01-01", "1"),
            ("a", None, "1"),
            ("a", "", "1"),
            ("a", "01/02/2020", "1"),  # not ISO 8601, no date_format
            ("a", "2020-01-02", None),
            ("a", "2020-01-02", " "),
            ("a", "2020-01-02", "1,5"),
            ("a", "2020-01-02", "inf"),
            ("a", "2020-01-02", "NaN"),
            ("a", "2020-01-02", "-1e15"),
            ("a", "2020-01-02", "-3.5"),  # a return: kept
        ]
    )
    result = summarise(data, freq="D")
    assert result.rejects["reason"].tolist() == [
        "missing customer id",
        "missing customer id",
        "missing date",
        "missing date",
        "unparseable date",
        "missing amount",
        "missing amount",
        "non-numeric amount",
        "non-finite amount",
        "non-finite amount",
        "amount out of range",
    ]
    assert result.rejects["row"].tolist() == list(range(2, 13))
    assert result.summary.loc["a"].to_dict() == {
        "frequency": 1,
        "recency": 1.0,
        "T": 1.0,
        "monetary_value": -3.5,
    }


def test_no_usable_rows_raises_with_counts() -> None:
    data = frame([("a", "01/01/1997", 1.0), ("b", "02/01/1997", 2.0)])
    with pytest.raises(
        InputError, match=r"2 of 2 input rows rejected: 2 unparseable date.*date_format"
    ):
        summarise(data)
    got = rfm_summary(data, date_format="%d/%m/%Y", freq="D")
    assert got["T"].tolist() == [1.0, 0.0]


def test_date_format_reads_compact_dates() -> None:
    data = frame([("a", 19970101, 1.0), ("a", 19970108, 2.0)])
    got = rfm_summary(data, date_format="%Y%m%d")
    assert got.loc["a", "recency"] == 1.0


@pytest.mark.parametrize("as_file", [False, True])
def test_missing_column_lists_present_columns(tmp_path: Path, as_file: bool) -> None:
    data = pd.DataFrame({"customer_id": ["a"], "date": ["2020-01-01"], "value": [1.0]})
    source: object = data
    if as_file:
        source = tmp_path / "t.csv"
        data.to_csv(source, index=False)
    with pytest.raises(
        MissingColumnError, match=r"'amount'.*Columns present: 'customer_id', 'date', 'value'"
    ):
        rfm_summary(source)
    assert rfm_summary(source, amount_col="value")["monetary_value"].tolist() == [0.0]


def test_without_amount_there_is_no_monetary_value() -> None:
    data = frame([("a", "2020-01-01", "x"), ("a", "2020-01-08", "y")])
    got = rfm_summary(data, amount_col=None, calibration_end="2020-01-01")
    assert got.columns.tolist() == [
        "frequency",
        "recency",
        "T",
        "frequency_holdout",
        "duration_holdout",
    ]
    assert got.loc["a"].tolist() == [0, 0.0, 0.0, 1, 1.0]


def test_calibration_split_excludes_late_customers() -> None:
    data = frame(
        [
            ("a", "2020-01-01", 10.0),
            ("a", "2020-01-08", 20.0),  # calibration repeat
            ("a", "2020-01-15", 30.0),  # holdout
            ("a", "2020-01-15", 6.0),  # same holdout day
            ("a", "2020-01-22", 40.0),  # holdout
            ("b", "2020-01-10", 5.0),  # first purchase after calibration_end: left out
            ("c", "2020-01-29", 1.0),  # after observation_end: rejected
        ]
    )
    result = summarise(data, calibration_end="2020-01-08", observation_end="2020-01-22")
    got = result.summary
    assert got.index.tolist() == ["a"]
    assert got.loc["a"].to_dict() == {
        "frequency": 1,
        "recency": 1.0,
        "T": 1.0,
        "monetary_value": 20.0,
        "frequency_holdout": 2,
        "monetary_value_holdout": 38.0,
        "duration_holdout": 2.0,
    }
    assert got.attrs["excluded_customers"] == 1
    assert got.attrs["calibration_end"] == "2020-01-08"
    assert got.attrs["n_transactions"] == 4
    assert got.attrs["rows_after_observation_end"] == 1
    assert result.ledger.to_dict() == {
        "input_rows": 7,
        "used_rows": 6,
        "rejected_rows": 1,
        "by_reason": {"after observation end": 1},
    }


def test_inconsistent_dates_raise() -> None:
    data = frame([("a", "2020-01-01", 1.0), ("a", "2020-02-01", 1.0)])
    with pytest.raises(InputError, match="'observation_end' parameter must be on or after"):
        summarise(data, calibration_end="2020-01-20", observation_end="2020-01-10")
    with pytest.raises(InputError, match="'calibration_end' parameter must be on or before"):
        summarise(data, calibration_end="2020-03-01")  # after the last transaction
    with pytest.raises(InputError, match="No customer made a first purchase"):
        summarise(data, calibration_end="2019-12-31")
    with pytest.raises(InputError, match="'freq' parameter"):
        summarise(data, freq="Q")
    with pytest.raises(InputError, match="'observation_end' parameter must be a date"):
        summarise(data, observation_end="soon")


def test_empty_rejects_file_has_a_header(tmp_path: Path) -> None:
    result = summarise(frame([("a", "2020-01-01", 1.0)]))
    assert isinstance(result, SummaryResult) and result.ledger.rejected_rows == 0
    path = write_rejects(result, tmp_path / "rejects.csv")
    assert path.read_text().splitlines() == ["row,customer_id,date,amount,reason"]


# -- invariants ----------------------------------------------------------------------------


transactions = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "007", "7"]),
        st.integers(0, 60),  # day offset
        st.integers(0, 23),  # hour
        st.sampled_from([0.0, 1.25, 9.99, -2.5, 100.0]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=transactions, seed=st.integers(0, 2**16), cal=st.integers(0, 60))
def test_matches_pandas_and_ignores_row_order(rows: list, seed: int, cal: int) -> None:
    start = pd.Timestamp("2021-03-01")
    data = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "date": [start + pd.Timedelta(days=r[1], hours=r[2]) for r in rows],
            "amount": [r[3] for r in rows],
        }
    )
    obs = (start + pd.Timedelta(days=60)).date().isoformat()
    cal_end = (start + pd.Timedelta(days=cal)).date().isoformat()
    if data["date"].min().normalize() > pd.Timestamp(cal_end):
        return  # every customer would be excluded (tested above)
    got = rfm_summary(data, freq="W", observation_end=obs, calibration_end=cal_end)
    expected = pandas_rfm(data, days_per_unit=7.0, observation_end=obs, calibration_end=cal_end)
    assert_summary_matches(got, expected)
    shuffled = data.sample(frac=1.0, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no rejects, so no warning
        again = rfm_summary(shuffled, freq="W", observation_end=obs, calibration_end=cal_end)
    # Amounts are summed exactly, so row order cannot change a single bit.
    pd.testing.assert_frame_equal(again, got, check_exact=True)


def test_tracking_counts_repeat_occasions_per_period(cdnow_transactions: pd.DataFrame) -> None:
    result = summarise(cdnow_transactions, freq="W", calibration_end="1997-09-30")
    tracking = tracking_counts(result)
    # 1997-01-01 .. 1998-06-30 is 546 days = 78 weeks.
    assert len(tracking) == 78
    assert tracking["t"].tolist() == list(np.arange(1.0, 79.0))
    assert tracking["date"].iloc[[0, -1]].tolist() == ["1997-01-07", "1998-06-30"]
    summary = result.summary
    total = int(summary["frequency"].sum() + summary["frequency_holdout"].sum())
    assert int(tracking["actual"].sum()) == total
    # Independent count: week of each repeat occasion since 1997-01-01.
    occ = cdnow_transactions[["customer_id", "date"]].drop_duplicates()
    first = occ.groupby("customer_id")["date"].transform("min")
    week = (occ.loc[occ["date"] > first, "date"] - pd.Timestamp("1997-01-01")).dt.days // 7
    expected = week.value_counts().sort_index()
    np.testing.assert_array_equal(tracking["actual"].to_numpy(), expected.to_numpy())
