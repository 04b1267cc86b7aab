#!/usr/bin/env bash
# BENCHMARKS.md "The fine-tuned weights mixed with the parent's": one
# fine-tuned model (trained with `--tune-mix 1`, installed as TUNED) mixed
# with its parent at each SHARE (bench/mix_models.py, as `train --tune-mix
# SHARE` would end), a classifier fitted on each mix's features (the two
# training folders, each photo and 2 variants, as the default fruit model's),
# then every bundle measured on grocery-store-val, the stock photos on white
# and on surfaces (bench/stock_photos.sh) and the non-fruit photos, and
# compared photo by photo with SHARE 1 (gained, lost, two-sided sign test).
#   bench/mix_quality.sh OUT TUNED [SHARE...]     (default shares: 1 0.7 0.5)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/mix_quality.sh OUT TUNED [SHARE...]}
tuned=${2:?usage: bench/mix_quality.sh OUT TUNED [SHARE...]}
shift 2
shares=${*:-1 0.7 0.5}
target=${CARGO_TARGET_DIR:-$(pwd)/target}
orchard="$target/release/orchard"
data=../shared/data
models=${ORCHARD_HOME:-$HOME/.cache/orchard}/models
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -d "$out/nonfruit" ] || .venv/bin/python tests/python/nonfruit_photos.py "$out/nonfruit" >/dev/null
bench/stock_photos.sh "$out/stock" >/dev/null
sets=("$data/grocery-store-val" "$out/stock/stock-on-white" "$out/stock/stock-on-surfaces")
for share in $shares; do
  name=$tuned-mix$share
  .venv/bin/python bench/mix_models.py "$models" "$tuned" "$share" "$name"
  "$orchard" train "$data/fruits360-species" "$data/grocery-store-train" --classifier "$out/$name" \
    --model "$name" --augment 2 --validate "$data/grocery-store-val" > "$out/$name.train.txt" 2>&1
  for set in "${sets[@]}" "$out/nonfruit" "$out/stock/stock-not-fruit" "$out/stock/stock-not-taught"; do
    "$orchard" identify "$out/$name" "$set" --format jsonl 2>/dev/null > "$out/$name.$(basename "$set").jsonl"
  done
done
.venv/bin/python - "$out" "$tuned" $shares <<'PY'
import json, sys
from math import comb
out, tuned, shares = sys.argv[1], sys.argv[2], sys.argv[3:]
def rows(share, name):
    return [json.loads(l) for l in open(f"{out}/{tuned}-mix{share}.{name}.jsonl")]
def right(share, name):
    return {r["path"]: r.get("label") == r["path"].split("/")[-2] for r in rows(share, name)}
def sign_test(gained, lost):
    n = gained + lost
    return min(1.0, 2 * sum(comb(n, i) for i in range(max(gained, lost), n + 1)) / 2**n) if n else 1.0
base = shares[0]
print(f"{'share':>6} {'set':<20} {'top-1':>6} {'gained':>7} {'lost':>5} {'p':>5}   (against share {base})")
for share in shares:
    for name in ["grocery-store-val", "stock-on-white", "stock-on-surfaces"]:
        a, b = right(base, name), right(share, name)
        gained = sum(1 for p in a if b[p] and not a[p])
        lost = sum(1 for p in a if a[p] and not b[p])
        print(f"{share:>6} {name:<20} {sum(b.values()) / len(b):6.3f} {gained:7d} {lost:5d} {sign_test(gained, lost):5.2f}")
    sure = lambda name: sum(1 for r in rows(share, name) if r.get("sure"))
    print(f"{share:>6} answered as a sure fruit: non-fruit photos {sure('nonfruit')} of {len(rows(share, 'nonfruit'))}, "
          f"stock non-fruit {sure('stock-not-fruit')} of {len(rows(share, 'stock-not-fruit'))}, "
          f"other produce {sure('stock-not-taught')} of {len(rows(share, 'stock-not-taught'))}")
PY
