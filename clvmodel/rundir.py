"""Run folders written atomically, and the check that a folder holds one run.

``clvmodel run --out DIR`` writes into a temporary sibling folder (``.DIR.clvmodel-PID-ID``)
and swaps it in only when every file is written: a run killed or failing part-way leaves
``DIR`` as it was (the previous run, or nothing), never a mix. On Linux the swap is one
``renameat2(RENAME_EXCHANGE)`` call; elsewhere two renames, the previous run kept under a
sibling name until the new one is in place.

Every run has a ``run_id`` (uuid4 hex) written into ``run.json`` and every other JSON file
of the run, into the Parquet key-value metadata ``clvmodel.run_id``, and ``run.json`` lists
the size of every data file (``files``). :func:`check_run_folder` refuses a folder whose
files disagree (see the run-folder contract in the README). A Parquet table may be a folder
of part files (``scores.parquet/`` of the Spark engine): each part is listed in ``files``,
and a part that is not listed belongs to another run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .exceptions import InputError

#: Marks the temporary sibling folders of a run in progress: ``.NAME.clvmodel-PID-ID``.
STAGE_TAG = ".clvmodel-"
_RENAME_EXCHANGE = 2


def run_dir_name(path: str | os.PathLike[str]) -> str:
    """The name of the run folder ``path`` will be: ``NAME`` for the temporary sibling
    ``.NAME.clvmodel-PID-ID`` a run writes into (:func:`staged_run_dir`; the report of
    ``clvmodel run`` is rendered there), else the folder's own name."""
    name = Path(path).resolve().name
    head, tag, tail = name.rpartition(STAGE_TAG)
    pid, _, run_id = tail.partition("-")
    if tag and head.startswith(".") and len(head) > 1 and pid.isdigit() and run_id:
        return head[1:]
    return name


def new_run_id() -> str:
    """A fresh run id (uuid4 hex)."""
    return uuid.uuid4().hex


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2``); False when not available."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(target: Path) -> None:
    """Delete temporary siblings left by runs that were killed (their process is gone)."""
    prefix = f".{target.name}{STAGE_TAG}"
    for sibling in target.parent.glob(f"{prefix}*"):
        pid_text = sibling.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(sibling, ignore_errors=True)


@contextlib.contextmanager
def staged_run_dir(out_dir: str | os.PathLike[str], run_id: str) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``out_dir``; on success swap it into place.

    On an exception (or a kill) ``out_dir`` keeps its previous content; the temporary
    folder is removed (a killed run's folder is removed by the next run into ``out_dir``).

    Raises
    ------
    InputError
        When ``out_dir`` exists and is not a folder.
    """
    target = Path(os.path.realpath(out_dir)) if os.path.islink(out_dir) else Path(out_dir)
    if target.exists() and not target.is_dir():
        raise InputError(f"--out {str(target)!r} exists and is not a folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target)
    stage = target.parent / f".{target.name}{STAGE_TAG}{os.getpid()}-{run_id}"
    stage.mkdir()
    try:
        yield stage
        if target.exists():
            if not _exchange(stage, target):
                old = target.parent / f".{target.name}{STAGE_TAG}{os.getpid()}-{run_id}-old"
                os.replace(target, old)
                os.replace(stage, target)
                stage = old
        else:
            os.replace(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def stamp_run(run_dir: str | os.PathLike[str], run_id: str) -> dict[str, int]:
    """Write ``run_id`` into every JSON file of ``run_dir`` except ``run.json``.

    Returns the sizes of the data files (CSV, Parquet) by relative path, for ``run.json``'s
    ``files``. Files are rewritten atomically.
    """
    from .io import write_json

    root = Path(run_dir)
    sizes: dict[str, int] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".json" and rel != "run.json":
            payload = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(payload, dict) and payload.get("run_id") != run_id:
                payload["run_id"] = run_id
                write_json(path, payload)
        elif path.suffix in {".csv", ".parquet", ".gz"}:
            sizes[rel] = path.stat().st_size
    return sizes


def restamp(run_dir: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Record the size of data file ``path``, rewritten after the run by a later command
    (the report's customer lists), in ``run.json``'s ``files`` where the run listed it, so
    that :func:`check_run_folder` still accepts the folder (another version may encode the
    same rows in a file of another size). ``run.json`` is rewritten atomically."""
    root = Path(run_dir)

    def edit(run: dict[str, Any]) -> bool:
        files = run.get("files")
        rel = Path(path).relative_to(root).as_posix()
        if not isinstance(files, dict) or rel not in files:
            return False
        size = Path(path).stat().st_size
        if files[rel] == size:
            return False
        files[rel] = size
        return True

    _edit_run_json(root, edit)


def note_report_written(run_dir: str | os.PathLike[str]) -> None:
    """Record in ``run.json`` that the report is now written, where the run recorded that it
    was not (``report.written`` false: not enough memory then). ``run.json`` is rewritten
    atomically."""

    def edit(run: dict[str, Any]) -> bool:
        report = run.get("report")
        if not (isinstance(report, dict) and report.get("written") is False):
            return False
        run["report"] = {"written": True}
        return True

    _edit_run_json(Path(run_dir), edit)


def _edit_run_json(root: Path, edit: Callable[[dict[str, Any]], bool]) -> None:
    """Apply ``edit`` to ``root/run.json`` and rewrite it atomically when ``edit`` says it
    changed something; a missing or unreadable ``run.json`` is left as it is."""
    from .io import write_json

    run_json = root / "run.json"
    try:
        run = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return  # no readable run.json: nothing recorded, nothing to keep in step
    if isinstance(run, dict) and edit(run):
        write_json(run_json, run)


def _parquet_run_id(path: Path) -> str | None:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    value = meta.get(b"clvmodel.run_id")
    return value.decode() if value else None


def check_run_folder(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``run.json`` and refuse a folder whose files come from different runs.

    A folder without a ``run_id`` (written before run ids) is accepted as it is.

    Returns
    -------
    dict
        The content of ``run.json``.

    Raises
    ------
    InputError
        ``run.json`` is missing or not a JSON object, or a file of the folder carries
        another run id, or a data file listed in ``run.json`` is missing or has another size.
    """
    root = Path(run_dir)
    path = root / "run.json"
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{root} is not a run folder: it has no run.json.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{path} is not a readable run.json: {exc}.") from None
    if not isinstance(run, dict):
        raise InputError(f"{path} must hold a JSON object. Got {type(run).__name__} instead.")
    run_id = run.get("run_id")
    if run_id is None:
        return run
    mixed: list[str] = []
    for file in sorted(root.rglob("*")):
        if not file.is_file() or file.name.startswith(".") or file == path:
            continue
        rel = file.relative_to(root).as_posix()
        other: Any = run_id
        if file.suffix == ".json":
            try:
                payload = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                payload = None
            other = payload.get("run_id") if isinstance(payload, dict) else None
        elif file.suffix == ".parquet" and file.parent.suffix == ".parquet":
            # A part file of a folder written by Spark (``scores.parquet/part-*.parquet``):
            # Spark writes no key-value metadata; the part belongs to the run that lists it.
            other = run_id if rel in (run.get("files") or {}) else None
        elif file.suffix == ".parquet":
            try:
                other = _parquet_run_id(file)
            except Exception:
                other = None
        if other != run_id:
            mixed.append(rel)
    for rel, size in (run.get("files") or {}).items():
        file = root / rel
        if not file.is_file() or file.stat().st_size != size:
            mixed.append(rel)
    if mixed:
        raise InputError(
            f"{root} mixes files of different runs: {len(mixed)} file(s) do not belong to run "
            f"{run_id} ({', '.join(mixed[:5])}); run `clvmodel run` again."
        )
    return run
