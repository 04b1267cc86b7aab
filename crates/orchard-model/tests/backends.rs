//! Both backends on the tiny fixture models, against onnxruntime (Python)'s
//! outputs stored in `fixtures/expected.json`.

mod common;

use std::sync::Arc;

use common::{assert_close, cached, expected, fixed_input, fixture, ort_enabled, spec, BATCH};
use orchard_model::{
    inspect_onnx, load, BackendKind, InferenceBackend, Layout, ModelError, ModelSpec,
    Normalization, OrtBackend, TractBackend,
};

const MODELS: &[&str] = &["tiny_nhwc", "tiny_nchw", "tiny_4d", "tiny_spatial"];
const TOL: f32 = 1e-5;

fn load_kind(model: &str, kind: BackendKind, threads: usize) -> Arc<dyn InferenceBackend> {
    load(
        &fixture(&format!("{model}.onnx")),
        &spec(model),
        kind,
        threads,
        0,
    )
    .unwrap_or_else(|e| panic!("load {model} with {kind}: {e}"))
}

fn run_fixed(backend: &dyn InferenceBackend) -> Vec<f32> {
    let input = fixed_input(BATCH * backend.spec().image_len());
    backend.infer(&input, BATCH).expect("infer")
}

#[test]
fn inspect_discovers_layout_names_and_width() {
    let nhwc = inspect_onnx(&fixture("tiny_nhwc.onnx")).expect("inspect");
    assert_eq!(nhwc.layout, Some(Layout::Nhwc));
    assert_eq!(nhwc.input_name, "input");
    assert_eq!(nhwc.output_name, "features");
    assert_eq!(nhwc.input_shape, vec![None, Some(8), Some(8), Some(3)]);
    assert_eq!(nhwc.feature_width, Some(4));

    let nchw = spec("tiny_nchw");
    assert_eq!(nchw.layout, Layout::Nchw);
    assert_eq!((nchw.width, nchw.height, nchw.feature_width), (8, 8, 4));
    assert_eq!(nchw.input_name.as_deref(), Some("pixels"));
    assert_eq!(nchw.output_name.as_deref(), Some("embedding"));
    assert_eq!(nchw.name, "tiny_nchw");
    assert_eq!(nchw.preprocess().layout, Layout::Nchw);

    assert_eq!(spec("tiny_4d").feature_width, 4);
    assert_eq!(spec("tiny_spatial").feature_width, 4);
}

#[test]
fn custom_spec_with_dynamic_sizes() {
    let path = fixture("tiny_dynamic.onnx");
    let err = ModelSpec::custom(&path, Normalization::Keras, None).expect_err("needs a size");
    assert!(err.to_string().contains("input size"), "{err}");
    // The feature width is symbolic in the file: found by tract's shape analysis.
    let spec = ModelSpec::custom(&path, Normalization::Keras, Some((8, 8))).expect("custom");
    assert_eq!((spec.width, spec.height, spec.feature_width), (8, 8, 4));
    assert_eq!(spec.layout, Layout::Nhwc);

    let fixed = fixture("tiny_nhwc.onnx");
    let err =
        ModelSpec::custom(&fixed, Normalization::Keras, Some((16, 16))).expect_err("fixed 8x8");
    assert!(err.to_string().contains("fixed to 8x8"), "{err}");
}

#[test]
fn tract_matches_onnxruntime_python() {
    for model in MODELS {
        for threads in [1, 2] {
            let backend = load_kind(model, BackendKind::Tract, threads);
            assert_eq!(backend.name(), "tract");
            assert_eq!(backend.preferred_batch(), 8 * threads);
            assert_close(
                &run_fixed(&*backend),
                &expected(model),
                TOL,
                &format!("tract {model}"),
            );
        }
    }
    // tiny_dynamic with the size given at load time.
    let path = fixture("tiny_dynamic.onnx");
    let spec = ModelSpec::custom(&path, Normalization::None, Some((8, 8))).expect("spec");
    let backend = TractBackend::load(&path, &spec, 2).expect("load");
    assert_close(
        &run_fixed(&backend),
        &expected("tiny_dynamic"),
        TOL,
        "tract tiny_dynamic",
    );
}

#[test]
fn ort_matches_onnxruntime_python() {
    if !ort_enabled() {
        return;
    }
    for model in MODELS {
        let backend = load_kind(model, BackendKind::Ort, 2);
        assert_eq!(backend.name(), "ort");
        assert_eq!(backend.preferred_batch(), 32);
        assert_close(
            &run_fixed(&*backend),
            &expected(model),
            TOL,
            &format!("ort {model}"),
        );
    }
    assert!(orchard_model::loaded_onnxruntime().is_some());
    let path = fixture("tiny_dynamic.onnx");
    let spec = ModelSpec::custom(&path, Normalization::None, Some((8, 8))).expect("spec");
    let backend = OrtBackend::load(&path, &spec, 1).expect("load");
    assert_close(
        &run_fixed(&backend),
        &expected("tiny_dynamic"),
        TOL,
        "ort tiny_dynamic",
    );
}

#[test]
fn backends_agree() {
    if !ort_enabled() {
        return;
    }
    for model in MODELS {
        let ort = run_fixed(&*load_kind(model, BackendKind::Ort, 2));
        let tract = run_fixed(&*load_kind(model, BackendKind::Tract, 2));
        let rows: Vec<Vec<f32>> = tract.chunks(4).map(<[f32]>::to_vec).collect();
        assert_close(&ort, &rows, TOL, &format!("ort vs tract on {model}"));
    }
}

#[test]
fn auto_prefers_ort() {
    if !ort_enabled() {
        return;
    }
    assert_eq!(load_kind("tiny_nhwc", BackendKind::Auto, 1).name(), "ort");
}

/// Batches of any size give the same rows as single images; empty batches and
/// wrong lengths are handled.
fn check_batching(backend: &dyn InferenceBackend) {
    let per = backend.spec().image_len();
    let fw = backend.spec().feature_width;
    let n = 11;
    let input = fixed_input(n * per);
    let all = backend.infer(&input, n).expect("batch");
    assert_eq!(all.len(), n * fw);
    for i in 0..n {
        let one = backend
            .infer(&input[i * per..(i + 1) * per], 1)
            .expect("single");
        let row = vec![all[i * fw..(i + 1) * fw].to_vec()];
        assert_close(&one, &row, TOL, &format!("{} image {i}", backend.name()));
    }
    assert!(backend.infer(&[], 0).expect("empty").is_empty());
    assert!(matches!(
        backend.infer(&input[..per + 1], 1),
        Err(ModelError::InputSize { .. })
    ));
}

#[test]
fn batching_tract() {
    check_batching(&*load_kind("tiny_nhwc", BackendKind::Tract, 2));
    check_batching(&*load_kind("tiny_nchw", BackendKind::Tract, 3));
}

#[test]
fn batching_ort() {
    if !ort_enabled() {
        return;
    }
    check_batching(&*load_kind("tiny_nhwc", BackendKind::Ort, 2));
    check_batching(&*load_kind("tiny_spatial", BackendKind::Ort, 1));
}

/// Two threads calling `infer` on one shared backend at the same time.
fn check_concurrent(backend: Arc<dyn InferenceBackend>, model: &str) {
    let want = expected(model);
    std::thread::scope(|s| {
        for t in 0..2 {
            let backend = Arc::clone(&backend);
            let want = &want;
            s.spawn(move || {
                for round in 0..20 {
                    let out = run_fixed(&*backend);
                    assert_close(&out, want, TOL, &format!("thread {t} round {round}"));
                }
            });
        }
    });
}

#[test]
fn concurrent_calls_tract() {
    check_concurrent(
        load_kind("tiny_spatial", BackendKind::Tract, 2),
        "tiny_spatial",
    );
}

#[test]
fn concurrent_calls_ort() {
    if !ort_enabled() {
        return;
    }
    check_concurrent(load_kind("tiny_nchw", BackendKind::Ort, 2), "tiny_nchw");
}

#[test]
fn cache_returns_the_same_instance() {
    let path = fixture("tiny_4d.onnx");
    let spec = spec("tiny_4d");
    let a = cached(&path, &spec, BackendKind::Tract, 2, 0).expect("load");
    // Same file through another path spelling.
    let other = path.parent().expect("dir").join(".").join("tiny_4d.onnx");
    let b = cached(&other, &spec, BackendKind::Tract, 2, 0).expect("cached");
    assert!(Arc::ptr_eq(&a, &b), "same key must give the same Arc");
    let c = cached(&path, &spec, BackendKind::Tract, 1, 0).expect("other threads");
    assert!(
        !Arc::ptr_eq(&a, &c),
        "another thread count is another instance"
    );
    let d = cached(&path, &spec, BackendKind::Tract, 1, 0).expect("cached");
    assert!(Arc::ptr_eq(&c, &d));
    assert!(matches!(
        cached(&fixture("missing.onnx"), &spec, BackendKind::Tract, 1, 0),
        Err(ModelError::Io { .. })
    ));
    if ort_enabled() {
        let e = cached(&path, &spec, BackendKind::Ort, 2, 0).expect("ort");
        assert!(!Arc::ptr_eq(&a, &e));
        assert!(Arc::ptr_eq(
            &e,
            &cached(&path, &spec, BackendKind::Ort, 2, 0).expect("ort")
        ));
    }
}

#[test]
fn concurrent_first_calls_load_once() {
    let path = fixture("tiny_nchw.onnx");
    let spec = spec("tiny_nchw");
    let backends: Vec<Arc<dyn InferenceBackend>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| cached(&path, &spec, BackendKind::Tract, 3, 0).expect("load")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("join"))
            .collect()
    });
    assert!(backends.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
}

#[test]
fn spec_mismatch_is_reported() {
    let path = fixture("tiny_nhwc.onnx");
    let mut wrong = spec("tiny_nhwc");
    wrong.layout = Layout::Nchw;
    if ort_enabled() {
        let err = OrtBackend::load(&path, &wrong, 1).expect_err("layout mismatch");
        assert!(matches!(err, ModelError::UnsupportedModel { .. }), "{err}");
    }
    assert!(TractBackend::load(&path, &wrong, 1).is_err());

    let mut named = spec("tiny_nhwc");
    named.output_name = Some("nope".into());
    assert!(TractBackend::load(&path, &named, 1).is_err());
    if ort_enabled() {
        let err = OrtBackend::load(&path, &named, 1).expect_err("no such output");
        assert!(err.to_string().contains("nope"), "{err}");
    }
}

#[test]
fn backend_kind_parsing() {
    assert_eq!("auto".parse::<BackendKind>().ok(), Some(BackendKind::Auto));
    assert_eq!("ort".parse::<BackendKind>().ok(), Some(BackendKind::Ort));
    assert_eq!(
        "tract".parse::<BackendKind>().ok(),
        Some(BackendKind::Tract)
    );
    assert_eq!(
        " Tract ".parse::<BackendKind>().ok(),
        Some(BackendKind::Tract)
    );
    assert_eq!(BackendKind::default(), BackendKind::Auto);
    assert_eq!(BackendKind::Ort.to_string(), "ort");
    let err = "gpu".parse::<BackendKind>().expect_err("unknown");
    assert!(
        err.to_string().contains("`auto`, `ort` or `tract`"),
        "{err}"
    );
}
