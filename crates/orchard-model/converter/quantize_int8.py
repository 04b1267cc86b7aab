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

Bias correction (on unless --no-bias-correction; Nagel et al., "Data-Free
Quantization Through Weight Equalization and Bias Correction", ICCV 2019):
rounding a Conv's weights to int8 shifts the mean of its output by
sum(dW * E[x]), where dW is the rounding error and E[x] the mean of its input
channels. In MobileNetV2 the early depthwise convolutions see inputs with a
large mean and few weights per channel, so that shift alone costs most of the
feature error. Each quantized Conv's bias is corrected by it, with dW
computed exactly as onnxruntime.quantization rounds the weights and E[x]
measured on the calibration photos; excluded (fp32) nodes keep their bias.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.quant_utils import quantize_data
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


def input_means(model, convs, tensors, name):
    """Per-channel mean of each Conv's input over the calibration photos."""
    probe = onnx.ModelProto.FromString(model.SerializeToString())
    wanted = sorted({n.input[0] for n in convs})
    del probe.graph.output[:]
    for tensor in wanted:
        probe.graph.output.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    sums = dict.fromkeys(wanted, 0.0)
    for start in range(0, len(tensors), 16):
        batch = tensors[start:start + 16]
        for tensor, value in zip(wanted, session.run(wanted, {name: batch})):
            sums[tensor] = sums[tensor] + value.mean(axis=(2, 3)).sum(axis=0)
    return {tensor: total / len(tensors) for tensor, total in sums.items()}


def groups(node):
    """A Conv's `group` attribute (1 unless given)."""
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def seven_bit_weights(node, reduce_range):
    """Whether a Conv's weights use 7 bits. With --reduce-range the depthwise
    weights still keep all 8: ONNX Runtime's int8 depthwise kernels widen both
    operands to 16 bits before multiplying (MLAS qdwconv), so VPMADDUBSW's
    saturation, the reason for 7-bit weights, does not apply to them, and
    those layers are the most sensitive to rounding."""
    return reduce_range and groups(node) == 1


def rounded_weights(w, seven_bits):
    """Conv weights [out, ...] as ORT's per-channel symmetric int8 quantization
    rounds them (its own quantize_data), back in float."""
    rounded = np.empty_like(w)
    for channel in range(w.shape[0]):
        zero, scale, q = quantize_data(w[channel].flatten(), TensorProto.INT8, True, seven_bits)
        rounded[channel] = ((q.astype(np.float32) - zero) * scale).reshape(w[channel].shape)
    return rounded


def full_range_weights(path, reduce_range):
    """ORT's TensorQuantOverrides keeping 8-bit weights where
    `seven_bit_weights` says so under --reduce-range."""
    if not reduce_range:
        return {}
    model = onnx.load(path)
    return {n.input[1]: [{"axis": 0, "reduce_range": False}]
            for n in model.graph.node
            if n.op_type == "Conv" and not seven_bit_weights(n, reduce_range)}


def correct_biases(path, tensors, name, exclude, reduce_range):
    """Folds each quantized Conv's weight-rounding shift into its bias (in place)."""
    model = onnx.load(path)
    weights = {i.name: i for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv" and n.name not in exclude
             and len(n.input) == 3 and n.input[1] in weights and n.input[2] in weights]
    means = input_means(model, convs, tensors, name)
    for node in convs:
        w = numpy_helper.to_array(weights[node.input[1]])
        rounded = rounded_weights(w, seven_bit_weights(node, reduce_range))
        group = groups(node)
        outputs, per_group = w.shape[0], w.shape[1]
        # weight [o, j] reads input channel (o // (outputs / group)) * per_group + j
        channel_of = ((np.arange(outputs)[:, None] // (outputs // group)) * per_group
                      + np.arange(per_group)[None, :])
        mean = means[node.input[0]][channel_of]
        shift = ((rounded - w).reshape(outputs, per_group, -1).sum(axis=2) * mean).sum(axis=1)
        bias = numpy_helper.to_array(weights[node.input[2]])
        weights[node.input[2]].CopyFrom(
            numpy_helper.from_array((bias - shift).astype(bias.dtype), node.input[2]))
    onnx.save(model, path)
    return len(convs)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--calibration", required=True)
    parser.add_argument("--exclude", default="")
    parser.add_argument("--activations", choices=sorted(ACTIVATIONS), default="u8")
    parser.add_argument("--method", choices=sorted(METHODS), default="minmax")
    parser.add_argument("--reduce-range", action="store_true")
    parser.add_argument("--no-bias-correction", action="store_true")
    parser.add_argument("--percentile", type=float, default=99.999)
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
        corrected = 0 if args.no_bias_correction else correct_biases(
            pre, tensors, name, set(exclude), args.reduce_range)
        overrides = full_range_weights(pre, args.reduce_range)
        quantize_static(pre, args.output, Tensors(tensors, name), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=ACTIVATIONS[args.activations],
                        calibrate_method=METHODS[args.method], reduce_range=args.reduce_range,
                        nodes_to_exclude=exclude,
                        extra_options={"WeightSymmetric": True,
                                       "TensorQuantOverrides": overrides,
                                       "CalibPercentile": args.percentile,
                                       "ActivationSymmetric": args.activations == "s8"})
    # The pre-processing step records every intermediate shape with a batch
    # of one; drop them, so that runtimes infer shapes for any batch (tract
    # refuses the model otherwise).
    quantized = onnx.load(args.output)
    del quantized.graph.value_info[:]
    onnx.save(quantized, args.output)
    print(json.dumps({"calibration_photos": int(len(tensors)), "excluded": exclude,
                      "activations": args.activations, "method": args.method,
                      "reduce_range": args.reduce_range, "bias_corrected_nodes": corrected,
                      "full_range_weights": len(overrides),
                      "percentile": args.percentile}))


if __name__ == "__main__":
    main()
