"""Which layers int8 costs the most (issue 14): a layer-by-layer study of
ONNX Runtime's static QDQ quantization of the default model.

    .venv/bin/python bench/int8_layers.py [FP32_ONNX] [--method minmax|percentile|entropy]

1. Calibrates once (ranges cached) on 100 studio + 100 grocery photos.
2. Sensitivity: quantizes one node at a time (all others fp32) and measures
   the mean feature distance (1 - cosine) to fp32 on 60 + 60 other photos.
3. Greedy exclusion: quantizes everything except the k most sensitive
   nodes, for growing k, and reports the cosine (mean, p1, min) on 200 + 200
   held-out photos and the speed (images/s, batch 32, 2 threads) against
   fp32 measured in the same run.

Photos are prepared as the seed does (PIL bicubic to 224, x/127.5 - 1).
Variants are written under /tmp/int8-layers/.
"""
import argparse, glob, json, os, random, sys, time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from seed_prep import seed_array  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
OUT = "/tmp/int8-layers"
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default=os.path.expanduser("~/.cache/orchard/models/mobilenet_v2.onnx"))
    parser.add_argument("--method", default="minmax", choices=sorted(METHODS))
    parser.add_argument("--skip-sensitivity", action="store_true")
    parser.add_argument("--keep-activations", action="store_true",
                        help="keep Clip (ReLU6) nodes: QDQKeepRemovableActivations")
    parser.add_argument("--steps", default="0,1,2,3,4,6,8,12,16,24")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
