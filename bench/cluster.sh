#!/usr/bin/env bash
# Embedded vs a loopback Ballista cluster with 1 and 2 executors (1 slot each)
# on the shared sample; prints images/s of each.
#
#   bench/cluster.sh [SAMPLE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
sample=${1:-../shared/data/fruits360-sample}
bin=${CARGO_TARGET_DIR:-target}/release/orchard
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
rate() { .venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["images_per_second"])' "$1/_run.json"; }

"$bin" --quiet extract "$sample" "$work/embedded"
echo "embedded: $(rate "$work/embedded") images/s"
for n in 1 2; do
  sp=$(port)
  "$bin" --quiet cluster scheduler --bind "127.0.0.1:$sp" 2>"$work/scheduler$n.log" &
  pids+=($!)
  wait_port "$sp"
  for i in $(seq "$n"); do
    fp=$(port); gp=$(port)
    "$bin" --quiet cluster executor --scheduler "127.0.0.1:$sp" --slots 1 --bind-host 127.0.0.1 \
      --external-host 127.0.0.1 --port "$fp" --grpc-port "$gp" 2>"$work/executor$n-$i.log" &
    pids+=($!)
    wait_port "$fp"
  done
  sleep 2
  "$bin" --quiet extract "$sample" "$work/cluster$n" --cluster "df://127.0.0.1:$sp" --partitions "$((2 * n))"
  echo "cluster, $n executor(s) x 1 slot: $(rate "$work/cluster$n") images/s"
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  pids=()
done
