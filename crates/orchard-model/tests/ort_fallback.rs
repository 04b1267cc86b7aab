//! `BackendKind::Auto` falls back to tract when ONNX Runtime cannot be loaded.
//!
//! ONNX Runtime is loaded at most once per process, so this lives in its own
//! test binary (own process) and sets `ORT_DYLIB_PATH` before any ORT use.

mod common;

use common::{assert_close, cached, expected, fixed_input, fixture, spec, BATCH};
use orchard_model::{find_onnxruntime, load, BackendKind, ModelError};

#[test]
fn auto_falls_back_to_tract_when_ort_is_missing() {
    let bogus = "/nonexistent/orchard-test/libonnxruntime.so";
    std::env::set_var("ORT_DYLIB_PATH", bogus);
    assert_eq!(find_onnxruntime(), None);

    let path = fixture("tiny_nhwc.onnx");
    let spec = spec("tiny_nhwc");
    let backend = load(&path, &spec, BackendKind::Auto, 2, 0).expect("auto");
    assert_eq!(backend.name(), "tract");
    let out = backend
        .infer(&fixed_input(BATCH * spec.image_len()), BATCH)
        .expect("infer");
    assert_close(&out, &expected("tiny_nhwc"), 1e-5, "tract fallback");

    let err = load(&path, &spec, BackendKind::Ort, 2, 0).expect_err("ort is unavailable");
    assert!(matches!(err, ModelError::OrtUnavailable(_)), "{err:?}");
    assert!(err.to_string().contains(bogus), "{err}");

    assert_eq!(
        cached(&path, &spec, BackendKind::Auto, 1, 0)
            .expect("cached")
            .name(),
        "tract"
    );
    assert!(orchard_model::loaded_onnxruntime().is_none());
}
