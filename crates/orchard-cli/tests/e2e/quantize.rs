//! `orchard model quantize`: an int8 variant of the real model, calibrated on
//! a few real grocery photos, installed in a model home of its own, selected
//! with `--model`, run by both backends, and close to the fp32 features on
//! photos it was not calibrated on.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// The model home the set-up filled (`$ORCHARD_HOME`, else ~/.cache/orchard).
fn default_home() -> PathBuf {
    std::env::var_os("ORCHARD_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/orchard"))
}

/// `orchard` with `ORCHARD_HOME=home`.
fn orchard_in(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_orchard"))
        .args(args)
        .env("ORCHARD_HOME", home)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// `orchard model quantize --calibrate PHOTOS --images IMAGES --check CHECK`
/// plus `extra`, with `ORCHARD_HOME=home`.
fn quantize(
    home: &Path,
    photos: &Path,
    images: &str,
    check: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "model",
        "quantize",
        "--calibrate",
        photos.to_str().unwrap(),
        "--images",
        images,
        "--check",
        check,
    ];
    args.extend_from_slice(extra);
    orchard_in(home, &args)
}

/// The first `n` photos of each of `labels` of the shared grocery photos.
fn grocery(dir: &Path, labels: &[&str], n: usize) -> PathBuf {
    let source = sample_dir().parent().unwrap().join("grocery-store-train");
    let root = dir.join("grocery");
    for label in labels {
        let mut files: Vec<_> = std::fs::read_dir(source.join(label))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        std::fs::create_dir_all(root.join(label)).unwrap();
        for f in files.iter().take(n) {
            std::os::unix::fs::symlink(f, root.join(label).join(f.file_name().unwrap())).unwrap();
        }
    }
    root
}

/// `cosine mean X, p1 Y, min Z` from quantize's report.
fn reported_cosines(stdout: &str) -> (f64, f64, f64) {
    let line = stdout
        .lines()
        .find(|l| l.contains("cosine mean"))
        .unwrap_or_else(|| panic!("no cosine line in:\n{stdout}"));
    let number = |key: &str| -> f64 {
        let rest = &line[line.find(key).unwrap() + key.len()..];
        rest.split(|c: char| c == ',' || c.is_whitespace())
            .find(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    (number("mean "), number("p1 "), number("min "))
}

#[test]
fn an_int8_model_is_built_from_your_photos_and_answers_like_fp32() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("models")).unwrap();
    for file in ["mobilenet_v2.onnx", "mobilenet_v2.json"] {
        std::os::unix::fs::symlink(
            default_home().join("models").join(file),
            home.join("models").join(file),
        )
        .unwrap();
    }
    let photos = grocery(tmp.path(), &["apple", "banana", "tomato", "pear"], 20);
    let out = quantize(&home, &photos, "40", "40", &["mobilenet_v2"]);
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The floor on the 40 photos not calibrated on.
    let (checked_mean, p1, _) = reported_cosines(&stdout);
    assert!(checked_mean >= 0.995 && p1 >= 0.99, "{stdout}");

    // Installed like any model: sha256 checked, calibration recorded.
    let model = home.join("models/mobilenet_v2-int8.onnx");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("models/mobilenet_v2-int8.json")).unwrap())
            .unwrap();
    let q = &manifest["quantization"];
    assert_eq!(q["calibration_photos"], 40);
    assert_eq!(q["calibration_fingerprint"].as_str().unwrap().len(), 64);
    assert_eq!(
        q["from_sha256"],
        serde_json::json!(read_sha(&default_home().join("models/mobilenet_v2.json")))
    );
    assert!(q["excluded"].as_array().unwrap().contains(&"Conv1".into()));
    assert_eq!(q["bias_correction"], true);
    assert_eq!(q["calibration"], "percentile");
    let info = orchard_in(&home, &["model", "info", "mobilenet_v2-int8"]);
    assert_ok(&info);
    assert!(String::from_utf8_lossy(&info.stdout).contains(manifest["sha256"].as_str().unwrap()));
    assert!(model.is_file());

    // Selected with --model, in both backends, on studio shots it never saw.
    let studio = subset(tmp.path(), &[("apple", 6), ("lemon", 6)]);
    let extract = |name: &str, model: &str, backend: &str| -> PathBuf {
        let dir = tmp.path().join(name);
        assert_ok(&orchard_in(
            &home,
            &[
                "--quiet",
                "extract",
                studio.to_str().unwrap(),
                dir.to_str().unwrap(),
                "--model",
                model,
                "--backend",
                backend,
                "--keep-features",
                "--pca-k",
                "2",
            ],
        ));
        dir
    };
    let fp32 = rows_by_path(&extract("fp32", "mobilenet_v2", "ort"));
    let int8 = rows_by_path(&extract("int8", "mobilenet_v2-int8", "ort"));
    let tract = rows_by_path(&extract("int8-tract", "mobilenet_v2-int8", "tract"));
    assert_eq!(int8.len(), 12);
    let mut cosines = Vec::new();
    for (path, row) in &fp32 {
        cosines.push(cosine(&row.features, &int8[path].features));
        let backends = cosine(&int8[path].features, &tract[path].features);
        assert!(backends > 0.99, "ort vs tract on {path}: {backends}");
    }
    let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
    let min = cosines.iter().cloned().fold(1.0, f64::min);
    assert!(mean >= 0.995 && min >= 0.99, "{cosines:?}");

    // Bias correction is what keeps the answers: without it, the same
    // calibration and held-out photos drift further from fp32.
    let plain = quantize(
        &home,
        &photos,
        "40",
        "40",
        &[
            "--no-bias-correction",
            "--output",
            "mobilenet_v2-int8-plain",
        ],
    );
    assert_ok(&plain);
    let plain_stdout = String::from_utf8_lossy(&plain.stdout);
    let (plain_mean, _, _) = reported_cosines(&plain_stdout);
    assert!(
        1.0 - checked_mean < 0.8 * (1.0 - plain_mean),
        "corrected {stdout}\nplain {plain_stdout}"
    );

    // 7-bit weights (what CPUs without VNNI get) keep two more nodes in fp32
    // and still answer like fp32 on the held-out photos.
    let seven = quantize(
        &home,
        &photos,
        "40",
        "40",
        &["--reduce-range", "on", "--output", "mobilenet_v2-int8-7bit"],
    );
    assert_ok(&seven);
    let seven_stdout = String::from_utf8_lossy(&seven.stdout);
    let (seven_mean, seven_p1, _) = reported_cosines(&seven_stdout);
    assert!(seven_mean >= 0.995 && seven_p1 >= 0.99, "{seven_stdout}");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(home.join("models/mobilenet_v2-int8-7bit.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["quantization"]["reduce_range"], true);
    assert_eq!(
        manifest["quantization"]["excluded"],
        serde_json::json!([
            "Conv1",
            "expanded_conv_depthwise",
            "block_1_expand",
            "expanded_conv_project"
        ])
    );

    // A node the model does not have is named in the error.
    let bad = quantize(
        &home,
        &photos,
        "2",
        "0",
        &["--exclude", "no_such_node", "--output", "broken"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no_such_node"));
    assert!(!home.join("models/broken.onnx").exists());
}

fn read_sha(manifest: &Path) -> String {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    json["sha256"].as_str().unwrap().to_string()
}
