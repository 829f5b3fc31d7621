"""Fitting a model on a Spark summary: collapse in Spark, then the one fit path.

Customers with the same values of the model's columns contribute the same likelihood term,
so the summary is reduced in Spark to its distinct rows with their counts; a few hundred
thousand rows stand for tens of millions of customers. Up to :data:`DRIVER_ROWS_LIMIT`
distinct rows, the table comes to the driver and is fitted by
:meth:`~clvmodel.models.base.BaseModel.fit` with the counts as weights: the rows come in
the order the local fit collapses them (order of their first customer id), so the estimates
are those of a local fit on the same summary, bit for bit whenever the local fit collapses
too (it does when distinct rows are at most 80 % of the customers).

Above the limit the rows stay in Spark and the same optimiser runs on the driver with each
log-likelihood and gradient evaluation summed across partitions
(:class:`PartitionSums`, through the ``summed`` seam of
:func:`~clvmodel.models.base.maximize_likelihood`); a random sample of the distinct rows
gives the starting point and the warm start.

Why 5 million: the driver then holds the distinct rows (3 to 4 float64 columns plus
weights, ~40 bytes a row, 200 MB) and the likelihood's temporaries (about ten arrays of
that length, ~0.4 GB) — a fit in a 1 to 2 GB driver in tens of seconds. Each distributed
evaluation costs a Spark job (~0.1 to 1 s of scheduling), and a fit needs 50 to 150 of
them, so below a few million rows the driver is faster.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...exceptions import InputError
from ...validation import ID_COLUMN
from .sources import require_spark_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from ...models.base import BaseModel

#: Distinct rows up to which the fit table is brought to the driver (see the module notes).
DRIVER_ROWS_LIMIT = 5_000_000
#: Rows of the distinct-row sample used for the starting values on the distributed path.
SAMPLE_ROWS = 20_000
WEIGHTS = "weights"
_FIRST = "_clv_first"


def _grouped(summary: DataFrame, columns: tuple[str, ...], weights: Any) -> DataFrame:
    """Distinct rows of ``columns`` with ``weights`` (their count, or the sum of a weights
    column) and the first customer id of each (when the summary has ids)."""
    from pyspark.sql import functions as F

    if weights is not None and not isinstance(weights, str):
        raise InputError(
            "The 'weights' parameter must name a column when fitting a Spark DataFrame. "
            f"Got {type(weights).__name__} instead."
        )
    require_spark_columns(summary, [*columns, *([weights] if weights else [])])
    total = F.count(F.lit(1)) if weights is None else F.sum(F.col(f"`{weights}`"))
    aggs = [total.cast("double").alias(WEIGHTS)]
    if ID_COLUMN in summary.columns:
        aggs.append(F.min(ID_COLUMN).alias(_FIRST))
    return summary.groupBy(*[F.col(f"`{c}`") for c in columns]).agg(*aggs)


def collapsed(
    summary: DataFrame, columns: tuple[str, ...], weights: str | None = None
) -> pd.DataFrame:
    """The distinct rows of ``columns`` of a Spark summary with their ``weights``, on the
    driver, in the order of their first customer id (the index)."""
    grouped = _grouped(summary, columns, weights)
    order = _FIRST if _FIRST in grouped.columns else list(columns)
    table = grouped.orderBy(order).toPandas()
    if _FIRST in table.columns:
        table = table.set_index(_FIRST)
    table.index.name = ID_COLUMN
    return table


def fit_spark(
    model: BaseModel, data: DataFrame, *, weights: Any = None, time_unit: str | None = None
) -> BaseModel:
    """Fit ``model`` on a Spark summary (what ``model.fit(spark_frame)`` calls).

    Parameters
    ----------
    model : BaseModel
        The model to fit (its settings: initial values, iteration limit).
    data : pyspark.sql.DataFrame
        One row per customer (e.g. :func:`clvmodel.spark.summarise`'s summary), or distinct
        rows with ``weights`` naming the column of their counts.
    weights : str, optional
        Column of weights; default one per row.
    time_unit : str, optional
        Default: the summary's unit (:func:`clvmodel.spark.summary_attrs`).
    """
    from ...spark import summary_attrs

    unit = time_unit if time_unit is not None else summary_attrs(data).get("time_unit")
    grouped = _grouped(data, tuple(model.columns), weights)
    n_distinct = grouped.count()
    if n_distinct <= DRIVER_ROWS_LIMIT:
        table = collapsed(data, tuple(model.columns), weights)
        return model.fit(table, weights=WEIGHTS, time_unit=unit)
    return fit_distributed(model, grouped, unit, n_distinct)


class PartitionSums:
    """``Σ w ll`` and its gradient over the partitions of a Spark table of distinct rows.

    Each partition applies the model's own data preparation (``_fit_arrays``: support
    filters) and its pure log-likelihood to its rows and returns one row of partial sums;
    the driver adds them with :func:`math.fsum`, so the total does not depend on the order
    in which partitions finish.
    """

    def __init__(self, model: BaseModel, table: DataFrame) -> None:
        from pyspark import StorageLevel

        self.model = model
        self.k = len(model.param_names)
        self.table = table.persist(StorageLevel.MEMORY_AND_DISK)
        weights, used, rows = self._prepare()
        self.total_weight = used
        self.input_weight = weights
        self.n_rows = rows

    def _prepare(self) -> tuple[float, float, int]:
        """Input weight, fitted weight and row count, in one pass."""
        from pyspark.sql import types as T

        template = copy.deepcopy(self.model)

        def counts(batches: Any) -> Any:
            for batch in batches:
                w = batch[WEIGHTS].to_numpy(dtype=np.float64)
                _, used, _ = copy.deepcopy(template)._fit_arrays(batch, w)
                yield pd.DataFrame({"w": [w.sum()], "used": [used.sum()], "n": [len(w)]})

        schema = T.StructType(
            [
                T.StructField("w", T.DoubleType()),
                T.StructField("used", T.DoubleType()),
                T.StructField("n", T.LongType()),
            ]
        )
        rows = self.table.mapInPandas(counts, schema).collect()
        return (
            math.fsum(r.w for r in rows),
            math.fsum(r.used for r in rows),
            int(sum(r.n for r in rows)),
        )

    def __call__(self, theta: np.ndarray, gradient: bool) -> tuple[float, np.ndarray | None]:
        from pyspark.sql import types as T

        template = copy.deepcopy(self.model)
        loglik = type(self.model)._loglik
        params = np.asarray(theta, dtype=np.float64).copy()
        k = self.k

        def sums(batches: Any) -> Any:
            for batch in batches:
                w = batch[WEIGHTS].to_numpy(dtype=np.float64)
                arrays, used, _ = copy.deepcopy(template)._fit_arrays(batch, w)
                with np.errstate(all="ignore"):
                    if gradient:
                        ll, grad = loglik(params, *arrays, gradient=True)
                        g = grad @ used
                    else:
                        ll, g = loglik(params, *arrays), np.zeros(k)
                out = {"ll": [float(used @ ll)]}
                out.update({f"g{i}": [float(g[i])] for i in range(k)})
                yield pd.DataFrame(out)

        fields = [T.StructField("ll", T.DoubleType())]
        fields += [T.StructField(f"g{i}", T.DoubleType()) for i in range(k)]
        rows = self.table.mapInPandas(sums, T.StructType(fields)).collect()
        value = math.fsum(r.ll for r in rows)
        if not gradient:
            return value, None
        return value, np.array([math.fsum(r[f"g{i}"] for r in rows) for i in range(k)])

    def release(self) -> None:
        """Unpersist the table."""
        self.table.unpersist()


def fit_distributed(
    model: BaseModel, grouped: DataFrame, unit: str | None, n_distinct: int
) -> BaseModel:
    """The fit with the likelihood summed across partitions (distinct rows above the limit)."""
    from ...models.fitting import maximize_likelihood
    from ...units import check_unit

    unit = check_unit(unit, "time_unit") if unit is not None else None
    columns = [*model.columns, WEIGHTS]
    table = grouped.select(*[f"`{c}`" for c in columns])
    sums = PartitionSums(model, table)
    try:
        fraction = min(1.0, 2.0 * SAMPLE_ROWS / max(n_distinct, 1))
        sample = table.sample(fraction=fraction, seed=0).limit(SAMPLE_ROWS).toPandas()
        arrays, w, notes = model._fit_arrays(sample, sample[WEIGHTS].to_numpy(np.float64))
        excluded = round(sums.input_weight - sums.total_weight)
        notes = (
            [f"{excluded:,} customers outside the model's support left out of the fit"]
            if excluded
            else []
        )
        if hasattr(model, "n_excluded_") or type(model).__annotations__.get("n_excluded_"):
            model.n_excluded_ = excluded  # type: ignore[attr-defined]
        model.result_ = maximize_likelihood(
            type(model)._loglik,
            arrays,
            w,
            model._initial(arrays, w),
            model=model.name,
            param_names=model.param_names,
            analytic_gradient=model._analytic_gradient,
            time_unit=unit,
            max_iter=model.max_iter,
            notes=notes,
            summed=sums,
        )
    finally:
        sums.release()
    model.time_unit_ = unit
    return model
