#!/usr/bin/env bash
# Fast decoding of phone-size photos (issue 14): the same real grocery photos
# at 12 MP (bench/make_large_photos.py), extracted with and without
# --fast-decode: images/s of each, feature cosine (fast vs exact), and the
# answers of a classifier (trained without those photos) with each decoding.
#
#   bench/fast_decode.sh [N_PHOTOS (default 120)]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-120}
bin=${CARGO_TARGET_DIR:-target}/release/orchard
data=../shared/data
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python bench/make_large_photos.py "$data/grocery-store-train" "$work" "$n"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
for mode in exact fast; do
  flag=(); [ "$mode" = fast ] && flag=(--fast-decode)
  "$bin" --quiet extract "$work/large" "$work/out-$mode" --keep-features "${flag[@]}"
done
"$bin" --quiet train "$data/fruits360-species" "$work/train" --classifier "$work/clf"
"$bin" --quiet identify "$work/clf" "$work/large" --exact-decode --format jsonl > "$work/exact.jsonl"
"$bin" --quiet identify "$work/clf" "$work/large" --format jsonl > "$work/fast.jsonl"
.venv/bin/python - "$work" <<'PY'
import json, sys
import numpy as np, pyarrow.dataset as ds
work = sys.argv[1]
def rows(mode):
    t = ds.dataset(f"{work}/out-{mode}", format="parquet").to_table(columns=["path", "features"]).to_pydict()
    return dict(zip(t["path"], (np.array(f, dtype=np.float64) for f in t["features"])))
def rate(mode):
    return json.load(open(f"{work}/out-{mode}/_run.json"))["images_per_second"]
exact, fast = rows("exact"), rows("fast")
cos = np.array([exact[p] @ fast[p] / (np.linalg.norm(exact[p]) * np.linalg.norm(fast[p])) for p in exact])
print(f"extract 12 MP: exact {rate('exact'):.1f} images/s, fast {rate('fast'):.1f} images/s ({rate('fast') / rate('exact'):.2f}x)")
print(f"feature cosine fast vs exact over {len(cos)} photos: mean {cos.mean():.5f}, p1 {np.percentile(cos, 1):.5f}, min {cos.min():.5f}")
def answers(name):
    out = {}
    for line in open(f"{work}/{name}.jsonl"):
        a = json.loads(line)
        out[a["path"]] = (a.get("label"), a.get("sure"), a.get("error"))
    return out
a, b = answers("exact"), answers("fast")
same = sum(a[p] == b[p] for p in a)
print(f"classifier answers (label and sure / not sure) equal: {same}/{len(a)} ({100 * same / len(a):.1f} %)")
PY
