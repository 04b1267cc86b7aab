#!/usr/bin/env bash
# The bytes the client process of `orchard extract --cluster` reads, marginal
# per photo between two input sizes (issue: what grows with the photos). A
# loopback Ballista cluster: a scheduler and EXECUTORS executor processes on
# this host, every port chosen with 0. The sample is copied COPIES_A and
# COPIES_B times under new names; `_run.json` counts.process_read_bytes is
# the client's `rchar` (files, sockets and pipes) over the run.
#
#   bench/cluster_client_bytes.sh [SAMPLE_DIR] [COPIES_A (1)] [COPIES_B (3)] [EXECUTORS (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
sample=${1:-../shared/data/fruits360-sample}
copies_a=${2:-1}
copies_b=${3:-3}
executors=${4:-3}
. bench/cluster_lib.sh
counts() { .venv/bin/python -c '
import json, sys
c = json.load(open(sys.argv[1] + "/_run.json"))["counts"]
print(c["listed"], c["process_read_bytes"], c["results_received_bytes"])' "$1"; }

copy() { # copy COPIES into DIR
  for label_dir in "$sample"/*/; do
    label=$(basename "$label_dir"); mkdir -p "$2/$label"
    for k in $(seq "$1"); do for f in "$label_dir"*; do cp "$f" "$2/$label/r${k}_$(basename "$f")"; done; done
  done
}
copy "$copies_a" "$work/a"
copy "$copies_b" "$work/b"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $executors executors x 1 slot"

sp=$(port)
"$bin" cluster scheduler --bind "127.0.0.1:$sp" 2>"$work/scheduler.log" &
pids+=($!)
wait_port "$sp"
for i in $(seq "$executors"); do
  "$bin" cluster executor --scheduler "127.0.0.1:$sp" --slots 1 --bind-host 127.0.0.1 \
    --external-host 127.0.0.1 --port 0 --grpc-port 0 --metrics-port 0 2>"$work/executor$i.log" &
  pids+=($!)
done
sleep 3
for set in a b; do
  "$bin" --quiet extract "$work/$set" "$work/out-$set" --cluster "df://127.0.0.1:$sp" \
    --partitions "$((2 * executors))" ${EXTRA_ARGS:-}
  read -r n read_bytes received <<<"$(counts "$work/out-$set")"
  echo "$set: $n photos, client read $read_bytes bytes ($received of them query results)"
  eval "n_$set=$n; r_$set=$read_bytes"
done
echo "marginal: $(( (r_b - r_a) / (n_b - n_a) )) bytes per additional photo"
