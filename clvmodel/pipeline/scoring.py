"""Scoring summary batches: pure numpy on each Arrow record batch, streamed to a file.

:class:`BatchScorer` turns one batch of summary rows into one batch of scores with
:func:`clvmodel.clv.score_arrays` (predictions once per distinct row, see
``PurchaseModel._horizon_sums``); :func:`score_to_file` pulls batches from an engine and
writes each one before reading the next, so memory holds one batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..clv import HorizonSums, score_arrays
from ..exceptions import InputError
from ..io import TableWriter
from ..models.base import PurchaseModel
from ..models.gamma_gamma import GammaGammaModel
from ..progress import Stage


class BatchScorer:
    """Score batches of summary rows with fitted models.

    Parameters
    ----------
    purchase, spend : fitted models
        The purchase model and, for spend and CLV, the Gamma-Gamma model (or ``None``).
    horizon : float
        Forecast horizon in the models' unit.
    per_unit_rate : float
        Discount rate per time unit.
    margin : float
        Profit margin on spend.
    step : float
        Discounting step.
    """

    def __init__(
        self,
        purchase: PurchaseModel,
        spend: GammaGammaModel | None,
        *,
        horizon: float,
        per_unit_rate: float,
        margin: float = 1.0,
        step: float = 1.0,
    ) -> None:
        self.purchase = purchase
        self.spend = spend
        self.horizon = float(horizon)
        self.per_unit_rate = float(per_unit_rate)
        self.margin = float(margin)
        self.step = float(step)
        self.sums = HorizonSums(
            purchase, horizon=self.horizon, per_unit_rate=self.per_unit_rate, step=self.step
        )

    @property
    def inputs(self) -> tuple[str, ...]:
        """Summary columns a batch must have (``customer_id`` first)."""
        spend = ("monetary_value",) if self.spend is not None else ()
        return ("customer_id", *self.purchase.columns, *spend)

    def columns(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """The score columns of one batch, as numpy arrays (ids excluded)."""
        arrays = tuple(_floats(batch, c) for c in self.purchase.columns)
        monetary = _floats(batch, "monetary_value") if self.spend is not None else None
        out = score_arrays(
            self.purchase,
            arrays,
            horizon=self.horizon,
            per_unit_rate=self.per_unit_rate,
            step=self.step,
            spend_model=self.spend,
            monetary_value=monetary,
            margin=self.margin,
            sums=self.sums,
        )
        _check_finite(batch, out)
        return out

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """One batch of scores: ``customer_id``, the model's columns and the predictions."""
        out = self.columns(batch)
        names = ["customer_id", *out]
        return pa.RecordBatch.from_arrays([batch.column("customer_id"), *out.values()], names)


def _floats(batch: pa.RecordBatch, name: str) -> np.ndarray:
    return np.asarray(batch.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def _check_finite(batch: pa.RecordBatch, columns: dict[str, np.ndarray]) -> None:
    for name in ("p_alive", "expected_purchases", "expected_spend", "clv"):
        values = columns.get(name)
        if values is None:
            continue
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{int(bad.sum()):,} customers got a non-finite {name} (first: "
                f"{batch.column('customer_id')[i].as_py()!r}); the fitted parameters may be "
                f"extreme: check the model's notes in models/."
            )


def score_to_file(
    batches: Iterable[pa.RecordBatch],
    scorer: BatchScorer,
    path: Path,
    *,
    metadata: dict[str, str],
    stage: Stage | None = None,
    keep: Sequence[str] = (),
    expected_rows: int = 0,
    summary_to: Path | None = None,
) -> tuple[int, dict[str, np.ndarray]]:
    """Score every batch and stream the scores to ``path`` (Parquet or CSV, atomically).

    A batch's scores are written by a thread of their own while the next batch is read and
    scored (pyarrow's encoding and compression, and DuckDB's reading, release the GIL; at
    10M customers the writing is about half of the stage), one write at a time and in
    order, so at most two batches of scores are in memory. With ``summary_to``, the
    batches themselves (the summary rows) go to that file too, by the same thread: the
    summary is read once for both files, and the two list the customers in one order.

    Returns the number of rows written and the ``keep`` columns over all batches (e.g.
    ``clv`` for the CLV metrics), filled into arrays of ``expected_rows`` (the summary's
    row count, when known) so that no second copy is made at the end.
    """
    writers: list[TableWriter] = []
    kept = {k: _Column(expected_rows) for k in keep}
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clvmodel-write")
    pending: Future[None] | None = None

    def write(scores: pa.RecordBatch, rows: pa.RecordBatch) -> None:
        writers[0].write(scores)
        if summary_to is not None:
            writers[1].write(rows)

    try:
        for batch in batches:
            try:
                scores = scorer(batch)
            except BaseException:
                if pending is not None:
                    pending.result()  # a failed write is the first error (this one its context)
                raise
            if not writers:
                writers.append(TableWriter(path, scores.schema, metadata=metadata))
                if summary_to is not None:
                    writers.append(TableWriter(summary_to, batch.schema, metadata=metadata))
            if pending is not None:
                pending.result()  # the previous batch is written (or its error raised here)
            pending = pool.submit(write, scores, batch)
            for k in keep:
                if k in scores.schema.names:
                    kept[k].append(scores.column(k).to_numpy())
            if stage is not None:
                stage.advance(scores.num_rows)
        if pending is not None:
            pending.result()
    except BaseException as exc:
        pool.shutdown(wait=True)  # no write left running on the file being removed
        for writer in writers:
            writer.abort(exc)
        raise
    finally:
        pool.shutdown(wait=True)
    if not writers:
        raise InputError("There are no customers to score.")
    for writer in writers:
        writer.close()
    return writers[0].rows, {k: v.values() for k, v in kept.items()}


class _Column:
    """One float column collected batch by batch: into one array of the expected length
    (its rows, when known) while it fits, the rest in pieces concatenated at the end."""

    def __init__(self, expected: int) -> None:
        self._array = np.empty(max(int(expected), 0))
        self._filled = 0  # rows in self._array
        self._pieces: list[np.ndarray] = []

    def append(self, values: np.ndarray) -> None:
        end = self._filled + len(values)
        if not self._pieces and end <= len(self._array):
            self._array[self._filled : end] = values
            self._filled = end
        else:
            self._pieces.append(np.array(values, dtype=np.float64))

    def values(self) -> np.ndarray:
        head = self._array[: self._filled]
        return np.concatenate([head, *self._pieces]) if self._pieces else head
