"""Finding or starting the SparkSession, and a one-line error when Spark cannot run here.

An active session (a Databricks notebook, a ``spark-submit`` job, a test fixture) is used
as it is; otherwise one is built from :class:`SparkOptions`. Before building one, the
``pyspark`` package and a Java runtime are looked for, so that a missing piece gives one
line saying how to install it rather than a Py4J stack trace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...exceptions import EngineUnavailableError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# pyspark's own notices about the pandas release it runs with (raised inside pyspark, about
# pyspark's code, nothing a clvmodel user can act on); only these two are silenced.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
warnings.filterwarnings("ignore", message="The copy keyword is deprecated", module=r"pyspark\.")

INSTALL_PYSPARK = "pip install 'clvmodel[spark]'"
INSTALL_JAVA = (
    "install a Java 17+ runtime (e.g. 'apt-get install openjdk-17-jre-headless', or "
    "'sh scripts/ensure-java.sh' in a clone) or set JAVA_HOME"
)


@dataclass(frozen=True)
class SparkOptions:
    """How to build a SparkSession when none is active.

    Attributes
    ----------
    master : str
        Spark master URL: ``local[*]`` (all cores of this machine), ``local[2]``,
        ``spark://host:7077``, ``yarn``, ...
    shuffle_partitions : int, optional
        ``spark.sql.shuffle.partitions``; ``None``: four per core on a ``local`` master
        (:func:`local_partitions`), Spark's default (200) elsewhere, which suits a cluster.
        The summary's partitions are the scoring tasks and the part files of
        ``scores.parquet/``: on one machine, 200 tasks of Python workers cost far more than
        they parallelise.
    driver_memory : str, optional
        ``spark.driver.memory`` (e.g. ``"2g"``); only effective when the JVM is started here.
    ui : bool
        Whether to start the Spark web UI.
    app_name : str
        Name shown in the cluster manager.
    conf : dict
        Any other Spark settings, e.g. ``{"spark.executor.memory": "4g"}``.
    """

    master: str = "local[*]"
    shuffle_partitions: int | None = None
    driver_memory: str | None = None
    ui: bool = False
    app_name: str = "clvmodel"
    conf: dict[str, str] = field(default_factory=dict)


def local_partitions(master: str) -> int | None:
    """Shuffle partitions for a ``local`` master: four per core (``local``: one core,
    ``local[N]`` / ``local[N,F]``: N, ``local[*]``: every core); ``None`` for any other."""
    if master == "local":
        return 4
    if not (master.startswith("local[") and master.endswith("]")):
        return None
    cores = master[len("local[") : -1].split(",")[0].strip()
    if cores == "*":
        return 4 * (os.cpu_count() or 1)
    return 4 * int(cores) if cores.isdigit() and int(cores) > 0 else None


def require_pyspark() -> None:
    """Raise :class:`EngineUnavailableError` when pyspark cannot be imported."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailableError(
            f"The Spark engine needs pyspark, which is not installed: {INSTALL_PYSPARK}."
        ) from exc


def _java_found() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home:
        return (Path(home) / "bin" / "java").is_file()
    return shutil.which("java") is not None


def active_session() -> SparkSession | None:
    """The active SparkSession, if any (without starting one)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def get_session(options: SparkOptions | None = None) -> SparkSession:
    """The active SparkSession, or a new one built from ``options``.

    A session built here uses UTC as its session time zone (dates of time-zone-aware
    timestamps are then UTC dates, as in the DuckDB engine); an active session keeps its own
    settings.

    Raises
    ------
    EngineUnavailableError
        pyspark is not installed, no Java runtime is found, or the JVM does not start.
    """
    session = active_session()
    if session is not None:
        return session
    if not _java_found():
        where = "JAVA_HOME points to no java" if os.environ.get("JAVA_HOME") else "no 'java'"
        raise EngineUnavailableError(
            f"The Spark engine needs Java, and {where} was found: {INSTALL_JAVA}."
        )
    from pyspark.sql import SparkSession

    opts = options or SparkOptions()
    builder = (
        SparkSession.builder.master(opts.master)
        .appName(opts.app_name)
        .config("spark.ui.enabled", str(opts.ui).lower())
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if opts.master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # Local workers run this interpreter, so they import the same clvmodel and numpy
        # (pyspark reads the variable when the context starts).
        os.environ["PYSPARK_PYTHON"] = sys.executable
    partitions = opts.shuffle_partitions or local_partitions(opts.master)
    if partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(partitions))
    if opts.driver_memory is not None:
        builder = builder.config("spark.driver.memory", opts.driver_memory)
    log_config = Path(__file__).with_name("log4j2.properties")
    if log_config.is_file():  # JVM warnings at start-up would drown the stage lines
        builder = builder.config(
            "spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log_config}"
        )
    for key, value in opts.conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: Py4J and pyspark raise various types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EngineUnavailableError(f"Spark did not start ({first}); {INSTALL_JAVA}.") from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


@contextlib.contextmanager
def clvmodel_errors() -> Iterator[None]:
    """Turn a clvmodel error raised inside a Spark task (it reaches the driver as a
    ``PythonException`` carrying the worker's traceback) back into that error, one line."""
    from pyspark.errors import PythonException

    from ... import exceptions

    try:
        yield
    except PythonException as exc:
        text = str(exc)
        for name in ("InputError", "FitError", "MissingColumnError"):
            marker = f"clvmodel.exceptions.{name}: "
            if marker in text:
                message = text.split(marker, 1)[1].strip().splitlines()[0]
                raise getattr(exceptions, name)(message) from exc
        raise
