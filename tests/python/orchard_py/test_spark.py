"""`orchard.spark` in a real local PySpark 3.5 session: two worker
processes (local[2]) featurize `binaryFile` rows, as the seeds' job reads
them, and the features are the CLI's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark")

import orchard  # noqa: E402
import orchard.spark  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers: this venv, with orchard
    session = (
        SparkSession.builder.master("local[2]")
        .appName("orchard-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "8")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    yield session
    session.stop()


def local_path(uri: str) -> str:
    return os.path.abspath(uri[len("file:"):] if uri.startswith("file:") else uri)


def photos_df(spark, photos: Path):
    return (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", "*.jpg")
        .option("recursiveFileLookup", "true")
        .load(str(photos))
        .repartition(2)
    )


def test_spark_featurize_over_binary_file_equals_the_cli(spark, photos, cli_features):
    df = orchard.spark.featurize(photos_df(spark, photos))
    assert df.schema["features"].dataType.simpleString() == "array<float>"
    assert df.schema["error"].dataType.simpleString() == "string"
    rows = df.select("path", "features", "error", "length").collect()
    assert len(rows) == 48
    pids = set(
        photos_df(spark, photos).rdd.mapPartitions(lambda _: [os.getpid()]).collect()
    )
    assert len(pids) == 2, pids  # two Python worker processes
    for row in rows:
        assert row.error is None, row.error
        expected = np.asarray(cli_features[local_path(row.path)], np.float32)
        assert np.array_equal(np.asarray(row.features, np.float32), expected), row.path


def test_spark_featurize_on_paths_and_bad_rows(spark, photos, cli_features, tmp_path):
    paths = [str(p) for p in sorted(photos.glob("apple/*.jpg"))[:3]] + [str(tmp_path / "gone.jpg")]
    df = spark.createDataFrame([(p,) for p in paths], "photo string")
    rows = orchard.spark.featurize(df, path_col="photo").collect()
    by_path = {r.photo: r for r in rows}
    for p in paths[:3]:
        assert by_path[p].error is None
        assert np.array_equal(np.asarray(by_path[p].features, np.float32), np.asarray(cli_features[p], np.float32))
    assert by_path[paths[3]].features is None
    assert by_path[paths[3]].error.startswith("read: ")


def test_featurize_udf_in_the_seeds_code_shape(spark, photos, cli_features):
    from pyspark.sql.functions import col

    df = photos_df(spark, photos)
    rows = (
        df.select(col("path"), orchard.spark.featurize_udf(col("content")).alias("features"))
        .collect()
    )
    assert len(rows) == 48
    for row in rows:
        expected = np.asarray(cli_features[local_path(row.path)], np.float32)
        assert np.array_equal(np.asarray(row.features, np.float32), expected), row.path
