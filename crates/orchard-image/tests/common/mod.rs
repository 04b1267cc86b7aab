//! Fixture loading shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use image::RgbImage;

/// This crate's directory, read when the test runs: a test binary may have
/// been built by a clone at another path that shares the build folder.
fn manifest_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
}

pub fn fixture_dir() -> PathBuf {
    manifest_dir().join("fixtures/pil")
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = fixture_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Fixture PNGs are read with the `image` crate directly, independently of
/// the code under test.
pub fn read_png(rel: &str) -> RgbImage {
    image::load_from_memory_with_format(&read(rel), image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("decoding {rel}: {e}"))
        .to_rgb8()
}

pub fn fixture_json() -> serde_json::Value {
    serde_json::from_slice(&read("fixture.json")).expect("fixture.json")
}

/// Per-sample comparison of two equally sized images.
#[derive(Debug, Clone, Copy)]
pub struct Diff {
    pub max: u8,
    pub mean: f64,
    pub exact_fraction: f64,
}

pub fn diff(a: &RgbImage, b: &RgbImage) -> Diff {
    assert_eq!(a.dimensions(), b.dimensions(), "image sizes differ");
    let (mut max, mut sum, mut exact) = (0u8, 0u64, 0usize);
    for (x, y) in a.as_raw().iter().zip(b.as_raw()) {
        let d = x.abs_diff(*y);
        max = max.max(d);
        sum += u64::from(d);
        exact += usize::from(d == 0);
    }
    let n = a.as_raw().len() as f64;
    Diff {
        max,
        mean: sum as f64 / n,
        exact_fraction: exact as f64 / n,
    }
}
