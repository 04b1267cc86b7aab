#!/usr/bin/env python3
"""Orchard from Python against the CLI and against the seeds' pandas UDF.

    CARGO_TARGET_DIR=~/.cache/orchard-target .ci-tools/benchvenv/bin/python bench/python_vs_cli.py \
        [--photos ../shared/data/fruits360-sample] [--repeats 3] [--no-spark] [--baseline keras|ort|both]

Needs the `orchard` package installed in the running Python (`pip install ./python`),
the CLI built (`$CARGO_TARGET_DIR/release/orchard`), the default model, and for
the Spark part pyspark 3.5, pandas, Pillow, and TensorFlow (`tensorflow-cpu`) for
the Keras baseline.

1. `orchard.extract(photos, out)` against `orchard extract photos out`, the same
   job (every photo → MobileNetV2 → PCA k=100 → Parquet), alternating, each
   `--repeats` times; images/s = photos / wall-clock seconds of the whole job
   (the CLI's includes its process start).
2. In one local Spark session (local[2], spark.sql.execution.arrow.maxRecordsPerBatch
   64, `binaryFile` of the same photos, a noop write so every row is computed):
   `orchard.spark.featurize` (mapInArrow), `orchard.spark.featurize_udf`
   (SCALAR_ITER pandas UDF), and the seeds' pandas UDF: PIL decode + resize
   (tests/python/seed_prep.py), then Keras' MobileNetV2 (include_top=False,
   pooling="avg", weights=None: the Keras weights file cannot be downloaded
   here; the same network, so the same work) and/or the same preprocessing
   feeding ONNX Runtime's Python API on Orchard's mobilenet_v2.onnx. Every
   Python worker uses one compute thread (spark.task.cpus = 1, 2 tasks at once
   on 2 cores): Orchard's ONNX Runtime threads, TF's intra/inter-op threads,
   ORT's intra_op_num_threads.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))


def orchard_bin() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "orchard"


def count_photos(photos: Path) -> int:
    return sum(1 for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def bench_extract(photos: Path, repeats: int, scratch: Path) -> None:
    import orchard

    n = count_photos(photos)
    cli, py = [], []
    orchard.extract(photos, scratch / "warm", overwrite=True)  # page cache, model file
    for r in range(repeats):
        for which in (("cli", "py") if r % 2 == 0 else ("py", "cli")):
            out = scratch / which
            start = time.perf_counter()
            if which == "cli":
                subprocess.run(
                    [str(orchard_bin()), "--quiet", "extract", str(photos), str(out), "--overwrite"],
                    check=True,
                )
                cli.append(n / (time.perf_counter() - start))
            else:
                orchard.extract(photos, out, overwrite=True)
                py.append(n / (time.perf_counter() - start))
    print(f"extract, {n} photos, {repeats} runs each (images/s, median):")
    print(f"  orchard extract (CLI)     {statistics.median(cli):7.1f}   runs {', '.join(f'{v:.1f}' for v in cli)}")
    print(f"  orchard.extract (Python)  {statistics.median(py):7.1f}   runs {', '.join(f'{v:.1f}' for v in py)}")
    print(f"  ratio Python / CLI        {statistics.median(py) / statistics.median(cli):7.3f}")


def keras_udf():
    import numpy as np
    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    def keras_featurize(contents: Iterator[pd.Series]) -> Iterator[pd.Series]:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf
        from seed_prep import seed_array

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        model = tf.keras.applications.MobileNetV2(
            weights=None, include_top=False, pooling="avg", input_shape=(224, 224, 3)
        )
        for series in contents:
            x = np.stack([seed_array(b) for b in series])
            yield pd.Series(list(model.predict(x, batch_size=32, verbose=0)))

    return pandas_udf(keras_featurize, ArrayType(FloatType()))


def ort_udf(model_path: str):
    import numpy as np
    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    def ort_featurize(contents: Iterator[pd.Series]) -> Iterator[pd.Series]:
        import onnxruntime as ort
        from seed_prep import seed_array

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for series in contents:
            x = np.stack([seed_array(b) for b in series])
            yield pd.Series(list(session.run(None, {name: x})[0]))

    return pandas_udf(ort_featurize, ArrayType(FloatType()))


def bench_spark(photos: Path, baselines: list) -> None:
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col

    import orchard.spark

    n = count_photos(photos)
    # Python workers: this interpreter (with orchard, TensorFlow, Pillow) and seed_prep.py.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYTHONPATH"] = str(ROOT / "tests" / "python") + os.pathsep + os.environ.get("PYTHONPATH", "")
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("orchard-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "64")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    df = (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", "*.jpg")
        .option("recursiveFileLookup", "true")
        .load(str(photos))
        .repartition(2)
        .cache()
    )
    assert df.count() == n
    home = Path(os.environ.get("ORCHARD_HOME", Path.home() / ".cache" / "orchard"))
    runs = {
        "orchard.spark.featurize (mapInArrow)": lambda: orchard.spark.featurize(df).select("path", "features"),
        "orchard.spark.featurize_udf (pandas UDF)": lambda: df.select("path", orchard.spark.featurize_udf(col("content"))),
    }
    if "keras" in baselines:
        runs["seeds' Keras pandas UDF (PIL + tf.keras MobileNetV2)"] = lambda: df.select("path", keras_udf()(col("content")))
    if "ort" in baselines:
        model = str(home / "models" / "mobilenet_v2.onnx")
        runs["PIL + onnxruntime pandas UDF (same model file)"] = lambda: df.select("path", ort_udf(model)(col("content")))
    print(f"Spark local[2], {n} photos from binaryFile, maxRecordsPerBatch 64, noop write (images/s):")
    for name, build in runs.items():
        build().write.format("noop").mode("overwrite").save()  # warm: workers, models
        start = time.perf_counter()
        build().write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - start
        print(f"  {name:55s} {n / seconds:7.1f}  ({seconds:.1f} s)")
    spark.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "fruits360-sample")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--no-extract", action="store_true")
    ap.add_argument("--baseline", choices=["keras", "ort", "both"], default="both")
    a = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="orchard-bench-"))
    try:
        if not a.no_extract:
            bench_extract(a.photos.resolve(), a.repeats, scratch)
        if not a.no_spark:
            bench_spark(a.photos.resolve(), ["keras", "ort"] if a.baseline == "both" else [a.baseline])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
