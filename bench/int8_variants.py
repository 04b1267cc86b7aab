"""int8 variants side by side (issue 14): each quantized by Orchard's own
quantizer (crates/orchard-model/converter/quantize_int8.py) on the same
calibration photos, then compared to fp32 on other photos.

    .venv/bin/python bench/int8_variants.py [--fp32 MODEL] VARIANT [VARIANT ...]

A VARIANT is the quantizer's options in one string, e.g.
  "--method minmax --no-bias-correction"            (every node int8, as before)
  "--method percentile"                                   (bias corrected)
  "--method percentile --exclude Conv1,expanded_conv_depthwise"
or "weights-only" / "weights-only-corrected": the fp32 model with only its
Conv weights rounded as ORT rounds them (activations stay fp32), without or
with bias correction — what weight rounding alone costs.

Calibration: 100 studio + 100 grocery photos; cosine (mean / p1 / min) on 200
other studio and 200 other grocery photos, prepared as bench/int8_layers.py
does.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from int8_layers import cosine, features, prepared, session, shuffled_photos  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
QUANTIZER = os.path.join(ROOT, "crates/orchard-model/converter/quantize_int8.py")
sys.path.insert(0, os.path.dirname(QUANTIZER))
from quantize_int8 import correct_biases, rounded_weights  # noqa: E402


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


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fp32", default=os.path.expanduser("~/.cache/orchard/models/mobilenet_v2.onnx"))
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
