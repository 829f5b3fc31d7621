"""The CLI with covariates and intervals (issue 11, point 5; acceptance 6), in-process."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodel.cli import ExitStatus, main

DATA = Path(__file__).parent / "data" / "apparel_staticcov_cbs.csv"


def run(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """The apparel summary without its covariates, and a covariate file keyed by id."""
    frame = pd.read_csv(DATA)
    summary = tmp_path / "summary.csv"
    frame.drop(columns=["gender", "channel"]).rename(columns={"customer": "customer_id"}).to_csv(
        summary, index=False
    )
    cov = tmp_path / "cov.csv"
    frame[["customer", "gender", "channel"]].rename(columns={"customer": "customer_id"}).sample(
        frac=1.0, random_state=1
    ).to_csv(cov, index=False)
    return summary, cov


def test_fit_and_score_with_covariates_and_intervals(tmp_path: Path, files) -> None:
    summary, cov = files
    model_file = tmp_path / "pnbd.json"
    code, out, err = run(
        "fit", summary, "--model", "pnbd", "--out", model_file, "--covariates", cov,
        "--purchase-covariates", "gender,channel", "--dropout-covariates", "gender,channel",
    )  # fmt: skip
    assert code == ExitStatus.OK, err
    assert "purchase:gender" in out and "p_value" in out
    payload = json.loads(model_file.read_text())
    assert payload["covariates"]["purchase"] == ["gender", "channel"]
    assert len(payload["covariance"]) == 8
    # CLVTools' log-likelihood (tests/test_clvtools_covariates.py), to its printed digits.
    assert payload["log_likelihood"] == pytest.approx(-5821.0627, abs=1e-4)

    scores = tmp_path / "scores.csv"
    code, _, err = run(
        "score", summary, "--model", model_file, "--horizon", 52, "--out", scores,
        "--covariates", cov, "--intervals", 0.9,
    )  # fmt: skip
    assert code == ExitStatus.OK, err
    assert "total expected_purchases" in err and "90% interval" in err
    frame = pd.read_csv(scores)
    assert len(frame) == 600
    for name in ("p_alive", "expected_purchases"):
        lo, hi = frame[f"{name}_lower"], frame[f"{name}_upper"]
        assert (lo <= frame[name] + 1e-12).all() and (frame[name] <= hi + 1e-12).all()
    # The covariates change the prediction: same history, other covariates, other value.
    with_cov = pd.read_csv(DATA)
    pairs = with_cov.groupby(["frequency", "recency", "T"])[["gender", "channel"]].nunique()
    assert (pairs.max(axis=1) > 1).any()
    assert frame.groupby(["frequency", "recency", "T"])["expected_purchases"].nunique().max() > 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.iloc[:-25], "25 of 600 customers have no row in the covariate file"),
        (
            lambda c: c.assign(gender=c["gender"].where(c.index % 100 != 0)),
            r"6 missing or infinite value\(s\) of 600 rows \(gender: 6\)",
        ),
        (lambda c: c.assign(gender=1.0), r"one value for all 600 customers: \['gender'\]"),
        (
            lambda c: c.assign(channel=1.0 - c["gender"]),
            "'channel' is a linear combination of",
        ),
        (
            lambda c: c.assign(gender=np.where(c["gender"] > 0, "f", "m")),
            r"not numeric: \['gender'\]",
        ),
        (lambda c: pd.concat([c, c.iloc[:3]]), "3 repeated customer id"),
    ],
    ids=["missing-ids", "nan", "constant", "collinear", "non-numeric", "duplicates"],
)
def test_bad_covariate_files_get_one_line_with_counts(tmp_path: Path, files, change, message):
    summary, cov = files
    bad = tmp_path / "bad.csv"
    change(pd.read_csv(cov)).to_csv(bad, index=False)
    code, _, err = run(
        "fit", summary, "--model", "bgnbd", "--out", tmp_path / "m.json", "--covariates", bad,
        "--purchase-covariates", "gender,channel",
    )  # fmt: skip
    assert code == ExitStatus.INPUT_ERROR
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "m.json").exists()


def test_covariate_usage_errors(tmp_path: Path, files) -> None:
    summary, cov = files
    code, _, err = run(
        "fit", summary, "--model", "gamma-gamma", "--out", tmp_path / "m.json",
        "--purchase-covariates", "gender",
    )  # fmt: skip
    assert code == ExitStatus.INPUT_ERROR and "bgnbd, pnbd and mbgnbd" in err
    code, _, err = run(
        "fit", summary, "--model", "bgnbd", "--out", tmp_path / "m.json", "--covariates", cov
    )
    assert code == ExitStatus.INPUT_ERROR and "--purchase-covariates" in err
