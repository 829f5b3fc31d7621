"""The Spark engine: the RFM summary, the fit table and scoring as Spark jobs.

- :mod:`~clvmodel.engines.spark.session`: the active SparkSession or a new one; a one-line
  :class:`~clvmodel.exceptions.EngineUnavailableError` without pyspark or Java.
- :mod:`~clvmodel.engines.spark.summary`: :class:`SparkSummaryEngine`, the summary SQL of
  :mod:`clvmodel.engines.sql` in the Spark dialect, behind the pipeline's engine seam
  (:class:`clvmodel.engines.SummaryEngine`).
- :mod:`~clvmodel.engines.spark.fit`: a model's ``fit`` on a Spark DataFrame (collapsed in
  Spark; the likelihood summed across partitions above a threshold).
- :mod:`~clvmodel.engines.spark.score`: scoring in ``mapInPandas`` with the local engine's
  prediction functions, written as Parquet part files.

pyspark is imported only inside functions, so importing this package needs no Spark.
"""
