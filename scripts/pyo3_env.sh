# Sourced by scripts/setup.sh, scripts/test.sh and .ci/run (needs $root): exports
# PYO3_CONFIG_FILE, the PyO3 configuration maturin writes for the extension
# (CPython, stable ABI 3.9; the file maturin itself writes and passes, same path
# and content), so that cargo's own builds of crates/orchard-py (build, test,
# clippy) configure PyO3 exactly as `pip install ./python` does. Otherwise each
# switch between the two re-runs PyO3's build script and compiles pyo3-ffi,
# pyo3, numpy, pyo3-arrow and orchard-py again (about 2 minutes on 2 cores).
_pyo3_target=${CARGO_TARGET_DIR:-$root/target}
_pyo3_python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
export PYO3_CONFIG_FILE="$_pyo3_target/maturin/pyo3-config-$(uname -m)-unknown-linux-gnu-$_pyo3_python-abi3.txt"
if [ ! -f "$PYO3_CONFIG_FILE" ]; then
  mkdir -p "$(dirname "$PYO3_CONFIG_FILE")"
  printf 'implementation=CPython\nversion=3.9\ntarget_abi=CPython-abi3-3.9\nshared=true\nbuild_flags=\nsuppress_build_script_link_lines=false' \
    > "$PYO3_CONFIG_FILE"
fi
unset _pyo3_target _pyo3_python
