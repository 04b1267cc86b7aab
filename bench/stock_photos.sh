#!/usr/bin/env bash
# Photos from another source: cut-out photos of fruit on white, the kind of
# stock photo a person finds on the web. None of them is in the training
# data; they come from two Debian packages (Tux Paint's stamps, GPL-2+, and
# qABCs' pictures, GPL-3+), which apt downloads from the Debian archive.
# Each photo is laid on white and saved as a JPEG under its species:
#   OUT/stock-on-white/LABEL/NAME.jpg   34 photos of 22 taught species
#   OUT/stock-not-taught/NAME/NAME.jpg  23 vegetables, nuts and a cherimoya:
#                                       produce outside the species list
#   OUT/stock-not-fruit/KIND/NAME.jpg   274 other stamps (animals, flowers,
#                                       tools, vehicles, planets, balls, …)
#   OUT/stock-on-surfaces/LABEL/SURFACE-NAME.jpg
#                                       the 34 taught photos on three real
#                                       surfaces instead of white: GIMP's
#                                       photographed wood, marble and burlap
#                                       (bench/texture_backgrounds.sh), scaled
#                                       to span the photo and blurred as a
#                                       background out of focus is
# and each BUNDLE given is evaluated on the four (`orchard evaluate`, with
# `--tta N` too when TTA is set, e.g. TTA=4), one line per bundle.
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
      --wildcards './usr/share/tuxpaint/stamps/*.png' \
      './usr/share/qabcs/abcs/all/pics/food/*.png' 2>/dev/null || true
  done
fi
bench/texture_backgrounds.sh "$out/textures" >/dev/null
.venv/bin/python - "$out/debs/root/usr/share" "$out" "$out/textures" <<'EOF'
import glob, os, shutil, sys
from PIL import Image, ImageFilter

share, out, textures = sys.argv[1], sys.argv[2], sys.argv[3]
stamps = os.path.join(share, "tuxpaint/stamps")
tux = os.path.join(stamps, "food")
abc = os.path.join(share, "qabcs/abcs/all/pics/food")
# Species: its pictures, Tux Paint's by path under stamps/, qABCs' as
# `qabcs:NAME`. Only photos: drawn pictures of both packages are left out.
by_species = {
    "apple": "food/fruit/apple_fuji food/fruit/apple_granny_smith food/fruit/apple_green "
             "food/fruit/apple_red food/fruit/apple_sierra_beauty qabcs:apples",
    "apricot": "food/fruit/Apricot_whole food/fruit/apricot",
    "avocado": "food/fruit/avocado",
    "banana": "food/fruit/banana qabcs:bananas",
    "cherry": "food/fruit/Cherry_Stella",
    "date": "qabcs:date",
    "grape": "food/fruit/grapes",
    "kiwi": "food/fruit/kiwi qabcs:kiwi",
    "lemon": "food/fruit/lemon",
    "lime": "food/fruit/sliced_lime",
    "mandarin": "food/fruit/mandarine",
    "mango": "food/fruit/mango",
    "orange": "food/fruit/orange food/fruit/orange_seville food/fruit/sliced_orange",
    "pear": "food/fruit/pear",
    "pineapple": "food/fruit/pineapple qabcs:pineapple",
    "plum": "qabcs:plum",
    "pomegranate": "food/fruit/pomegranate",
    "rambutan": "plants/trees/rambutan",
    "raspberry": "food/fruit/raspberry",
    "strawberry": "food/fruit/Strawberry2 food/fruit/strawberry",
    "tangelo": "qabcs:uglifruit",
    "tomato": "food/vegetables/tomato",
}
def picture(name):
    if name.startswith("qabcs:"):
        return f"{abc}/{name[len('qabcs:'):]}.png"
    return f"{stamps}/{name}.png"
taught = [(picture(n), label) for label, names in by_species.items() for n in names.split()]
not_taught = [f"{tux}/fruit/cherimoya.png", f"{stamps}/plants/eggplant.png"] + [
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

# Every other photo-like stamp: not food, not a symbol, sign or cartoon.
kinds = "animals clothes hobbies household plants space sports town/monuments vehicles".split()
not_fruit = sorted(
    f for k in kinds for f in glob.glob(f"{stamps}/{k}/**/*.png", recursive=True)
    if "cartoon" not in f and f not in {src for src, _ in taught} and f not in not_taught
)
def on_surface(src, surface, dst):
    """The picture on a real surface: the surface scaled to span a square
    1.5× the picture's larger side, blurred (radius 1 % of the side)."""
    img = Image.open(src).convert("RGBA")
    side = int(max(img.size) * 1.5)
    k = side / min(surface.size)
    back = surface.resize((max(side, round(surface.width * k)), max(side, round(surface.height * k))))
    back = back.crop((0, 0, side, side)).filter(ImageFilter.GaussianBlur(side / 100)).convert("RGBA")
    back.alpha_composite(img, ((side - img.width) // 2, (side - img.height) // 2))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    back.convert("RGB").save(dst, quality=92)

surfaces = {n: Image.open(os.path.join(textures, f"{n}.png")).convert("RGB")
            for n in ("Wood-pine", "Stone-marble1", "Fabric-burlap")}
for name in ("stock-on-white", "stock-not-taught", "stock-not-fruit", "stock-on-surfaces"):
    shutil.rmtree(os.path.join(out, name), ignore_errors=True)
for src, label in taught:
    tag = "tuxpaint" if src.startswith(stamps) else "qabcs"
    stem = os.path.splitext(os.path.basename(src))[0]
    on_white(src, os.path.join(out, "stock-on-white", label, f"{tag}-{stem}.jpg"))
    for surface_name, surface in surfaces.items():
        on_surface(src, surface,
                   os.path.join(out, "stock-on-surfaces", label, f"{surface_name}-{tag}-{stem}.jpg"))
for src in not_taught:
    stem = os.path.splitext(os.path.basename(src))[0]
    kind = os.path.basename(os.path.dirname(src))
    on_white(src, os.path.join(out, "stock-not-taught", stem, f"{kind}-{stem}.jpg"))
for src in not_fruit:
    rel = os.path.relpath(src, stamps)
    kind = rel.split("/")[0]
    on_white(src, os.path.join(out, "stock-not-fruit", kind, rel.replace("/", "-")[:-4] + ".jpg"))
print(f"{len(taught)} photos of taught species (and {len(taught) * len(surfaces)} on surfaces), "
      f"{len(not_taught)} of other produce, {len(not_fruit)} of things that are not fruit")
EOF
printf '%-28s %4s %9s %9s %16s %16s %13s %13s\n' bundle tta stock_top1 not_sure produce_sure \
  not_fruit_sure surface_top1 surface_unsure
for bundle in "$@"; do
  name=$(basename "$bundle")
  for n in 1 ${TTA:-}; do
    json="$out/$name.tta$n.json"
    if ! "$orchard" evaluate "$bundle" "$out/stock-on-white" "$out/stock-not-taught" \
      "$out/stock-not-fruit" "$out/stock-on-surfaces" --tta "$n" --json "$json" \
      >"$out/$name.tta$n.txt" 2>&1; then
      cat "$out/$name.tta$n.txt" >&2
      exit 1
    fi
    python3 - "$json" "$bundle" "$n" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
sets = {s["name"].rstrip("/").rsplit("/", 1)[-1]: s for s in m["sets"]}
known = sets["stock-on-white"]["known"]
sure = {k: f'{sets[k]["unknown"]["answered_sure"]}/{sets[k]["unknown"]["photos"]}'
        for k in ("stock-not-taught", "stock-not-fruit")}
surfaces = sets["stock-on-surfaces"]["known"]
print(f'{sys.argv[2]:<28} {sys.argv[3]:>4} {known["accuracy"]:9.3f} {known["unsure_rate"]:9.3f} '
      f'{sure["stock-not-taught"]:>16} {sure["stock-not-fruit"]:>16} '
      f'{surfaces["accuracy"]:13.3f} {surfaces["unsure_rate"]:13.3f}')
PY
  done
done
