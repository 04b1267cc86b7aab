"""The int8 studies of the default model in one tool (issue 14's findings
in BENCHMARKS.md come from it). Four subcommands:

    .venv/bin/python bench/int8_study.py layers [FP32_ONNX] [--method minmax|percentile|entropy]
    .venv/bin/python bench/int8_study.py variants [--fp32 MODEL] VARIANT [VARIANT ...]
    .venv/bin/python bench/int8_study.py profile [FP32_ONNX] [INT8_ONNX] [--threads 1] [--runs 10]
    .venv/bin/python bench/int8_study.py agreement WORK FP32_MODEL INT8_MODEL   (run by bench/int8_agreement.sh)

layers: which layers int8 costs the most. Calibrates once (ranges cached)
  on 100 studio + 100 grocery photos; quantizes one node at a time (all
  others fp32) and measures the mean feature distance (1 - cosine) to fp32
  on 60 + 60 other photos; then quantizes everything except the k most
  sensitive nodes, for growing k, and reports the cosine (mean, p1, min) on
  200 + 200 held-out photos and the speed (images/s, batch 32, 2 threads)
  against fp32 measured in the same run. Variants go under /tmp/int8-layers/.

variants: int8 variants side by side, each quantized by Orchard's own
  quantizer (crates/orchard-model/converter/quantize_int8.py) on the same
  calibration photos, then compared to fp32 on other photos. A VARIANT is the
  quantizer's options in one string, e.g. "--method minmax
  --no-bias-correction", "--method percentile", "--method percentile
  --exclude Conv1,expanded_conv_depthwise"; or "weights-only" /
  "weights-only-corrected": the fp32 model with only its Conv weights rounded
  as ORT rounds them (activations stay fp32), without or with bias
  correction. Calibration: 100 studio + 100 grocery photos; cosine (mean /
  p1 / min) on 200 other studio and 200 other grocery photos.

profile: where an int8 model's time goes, next to fp32: ONNX Runtime's own
  profiler on each model (batch 32 of random inputs, one warm-up run, then
  --runs profiled runs; WeightBiasQuantization disabled as in Orchard): ms
  per batch by operator type for both models and the int8 model's ten
  slowest nodes, with the CPU's flags. Run it where int8 gains less than
  expected (e.g. an AVX2-only CPU).

agreement: top-1 agreement of int8 and fp32 features under classifiers
  fitted on fp32 features only (>= 99 % of held-out photos asked). Held out:
  every photo whose `label/name` hashes (FNV-1a) to the last fifth, the same
  rule for both models; bench/int8_agreement.sh extracts the photos and
  calibrates the int8 model on grocery photos of the other four fifths only.

Photos are prepared as the seed does (PIL bicubic to 224, x/127.5 - 1;
tests/python/seed_prep.py).
"""
import argparse
import collections
import glob
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow.parquet as pq
from onnx import numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import normalize

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
QUANTIZER = os.path.join(ROOT, "crates/orchard-model/converter/quantize_int8.py")
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
sys.path.insert(0, os.path.dirname(QUANTIZER))
from quantize_int8 import correct_biases, rounded_weights  # noqa: E402
from seed_prep import seed_array  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")
HOME = os.path.expanduser("~/.cache/orchard/models")
OUT = "/tmp/int8-layers"


# ---------------------------------------------------------------- layers

METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
           "entropy": CalibrationMethod.Entropy}


def prep(path):
    return seed_array(path)


def prepared(paths):
    """Photos as one model input batch."""
    return np.stack([prep(p) for p in paths])


def shuffled_photos():
    """The studio species and the grocery photos, each in one fixed random
    order (seed 7): calibration and held-out sets are slices of these."""
    rng = random.Random(7)
    studio = sorted(glob.glob(os.path.join(DATA, "fruits360-species/*/*.jpg")))
    grocery = sorted(glob.glob(os.path.join(DATA, "grocery-store-train/*/*.jpg")))
    rng.shuffle(studio)
    rng.shuffle(grocery)
    return studio, grocery


class Batches(CalibrationDataReader):
    def __init__(self, x, name):
        self.items, self.name = iter(range(len(x))), name
        self.x = x

    def get_next(self):
        i = next(self.items, None)
        return None if i is None else {self.name: self.x[i:i + 1]}


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    # ORT's WeightBiasQuantization re-quantizes (per tensor) every fp32 Conv
    # between a DequantizeLinear and a QuantizeLinear, i.e. every excluded
    # node: Orchard's backend turns it off, and so does this study.
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=["WeightBiasQuantization"])


def features(s, x):
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 32]})[0].reshape(len(x[i:i + 32]), -1)
                           for i in range(0, len(x), 32)])


def cosine(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def speed(s, x, seconds=4.0):
    name = s.get_inputs()[0].name
    batch = x[:32]
    s.run(None, {name: batch})
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        s.run(None, {name: batch})
        n += len(batch)
    return n / (time.perf_counter() - t)


def layers_main(argv):
    """`int8_study.py layers`: see the module docs."""
    parser = argparse.ArgumentParser(prog="int8_study.py layers")
    parser.add_argument("model", nargs="?", default=os.path.expanduser("~/.cache/orchard/models/mobilenet_v2.onnx"))
    parser.add_argument("--method", default="minmax", choices=sorted(METHODS))
    parser.add_argument("--skip-sensitivity", action="store_true")
    parser.add_argument("--keep-activations", action="store_true",
                        help="keep Clip (ReLU6) nodes: QDQKeepRemovableActivations")
    parser.add_argument("--steps", default="0,1,2,3,4,6,8,12,16,24")
    args = parser.parse_args(argv)
    os.makedirs(OUT, exist_ok=True)
    studio, grocery = shuffled_photos()
    calibration = prepared(studio[:100] + grocery[:100])
    probe = {"studio": prepared(studio[100:160]), "grocery": prepared(grocery[100:160])}
    held = {"studio": prepared(studio[200:400]), "grocery": prepared(grocery[200:400])}
    pre = os.path.join(OUT, "pre.onnx")
    quant_pre_process(args.model, pre)
    fp32 = session(pre)
    name = fp32.get_inputs()[0].name
    ref_probe = {k: features(fp32, v) for k, v in probe.items()}
    ref_held = {k: features(fp32, v) for k, v in held.items()}
    cache = os.path.join(OUT, f"ranges-{args.method}")

    def quantize(path, include=None, exclude=None):
        quantize_static(pre, path, Batches(calibration, name), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QUInt8, calibrate_method=METHODS[args.method],
                        nodes_to_quantize=include, nodes_to_exclude=exclude,
                        calibration_cache_path=cache,
                        extra_options={"QDQKeepRemovableActivations": args.keep_activations})

    nodes = [n.name for n in onnx.load(pre).graph.node if n.op_type in ("Conv", "Add", "GlobalAveragePool")]
    damage = {}
    ranking_file = os.path.join(OUT, f"sensitivity2-{args.method}.json")
    if args.skip_sensitivity and os.path.exists(ranking_file):
        damage = json.load(open(ranking_file))
    else:
        for node in nodes:
            path = os.path.join(OUT, "one.onnx")
            quantize(path, include=[node])
            s = session(path)
            d = np.mean([1 - cosine(ref_probe[k], features(s, probe[k])).mean() for k in probe])
            damage[node] = float(d)
            print(f"only {node:32s} 1-cos {d:.5f}", flush=True)
        json.dump(damage, open(ranking_file, "w"), indent=1)
    ranked = sorted(damage, key=damage.get, reverse=True)
    print("most sensitive:", ", ".join(f"{n} ({damage[n]:.4f})" for n in ranked[:16]), flush=True)

    fp32_speed = speed(fp32, held["grocery"])
    print(f"fp32: {fp32_speed:.1f} images/s", flush=True)
    for k in (int(k) for k in args.steps.split(",")):
        path = os.path.join(OUT, f"exclude{k}.onnx")
        quantize(path, exclude=ranked[:k])
        s = session(path)
        line = [f"exclude {k:2d}" + (f" (+{ranked[k - 1]})" if k else "")]
        for kind in ("studio", "grocery"):
            c = cosine(ref_held[kind], features(s, held[kind]))
            line.append(f"{kind} {c.mean():.4f}/{np.percentile(c, 1):.4f}/{c.min():.4f}")
        line.append(f"{speed(s, held['grocery']) / fp32_speed:.2f}x fp32")
        print("  ".join(line), flush=True)


# ---------------------------------------------------------------- variants

def weights_only(fp32, out, corrected, calibration):
    """fp32 model with its Conv weights rounded to int8 (per channel, symmetric)."""
    if corrected:
        model = onnx.load(fp32)
        onnx.save(model, out)
        correct_biases(out, calibration, model.graph.input[0].name, set(), False)
    model = onnx.load(out if corrected else fp32)
    weights = {i.name: i for i in model.graph.initializer}
    for node in (n for n in model.graph.node if n.op_type == "Conv"):
        w = numpy_helper.to_array(weights[node.input[1]])
        weights[node.input[1]].CopyFrom(
            numpy_helper.from_array(rounded_weights(w, False), node.input[1]))
    onnx.save(model, out)


def variants_main(argv):
    """`int8_study.py variants`: see the module docs."""
    parser = argparse.ArgumentParser(prog="int8_study.py variants")
    parser.add_argument("--fp32", default=os.path.expanduser("~/.cache/orchard/models/mobilenet_v2.onnx"))
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args(argv)
    studio, grocery = shuffled_photos()
    calibration = prepared(studio[:100] + grocery[:100])
    held = {"studio": prepared(studio[200:400]), "grocery": prepared(grocery[200:400])}
    reference = session(args.fp32)
    expected = {kind: features(reference, x) for kind, x in held.items()}
    with tempfile.TemporaryDirectory() as work:
        npy = os.path.join(work, "calibration.npy")
        np.save(npy, calibration)
        for variant in args.variants:
            out = os.path.join(work, "variant.onnx")
            if variant.startswith("weights-only"):
                weights_only(args.fp32, out, variant.endswith("corrected"), calibration)
            else:
                subprocess.run([sys.executable, QUANTIZER, "--input", args.fp32, "--output", out,
                                "--calibration", npy, *variant.split()],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            s = session(out)
            line = [f"{variant:60s}"]
            for kind, x in held.items():
                c = cosine(expected[kind], features(s, x))
                line.append(f"{kind} {c.mean():.4f} / {np.percentile(c, 1):.4f} / {c.min():.4f}")
            print("  ".join(line), flush=True)


# ---------------------------------------------------------------- profile

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


def profile_main(argv):
    """`int8_study.py profile`: see the module docs."""
    parser = argparse.ArgumentParser(prog="int8_study.py profile")
    parser.add_argument("fp32", nargs="?", default=os.path.join(HOME, "mobilenet_v2.onnx"))
    parser.add_argument("int8", nargs="?", default=os.path.join(HOME, "mobilenet_v2-int8.onnx"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
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


# ---------------------------------------------------------------- agreement

def fnv1a(text):
    h = 0xcbf29ce484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def rows(out):
    table = pq.read_table(sorted(glob.glob(os.path.join(out, "part-*.parquet"))))
    paths = table.column("path").to_pylist()
    keys = ["/".join(p.split("/")[-2:]) for p in paths]
    features = np.asarray(table.column("features").to_pylist(), dtype=np.float32)
    labels = table.column("label").to_pylist()
    return dict(zip(keys, zip(features, labels)))


def agreement_main(argv):
    """`int8_study.py agreement`: see the module docs."""
    work, fp32_name, int8_name = argv[:3]
    kinds = ("fruits360-species", "grocery-store-train")
    fp32 = {kind: rows(os.path.join(work, f"{fp32_name}-{kind}")) for kind in kinds}
    int8 = {kind: rows(os.path.join(work, f"{int8_name}-{kind}")) for kind in kinds}
    # One classifier for studio and real photos, as `orchard train` fits it.
    train = [(kind, k) for kind in kinds for k in sorted(fp32[kind]) if fnv1a(k) % 5 != 4]
    x = np.stack([fp32[kind][k][0] for kind, k in train])
    y = [fp32[kind][k][1] for kind, k in train]
    recipes = {
        "PCA(100) + logistic regression (the seed's)":
            make_pipeline(PCA(n_components=100, random_state=0), LogisticRegression(max_iter=3000)),
        "logistic regression on L2-normalised features (as orchard train)":
            LogisticRegression(max_iter=3000),
    }
    for name, clf in recipes.items():
        clf.fit(normalize(x) if "L2" in name else x, y)
    print(f"fitted on fp32 features of {len(train)} photos (studio and real)")
    for kind in kinds:
        held = [k for k in sorted(fp32[kind]) if fnv1a(k) % 5 == 4]
        a = np.stack([fp32[kind][k][0] for k in held])
        b = np.stack([int8[kind][k][0] for k in held])
        truth = np.array([fp32[kind][k][1] for k in held])
        cos = cosine(a, b)
        print(f"{kind}: {len(held)} held-out photos; int8 vs fp32 cosine "
              f"mean {cos.mean():.4f}, p1 {np.percentile(cos, 1):.4f}, min {cos.min():.4f}")
        for name, clf in recipes.items():
            pa = clf.predict(normalize(a) if "L2" in name else a)
            pb = clf.predict(normalize(b) if "L2" in name else b)
            print(f"  {name}: same top-1 on {np.mean(pa == pb) * 100:.2f} % "
                  f"({int((pa != pb).sum())} differ); accuracy fp32 "
                  f"{np.mean(pa == truth) * 100:.1f} %, int8 {np.mean(pb == truth) * 100:.1f} %")


COMMANDS = {"layers": layers_main, "variants": variants_main, "profile": profile_main,
            "agreement": agreement_main}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
