#!/usr/bin/env python3
"""Photos of many kinds, and the seed pipeline's features for each.

    seed_parity.py --model MODEL.onnx --sample SAMPLE_DIR --out DIR

Writes DIR/photos/<kind>/<name> (JPEG of every chroma subsampling, progressive,
grayscale, odd sizes, large and small, PNG), made with Pillow from real
Fruits-360 photos, and DIR/expected.json: {"<kind>/<name>": [1280 floats]}
computed as the seed pipeline does,

    PIL.Image.open(BytesIO(content)).resize([224, 224])   # BICUBIC
    x / 127.5 - 1, NHWC, MobileNetV2 (here the same ONNX model, on ONNX Runtime)

(grayscale converted to RGB first, which the seed would need too). The ONNX
model itself matches Keras (fixtures/keras/check_onnx_parity.py), so this
checks Orchard's decoding and resizing on inputs beyond the sample's 100×100
baseline JPEGs.
"""
import argparse
import io
import json
import os

import numpy as np
from seed_prep import seed_array
import onnxruntime as ort
from PIL import Image


def sources(sample):
    picks = ["apple/0_100.jpg", "lemon/0_100.jpg", "mango/100_100.jpg", "raspberry/0_100.jpg"]
    return [Image.open(os.path.join(sample, p)).convert("RGB") for p in picks]


def side_by_side(images, size):
    w = sum(i.width for i in images)
    canvas = Image.new("RGB", (w, max(i.height for i in images)), "white")
    x = 0
    for i in images:
        canvas.paste(i, (x, 0))
        x += i.width
    return canvas.resize(size, Image.LANCZOS)


def variants(src):
    """(relative path, encoded bytes) of each kind of photo."""
    apple, lemon, mango, raspberry = src

    def jpeg(img, **kw):
        buf = io.BytesIO()
        img.save(buf, "JPEG", **kw)
        return buf.getvalue()

    def png(img):
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return buf.getvalue()

    big = apple.resize((1024, 768), Image.LANCZOS)
    yield "jpeg420/apple_1024x768.jpg", jpeg(big, quality=90, subsampling=2)
    yield "jpeg444/apple_1024x768.jpg", jpeg(big, quality=95, subsampling=0)
    yield "jpeg422/lemon_640x480.jpg", jpeg(lemon.resize((640, 480), Image.LANCZOS), quality=85, subsampling=1)
    yield "progressive/mango_800x600.jpg", jpeg(mango.resize((800, 600), Image.LANCZOS), quality=88, progressive=True)
    yield "gray/raspberry_500x400.jpg", jpeg(raspberry.resize((500, 400), Image.LANCZOS).convert("L"), quality=90)
    yield "odd/lemon_333x517.jpg", jpeg(lemon.resize((333, 517), Image.LANCZOS), quality=75)
    yield "small/mango_64x48.jpg", jpeg(mango.resize((64, 48), Image.LANCZOS), quality=92)
    yield "wide/fruits_1200x400.jpg", jpeg(side_by_side(src, (1200, 400)), quality=80)
    yield "lowq/raspberry_300x300.jpg", jpeg(raspberry.resize((300, 300), Image.LANCZOS), quality=30)
    yield "png/apple_300x200.png", png(apple.resize((300, 200), Image.LANCZOS))


def seed_features(session, content):
    x = seed_array(content)
    name = session.get_inputs()[0].name
    return session.run(None, {name: x[None]})[0][0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--sample", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    expected = {}
    for rel, content in variants(sources(args.sample)):
        path = os.path.join(args.out, "photos", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        expected[rel] = [float(v) for v in seed_features(session, content)]
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
