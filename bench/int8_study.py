"""First look at int8 (issue 14): ONNX Runtime static QDQ quantization of the
default model, and how far its features are from fp32 (cosine per photo).

    .venv/bin/python bench/int8_study.py [FP32_ONNX]

Calibrates on 100 studio + 100 grocery photos, compares on 200 + 200 others
(seeded shuffle), PIL bicubic resize to 224 and Keras `x/127.5 - 1` as the
seed does. Writes the variants under /tmp/int8/. Speed is not measured here
(`orchard bench` will get a precision axis).
"""
import glob, os, random, sys, time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

FP32 = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/orchard/models/mobilenet_v2.onnx")
DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
OUT = "/tmp/int8"


def prep(path):
    image = Image.open(path).convert("RGB").resize((224, 224), Image.BICUBIC)
    return (np.asarray(image, dtype=np.float32) / 127.5 - 1.0)[None]


class Photos(CalibrationDataReader):
    def __init__(self, paths, name):
        self.paths, self.name = iter(paths), name

    def get_next(self):
        path = next(self.paths, None)
        return None if path is None else {self.name: prep(path)}


def features(session, name, paths):
    out = []
    for i in range(0, len(paths), 20):
        x = np.concatenate([prep(p) for p in paths[i:i + 20]])
        out.append(session.run(None, {name: x})[0].reshape(len(x), -1))
    return np.concatenate(out)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(7)
    studio = sorted(glob.glob(os.path.join(DATA, "fruits360-sample/*/*.jpg")))
    grocery = sorted(glob.glob(os.path.join(DATA, "grocery-store-train/*/*.jpg")))
    rng.shuffle(studio)
    rng.shuffle(grocery)
    calibration = studio[:100] + grocery[:100]
    held_out = {"studio": studio[200:400], "grocery": grocery[200:400]}
    fp32 = ort.InferenceSession(FP32, providers=["CPUExecutionProvider"])
    name = fp32.get_inputs()[0].name
    reference = {k: features(fp32, name, v) for k, v in held_out.items()}
    pre = os.path.join(OUT, "pre.onnx")
    quant_pre_process(FP32, pre)
    variants = {
        "u8 act, s8 per-channel weights, MinMax": dict(activation_type=QuantType.QUInt8, calibrate_method=CalibrationMethod.MinMax, extra_options={}),
        "u8 act, s8 per-channel weights, Percentile": dict(activation_type=QuantType.QUInt8, calibrate_method=CalibrationMethod.Percentile, extra_options={}),
        "s8 symmetric act, s8 per-channel weights, MinMax": dict(activation_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax, extra_options={"ActivationSymmetric": True}),
    }
    for i, (label, options) in enumerate(variants.items()):
        path = os.path.join(OUT, f"variant{i}.onnx")
        quantize_static(pre, path, Photos(calibration, name), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8, **options)
        int8 = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        for kind, paths in held_out.items():
            a, b = reference[kind], features(int8, name, paths)
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            print(f"{label:50s} {kind:8s} cosine mean {cos.mean():.4f} p1 {np.percentile(cos, 1):.4f} min {cos.min():.4f}", flush=True)


if __name__ == "__main__":
    main()
