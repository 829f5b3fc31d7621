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
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .exceptions import ModelFileError, UsageError

SCHEMA_VERSION = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched. A symlink
    is written through (its target is replaced, the link kept); anything that exists and is
    not a regular file (a folder, a device, a FIFO, a socket) is refused with
    :class:`UsageError` rather than replaced.
    """
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    if target.exists() or target.is_symlink():
        mode = target.lstat().st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise UsageError(f"The output {str(path)!r} is {kind}; refusing to replace it.")
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
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically.

    ``tmp_path`` is in the same folder and ends in ``path``'s suffix, for writers that
    choose the format by it (DuckDB's and Spark's summary files).
    """
    with atomic_path(path) as tmp:
        target = tmp.with_name(tmp.name + Path(path).suffix)
        try:
            writer(target)
            target.replace(tmp)
        finally:
            target.unlink(missing_ok=True)
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


class TableWriter:
    """Stream Arrow record batches into one Parquet or CSV file, atomically.

    Parquet goes through :class:`pyarrow.parquet.ParquetWriter` (snappy, a row group per
    batch), CSV through :class:`pyarrow.csv.CSVWriter`; only the batch being
    written is in memory. The file appears under its name when :meth:`close` succeeds; on
    an error (or :meth:`abort`) the partial file is removed. ``metadata`` becomes Parquet
    key-value metadata (e.g. ``clvmodel.run_id``). Use as a context manager::

        with TableWriter(path, schema, metadata={"clvmodel.run_id": run_id}) as out:
            for batch in batches:
                out.write(batch)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: Any,
        *,
        metadata: dict[str, str] | None = None,
    ) -> None:
        import pyarrow as pa

        self.path = Path(path)
        self.format = table_format(self.path)
        self.schema = schema.with_metadata(metadata or {}) if metadata else schema
        self.rows = 0
        self._context = atomic_path(self.path)
        self._tmp = self._context.__enter__()
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                self._writer: Any = pq.ParquetWriter(
                    self._tmp,
                    self.schema,
                    compression="snappy",
                    # Dictionaries pay off only for counts; on ids and floats they cost time.
                    use_dictionary=[f.name for f in schema if pa.types.is_integer(f.type)],
                )
            else:
                import pyarrow.csv as pcsv

                self._writer = pcsv.CSVWriter(self._tmp, pa.schema(list(schema)))
        except BaseException as exc:
            self._context.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def write(self, batch: Any) -> None:
        """Append one ``pyarrow.RecordBatch`` (or Table) with the writer's schema."""
        import pyarrow as pa

        if isinstance(batch, pa.RecordBatch):
            batch = pa.Table.from_batches([batch])
        self._writer.write_table(batch.cast(self.schema) if self.format == "parquet" else batch)
        self.rows += batch.num_rows

    def close(self) -> Path:
        """Finish the file and move it into place."""
        self._writer.close()
        self._context.__exit__(None, None, None)
        return self.path

    def abort(self, exc: BaseException | None = None) -> None:
        """Drop the partial file."""
        try:
            self._writer.close()
        finally:
            if exc is None:
                exc = RuntimeError("aborted")
            with contextlib.suppress(type(exc)):
                self._context.__exit__(type(exc), exc, exc.__traceback__)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)


def table_format(path: str | os.PathLike[str]) -> str:
    """``"parquet"`` or ``"csv"`` from a data file's name; anything else is refused."""
    name = Path(path).name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    raise ModelFileError(f"Data files must end in .csv or .parquet. Got {str(path)!r}.")


def read_table(directory: str | os.PathLike[str], stem: str) -> Any:
    """Read ``DIR/STEM.parquet`` (preferred) or ``DIR/STEM.csv`` of a run folder as a
    DataFrame, ``customer_id`` as text; :class:`FileNotFoundError` when neither exists."""
    import pandas as pd

    folder = Path(directory)
    parquet, csv = folder / f"{stem}.parquet", folder / f"{stem}.csv"
    if parquet.exists():  # a file, or a folder of part files (the Spark engine's)
        frame = pd.read_parquet(parquet)
        if "customer_id" in frame.columns:
            frame["customer_id"] = frame["customer_id"].astype(str)
        return frame
    if csv.is_file():
        return pd.read_csv(csv, dtype={"customer_id": str})
    raise FileNotFoundError(f"{parquet} (or {csv.name})")


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
    if not isinstance(path, str | os.PathLike):
        raise ModelFileError(
            f"A model file path must be a str or path-like. Got {type(path).__name__} instead."
        )
    name = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise ModelFileError(f"Model file {name!r} does not exist.") from None
    except IsADirectoryError:
        raise ModelFileError(f"Model file {name!r} is a directory, not a file.") from None
    except PermissionError:
        raise ModelFileError(f"Model file {name!r} cannot be read (permission denied).") from None
    except UnicodeDecodeError:
        raise ModelFileError(
            f"Model file {name!r} is not UTF-8 JSON (a pickle or other binary file?); "
            f"clvmodel model files are JSON."
        ) from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"Model file {name!r} is not valid JSON: {exc}.") from None
    except RecursionError:
        raise ModelFileError(
            f"Model file {name!r} is nested too deeply to be a model file."
        ) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_field(payload: dict[str, Any], key: str, ok: Callable[[Any], bool], rule: str) -> None:
    if key in payload and not ok(payload[key]):
        raise ModelFileError(f"field {key!r} must be {rule}. Got {_short(payload[key])} instead.")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _coefficient_names(payload: dict[str, Any]) -> tuple[str, ...]:
    """The covariate coefficients a model file must hold (none without covariates)."""
    block = payload.get("covariates")
    if block is None:
        return ()
    if not isinstance(block, dict) or not all(
        isinstance(block.get(k, []), list) and all(isinstance(c, str) for c in block.get(k, []))
        for k in ("purchase", "dropout", "equal")
    ):
        raise ModelFileError("covariates must be an object of column-name lists.")
    from .covariates import CovariateDesign

    try:
        return CovariateDesign.from_dict(block).free_names
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"covariates is not a valid covariate design: {exc}") from None


def validate_model_payload(payload: Any, param_names: tuple[str, ...]) -> None:
    """Check a model file's content against the schema; :class:`ModelFileError` if it breaks it.

    Parameters must be exactly ``param_names`` and the coefficients of the file's covariate
    design (if any); parameters are finite positive numbers, coefficients finite numbers
    (JSON ``true``, strings, ``NaN`` and ``Infinity`` are refused); the optional fields have
    their documented types, and the covariance is a ``k x k`` matrix of numbers or nulls.
    """
    if not isinstance(payload, dict):
        raise ModelFileError("the file does not hold a JSON object.")
    coefficients = _coefficient_names(payload)
    names = (*param_names, *coefficients)
    params = payload.get("params")
    if not isinstance(params, dict) or set(params) != set(names):
        got = sorted(params) if isinstance(params, dict) else _short(params)
        raise ModelFileError(f"params must be an object with keys {list(names)}. Got {got}.")
    for key, value in params.items():
        positive = key not in coefficients
        if not (_is_number(value) and math.isfinite(value) and (value > 0 or not positive)):
            rule = "a finite number > 0" if positive else "a finite number"
            raise ModelFileError(f"parameter {key!r} must be {rule}. Got {_short(value)} instead.")
    param_names = names
    k = len(param_names)

    def number_or_null(v: Any) -> bool:
        return v is None or (_is_number(v) and not math.isinf(v))

    def matrix(v: Any) -> bool:
        return v is None or (
            isinstance(v, list)
            and len(v) == k
            and all(isinstance(row, list) and len(row) == k for row in v)
            and all(number_or_null(x) for row in v for x in row)
        )

    def by_param(v: Any) -> bool:
        return v is None or (
            (isinstance(v, dict) and set(v) <= set(param_names))
            and all(number_or_null(x) for x in v.values())
        )

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    _check_field(payload, "model", lambda v: isinstance(v, str), "a string")
    _check_field(payload, "kind", lambda v: v is None or isinstance(v, str), "a string")
    _check_field(payload, "time_unit", lambda v: v is None or isinstance(v, str), "a string")
    _check_field(payload, "covariance", matrix, f"a {k} x {k} array of numbers or nulls")
    _check_field(payload, "standard_errors", by_param, "an object of numbers by parameter")
    for key in ("log_likelihood", "aic", "bic"):
        _check_field(payload, key, number_or_null, "a number or null")
    _check_field(payload, "n_customers", count, "an integer >= 0")
    _check_field(payload, "n_iter", count, "an integer >= 0")
    _check_field(payload, "converged", lambda v: isinstance(v, bool), "true or false")
    _check_field(payload, "optimizer_message", lambda v: isinstance(v, str), "a string")
    _check_field(
        payload,
        "notes",
        lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
        "a list of strings",
    )
    _check_field(
        payload,
        "conf_int_95",
        lambda v: (
            isinstance(v, dict)
            and all(
                isinstance(p, list) and len(p) == 2 and all(number_or_null(x) for x in p)
                for p in v.values()
            )
        ),
        "an object of [lower, upper] pairs",
    )


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
    from .models import get_model_class, model_from_dict

    payload = read_json(path)
    if not isinstance(payload, dict):
        raise ModelFileError(f"Model file {str(path)!r} does not hold a JSON object.")
    try:
        validate_model_payload(payload, get_model_class(str(payload.get("model"))).param_names)
        return model_from_dict(payload, expected=expected)
    except ModelFileError as exc:
        raise ModelFileError(f"Model file {str(path)!r}: {exc}") from None
