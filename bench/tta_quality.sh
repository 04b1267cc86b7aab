#!/usr/bin/env bash
# Test-time augmentation (`--tta N`) on photos of other store visits
# (grocery-store-val, never trained on): accuracy and not-sure rate of
# `orchard evaluate`, and the wall time of `orchard identify`, for each
# bundle and N.
#   bench/tta_quality.sh BUNDLE... (e.g. /tmp/q/frozen /tmp/q/finetune)
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$(pwd)/target}
orchard=${ORCHARD:-$target/release/orchard}
val=../shared/data/grocery-store-val
views=${VIEWS:-1 2 4 8}
out=${OUT:-/tmp/orchard-tta}
mkdir -p "$out"
printf '%-24s %4s %9s %9s %10s %10s %7s\n' bundle tta accuracy not_sure when_sure identify_s photos
for bundle in "$@"; do
  name=$(basename "$bundle")
  for n in $views; do
    json="$out/$name.tta$n.json"
    "$orchard" evaluate "$bundle" "$val" --tta "$n" --json "$json" >"$out/$name.tta$n.txt" 2>/dev/null
    start=$(date +%s.%N)
    photos=$("$orchard" identify "$bundle" "$val" --tta "$n" --format jsonl 2>/dev/null | wc -l)
    end=$(date +%s.%N)
    python3 - "$json" "$bundle" "$n" "$(echo "$end - $start" | bc)" "$photos" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
sure = m.get("answered_accuracy")
sure = f"{sure:10.4f}" if sure is not None else f"{'-':>10}"
print(f"{sys.argv[2]:<24} {sys.argv[3]:>4} {m['accuracy']:9.4f} {m['unsure_rate']:9.4f} {sure} {float(sys.argv[4]):10.2f} {sys.argv[5]:>7}")
EOF
  done
done
