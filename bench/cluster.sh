#!/usr/bin/env bash
# Embedded vs a loopback Ballista cluster with 1, 2 and 3 executors (1 slot
# each) on the shared sample repeated to at least MIN_PHOTOS photos (copies
# under new names); prints images/s of each and the bytes of query results
# the client received per photo (`_run.json` counts.results_received_bytes).
#
#   bench/cluster.sh [SAMPLE_DIR] [MIN_PHOTOS (default 20000)] [EXECUTORS (default "1 2 3")]
set -euo pipefail
cd "$(dirname "$0")/.."
sample=${1:-../shared/data/fruits360-sample}
min_photos=${2:-20000}
executors=${3:-1 2 3}
. bench/cluster_lib.sh
field() { .venv/bin/python - "$1" <<'PY'
import json, sys
run = json.load(open(sys.argv[1] + "/_run.json"))
c = run["counts"]
n = max(c["listed"], 1)
print("%.1f images/s, %d rows, %d result bytes to the client (%.1f per photo; spill answers %.1f per photo)"
      % (run["images_per_second"], c["succeeded"], c["results_received_bytes"],
         c["results_received_bytes"] / n, c["spill_answer_bytes"] / n))
PY
}

# The sample, repeated.
photos="$work/photos"
count=$(find "$sample" -iname '*.jpg' | wc -l)
copies=$(( (min_photos + count - 1) / count ))
for label_dir in "$sample"/*/; do
  label=$(basename "$label_dir")
  mkdir -p "$photos/$label"
  for k in $(seq "$copies"); do
    for f in "$label_dir"*; do cp "$f" "$photos/$label/r${k}_$(basename "$f")"; done
  done
done
echo "photos: $(find "$photos" -type f | wc -l) ($copies copies of $count); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"

"$bin" --quiet extract "$photos" "$work/embedded"
echo "embedded: $(field "$work/embedded")"
for n in $executors; do
  sp=$(port)
  "$bin" --quiet cluster scheduler --bind "127.0.0.1:$sp" 2>"$work/scheduler$n.log" &
  pids+=($!)
  wait_port "$sp"
  for i in $(seq "$n"); do
    fp=$(port); gp=$(port); mp=$(port)
    "$bin" --quiet cluster executor --scheduler "127.0.0.1:$sp" --slots 1 --bind-host 127.0.0.1 \
      --external-host 127.0.0.1 --port "$fp" --grpc-port "$gp" --metrics-port "$mp" 2>"$work/executor$n-$i.log" &
    pids+=($!)
    wait_port "$fp"
  done
  sleep 2
  "$bin" --quiet extract "$photos" "$work/cluster$n" --cluster "df://127.0.0.1:$sp" --partitions "$((2 * n))"
  echo "cluster, $n executor(s) x 1 slot: $(field "$work/cluster$n")"
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  pids=()
done
