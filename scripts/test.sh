#!/usr/bin/env bash
# README command 2: set up what the tests need, then run every test (unit,
# integration and end to end with the real model, ONNX Runtime and tract,
# and the pyarrow/DuckDB check of the output), then the `orchard` Python
# package's tests (pytest, in the venv setup.sh installed it into).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/setup.sh
. scripts/pyo3_env.sh  # the extension's PyO3 configuration, as setup built it
printf '\n== module graph (no cycles; see docs/architecture.md)\n' >&2
python3 scripts/check_module_cycles.py
printf '\n== the Python extension alone builds with the workspace features (no second DataFusion)\n' >&2
python3 scripts/check_py_features.py
printf '\n== cargo test --release --workspace\n' >&2
cargo test --release --workspace
printf '\n== Python package (pytest tests/python/orchard_py)\n' >&2
.ci-tools/pyvenv/bin/python -m pytest -q -p no:cacheprovider tests/python/orchard_py
