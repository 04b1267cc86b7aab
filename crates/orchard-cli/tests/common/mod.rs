//! Helpers shared by the end-to-end tests: the real binary, the real model,
//! real photos from the shared Fruits-360 sample.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The shared sample (`../shared/data/fruits360-sample` from the project root).
pub fn sample_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("ORCHARD_SAMPLE").map(PathBuf::from),
        Some(root.join("../shared/data/fruits360-sample")),
        Some(PathBuf::from("/work/shared/data/fruits360-sample")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_dir())
        .expect("the Fruits-360 sample (set ORCHARD_SAMPLE or check ../shared/data)")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the `orchard` binary with `args`.
pub fn orchard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orchard"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run orchard")
}

/// Asserts the command succeeded, printing its output otherwise.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "orchard failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A folder of `per_label` photos of each given label (the first ones in
/// sorted order), as symlinks into the shared sample, plus `extra` files.
pub fn subset(dir: &Path, labels: &[(&str, usize)]) -> PathBuf {
    let root = dir.join("photos");
    for (label, n) in labels {
        let src = sample_dir().join(label);
        let mut files: Vec<_> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        std::fs::create_dir_all(root.join(label)).unwrap();
        for f in files.iter().take(*n) {
            std::os::unix::fs::symlink(f, root.join(label).join(f.file_name().unwrap())).unwrap();
        }
    }
    root
}

/// Links specific sample files (relative paths such as `apple/0_100.jpg`).
pub fn link_files(root: &Path, relative: &[&str]) {
    for rel in relative {
        let dst = root.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        if !dst.exists() {
            std::os::unix::fs::symlink(sample_dir().join(rel), dst).unwrap();
        }
    }
}

/// Every row of the Parquet part files (`part-*.parquet`) in `dir`.
pub fn read_parts(dir: &Path) -> Vec<RecordBatch> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("part-") && name.ends_with(".parquet")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no part files in {}", dir.display());
    files.iter().flat_map(|f| read_parquet(f)).collect()
}

/// Every batch of one Parquet file.
pub fn read_parquet(file: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
        .unwrap()
        .build()
        .unwrap();
    reader.map(|b| b.unwrap()).collect()
}

/// Cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
