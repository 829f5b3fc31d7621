"""Model files: JSON round trip, schema checks, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clvmodel import BetaGeoModel, GammaGammaModel, ModelFileError, load_model, save_model
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
