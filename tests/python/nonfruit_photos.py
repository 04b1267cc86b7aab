"""Writes photos of things that are not fruit into OUT_DIR, for the
classifier's "not sure" test: the real photos and scans scikit-image ships
(an astronaut, a cat, a coffee cup, a rocket, a camera man, bricks, grass,
gravel, coins, text, a page, the moon, a motorcycle, the Hubble deep
field...) plus scikit-learn's two sample photos (a temple, a flower), as
JPEG at their own size. Licences: see scikit-image's and scikit-learn's
data documentation; none of these files is kept in the repository."""
import os
import sys

import numpy as np
from PIL import Image
import skimage.data as data
from sklearn.datasets import load_sample_images

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
names = ["astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins",
         "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo",
         "microaneurysms", "moon", "page", "retina", "rocket", "text"]
count = 0
for name in names:
    a = np.asarray(getattr(data, name)())
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    Image.fromarray(a).convert("RGB").save(os.path.join(out, f"{name}.jpg"), quality=90)
    count += 1
left = np.asarray(data.stereo_motorcycle()[0])
Image.fromarray(left).convert("RGB").save(os.path.join(out, "motorcycle.jpg"), quality=90)
for i, a in enumerate(load_sample_images().images):
    Image.fromarray(a).save(os.path.join(out, f"sklearn_{i}.jpg"), quality=90)
print(count + 3)
