"""The seed's preprocessing, in one place for every Python script that
reproduces it (the parity test, the benchmarks and studies, the Keras
fixtures): PIL decode, RGB, `Image.resize((S, S))` with Pillow's default
filter (bicubic), float32, Keras' `x / 127.5 - 1` (MobileNetV2's
`preprocess_input`, mode "tf"), NHWC.

Scripts outside this folder import it with
`sys.path.insert(0, <repo>/tests/python)`.
"""
import io

import numpy as np
from PIL import Image, ImageOps


def seed_image(source, exif=False):
    """The photo at `source` (a path or the file's bytes) as an RGB image;
    with `exif`, turned upright by its EXIF orientation first."""
    img = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    if exif:
        img = ImageOps.exif_transpose(img)
    return img if img.mode == "RGB" else img.convert("RGB")


def seed_input(img, size=224):
    """An RGB image resized as the seed does and scaled to [-1, 1]:
    float32, (size, size, 3)."""
    x = np.asarray(img.resize((size, size)), dtype=np.float32)
    return x / np.float32(127.5) - np.float32(1.0)


def seed_array(source, size=224, exif=False):
    """`seed_input(seed_image(source))`: the model input of one photo."""
    return seed_input(seed_image(source, exif=exif), size)
