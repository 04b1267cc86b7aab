#!/usr/bin/env bash
# Do int8 features give the same answers as fp32 (issue 14)? Extracts the
# studio species and the real grocery photos with both models (Orchard's own
# pipeline, --keep-features), then `bench/int8_study.py agreement` fits the seed's
# recipe (PCA + logistic regression) and a logistic regression on the raw
# features, on fp32 features only, and compares their top-1 answers for fp32
# and int8 features of held-out photos.
#
#   bench/int8_agreement.sh
#
# The int8 model (mobilenet_v2-int8-agreement) is calibrated with `orchard
# model quantize` on 200 grocery photos of the training split only, so no
# held-out photo was calibrated on.
set -euo pipefail
cd "$(dirname "$0")/.."
ORCHARD=${ORCHARD:-${CARGO_TARGET_DIR:-target}/release/orchard}
INT8=mobilenet_v2-int8-agreement
WORK=${WORK:-/tmp/int8-agreement}
DATA=../shared/data
mkdir -p "$WORK"
rm -rf "$WORK/calibration"
.venv/bin/python - "$DATA/grocery-store-train" "$WORK/calibration" <<'PY'
import os, sys
sys.path.insert(0, "bench")
from int8_agreement import fnv1a
src, dst = sys.argv[1:]
for label in sorted(os.listdir(src)):
    for name in sorted(os.listdir(os.path.join(src, label))):
        if fnv1a(f"{label}/{name}") % 5 != 4:
            os.makedirs(os.path.join(dst, label), exist_ok=True)
            os.symlink(os.path.abspath(os.path.join(src, label, name)), os.path.join(dst, label, name))
PY
"$ORCHARD" --quiet model quantize mobilenet_v2 --calibrate "$WORK/calibration" --images 200 \
  --check 0 --output "$INT8"
rm -rf "$WORK/$INT8"-*
for model in mobilenet_v2 "$INT8"; do
  for set in fruits360-species grocery-store-train; do
    out="$WORK/$model-$set"
    [ -f "$out/_SUCCESS" ] || "$ORCHARD" --quiet extract "$DATA/$set" "$out" --model "$model" \
      --keep-features --pca-k 2
  done
done
.venv/bin/python bench/int8_study.py agreement "$WORK" mobilenet_v2 "$INT8"
