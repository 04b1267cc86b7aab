"""EXIF fixtures for the kept-uploads tests (Pillow).

Usage:
  exif_fixture.py add SRC DST [WxH]
                                   SRC re-saved as DST (JPEG, or WebP when DST
                                   ends in .webp) with EXIF: a GPS block
                                   (48.8584 N, 2.2945 E), Make/Model/Artist
                                   and Orientation 1; given WxH, a phone-sized
                                   photo instead: SRC stretched to W-by-H
                                   (upright; a model's square resize undoes
                                   the stretch), stored turned on its side
                                   with Orientation 6, as phones save it
  exif_fixture.py inspect FILE     prints {"format", "gps", "exif_tags", "size"}
"""

import json
import sys

from PIL import Image


def add(src: str, dst: str, size: str = "") -> None:
    img = Image.open(src).convert("RGB")
    orientation = 1
    if size:
        width, height = (int(v) for v in size.split("x"))
        upright = img.resize((width, height), Image.BICUBIC)
        # Orientation 6: the stored pixels are the upright picture turned a
        # quarter anticlockwise; a viewer turns it back clockwise.
        img, orientation = upright.transpose(Image.ROTATE_90), 6
    exif = Image.Exif()
    exif[0x010F] = "OrchardTestPhone"  # Make
    exif[0x0110] = "Model-Secret-42"  # Model
    exif[0x013B] = "Alice Example"  # Artist
    exif[0x0112] = orientation
    gps = {1: "N", 2: (48.0, 51.0, 30.24), 3: "E", 4: (2.0, 17.0, 40.2)}
    exif[0x8825] = gps
    if dst.endswith(".webp"):
        img.save(dst, "WEBP", quality=92, exif=exif.tobytes())
    else:
        img.save(dst, "JPEG", quality=92, exif=exif.tobytes())


def inspect(path: str) -> None:
    img = Image.open(path)
    exif = img.getexif()
    gps = exif.get_ifd(0x8825)
    print(json.dumps({
        "format": img.format,
        "gps": bool(gps),
        "exif_tags": sorted(int(k) for k in exif.keys()),
        "size": list(img.size),
    }))


if __name__ == "__main__":
    {"add": lambda: add(*sys.argv[2:5]), "inspect": lambda: inspect(sys.argv[2])}[sys.argv[1]]()
