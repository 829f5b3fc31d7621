"""Files: atomic writes, and model files as JSON (never pickle).

A model file holds ``schema_version``, ``model`` (the registry key), ``time_unit``,
``params`` and ``standard_errors`` under their literature names, ``log_likelihood``,
``n_customers``, ``clvmodel_version`` and the rest of the fit results. Writing goes to a
temporary file in the target folder and is renamed into place, so a reader never sees a
half-written file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .exceptions import ModelFileError

SCHEMA_VERSION = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give what open() would
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_frame(frame: Any, path: str | os.PathLike[str], *, index: bool = False) -> Path:
    """Write a DataFrame as CSV or Parquet (chosen by the file's suffix), atomically."""
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return atomic_write_with(path, lambda tmp: frame.to_parquet(tmp, index=index))
    if suffix in {".csv", ".gz"} or Path(path).name.lower().endswith(".csv.gz"):
        compression = "gzip" if suffix == ".gz" else None
        return atomic_write_with(
            path, lambda tmp: frame.to_csv(tmp, index=index, compression=compression)
        )
    raise ModelFileError(f"Output files must end in .csv, .csv.gz or .parquet. Got {str(path)!r}.")


def _plain(obj: Any) -> Any:
    """Turn numpy values into plain Python and non-finite floats into ``None`` (JSON null)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return _plain(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dump_json(obj: Any, fh: IO[str]) -> None:
    """Write ``obj`` as indented JSON, with NaN and infinities as ``null``."""
    json.dump(_plain(obj), fh, indent=2, allow_nan=False)
    fh.write("\n")


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` to ``path`` as JSON, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        dump_json(obj, fh)
    return Path(path)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, with a :class:`ModelFileError` naming the file when it is not JSON."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise ModelFileError(f"Model file {str(path)!r} does not exist.") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"Model file {str(path)!r} is not valid JSON: {exc}.") from None


def save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Save a fitted model to ``path`` as JSON, atomically.

    Parameters
    ----------
    model : clvmodel.models.base.BaseModel
        A fitted model.
    path : path-like
        Target file, conventionally ending in ``.json``.
    """
    return write_json(path, model.to_dict())


def load_model(path: str | os.PathLike[str], expected: str | None = None) -> Any:
    """Load a model saved by :func:`save_model`.

    Parameters
    ----------
    path : path-like
        The JSON model file.
    expected : str, optional
        Registry key (e.g. ``"bgnbd"``) or kind (``"purchase"``, ``"spend"``) the file must
        hold; a different one raises :class:`ModelFileError`.
    """
    from .models import model_from_dict

    payload = read_json(path)
    if not isinstance(payload, dict):
        raise ModelFileError(f"Model file {str(path)!r} does not hold a JSON object.")
    try:
        return model_from_dict(payload, expected=expected)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
