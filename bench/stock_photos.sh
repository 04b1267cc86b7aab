#!/usr/bin/env bash
# Photos from another source: cut-out photos of fruit on white, the kind of
# stock photo a person finds on the web. None of them is in the training
# data; they come from two Debian packages (Tux Paint's stamps, GPL-2+, and
# qABCs' pictures, GPL-3+), which apt downloads from the Debian archive.
# Each photo is laid on white and saved as a JPEG under its species:
#   OUT/stock-on-white/LABEL/NAME.jpg   33 photos of 21 taught species
#   OUT/stock-not-taught/NAME/NAME.jpg  22 vegetables, nuts and a cherimoya:
#                                       things outside the species list
# and each BUNDLE given is evaluated on both (`orchard evaluate`, with
# `--tta N` too when TTA is set, e.g. TTA=4).
#   bench/stock_photos.sh OUT [BUNDLE...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/stock_photos.sh OUT [BUNDLE...]}
shift
target=${CARGO_TARGET_DIR:-$(pwd)/target}
orchard=${ORCHARD:-$target/release/orchard}
mkdir -p "$out/debs"
out=$(cd "$out" && pwd)
# Pinned versions: the set is the same wherever it is built.
packages=(tuxpaint-stamps-default=2022.06.04-1 qabcs-data=1.0.2-6)
if [ ! -d "$out/debs/root" ]; then
  (cd "$out/debs" && apt-get download "${packages[@]}")
  mkdir -p "$out/debs/root"
  for deb in "$out"/debs/*.deb; do
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$out/debs/root" \
      --wildcards './usr/share/tuxpaint/stamps/food/*.png' \
      './usr/share/qabcs/abcs/all/pics/food/*.png' 2>/dev/null || true
  done
fi
.venv/bin/python - "$out/debs/root/usr/share" "$out" <<'EOF'
import os, shutil, sys
from PIL import Image

share, out = sys.argv[1], sys.argv[2]
tux = os.path.join(share, "tuxpaint/stamps/food")
abc = os.path.join(share, "qabcs/abcs/all/pics/food")
# (file, species): only photos; drawn pictures of both packages are left out.
taught = [
    (f"{tux}/fruit/Apricot_whole.png", "apricot"), (f"{tux}/fruit/apricot.png", "apricot"),
    (f"{tux}/fruit/Cherry_Stella.png", "cherry"), (f"{tux}/fruit/Strawberry2.png", "strawberry"),
    (f"{tux}/fruit/strawberry.png", "strawberry"), (f"{tux}/fruit/apple_fuji.png", "apple"),
    (f"{tux}/fruit/apple_granny_smith.png", "apple"), (f"{tux}/fruit/apple_green.png", "apple"),
    (f"{tux}/fruit/apple_red.png", "apple"), (f"{tux}/fruit/apple_sierra_beauty.png", "apple"),
    (f"{tux}/fruit/avocado.png", "avocado"), (f"{tux}/fruit/banana.png", "banana"),
    (f"{tux}/fruit/grapes.png", "grape"), (f"{tux}/fruit/kiwi.png", "kiwi"),
    (f"{tux}/fruit/lemon.png", "lemon"), (f"{tux}/fruit/mandarine.png", "mandarin"),
    (f"{tux}/fruit/mango.png", "mango"), (f"{tux}/fruit/orange.png", "orange"),
    (f"{tux}/fruit/orange_seville.png", "orange"), (f"{tux}/fruit/sliced_orange.png", "orange"),
    (f"{tux}/fruit/sliced_lime.png", "lime"), (f"{tux}/fruit/pear.png", "pear"),
    (f"{tux}/fruit/pineapple.png", "pineapple"), (f"{tux}/fruit/pomegranate.png", "pomegranate"),
    (f"{tux}/fruit/raspberry.png", "raspberry"), (f"{tux}/vegetables/tomato.png", "tomato"),
    (f"{abc}/apples.png", "apple"), (f"{abc}/bananas.png", "banana"), (f"{abc}/kiwi.png", "kiwi"),
    (f"{abc}/pineapple.png", "pineapple"), (f"{abc}/plum.png", "plum"), (f"{abc}/date.png", "date"),
    (f"{abc}/uglifruit.png", "tangelo"),
]
not_taught = [f"{tux}/fruit/cherimoya.png"] + [
    f"{tux}/{d}/{n}.png" for d, names in {
        "vegetables": "broccoli carrot chilepepper corn eggplant garlic garlics lettuce mushroom "
                      "onion pattypan_squash pepper potato pumpkin_small redlettuce yam yellowpepper",
        "nuts": "almond pecan walnut walnut_shelled",
    }.items() for n in names.split()
]

def on_white(src, dst):
    img = Image.open(src).convert("RGBA")
    white = Image.new("RGBA", img.size, (255, 255, 255, 255))
    white.alpha_composite(img)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    white.convert("RGB").save(dst, quality=92)

for name in ("stock-on-white", "stock-not-taught"):
    shutil.rmtree(os.path.join(out, name), ignore_errors=True)
for src, label in taught:
    tag = "tuxpaint" if src.startswith(tux) else "qabcs"
    stem = os.path.splitext(os.path.basename(src))[0]
    on_white(src, os.path.join(out, "stock-on-white", label, f"{tag}-{stem}.jpg"))
for src in not_taught:
    stem = os.path.splitext(os.path.basename(src))[0]
    on_white(src, os.path.join(out, "stock-not-taught", stem, f"{stem}.jpg"))
print(f"{len(taught)} photos of taught species, {len(not_taught)} of things outside the list")
EOF
for bundle in "$@"; do
  name=$(basename "$bundle")
  for n in 1 ${TTA:-}; do
    echo "== $bundle, --tta $n"
    "$orchard" evaluate "$bundle" "$out/stock-on-white" "$out/stock-not-taught" \
      --tta "$n" --json "$out/$name.tta$n.json" 2>/dev/null | tee "$out/$name.tta$n.txt"
  done
done
