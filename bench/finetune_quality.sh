#!/usr/bin/env bash
# The quality table of BENCHMARKS.md ("Right on photos it has never seen"):
# the default fruit model trained frozen, fine-tuned, and on other backbones,
# each measured on photos of other store visits (grocery-store-val, never
# trained on), on held-out groups of the training photos, and on things that
# are not fruit (scikit-image's and scikit-learn's sample photos), then on
# stock photos from another source (bench/stock_photos.sh, OUT/stock).
#   bench/finetune_quality.sh [OUT_DIR] [config...]
# configs: default (the default fruit model, scripts/fruit_model.sh: OUT/default,
#          and its int8 variant's bundle, OUT/default-int8),
#          frozen, finetune (MobileNetV2, the --fine-tune defaults), finetune2
#          (two blocks), effnet (efficientnet_lite2 frozen), effnet-ft
#          (efficientnet_lite2 fine-tuned: 2 blocks, 4 epochs, 2 variants),
#          effnet-ft2b, effnet-ft3, effnet-ft4 (efficientnet_lite2 fine-tuned:
#          2, 3 or 4 blocks, 3 epochs, 2 variants)
# EXTRA_FLAGS (e.g. "--seed 7", "--tune-keep holdout" for the early
# stopping the older rows used, or "--tune-mix 1" for the rows measured
# before fine-tuned weights were mixed with the parent's) go to every
# `orchard train`; with SUFFIX set
# the bundles are named CONFIG-SUFFIX.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/orchard-quality}
shift || true
configs=${*:-frozen default}
. scripts/fruit_model.sh
target=${CARGO_TARGET_DIR:-$(pwd)/target}
orchard="$target/release/orchard"
data=../shared/data
mkdir -p "$out"
[ -d "$out/nonfruit" ] || .venv/bin/python tests/python/nonfruit_photos.py "$out/nonfruit" >/dev/null
for config in $configs; do
  name=$config${SUFFIX:+-$SUFFIX}
  case $config in
    default) flags=(default) ;;  # scripts/fruit_model.sh: three commands
    frozen) flags=() ;;
    finetune) flags=(--fine-tune --tuned-model "fruit-$name-bench") ;;
    finetune2) flags=(--fine-tune --tune-blocks 2 --tuned-model "fruit-$name-bench") ;;
    effnet) flags=(--model efficientnet_lite2) ;;
    effnet-ft) flags=(--model efficientnet_lite2 --fine-tune --tune-epochs 4 --tune-variants 2 --tuned-model "fruit-$name-bench") ;;
    effnet-ft2b|effnet-ft3|effnet-ft4)  # 2, 3 or 4 blocks, 3 epochs, 2 variants
      blocks=${config#effnet-ft}
      flags=(--model efficientnet_lite2 --fine-tune --tune-epochs 3 --tune-variants 2
        --tune-blocks "${blocks%b}" --tuned-model "fruit-$name-bench") ;;
    *) echo "unknown config $config" >&2; exit 2 ;;
  esac
  # shellcheck disable=SC2206
  flags+=(${EXTRA_FLAGS:-})
  echo "== $name: orchard train $data/fruits360-species $data/grocery-store-train --validate $data/grocery-store-val ${flags[*]}"
  train_bench "$orchard" "$data" "$out/$name" "fruit-$name-bench" \
    "$data/grocery-store-val" "${flags[@]}" | tee "$out/$name.train.txt"
  "$orchard" identify "$out/$name" "$out/nonfruit" --format jsonl > "$out/$name.nonfruit.jsonl"
  python3 -c "
import json,sys
rows=[json.loads(l) for l in open('$out/$name.nonfruit.jsonl')]
print(f'non-fruit answered as a sure fruit: {sum(r[\"sure\"] for r in rows)} of {len(rows)}')"
  # Photos from another source (bench/stock_photos.sh; built on first use).
  bundles=("$out/$name")
  [ "$config" != default ] || bundles+=("$out/$name-int8")
  bench/stock_photos.sh "$out/stock" "${bundles[@]}"
done
