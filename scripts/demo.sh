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
