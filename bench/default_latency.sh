#!/usr/bin/env bash
# Latency of the default fruit model's backbone against MobileNetV2 (the
# previous default), measured in the same run: model inference alone
# (`orchard bench`, batch 1 and 8) and `orchard serve` answering one photo
# at a time (open loop, 5 requests/s) for a 100x100 studio shot and a 12 MP
# phone photo, with a bundle of each backbone.
#   bench/default_latency.sh BUNDLE_A BUNDLE_B [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 out=${3:-/tmp/orchard-latency}
target=${CARGO_TARGET_DIR:-$(pwd)/target}
orchard="$target/release/orchard"
mkdir -p "$out"
model() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]+'/classifier.json'))['feature_model']['name'])" "$1"; }
echo "== orchard bench --models $(model "$a"),$(model "$b")"
"$orchard" --quiet bench --no-end-to-end --backends ort --batch-sizes 1,8 --inference-images 128 \
  --models "$(model "$a"),$(model "$b")" 2>&1 | grep -i -E "model|inference|batch" || true
[ -f "$out/big.jpg" ] || .venv/bin/python tests/python/big_jpeg.py "$(ls -d ../shared/data/grocery-store-val/kiwi/* | head -1)" "$out/big.jpg"
small=../shared/data/fruits360-sample/$(ls ../shared/data/fruits360-sample | head -1)
small=$small/$(ls "$small" | head -1)
for bundle in "$a" "$b"; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$orchard" --quiet serve --classifier "$bundle" --bind "127.0.0.1:$port" &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  for photo in "$small" "$out/big.jpg"; do
    echo "== serve $(model "$bundle"), $(basename "$photo"), 5 req/s"
    .venv/bin/python bench/serve_load.py "http://127.0.0.1:$port" "$photo" --rate 5 --seconds 10
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
