//! `orchard extract` end to end: the real binary, the real default model,
//! real Fruits-360 photos.

use crate::common::*;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::DataType;

/// The Keras reference fixture: features computed by TensorFlow/Keras with
/// PIL preprocessing, exactly as the seed pipeline does.
fn keras_reference() -> Vec<(String, Vec<f32>)> {
    let path = repo_root().join("fixtures/keras/mobilenet_v2_reference.json");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("Keras fixture")).unwrap();
    json["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let features = i["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            (i["path"].as_str().unwrap().to_string(), features)
        })
        .collect()
}

#[test]
fn extracts_features_pca_and_metadata_from_real_photos() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(
        tmp.path(),
        &[("apple", 6), ("lemon", 4), ("mango", 4), ("raspberry", 6)],
    );
    let reference = keras_reference();
    link_files(
        &photos,
        &reference
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
    );
    // PIL's own decoding of two of the reference photos, as lossless PNGs.
    let pil = repo_root().join("crates/orchard-image/fixtures/pil/inputs");
    std::fs::copy(pil.join("apple_0.png"), photos.join("apple/pil_0_100.png")).unwrap();
    std::fs::copy(
        pil.join("raspberry_0.png"),
        photos.join("raspberry/pil_0_100.png"),
    )
    .unwrap();
    // A broken photo and a photo at the root (no label).
    std::fs::write(photos.join("apple/broken.jpg"), b"this is not a jpeg").unwrap();
    std::fs::copy(
        sample_dir().join("lemon/0_100.jpg"),
        photos.join("loose.jpg"),
    )
    .unwrap();
    let listed = std::fs::read_dir(&photos)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                std::fs::read_dir(p).unwrap().count()
            } else {
                1
            }
        })
        .sum::<usize>();

    let out = tmp.path().join("out");
    let result = orchard(&[
        "extract",
        photos.to_str().unwrap(),
        out.to_str().unwrap(),
        "--pca-k",
        "8",
        "--keep-features",
    ]);
    assert_ok(&result);

    // Spark conventions: part files, _-prefixed metadata, _SUCCESS.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert!(names.contains(&"_SUCCESS".to_string()), "{names:?}");
    for required in ["_errors.parquet", "_labels.json", "_pca", "_run.json"] {
        assert!(
            names.contains(&required.to_string()),
            "{required} missing: {names:?}"
        );
    }
    for name in &names {
        assert!(
            name.starts_with('_') || (name.starts_with("part-") && name.ends_with(".parquet")),
            "unexpected file {name}"
        );
    }
    assert!(
        !out.join("_temporary").exists(),
        "intermediate files are removed"
    );

    // Schema.
    let batch = &read_parts(&out)[0];
    let schema = batch.schema();
    let types: Vec<(String, DataType)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    assert_eq!(types[0], ("path".into(), DataType::Utf8));
    assert_eq!(types[1], ("label".into(), DataType::Utf8));
    assert_eq!(types[2], ("label_index".into(), DataType::Int32));
    assert!(
        matches!(&types[3], (n, DataType::FixedSizeList(f, 8)) if n == "pca" && f.data_type() == &DataType::Float32)
    );
    assert!(
        matches!(&types[4], (n, DataType::FixedSizeList(f, 1280)) if n == "features" && f.data_type() == &DataType::Float32)
    );

    // Every listed input ends in exactly one of output and errors.
    let rows = rows_by_path(&out);
    let errors = read_parquet(&out.join("_errors.parquet"));
    let error_paths: Vec<String> = errors
        .iter()
        .flat_map(|b| {
            let p = b.column(0).as_string::<i32>();
            (0..b.num_rows())
                .map(|i| p.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(rows.len() + error_paths.len(), listed);
    assert_eq!(error_paths.len(), 1);
    assert!(error_paths[0].ends_with("apple/broken.jpg"));
    let stage = errors[0].column(1).as_string::<i32>().value(0).to_string();
    let message = errors[0].column(2).as_string::<i32>().value(0).to_string();
    assert_eq!(stage, "decode", "{message}");
    assert!(!message.is_empty());

    // Labels: dense index over sorted names; a root file has none.
    let labels: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("_labels.json")).unwrap()).unwrap();
    assert_eq!(
        labels,
        serde_json::json!({"apple": 0, "lemon": 1, "mango": 2, "raspberry": 3})
    );
    let loose = rows
        .iter()
        .find(|(p, _)| p.ends_with("/loose.jpg"))
        .unwrap()
        .1;
    assert_eq!((loose.label.as_deref(), loose.label_index), (None, None));
    for (path, row) in &rows {
        if let Some(label) = &row.label {
            assert!(path.contains(&format!("/{label}/")));
            assert_eq!(row.label_index, labels[label].as_i64().map(|i| i as i32));
        }
    }

    // Features match the Keras pipeline: the JPEG decoder is PIL's
    // (libjpeg-turbo, same settings), the resize a port of PIL's, the
    // normalisation and the model the same arithmetic in another order.
    let feature_of = |suffix: &str| {
        &rows
            .iter()
            .find(|(p, _)| p.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} not in output"))
            .1
            .features
    };
    for (rel, expected) in &reference {
        let c = cosine(feature_of(&format!("/{rel}")), expected);
        assert!(c >= 0.999, "{rel}: cosine {c} with the Keras reference");
    }
    for (png, rel) in [
        ("apple/pil_0_100.png", "apple/0_100.jpg"),
        ("raspberry/pil_0_100.png", "raspberry/0_100.jpg"),
    ] {
        let expected = &reference.iter().find(|(r, _)| r == rel).unwrap().1;
        let c = cosine(feature_of(&format!("/{png}")), expected);
        assert!(
            c >= 0.999,
            "{png}: cosine {c} with the Keras reference of {rel}"
        );
    }

    // Two apples are closer than an apple and a raspberry.
    let feature = |rel: &str| {
        &rows
            .iter()
            .find(|(p, _)| p.ends_with(rel))
            .unwrap()
            .1
            .features
    };
    let apples = cosine(feature("apple/0_100.jpg"), feature("apple/100_100.jpg"));
    let apple_raspberry = cosine(feature("apple/0_100.jpg"), feature("raspberry/0_100.jpg"));
    assert!(apples > apple_raspberry, "{apples} vs {apple_raspberry}");

    // The run report accounts for everything.
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("_run.json")).unwrap()).unwrap();
    assert_eq!(run["counts"]["listed"], listed as u64);
    assert_eq!(run["counts"]["succeeded"], rows.len() as u64);
    assert_eq!(run["counts"]["failed"], 1);
    assert_eq!(run["counts"]["failed_by_stage"]["decode"], 1);
    assert_eq!(run["pca"]["k"], 8);
    assert_eq!(run["model"]["name"], "mobilenet_v2");
    assert_eq!(run["model"]["sha256"].as_str().unwrap().len(), 64);
    assert!(run["peak_rss_bytes"].as_u64().unwrap() > 0);
    let ratios: Vec<f64> = run["pca"]["explained_variance_ratio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(ratios.windows(2).all(|w| w[0] >= w[1]) && ratios.iter().sum::<f64>() <= 1.0 + 1e-9);

    // The saved PCA projects new features without refitting: same numbers.
    let again = tmp.path().join("again");
    let result = orchard(&[
        "transform",
        out.to_str().unwrap(),
        again.to_str().unwrap(),
        "--pca",
        out.to_str().unwrap(),
    ]);
    assert_ok(&result);
    assert!(again.join("_SUCCESS").exists());
    let reprojected = rows_by_path(&again);
    assert_eq!(reprojected.len(), rows.len());
    for (path, row) in &rows {
        let other = &reprojected[path].pca;
        let diff = row
            .pca
            .iter()
            .zip(other)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-4, "{path}: transform differs by {diff}");
    }
}

#[test]
fn writes_the_seed_csv_with_variance_target_and_standardisation() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 5), ("raspberry", 5)]);
    let out = tmp.path().join("out.csv");
    let result = orchard(&[
        "extract",
        photos.to_str().unwrap(),
        out.to_str().unwrap(),
        "--format",
        "csv",
        "--pca-variance",
        "0.9",
        "--standardize",
    ]);
    assert_ok(&result);
    assert!(out.join("_SUCCESS").exists());
    let part = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .expect("a CSV part file");
    let text = std::fs::read_to_string(part).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("label_index,pca,path"));
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("_run.json")).unwrap()).unwrap();
    let k = run["pca"]["k"].as_u64().unwrap() as usize;
    assert!(run["pca"]["explained_variance_total"].as_f64().unwrap() >= 0.9);
    assert_eq!(run["pca"]["standardize"], true);
    let mut n = 0;
    for line in lines {
        // label_index,"[…]",path
        let (index, rest) = line.split_once(',').unwrap();
        assert!(index == "0" || index == "1", "{line}");
        let array_end = rest.rfind(']').unwrap();
        let array = rest[..=array_end].trim_start_matches('"');
        let values: Vec<f64> = serde_json::from_str(array).unwrap();
        assert_eq!(values.len(), k);
        assert!(rest[array_end..].contains(".jpg"));
        n += 1;
    }
    assert_eq!(n, 10);
}

#[test]
fn refuses_a_non_empty_output_and_bad_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 3), ("lemon", 3)]);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"mine").unwrap();
    let result = orchard(&["extract", photos.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("not empty") && stderr.contains("--overwrite"),
        "{stderr}"
    );
    assert!(
        out.join("keep.txt").exists(),
        "nothing is deleted without --overwrite"
    );

    let result = orchard(&[
        "extract",
        "/nonexistent/photos",
        tmp.path().join("o2").to_str().unwrap(),
    ]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("/nonexistent/photos") && stderr.contains("no such directory"),
        "{stderr}"
    );

    let result = orchard(&["extract", "a", "b", "--pca-variance", "1.5"]);
    assert!(!result.status.success());
}

#[test]
fn output_opens_as_is_in_pyarrow_and_duckdb() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 4), ("lemon", 4), ("raspberry", 4)]);
    let out = tmp.path().join("out");
    let result = orchard(&[
        "extract",
        photos.to_str().unwrap(),
        out.to_str().unwrap(),
        "--pca-k",
        "5",
        "--keep-features",
    ]);
    assert_ok(&result);
    run_python_script(
        "check_output.py",
        &[
            out.to_str().unwrap(),
            "--rows",
            "12",
            "--k",
            "5",
            "--features",
            "1280",
        ],
        &[],
    );
}

/// `--progress json`: one event per line on stdout that other tools can
/// follow, adding up to the run's counts.
#[test]
fn progress_as_json_events_adds_up_to_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 7), ("lemon", 6)]);
    std::fs::write(photos.join("lemon/broken.jpg"), b"not a jpeg").unwrap();
    let out = tmp.path().join("out");
    let run = orchard(&[
        "extract",
        photos.to_str().unwrap(),
        out.to_str().unwrap(),
        "--progress",
        "json",
        "--checkpoint-every",
        "5",
        "--pca-k",
        "4",
    ]);
    assert_ok(&run);
    let events: Vec<serde_json::Value> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names[..3], ["started", "listed", "planned"], "{names:?}");
    assert_eq!(
        names[names.len() - 4..],
        ["errors_written", "pca_fitted", "committed", "finished"],
        "{names:?}"
    );
    let chunks: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "chunk_done")
        .collect();
    assert_eq!(chunks.len(), 3, "14 photos in chunks of 5");
    let report = &events.last().unwrap()["report"];
    let photos_in_chunks: u64 = chunks.iter().map(|c| c["photos"].as_u64().unwrap()).sum();
    assert_eq!(
        photos_in_chunks,
        report["counts"]["processed"].as_u64().unwrap()
    );
    assert_eq!(chunks.last().unwrap()["photos_done"], 14);
    assert_eq!(events[1]["photos"], report["counts"]["listed"]);
    let committed = events.iter().find(|e| e["event"] == "committed").unwrap();
    assert_eq!(committed["rows"], report["counts"]["succeeded"]);
    assert_eq!(committed["rows"], 13);
    let errors = events
        .iter()
        .find(|e| e["event"] == "errors_written")
        .unwrap();
    assert_eq!(errors["failed"], 1);
    assert_eq!(errors["by_stage"]["decode"], 1);
    let pca = events.iter().find(|e| e["event"] == "pca_fitted").unwrap();
    assert_eq!(pca["k"], 4);
}
