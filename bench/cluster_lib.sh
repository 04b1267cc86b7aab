# Sourced by the cluster benchmarks (bench/cluster.sh,
# bench/cluster_client_bytes.sh): the binary, a scratch folder removed on
# exit with every process started into `pids`, a free loopback port, and
# waiting for a port to open.
bin=${CARGO_TARGET_DIR:-target}/release/orchard
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
