#!/usr/bin/env python3
"""Baseline: plain ONNX Runtime (Python, CPU) throughput of the feature model.

    .venv/bin/python bench/ort_python_baseline.py ~/.cache/orchard/models/mobilenet_v2.onnx \
        [--batch 32] [--threads 2] [--lanes 1] [--images 2000] [--size 224]

Feeds random preprocessed NHWC inputs (values in [-1, 1]); image decoding and
resizing are NOT included, this measures the model alone.  One warm-up batch
is run first.  Prints images/s.  `--lanes N` runs N batches at once on one
session (as Orchard's lanes do; ORT releases the GIL while it runs).
ORT's WeightBiasQuantization optimizer is disabled, as in Orchard: it would
re-quantize, per tensor, the nodes an int8 model keeps in fp32.
"""
import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="intra_op_num_threads")
    ap.add_argument("--lanes", type=int, default=1, help="batches run at once")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--size", type=int, default=224)
    a = ap.parse_args()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"],
                                disabled_optimizers=["WeightBiasQuantization"])

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(a.batch, a.size, a.size, 3)).astype(np.float32)
    sess.run(["features"], {"input": x})  # warm-up

    n_batches = max(1, -(-a.images // a.batch))
    t0 = time.perf_counter()
    with ThreadPoolExecutor(a.lanes) as lanes:
        list(lanes.map(lambda _: sess.run(["features"], {"input": x}), range(n_batches)))
    dt = time.perf_counter() - t0
    n = n_batches * a.batch
    print(f"ort {ort.__version__}: {n} images, batch {a.batch}, {a.threads} threads, {a.lanes} lanes: "
          f"{dt:.2f} s, {n / dt:.1f} images/s")


if __name__ == "__main__":
    main()
