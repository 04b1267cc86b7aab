"""Orchard's featurizer inside a PySpark job.

* :func:`featurize` adds ``features: array<float>`` and ``error: string`` to
  a DataFrame of photos (``spark.read.format("binaryFile")``'s ``content``,
  or a column of paths), through ``mapInArrow``: Arrow batches go to Rust
  without copies, the photos' bytes are never turned into Python objects.
* :data:`featurize_udf` is a SCALAR_ITER pandas UDF (binary → features),
  for code shaped as the usual Keras pandas UDF:
  ``df.select("path", featurize_udf("content").alias("features"))``; a bad
  photo gives null there (use :func:`featurize` to see why).
  :func:`make_featurize_udf` builds one with other options.

Each Python worker loads the model once, lazily, after Spark has forked it
(nothing is loaded on the driver). ONNX Runtime gets ``threads`` threads
when given, else ``spark.task.cpus`` (default 1: a task per core, an
executor runs ``spark.executor.cores`` of them at once). Spark sets
``OMP_NUM_THREADS`` to the executor's cores in every Python worker, which
would oversubscribe the cores with one session per task, so it is not used
here. Batches are ``spark.sql.execution.arrow.maxRecordsPerBatch`` rows
(default 10,000): lower it (e.g. 256) when photos are large, since a batch's
photos are in memory at once.
"""

import json
import os
from typing import Any, Dict, Iterator, Optional, Tuple

import pyarrow as pa

import orchard

__all__ = ["featurize", "featurize_udf", "make_featurize_udf"]

_FEATURIZERS: Dict[Tuple[int, str], "orchard.Featurizer"] = {}


def task_threads() -> int:
    """``spark.task.cpus`` of the running task (1 outside a task)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is None:
        return 1
    try:
        return max(1, int(context.cpus()))
    except Exception:  # Spark < 3.3 has no TaskContext.cpus()
        return max(1, int(context.getLocalProperty("spark.task.cpus") or 1))


def worker_featurizer(
    model: str = "mobilenet_v2",
    threads: Optional[int] = None,
    fast_decode: bool = False,
    **storage: Any,
) -> "orchard.Featurizer":
    """This Python worker's featurizer for these options, made on first use
    (one per process: a forked worker makes its own)."""
    threads = threads or task_threads()
    key = (
        os.getpid(),
        json.dumps([model, threads, fast_decode, storage], sort_keys=True),
    )
    featurizer = _FEATURIZERS.get(key)
    if featurizer is None:
        featurizer = orchard.Featurizer(
            model, threads, fast_decode=fast_decode, **storage
        )
        _FEATURIZERS[key] = featurizer
    return featurizer


def featurize(
    df: Any,
    content_col: str = "content",
    path_col: Optional[str] = None,
    *,
    model: str = "mobilenet_v2",
    threads: Optional[int] = None,
    fast_decode: bool = False,
    **storage: Any,
) -> Any:
    """``df`` with ``features: array<float>`` (null for a photo that failed)
    and ``error: string`` (why; null when fine) added, row for row.

    Photos are the bytes in ``content_col`` (default ``content``, as
    ``binaryFile`` reads them) or, with ``path_col``, the paths in that
    column (local to the workers, or ``s3://``/``gs://``/``az://``, read in
    Rust with the storage keyword arguments). Other columns pass through;
    an existing ``features`` or ``error`` column is replaced.
    """
    from pyspark.sql.types import ArrayType, FloatType, StringType, StructField, StructType

    column = path_col or content_col
    if column not in df.columns:
        raise orchard.UsageError(
            f"the DataFrame has no column `{column}` (columns: {', '.join(df.columns)})"
        )
    orchard._storage_json(dict(storage), "featurize")  # checks the names on the driver
    fields = [f for f in df.schema.fields if f.name not in ("features", "error")]
    schema = StructType(
        fields
        + [
            StructField("features", ArrayType(FloatType(), True), True),
            StructField("error", StringType(), True),
        ]
    )
    kind = {"path_col": path_col} if path_col else {"content_col": content_col}

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        featurizer = worker_featurizer(model, threads, fast_decode, **storage)
        for batch in batches:
            yield featurizer.featurize(batch, **kind)

    return df.mapInArrow(run, schema)


def make_featurize_udf(
    model: str = "mobilenet_v2",
    threads: Optional[int] = None,
    fast_decode: bool = False,
    **storage: Any,
) -> Any:
    """A SCALAR_ITER pandas UDF, binary column → ``array<float>`` features
    (null where a photo failed), with these options."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    orchard._storage_json(dict(storage), "make_featurize_udf")

    def orchard_featurize(contents: Iterator[pd.Series]) -> Iterator[pd.Series]:
        featurizer = worker_featurizer(model, threads, fast_decode, **storage)
        for series in contents:
            batch = pa.RecordBatch.from_arrays(
                [pa.array(series, type=pa.binary())], names=["content"]
            )
            features = featurizer.featurize(batch).column("features")
            # One float32 numpy array per row (None where a photo failed).
            yield features.to_pandas()

    return pandas_udf(orchard_featurize, ArrayType(FloatType()))  # type: ignore[call-overload]


def __getattr__(name: str) -> Any:
    # featurize_udf is made on first access: pandas and PySpark load then,
    # not when orchard.spark is imported.
    if name == "featurize_udf":
        udf = make_featurize_udf()
        globals()["featurize_udf"] = udf
        return udf
    raise AttributeError(f"module 'orchard.spark' has no attribute {name!r}")
