#!/usr/bin/env bash
# README command 1: set up (build, Python env, ONNX Runtime, default model) and
# run the main job on the bundled Fruits-360 sample.
#   scripts/demo.sh [INPUT] [OUTPUT] [extra orchard extract flags…]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/setup.sh
input=${1:-../shared/data/fruits360-sample}
output=${2:-out/fruits360-sample}
shift $(( $# > 2 ? 2 : $# )) || true
target=${CARGO_TARGET_DIR:-$root/target}
printf '\n== orchard extract %s %s\n' "$input" "$output" >&2
"$target/release/orchard" extract "$input" "$output" --overwrite "$@"

# The default fruit model (scripts/fruit_model.sh): studio shots of 46
# species and real grocery-store photos, EfficientNet-Lite2 with its last three
# blocks fine-tuned on them, and its classifier (out/fruit-model), then the
# same model in int8 for cheaper serving (out/fruit-model-int8); about 16
# minutes on 2 cores (a log line every tenth of the fine-tuning steps).
# Measured on photos of other store visits (grocery-store-val, never trained
# on), then a try on a few photos. Skipped when the shared data is not there.
data=$(dirname "$input")
if [ -d "$data/fruits360-species" ] && [ -d "$data/grocery-store-train" ]; then
  validate=()
  [ -d "$data/grocery-store-val" ] && validate=(--validate "$data/grocery-store-val")
  . scripts/fruit_model.sh
  train_fruit_model "$target/release/orchard" "$data" out/fruit-model fruit-efficientnet_lite2 "${validate[@]}"
  printf '\n== orchard identify out/fruit-model (one grocery photo of each of three species)\n' >&2
  "$target/release/orchard" identify out/fruit-model \
    "$(ls -d "$data/grocery-store-train/banana/"* | head -1)" \
    "$(ls -d "$data/grocery-store-train/kiwi/"* | head -1)" \
    "$(ls -d "$data/grocery-store-train/pineapple/"* | head -1)"
fi
