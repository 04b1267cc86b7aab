#!/usr/bin/env bash
# How often a fruit the classifier was never taught is answered as a sure
# (so wrong) fruit: four species are left out of every training and
# validation folder (symbolic links to the rest), the default fruit model is
# trained on what is left, and `orchard evaluate` is run on the left-out
# species' photos (studio shots, shop photos of both grocery splits), which
# it counts as "unknown species" with how many were answered as sure.
#   bench/unknown_species.sh [OUT_DIR] [train flags...]
# without flags: the default fruit model (scripts/fruit_model.sh: OUT_DIR/model,
# and its int8 variant's bundle, OUT_DIR/model-int8, evaluated with
# `orchard evaluate OUT_DIR/model-int8 OUT_DIR/unknown/*`).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/orchard-unknown}
shift || true
flags=("$@")
. scripts/fruit_model.sh
# Two look-alikes of taught species (lime ~ lemon, mandarin ~ orange), one
# (pear ~ apple, nectarine) and one unlike any (pineapple).
held=("lime" "mandarin" "pear" "pineapple")
target=${CARGO_TARGET_DIR:-$(pwd)/target}
orchard="$target/release/orchard"
data=$(cd ../shared/data && pwd)
rm -rf "$out/known" "$out/unknown"
for set in fruits360-species grocery-store-train grocery-store-val; do
  mkdir -p "$out/known/$set" "$out/unknown/$set"
  for dir in "$data/$set"/*/; do
    name=$(basename "$dir")
    side=known
    for h in "${held[@]}"; do [ "$name" = "$h" ] && side=unknown; done
    ln -s "$dir" "$out/$side/$set/$name"
  done
done
echo "== left out: ${held[*]}"
[ ${#flags[@]} -gt 0 ] || flags=(default)
train_bench "$orchard" "$out/known" "$out/model" unknown-species-bench \
  "$out/known/grocery-store-val" "${flags[@]}" | tee "$out/train.txt"
echo "== orchard evaluate on the left-out species"
"$orchard" evaluate "$out/model" "$out/unknown/fruits360-species" \
  "$out/unknown/grocery-store-train" "$out/unknown/grocery-store-val" \
  --json "$out/unknown.json" | tee "$out/unknown.txt"
