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
