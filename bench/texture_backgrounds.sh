#!/usr/bin/env bash
# Real surfaces to composite studio shots on (`orchard train --backgrounds
# DIR`): GIMP's photographed patterns of wood, stone, paper, fabric, leather
# and leaves (Debian's `gimp-data`, GPL-3+), each tiled 3×3 and saved as a
# PNG, so a random crop of it is a table, a shelf or a crate's side.
#   bench/texture_backgrounds.sh OUT   (writes OUT/*.png)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/texture_backgrounds.sh OUT}
mkdir -p "$out/deb"
out=$(cd "$out" && pwd)
# Debian replaces gimp-data's package on each security update, so the
# package is not pinned; the patterns used are, by their digest below.
if [ ! -d "$out/deb/root" ]; then
  (cd "$out/deb" && apt-get download gimp-data)
  mkdir -p "$out/deb/root"
  dpkg-deb --fsys-tarfile "$out"/deb/gimp-data_*.deb | tar -x -C "$out/deb/root" \
    --wildcards './usr/share/gimp/2.0/patterns/*'
fi
.venv/bin/python - "$out/deb/root/usr/share/gimp/2.0/patterns" "$out" <<'PY'
import glob, hashlib, os, struct, sys
from PIL import Image

patterns, out = sys.argv[1], sys.argv[2]
# Surfaces a fruit lies on or before; not the synthetic "Legacy" tiles, sky,
# water or food.
kinds = ["Animal/leather", "Fabric/*", "Paper/*", "Plant/*", "Stone/*", "Wood/*"]
files = sorted(f for k in kinds for f in glob.glob(os.path.join(patterns, k + ".pat")))
# The 33 patterns of gimp-data 2.10.34 (Debian 12): the same surfaces
# wherever the set is built, or a clear stop.
digest = hashlib.sha256(b"".join(open(f, "rb").read() for f in files)).hexdigest()
expected = "def320771c98c84b61999d193b987de6324b9427f6efb337b7486e937acc670f"
if digest != expected:
    sys.exit(f"gimp-data's patterns differ from the recorded set ({len(files)} files, "
             f"sha256 {digest}, expected {expected}): the surfaces would not be the same; "
             f"delete {os.path.join(out, 'deb')} and rerun with Debian 12's gimp-data 2.10.34")
for f in files:
    data = open(f, "rb").read()
    header, _version, w, h, depth = struct.unpack(">5I", data[:20])
    assert data[20:24] == b"GPAT", f
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[depth]
    tile = Image.frombytes(mode, (w, h), data[header:header + w * h * depth]).convert("RGB")
    big = Image.new("RGB", (3 * w, 3 * h))
    for i in range(9):
        big.paste(tile, ((i % 3) * w, (i // 3) * h))
    name = os.path.relpath(f, patterns).replace("/", "-")[:-4]
    big.save(os.path.join(out, name + ".png"))
print(f"{len(files)} backgrounds in {out}")
PY
