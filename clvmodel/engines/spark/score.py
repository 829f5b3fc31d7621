"""Scoring a Spark summary in Spark: each partition runs the local engine's scoring.

Every partition of the summary goes through :func:`clvmodel.clv.score` in ``mapInPandas``
(Arrow batches in and out), so P(alive), expected purchases, expected spend and discounted
CLV come from the models' own pure prediction functions, exactly as in a local run: the
same inputs give the same bits, whichever partition a customer lands in. The fitted models
travel to the executors as plain parameters inside the pickled function (no Spark broadcast
is needed: a model is a few numbers). The output is written as a folder of Parquet part
files, one per partition (:func:`write_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...exceptions import InputError
from .sources import require_spark_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from ...models.base import PurchaseModel
    from ...models.gamma_gamma import GammaGammaModel
    from ...pipeline.scoring import BatchScorer
    from ...progress import Stage


def _spark_type(name: str, dtype: Any, summary: DataFrame) -> Any:
    from pyspark.sql import types as T

    if name in summary.columns:
        return summary.schema[name].dataType
    if pd.api.types.is_integer_dtype(dtype):
        return T.LongType()
    if pd.api.types.is_float_dtype(dtype):
        return T.DoubleType()
    if pd.api.types.is_bool_dtype(dtype):
        return T.BooleanType()
    return T.StringType()


def _schema(example: pd.DataFrame, summary: DataFrame) -> StructType:
    from pyspark.sql import types as T

    return T.StructType(
        [
            T.StructField(str(c), _spark_type(str(c), example[c].dtype, summary))
            for c in example.columns
        ]
    )


def score(
    summary: DataFrame,
    purchase_model: PurchaseModel,
    *,
    horizon: float,
    spend_model: GammaGammaModel | None = None,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    step: float = 1.0,
) -> DataFrame:
    """Scores of every customer of a Spark summary, as a (lazy) Spark DataFrame.

    The arguments and the columns are those of :func:`clvmodel.clv.score`. The time unit of
    the summary (:func:`clvmodel.spark.summary_attrs`) must be the models'.

    Raises
    ------
    InputError
        A missing column, a unit that differs from the models', or (when the scores are
        computed) a summary row that breaks the RFM rules or a prediction that is not
        finite.
    """
    from ...clv import score as local_score
    from ...spark import summary_attrs

    purchase_model._check_fitted()
    if spend_model is not None:
        spend_model._check_fitted()
    attrs = summary_attrs(summary)
    needed = list(dict.fromkeys([*purchase_model.columns, "monetary_value"]))
    if spend_model is None:
        needed.remove("monetary_value")
    require_spark_columns(summary, needed, what="summary")
    keep = [c for c in ("customer_id", *needed) if c in summary.columns]
    frame = summary.select(*[f"`{c}`" for c in keep])
    unit = attrs.get("time_unit")
    options = {
        "horizon": horizon,
        "spend_model": spend_model,
        "discount_rate": discount_rate,
        "margin": margin,
        "step": step,
    }

    def score_batch(batch: pd.DataFrame) -> pd.DataFrame:
        batch.attrs["time_unit"] = unit
        out = local_score(purchase_model, batch, **options)
        numbers = out.select_dtypes("number").to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(numbers)):
            raise InputError("A score is not finite: check the models and the summary.")
        return out

    example = score_batch(frame.limit(1).toPandas())
    schema = _schema(example, summary)

    def run(batches: Any) -> Any:
        for batch in batches:
            if len(batch):
                yield score_batch(batch)

    if not example.columns.size:
        raise InputError("Scoring produced no columns.")
    return frame.mapInPandas(run, schema)


def write_scores(scores: DataFrame, path: str, *, partition_by: tuple[str, ...] = ()) -> str:
    """Write scores as Parquet: a folder of part files (one per partition), replaced whole.

    Spark's committer writes into a temporary folder and moves the files into place when
    every task has succeeded (``_SUCCESS`` marks a complete folder), so a reader never sees
    a half-written result. ``partition_by`` names columns to partition the folder by.
    """
    writer = scores.write.mode("overwrite")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(path)
    return path


def scored_frame(summary: DataFrame, scorer: BatchScorer) -> DataFrame:
    """The pipeline's scores of a Spark summary, computed on the executors (lazy).

    Each Arrow batch of every partition goes through ``scorer`` in ``mapInArrow``: the same
    :class:`~clvmodel.pipeline.scoring.BatchScorer` call, on the same Arrow batches, as the
    local engine's streaming path, so the scores are the local ones bit for bit. The output
    schema is that of the scorer on the summary's first row (the summary's columns keep
    their types, the predictions are doubles).

    Raises
    ------
    InputError
        The summary has no row ("There are no customers to score.", as locally).
    """
    from pyspark.sql import types as T

    frame = summary.select(*[f"`{c}`" for c in scorer.inputs])
    first = _first_batch(frame)
    if first is None:
        raise InputError("There are no customers to score.")
    names = scorer(first).schema.names
    schema = T.StructType(
        [frame.schema[n] if n in frame.columns else T.StructField(n, T.DoubleType()) for n in names]
    )

    def run(batches: Any) -> Any:
        for batch in batches:
            if batch.num_rows:
                yield scorer(batch)

    return frame.mapInArrow(run, schema)


def _first_batch(frame: DataFrame) -> Any:
    """The first row of ``frame`` as a ``pyarrow.RecordBatch`` (None when empty)."""
    table = _arrow(frame.limit(1))
    return table.to_batches()[0] if table.num_rows else None


def score_to(
    summary: DataFrame,
    scorer: BatchScorer,
    path: Path,
    *,
    metadata: dict[str, str],
    stage: Stage | None = None,
    keep: Sequence[str] = (),
) -> tuple[int, dict[str, np.ndarray]]:
    """The Spark engine's half of the pipeline's scoring seam (see
    :meth:`clvmodel.engines.SummaryEngine.score_to`): scores computed on the executors
    (:func:`scored_frame`).

    ``DIR/scores.parquet`` is written by the executors as a folder of part files (one per
    partition, :func:`write_scores`; Spark's Parquet writer takes no key-value metadata, so
    the run id of the part files is their listing in ``run.json``, see
    :func:`clvmodel.rundir.check_run_folder`). A ``.csv`` path is one file, as the run-folder
    contract has it for CSV: the executors' score batches are streamed into it by the
    driver. Returns the rows written and the ``keep`` columns (read back from the files).
    """
    import pyarrow.dataset as ds

    from ...io import TableWriter
    from .session import clvmodel_errors

    scores = scored_frame(summary, scorer)
    with clvmodel_errors():
        if path.suffix == ".csv":
            table = _arrow(scores)
            with TableWriter(path, table.schema, metadata=metadata) as out:
                out.write(table)
        else:
            write_scores(scores, str(path))
            table = ds.dataset(path, format="parquet").to_table(columns=list(keep))
    if stage is not None:
        stage.advance(table.num_rows)
    return table.num_rows, {c: table.column(c).to_numpy() for c in keep}


def _arrow(frame: DataFrame) -> Any:
    """A Spark DataFrame on the driver as a ``pyarrow.Table``."""
    import pyarrow as pa

    if hasattr(frame, "toArrow"):  # Spark 4
        return frame.toArrow()
    return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)
