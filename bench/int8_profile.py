"""Where an int8 model's time goes, next to fp32 (issue 14): ONNX Runtime's
own profiler on each model, time summed per operator type and per node.
Run it where int8 gains less than expected (e.g. an AVX2-only CPU).

    .venv/bin/python bench/int8_profile.py [FP32_ONNX] [INT8_ONNX] [--threads 1] [--runs 10]

Batch 32 of random inputs, one warm-up run, then --runs profiled runs;
WeightBiasQuantization disabled as in Orchard. Prints the CPU's flags, ms per
batch by operator type for both models, and the int8 model's ten slowest
nodes.
"""
import argparse
import collections
import json
import os
import tempfile

import numpy as np
import onnxruntime as ort

HOME = os.path.expanduser("~/.cache/orchard/models")


def profile(path, threads, runs, work):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(work, os.path.basename(path))
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"],
                                   disabled_optimizers=["WeightBiasQuantization"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(-1, 1, (32, 224, 224, 3)).astype(np.float32)
    session.run(None, {name: x})
    for _ in range(runs):
        session.run(None, {name: x})
    events = json.load(open(session.end_profiling()))
    by_op, by_node = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            op = e["args"].get("op_name", "?")
            by_op[op] += e["dur"]
            by_node[f'{e["name"][:-len("_kernel_time")]} ({op})'] += e["dur"]
    # The first run is the warm-up: scale to one profiled batch.
    scale = 1.0 / (runs + 1) / 1000.0
    return ({k: v * scale for k, v in by_op.items()}, {k: v * scale for k, v in by_node.items()})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("fp32", nargs="?", default=os.path.join(HOME, "mobilenet_v2.onnx"))
    parser.add_argument("int8", nargs="?", default=os.path.join(HOME, "mobilenet_v2-int8.onnx"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "").split()
    print("CPU flags:", " ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni")
                                 if f in flags) or "none of avx2/avx512/vnni")
    with tempfile.TemporaryDirectory() as work:
        fp32_ops, _ = profile(args.fp32, args.threads, args.runs, work)
        int8_ops, int8_nodes = profile(args.int8, args.threads, args.runs, work)
    print(f"ms per batch of 32, {args.threads} thread(s), by operator type:")
    print(f"{'operator':28s} {'fp32':>9s} {'int8':>9s}")
    for op in sorted(set(fp32_ops) | set(int8_ops), key=lambda o: -(fp32_ops.get(o, 0) + int8_ops.get(o, 0))):
        print(f"{op:28s} {fp32_ops.get(op, 0):9.1f} {int8_ops.get(op, 0):9.1f}")
    total32, total8 = sum(fp32_ops.values()), sum(int8_ops.values())
    print(f"{'total':28s} {total32:9.1f} {total8:9.1f}   int8 {total32 / total8:.2f}x fp32")
    print("int8's slowest nodes (ms per batch):")
    for node, ms in sorted(int8_nodes.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {ms:7.1f}  {node}")


if __name__ == "__main__":
    main()
