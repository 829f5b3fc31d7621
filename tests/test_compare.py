"""Choosing a purchase model: compare_models on CDNOW with and without a holdout period."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodel import BoundaryWarning, CLVModelError, FitError, InputError
from clvmodel.compare import ComparisonResult, compare_models
from clvmodel.evaluation import holdout_metrics
from clvmodel.models import MODELS, BetaGeoModel, ParetoNBDModel


def _calibration_holdout(log: pd.DataFrame, calibration_end: str, end: str) -> pd.DataFrame:
    """Weekly calibration/holdout summary: same-day purchases merged into one occasion."""
    cal_end, stop = pd.Timestamp(calibration_end), pd.Timestamp(end)
    days = log[["customer_id", "date"]].drop_duplicates()
    first = days.groupby("customer_id")["date"].min()
    days = days[days["customer_id"].isin(first.index[first <= cal_end])]
    cal = days[days["date"] <= cal_end].groupby("customer_id")["date"].agg(["min", "max", "count"])
    hold = days[(days["date"] > cal_end) & (days["date"] <= stop)].groupby("customer_id").size()
    out = pd.DataFrame(
        {
            "frequency": cal["count"] - 1,
            "recency": (cal["max"] - cal["min"]).dt.days / 7,
            "T": (cal_end - cal["min"]).dt.days / 7,
        }
    )
    out["frequency_holdout"] = hold.reindex(out.index, fill_value=0)
    out["duration_holdout"] = (stop - cal_end).days / 7
    out.attrs["time_unit"] = "W"
    return out


@pytest.fixture(scope="module")
def summary(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    """All 23,570 CDNOW customers: 39 weeks of calibration, 39 weeks of holdout."""
    return _calibration_holdout(cdnow_transactions, "1997-09-30", "1998-06-30")


@pytest.fixture(scope="module")
def result(summary: pd.DataFrame) -> ComparisonResult:
    return compare_models(summary)


def test_table_has_one_row_per_candidate_with_fit_and_holdout_statistics(summary, result):
    table = result.table
    assert list(table.index) == ["bgnbd", "pnbd", "mbgnbd"]
    assert result.has_holdout and set(result.models) == {"bgnbd", "pnbd", "mbgnbd"}
    assert (table["error"] == "").all() and table["converged"].all()
    assert len(summary) == 23_570
    for key, model in result.models.items():
        row = table.loc[key]
        assert row["log_likelihood"] == pytest.approx(model.log_likelihood_)
        assert row["bic"] == pytest.approx(model.result_.bic)
        metrics = holdout_metrics(model, summary)
        for col in ("mae", "rmse", "actual_purchases", "predicted_purchases"):
            assert row[col] == pytest.approx(metrics[col]), col
    # The candidates were fitted on the calibration columns alone.
    alone = BetaGeoModel().fit(summary[["frequency", "recency", "T"]], time_unit="W")
    assert table.loc["bgnbd", "log_likelihood"] == pytest.approx(alone.log_likelihood_)


def test_ranks(result) -> None:
    table = result.table
    assert (
        table["rank_log_likelihood"].tolist()
        == table["log_likelihood"].rank(ascending=False).tolist()
    )
    assert table.loc[table["bic"].idxmin(), "rank_bic"] == 1
    assert table.loc[table["rmse"].idxmin(), "rank_rmse"] == 1


def test_choose_by_holdout_rmse(result) -> None:
    key, reason = result.choose()
    assert key == result.table["rmse"].idxmin()
    best, others = result.table.loc[key], result.table.drop(index=key)
    assert best["rmse"] < others["rmse"].min()
    assert reason.startswith(f"{key} predicts the holdout period best: RMSE {best['rmse']:.4f}")
    assert f"{best['actual_purchases']:,.0f}" in reason


def test_choose_by_bic_without_holdout(cdnow) -> None:
    result = compare_models(cdnow)
    assert not result.has_holdout and result.table["rmse"].isna().all()
    key, reason = result.choose()
    assert key == result.table["bic"].idxmin()
    assert "lowest BIC" in reason and "no holdout period" in reason
    second = result.table["bic"].drop(index=key).min()
    assert f"{second - result.table.loc[key, 'bic']:,.2f} below" in reason


def test_to_dict_is_json_ready(result) -> None:
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["chosen"] == result.choose()[0]
    assert [c["key"] for c in payload["candidates"]] == ["bgnbd", "pnbd", "mbgnbd"]
    assert payload["candidates"][0]["rmse"] == pytest.approx(result.table["rmse"].iloc[0])
    assert payload["has_holdout"] is True


class _Failing(ParetoNBDModel):
    name = "failing"

    def fit(self, data, **kwargs):  # type: ignore[override]
        raise FitError("Fitting failing did not converge: ABNORMAL", "ABNORMAL")


class _Warning(BetaGeoModel):
    name = "warning"

    def fit(self, data, **kwargs):  # type: ignore[override]
        warnings.warn("warning: estimate of a is on the boundary", BoundaryWarning, stacklevel=2)
        return super().fit(data, **kwargs)


def test_a_failed_candidate_is_reported_not_fatal(monkeypatch, cdnow) -> None:
    monkeypatch.setitem(MODELS, "failing", _Failing)
    monkeypatch.setitem(MODELS, "warning", _Warning)
    with pytest.warns(BoundaryWarning):
        result = compare_models(cdnow, models=["failing", "warning", "bgnbd"])
    table = result.table
    assert table.loc["failing", "error"] == "FitError: Fitting failing did not converge: ABNORMAL"
    assert np.isnan(table.loc["failing", "log_likelihood"])
    assert np.isnan(table.loc["failing", "rank_bic"])
    assert "BoundaryWarning: warning: estimate of a" in table.loc["warning", "warnings"]
    assert set(result.models) == {"warning", "bgnbd"}
    assert result.choose()[0] in {"warning", "bgnbd"}
    json.dumps(result.to_dict(), allow_nan=False)
    only = compare_models(cdnow, models=["failing"])
    with pytest.raises(CLVModelError, match=r"No candidate model could be fitted.*ABNORMAL"):
        only.choose()
    assert only.to_dict()["chosen"] is None


def test_bad_arguments_are_named(cdnow) -> None:
    with pytest.raises(InputError, match=r"purchase-model keys.*Got 'nope'"):
        compare_models(cdnow, models=["bgnbd", "nope"])
    with pytest.raises(InputError, match="Got 'gamma-gamma'"):
        compare_models(cdnow, models=["gamma-gamma"])
    with pytest.raises(InputError, match="at least one"):
        compare_models(cdnow, models=[])
    with pytest.raises(InputError, match="missing the column 'T'"):
        compare_models(cdnow.drop(columns="T"))


def test_the_summary_is_not_modified(cdnow) -> None:
    before = cdnow.copy()
    compare_models(cdnow, models=["bgnbd"])
    pd.testing.assert_frame_equal(cdnow, before)


def test_distinct_rows_with_weights_give_the_table_of_every_customer(summary, result) -> None:
    # What the run and the CLI pass for a log: distinct rows of the calibration and holdout
    # columns with their customer counts (collapsed by the engine, here by pandas).
    columns = ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]
    rows = summary.groupby(columns).size().rename("n").reset_index()
    rows = rows.sample(frac=1.0, random_state=0).reset_index(drop=True)  # any order
    rows.attrs["time_unit"] = "W"
    assert len(rows) < len(summary) / 2
    collapsed = compare_models(rows, weights="n")
    numbers = ["log_likelihood", "aic", "bic", "mae", "rmse"]
    numbers += ["actual_purchases", "predicted_purchases", "aggregate_error"]
    pd.testing.assert_frame_equal(
        collapsed.table[numbers], result.table[numbers], check_exact=False, rtol=1e-9
    )
    assert collapsed.choose()[0] == result.choose()[0]
    for key, model in collapsed.models.items():
        assert model.result_.to_dict()["n_customers"] == len(summary)
        for name, value in result.models[key].params_.items():
            assert model.params_[name] == pytest.approx(value, rel=1e-7), (key, name)
    with pytest.raises(InputError, match="weights"):
        compare_models(rows, weights=np.ones(3))
