"""Writes a 12-megapixel phone-sized JPEG (4000x3000, quality 90, 4:2:0)
made by upscaling a photo: big_jpeg.py SOURCE OUT."""
import sys
from PIL import Image

Image.open(sys.argv[1]).convert("RGB").resize((4000, 3000)).save(sys.argv[2], quality=90)
