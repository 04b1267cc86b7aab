//! `orchard cost`, as a user runs it: from a finished run's folder, with the
//! built-in price table or their own.

use crate::common::*;

/// A finished run's folder: `_run.json` (100 images/s on 2 partitions, 1,000
/// photos of 50 kB) and 600 kB of other files (the output).
fn finished_run(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut report = orchard_engine::RunReport {
        images_per_second: 100.0,
        partitions: 2,
        ..Default::default()
    };
    report.counts.listed = 1000;
    report.counts.succeeded = 1000;
    report.counts.bytes_listed = 50_000_000;
    let json = serde_json::to_string_pretty(&report).unwrap();
    std::fs::write(out.join("_run.json"), &json).unwrap();
    std::fs::write(
        out.join("part-00000.parquet"),
        vec![0u8; 600_000 - json.len()],
    )
    .unwrap();
    out
}

#[test]
fn projects_time_and_money_from_a_finished_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = finished_run(tmp.path());
    let out = orchard(&[
        "cost",
        "--images",
        "10M",
        "--from",
        run.to_str().unwrap(),
        "--workers",
        "3",
        "--format",
        "json",
    ]);
    assert_ok(&out);
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 100 images/s on 2 vCPUs → 200 on a 4-vCPU m5.xlarge; 3 × 0.905.
    let wall_h = 10e6 / (200.0 * 3.0 * 0.905) / 3600.0;
    assert!(
        (p["wall_hours"].as_f64().unwrap() - wall_h).abs() < 1e-9,
        "{p}"
    );
    let compute = wall_h * 4.0 * 0.204; // 3 workers and the driver, on demand
    assert!(
        (p["compute_usd"].as_f64().unwrap() - compute).abs() < 1e-9,
        "{p}"
    );
    assert_eq!(p["inputs"]["photo_bytes"], 50_000.0);
    assert_eq!(p["inputs"]["output_bytes_per_photo"], 600.0);
    assert!(p["prices"].as_str().unwrap().contains("eu-west-3"));

    let text = orchard(&[
        "cost",
        "--images",
        "10M",
        "--from",
        run.to_str().unwrap(),
        "--workers",
        "3",
        "--spot",
    ]);
    assert_ok(&text);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("(0.054 spot) USD/h"), "{text}");
    assert!(text.contains("total"), "{text}");
}

#[test]
fn an_unknown_instance_or_price_table_is_named() {
    let out = orchard(&[
        "cost",
        "--images",
        "1M",
        "--images-per-second",
        "50",
        "--instance",
        "q9.mega",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("q9.mega") && err.contains("m5.xlarge"),
        "{err}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let prices = tmp.path().join("prices.toml");
    std::fs::write(&prices, "region = 'nowhere'").unwrap();
    let out = orchard(&[
        "cost",
        "--images",
        "1M",
        "--images-per-second",
        "50",
        "--prices",
        prices.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("prices.toml"), "{err}");
}
