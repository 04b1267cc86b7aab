"""Phone-size versions of real grocery photos, for the fast-decode benchmark.

    .venv/bin/python bench/make_large_photos.py GROCERY_DIR OUT_DIR N

Picks N photos of GROCERY_DIR (seeded), upscales each to 4032x3024 (12 MP,
a phone's 4:3 sensor; Lanczos), adds sensor-like noise (Gaussian, sigma 3),
and saves it as a quality-92 JPEG with 4:2:0 chroma under OUT_DIR/large/<label>/.
The other photos are linked under OUT_DIR/train/<label>/ so a classifier can
be trained without them.
"""
import os, random, sys

import numpy as np
from PIL import Image

src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
photos = sorted(os.path.join(label, f) for label in os.listdir(src)
                if os.path.isdir(os.path.join(src, label))
                for f in os.listdir(os.path.join(src, label)) if f.lower().endswith(".jpg"))
random.Random(11).shuffle(photos)
chosen, rest = photos[:n], photos[n:]
rng = np.random.default_rng(11)
for rel in chosen:
    image = Image.open(os.path.join(src, rel)).convert("RGB")
    big = image.resize((4032, 3024) if image.width >= image.height else (3024, 4032), Image.LANCZOS)
    pixels = np.asarray(big, dtype=np.float32) + rng.normal(0, 3, (big.height, big.width, 3))
    dest = os.path.join(out, "large", rel)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(dest, quality=92, subsampling=2)
for rel in rest:
    dest = os.path.join(out, "train", rel)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    os.symlink(os.path.abspath(os.path.join(src, rel)), dest)
print(f"{len(chosen)} large photos, {len(rest)} for training")
