"""Model files: JSON round trip, schema checks, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clvmodel import BetaGeoModel, GammaGammaModel, ModelFileError, load_model, save_model
from clvmodel.exceptions import InputError
from clvmodel.io import atomic_write_text
from clvmodel.units import UNIT_DAYS, check_unit


@pytest.mark.parametrize("cls", [BetaGeoModel, GammaGammaModel])
def test_round_trip(tmp_path, _cdnow_master, cls) -> None:
    model = cls().fit(_cdnow_master)
    path = save_model(model, tmp_path / "m.json")
    payload = json.loads(path.read_text())
    for key in (
        "schema_version",
        "model",
        "time_unit",
        "params",
        "standard_errors",
        "log_likelihood",
        "n_customers",
        "clvmodel_version",
    ):
        assert key in payload
    assert payload["model"] == cls.name and payload["time_unit"] == "W"
    assert set(payload["params"]) == set(cls.param_names)
    back = load_model(path)
    assert type(back) is cls
    np.testing.assert_array_equal(back.params_, model.params_)
    np.testing.assert_array_equal(back.result_.covariance, model.result_.covariance)
    assert back.log_likelihood_ == model.log_likelihood_
    assert back.summary().equals(model.summary())


def test_file_errors(tmp_path, _cdnow_master) -> None:
    model = BetaGeoModel().fit(_cdnow_master)
    payload = model.to_dict()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**payload, "schema_version": 99}))
    with pytest.raises(ModelFileError, match="schema_version 99"):
        load_model(bad)
    bad.write_text(json.dumps({**payload, "model": "nope"}))
    with pytest.raises(ModelFileError, match="Unknown model 'nope'"):
        load_model(bad)
    bad.write_text("not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(bad)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.json")
    save_model(model, tmp_path / "ok.json")
    with pytest.raises(ModelFileError, match="expected a spend model"):
        load_model(tmp_path / "ok.json", expected="spend")


def test_atomic_write_keeps_old_file_on_failure(tmp_path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")

    class Boom(Exception):
        pass

    from clvmodel.io import atomic_path

    with pytest.raises(Boom), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise Boom
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_units() -> None:
    assert UNIT_DAYS["W"] == 7.0
    assert UNIT_DAYS["M"] == pytest.approx(30.4375)
    assert check_unit("w") == "W"
    with pytest.raises(ValueError, match="'freq' parameter must be one of"):
        check_unit("Q")


def test_top_level_api_is_lazy_about_duckdb() -> None:
    import subprocess
    import sys

    code = (
        "import sys, clvmodel; a = 'duckdb' in sys.modules; f = clvmodel.rfm_summary; "
        "print(a, 'duckdb' in sys.modules, f.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.split() == ["False", "True", "clvmodel.data"]


def test_top_level_api_is_complete_and_imported_on_first_use() -> None:
    import subprocess
    import sys

    code = (
        "import sys, clvmodel.cli\n"
        "heavy = ['pandas', 'numpy', 'scipy', 'pyarrow', 'duckdb', 'clvmodel.models']\n"
        "print(*[m for m in heavy if m in sys.modules] or ['none'])\n"
        "import clvmodel, clvmodel.models\n"
        "from clvmodel import BetaGeoModel\n"
        "print(BetaGeoModel is clvmodel.models.BetaGeoModel is clvmodel.BetaGeoModel)\n"
        "print(*[n for n in clvmodel.__all__ if getattr(clvmodel, n, None) is None] or ['all'])\n"
        "print(*sorted(set(clvmodel.__all__) - set(dir(clvmodel))) or ['listed'])\n"
        "ns = {}; exec('from clvmodel import *', ns)\n"
        "print(*sorted(set(clvmodel.__all__) - set(ns)) or ['star'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    # The command's start loads none of the heavy packages; every public name resolves.
    assert result.stdout.split("\n")[:5] == ["none", "True", "all", "listed", "star"], result


class _Scorer:
    """Stands in for BatchScorer: a batch's scores are its ``x`` doubled; raises on
    ``fail_at`` (a batch number)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at, self.seen = fail_at, 0

    def __call__(self, batch):  # type: ignore[no-untyped-def]
        import pyarrow as pa

        self.seen += 1
        if self.seen == self.fail_at:
            raise InputError("scoring failed")
        doubled = pa.array(batch.column("x").to_numpy() * 2.0)
        return pa.RecordBatch.from_arrays(
            [batch.column("customer_id"), doubled], ["customer_id", "clv"]
        )


def _batches(n: int, size: int):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    for start in range(0, n, size):
        ids = [f"c{i}" for i in range(start, min(n, start + size))]
        x = np.arange(start, start + len(ids), dtype=np.float64)
        yield pa.RecordBatch.from_arrays([pa.array(ids), pa.array(x)], ["customer_id", "x"])


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_scores_are_written_in_order_beside_the_scoring(tmp_path, suffix: str) -> None:
    from clvmodel.pipeline.scoring import score_to_file

    path = tmp_path / f"scores{suffix}"
    n, kept = score_to_file(
        _batches(1003, 100), _Scorer(), path, metadata={"k": "v"}, keep=("clv",), expected_rows=1003
    )
    table = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    assert n == 1003 and table["customer_id"].tolist() == [f"c{i}" for i in range(1003)]
    assert table["clv"].tolist() == [2.0 * i for i in range(1003)]
    assert kept["clv"].tolist() == table["clv"].tolist()


def test_a_failed_batch_or_write_leaves_no_scores_file(tmp_path, monkeypatch) -> None:
    from clvmodel.io import TableWriter
    from clvmodel.pipeline.scoring import score_to_file

    path = tmp_path / "scores.parquet"
    with pytest.raises(InputError, match="scoring failed"):
        score_to_file(_batches(1000, 100), _Scorer(fail_at=4), path, metadata={})
    assert list(tmp_path.iterdir()) == []

    real, calls = TableWriter.write, []

    def failing_write(self, batch):  # type: ignore[no-untyped-def]
        calls.append(batch.num_rows)
        if len(calls) == 3:
            raise OSError("disk full")
        real(self, batch)

    monkeypatch.setattr(TableWriter, "write", failing_write)
    with pytest.raises(OSError, match="disk full"):  # raised in the main thread
        score_to_file(_batches(1000, 100), _Scorer(), path, metadata={})
    assert list(tmp_path.iterdir()) == [] and len(calls) == 3  # no write after the failure
    # A write that fails while the next batch's scoring fails too: the write's error (the
    # first) is raised, with the scoring's as its context.
    calls.clear()
    with pytest.raises(OSError, match="disk full") as caught:
        score_to_file(_batches(1000, 100), _Scorer(fail_at=4), path, metadata={})
    assert "scoring failed" in str(caught.value.__context__)
    assert list(tmp_path.iterdir()) == []
