#!/usr/bin/env bash
# Extraction from a loopback S3 server (moto_server) against the same run from
# local disk, on the shared sample; prints images/s of both and their ratio.
#
#   bench/s3_vs_local.sh [SAMPLE_DIR]
#   S3FS=/path/to/s3s-fs bench/s3_vs_local.sh   # a Rust S3 server (cargo install s3s-fs@0.14.1 --features binary)
#
# Needs scripts/setup.sh to have run (.venv with moto, the release binary).
set -euo pipefail
cd "$(dirname "$0")/.."
sample=${1:-../shared/data/fruits360-sample}
bin=${CARGO_TARGET_DIR:-target}/release/orchard
work=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ -n "${S3FS:-}" ]; then
  mkdir -p "$work/s3root"
  "$S3FS" --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench "$work/s3root" >"$work/s3.log" 2>&1 &
else
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$work/s3.log" 2>&1 &
fi
moto=$!
trap 'kill $moto 2>/dev/null; rm -rf "$work"' EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
endpoint=http://127.0.0.1:$port
for _ in $(seq 100); do curl -s "$endpoint" >/dev/null && break; sleep 0.1; done
fixture() { .venv/bin/python tests/python/s3_fixture.py "$endpoint" "$@"; }
fixture create-bucket fruits-eu eu-west-3
echo "uploaded $(fixture upload fruits-eu Test "$sample") photos" >&2

rate() { .venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["images_per_second"])' "$1"; }

"$bin" --quiet extract "$sample" "$work/local"
local_rate=$(rate "$work/local/_run.json")
AWS_ENDPOINT_URL=$endpoint "$bin" --quiet extract s3://fruits-eu/Test/ s3://fruits-eu/Results/ --allowed-regions 'eu-*' --region eu-west-3
fixture download fruits-eu Results "$work/s3"
s3_rate=$(rate "$work/s3/_run.json")
.venv/bin/python -c 'import json,sys; [print(n, json.load(open(f))["seconds"]) for n, f in zip(("local", "s3"), sys.argv[1:])]' "$work/local/_run.json" "$work/s3/_run.json"
echo "local disk: $local_rate images/s"
echo "loopback S3: $s3_rate images/s"
.venv/bin/python -c "import sys; print(f'S3 / local = {float(sys.argv[2]) / float(sys.argv[1]):.2f}')" "$local_rate" "$s3_rate"
