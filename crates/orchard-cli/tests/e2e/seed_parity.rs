//! Orchard's features equal the seed pipeline's (PIL decode, PIL bicubic
//! resize, `x/127.5 − 1`, the same model) on photos of every kind the sample
//! lacks: large and small, 4:2:0 / 4:2:2 / 4:4:4 chroma, progressive,
//! grayscale, odd sizes, low quality, PNG. The photos and the seed's
//! features come from `tests/python/seed_parity.py` (Pillow + ONNX Runtime).

use std::collections::HashMap;

use crate::common::*;

#[test]
fn features_match_the_seed_pipeline_on_photos_of_every_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let info = orchard(&["model", "info", "mobilenet_v2"]);
    assert_ok(&info);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let model = info["path"].as_str().expect("model path");

    let out_dir = tmp.path().to_str().unwrap();
    let sample = sample_dir();
    run_python_script(
        "seed_parity.py",
        &[
            "--model",
            model,
            "--sample",
            sample.to_str().unwrap(),
            "--out",
            out_dir,
        ],
        &[],
    );
    let expected: HashMap<String, Vec<f32>> =
        serde_json::from_slice(&std::fs::read(tmp.path().join("expected.json")).unwrap()).unwrap();
    assert_eq!(expected.len(), 10);

    let photos = tmp.path().join("photos");
    let out = tmp.path().join("out");
    assert_ok(&orchard(&[
        "extract",
        photos.to_str().unwrap(),
        out.to_str().unwrap(),
        "--keep-features",
        // The seed never rotates by EXIF; these photos have no EXIF anyway.
        "--ignore-exif-orientation",
    ]));
    let rows = rows_by_path(&out);
    assert_eq!(rows.len(), expected.len(), "every photo featurized");
    let mut worst = (f64::INFINITY, String::new());
    for (rel, want) in &expected {
        let (_, row) = rows
            .iter()
            .find(|(path, _)| path.ends_with(&format!("/{rel}")))
            .unwrap_or_else(|| panic!("{rel} not in the output"));
        let c = cosine(&row.features, want);
        println!("{rel}: cosine {c:.7}");
        if c < worst.0 {
            worst = (c, rel.clone());
        }
    }
    assert!(
        worst.0 >= 0.999,
        "{}: cosine {} with the seed pipeline",
        worst.1,
        worst.0
    );
}
