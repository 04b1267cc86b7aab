"""Static int8 quantization of an ONNX model with ONNX Runtime's own tool
(`onnxruntime.quantization`), run by `orchard model quantize`.

    python quantize_int8.py --input FP32.onnx --output INT8.onnx \
        --calibration TENSORS.npy [--exclude NODE,NODE] [--activations u8|s8] \
        [--reduce-range] [--method minmax|percentile|entropy]

TENSORS.npy holds the calibration photos exactly as Orchard feeds them to the
model (decoded, resized and normalised by Orchard itself), shape
[n, ...input]. The model is first run through ORT's pre-processing step
(`quant_pre_process`: shape inference and graph optimisation), then quantized
in the QDQ format with per-channel symmetric int8 weights and the chosen
activation type; the nodes named in --exclude stay fp32. Prints one JSON line
with what it did.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
           "entropy": CalibrationMethod.Entropy}
ACTIVATIONS = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}


class Tensors(CalibrationDataReader):
    """One calibration photo per call, as a batch of one."""

    def __init__(self, tensors, name):
        self.tensors, self.name, self.next = tensors, name, 0

    def get_next(self):
        if self.next >= len(self.tensors):
            return None
        batch = self.tensors[self.next:self.next + 1]
        self.next += 1
        return {self.name: batch}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--calibration", required=True)
    parser.add_argument("--exclude", default="")
    parser.add_argument("--activations", choices=sorted(ACTIVATIONS), default="u8")
    parser.add_argument("--method", choices=sorted(METHODS), default="minmax")
    parser.add_argument("--reduce-range", action="store_true")
    args = parser.parse_args()

    tensors = np.load(args.calibration).astype(np.float32)
    model = onnx.load(args.input)
    name = model.graph.input[0].name
    nodes = {n.name for n in model.graph.node}
    exclude = [n for n in args.exclude.split(",") if n]
    unknown = sorted(set(exclude) - nodes)
    if unknown:
        sys.exit(f"--exclude names nodes the model does not have: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory() as work:
        pre = os.path.join(work, "pre.onnx")
        quant_pre_process(args.input, pre)
        quantize_static(pre, args.output, Tensors(tensors, name), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=ACTIVATIONS[args.activations],
                        calibrate_method=METHODS[args.method], reduce_range=args.reduce_range,
                        nodes_to_exclude=exclude,
                        extra_options={"WeightSymmetric": True,
                                       "ActivationSymmetric": args.activations == "s8"})
    # The pre-processing step records every intermediate shape with a batch
    # of one; drop them, so that runtimes infer shapes for any batch (tract
    # refuses the model otherwise).
    quantized = onnx.load(args.output)
    del quantized.graph.value_info[:]
    onnx.save(quantized, args.output)
    print(json.dumps({"calibration_photos": int(len(tensors)), "excluded": exclude,
                      "activations": args.activations, "method": args.method,
                      "reduce_range": args.reduce_range}))


if __name__ == "__main__":
    main()
