//! Shared helpers of the integration tests: fixtures and the ORT availability rule.
#![allow(dead_code)]

use std::path::PathBuf;

use orchard_model::{ModelSpec, Normalization};

/// This crate's directory, read when the test runs: a test binary may have
/// been built by a clone at another path that shares the build folder.
fn manifest_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
}

/// `tests/fixtures/<file>`.
pub fn fixture(file: &str) -> PathBuf {
    manifest_dir().join("tests").join("fixtures").join(file)
}

/// The fixed test input: value `i` of the flat batch tensor is
/// `((i * 37) % 101) / 50 - 1` (as in `make_tiny_models.py`).
pub fn fixed_input(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i * 37) % 101) as f64 / 50.0 - 1.0) as f32)
        .collect()
}

/// Expected features (rows) computed by onnxruntime in Python for `model`.
pub fn expected(model: &str) -> Vec<Vec<f32>> {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("read expected.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parse expected.json");
    json["models"][model]["features"]
        .as_array()
        .unwrap_or_else(|| panic!("no expected features for {model}"))
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_f64().expect("number") as f32)
                .collect()
        })
        .collect()
}

/// Batch size of the expected outputs.
pub const BATCH: usize = 3;

/// The spec of a fixture model, discovered from the file.
pub fn spec(model: &str) -> ModelSpec {
    ModelSpec::custom(
        &fixture(&format!("{model}.onnx")),
        Normalization::None,
        None,
    )
    .unwrap_or_else(|e| panic!("spec of {model}: {e}"))
}

/// Asserts two feature matrices agree within `tol`.
pub fn assert_close(actual: &[f32], expected: &[Vec<f32>], tol: f32, what: &str) {
    let flat: Vec<f32> = expected.iter().flatten().copied().collect();
    assert_eq!(actual.len(), flat.len(), "{what}: length");
    for (i, (a, e)) in actual.iter().zip(&flat).enumerate() {
        assert!(
            (a - e).abs() <= tol,
            "{what}: value {i} is {a}, expected {e} (tolerance {tol})"
        );
    }
}

/// Whether to run the ONNX Runtime tests: yes when the library is found; when
/// it is not, fail loudly unless `ORCHARD_SKIP_ORT=1` says to skip them.
pub fn ort_enabled() -> bool {
    if orchard_model::find_onnxruntime().is_some() {
        return true;
    }
    if std::env::var("ORCHARD_SKIP_ORT").is_ok_and(|v| v == "1") {
        eprintln!(
            "libonnxruntime.so not found and ORCHARD_SKIP_ORT=1: skipping ONNX Runtime checks"
        );
        return false;
    }
    panic!(
        "libonnxruntime.so not found (ORT_DYLIB_PATH, $ORCHARD_HOME/lib, .venv site-packages, python3): \
         install onnxruntime (e.g. `.venv/bin/pip install onnxruntime`), set ORT_DYLIB_PATH, \
         or set ORCHARD_SKIP_ORT=1 to skip the ONNX Runtime tests"
    );
}

/// The process cache's instance of the model at `path` (a [`ModelRef`]
/// without a digest).
pub fn cached(
    path: &std::path::Path,
    spec: &orchard_model::ModelSpec,
    backend: orchard_model::BackendKind,
    threads: usize,
    lanes: usize,
) -> Result<std::sync::Arc<dyn orchard_model::InferenceBackend>, orchard_model::ModelError> {
    orchard_model::ModelRef {
        path: path.display().to_string(),
        sha256: String::new(),
        spec: spec.clone(),
        backend,
        threads,
        lanes,
    }
    .load()
}
