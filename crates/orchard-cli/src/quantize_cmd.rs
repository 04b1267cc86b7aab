//! `orchard model quantize`: calibration photos prepared by Orchard itself,
//! ONNX Runtime's static quantization, then a check of the int8 model's
//! features against the fp32 model's on other photos of the same folder.

use anyhow::{bail, Context, Result};
use orchard_classify::fnv1a;
use orchard_image::{DecodeOptions, Preparer};
use orchard_model::{
    quantize_model, sha256_bytes, Activations, BackendKind, Calibration, CalibrationSet, ModelHome,
    QuantizeOptions, ResolvedModel, MOBILENET_V2, MOBILENET_V2_FP32_NODES,
    MOBILENET_V2_FP32_NODES_7BIT,
};
use orchard_source::PhotoGlob;

use crate::args::{ActivationsArg, CalibrationArg, QuantizeArgs, ReduceRangeArg};
use crate::photo_inputs::{open_input, read_photos, Input, PhotoRef};
use crate::setup::{runtime, storage_options};

/// `orchard model quantize`.
pub fn run_quantize(home: &ModelHome, args: QuantizeArgs) -> Result<()> {
    if args.images == 0 {
        bail!("--images must be at least 1");
    }
    let source = home.resolve(&args.name)?;
    if source.spec.name.ends_with("-int8") {
        bail!(
            "{} is already quantized; quantize its fp32 model",
            args.name
        );
    }
    let name = args
        .output
        .clone()
        .unwrap_or_else(|| format!("{}-int8", source.spec.name));
    let rt = runtime()?;
    let glob = PhotoGlob::new(&args.glob)?;
    let storage = storage_options(&args.storage)?;
    let mut photos = match open_input(&rt, &args.calibrate, &glob, &storage)? {
        Input::Photos(photos) => photos,
        Input::Features { .. } => bail!(
            "{} is an extraction output; --calibrate needs photos (the model's input)",
            args.calibrate
        ),
    };
    // A fixed sample, whatever the listing order: by a hash of the path.
    photos.sort_by_key(|p| (fnv1a(0, &p.path), p.path.clone()));
    let (calibration, rest) = photos.split_at(args.images.min(photos.len()));
    let check = &rest[..args.check.min(rest.len())];

    let (tensors, fingerprint, count) = prepared(&rt, &source, calibration)?;
    let reduce_range = match args.reduce_range {
        ReduceRangeArg::On => true,
        ReduceRangeArg::Off => false,
        ReduceRangeArg::Auto => !cpu_has_vnni(),
    };
    let exclude: Vec<String> = match args.exclude.as_deref() {
        Some("none") => Vec::new(),
        Some(list) => list
            .split(',')
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect(),
        None if source.spec.name == MOBILENET_V2 => if reduce_range {
            MOBILENET_V2_FP32_NODES_7BIT
        } else {
            MOBILENET_V2_FP32_NODES
        }
        .iter()
        .map(|n| n.to_string())
        .collect(),
        None => Vec::new(),
    };
    let opts = QuantizeOptions {
        python: args.python.clone(),
        exclude,
        activations: match args.activations {
            ActivationsArg::U8 => Activations::U8,
            ActivationsArg::S8 => Activations::S8,
        },
        calibration: match args.calibration {
            CalibrationArg::Minmax => Calibration::MinMax,
            CalibrationArg::Percentile => Calibration::Percentile,
            CalibrationArg::Entropy => Calibration::Entropy,
        },
        reduce_range,
        bias_correction: !args.no_bias_correction,
    };
    let set = CalibrationSet {
        tensors,
        count,
        source: args.calibrate.clone(),
        fingerprint,
    };
    tracing::info!(
        photos = count,
        excluded = ?opts.exclude,
        reduce_range,
        "quantizing {} on {}",
        source.spec.name,
        args.calibrate
    );
    let int8 = quantize_model(home, &source, &name, &set, &opts)?;
    println!(
        "{name}: {} (sha256 {}), from {} calibrated on {count} photos of {} (fingerprint {}); fp32 nodes: {}; {} weights{}",
        int8.path.display(),
        int8.sha256,
        source.spec.name,
        args.calibrate,
        &set.fingerprint[..16],
        if opts.exclude.is_empty() { "none".to_string() } else { opts.exclude.join(", ") },
        if reduce_range { "7-bit" } else { "8-bit" },
        if opts.bias_correction { ", biases corrected" } else { "" },
    );
    if !check.is_empty() {
        let (held, _, n) = prepared(&rt, &source, check)?;
        let cos = cosines(&source, &int8, &held, n)?;
        println!(
            "features against {} on {n} other photos: cosine mean {:.4}, p1 {:.4}, min {:.4}",
            source.spec.name,
            mean(&cos),
            percentile(&cos, 1.0),
            cos.iter().cloned().fold(f64::INFINITY, f64::min),
        );
    }
    println!("use it with --model {name}");
    Ok(())
}

/// `photos` as model inputs (photos that fail to read or decode are
/// skipped with a warning), the set's fingerprint and its size.
fn prepared(
    rt: &tokio::runtime::Runtime,
    model: &ResolvedModel,
    photos: &[PhotoRef],
) -> Result<(Vec<f32>, String, usize)> {
    let mut preparer = Preparer::new(model.spec.preprocess(), DecodeOptions::default());
    let len = model.spec.image_len();
    let mut tensors = Vec::with_capacity(photos.len() * len);
    let mut digests = String::new();
    let mut count = 0;
    for (photo, bytes) in photos.iter().zip(read_photos(rt, photos)) {
        let prepared = bytes.and_then(|bytes| {
            let mut out = vec![0f32; len];
            preparer
                .prepare(&bytes, &mut out)
                .map(|_| (bytes, out))
                .map_err(|e| e.to_string())
        });
        match prepared {
            Ok((bytes, out)) => {
                digests.push_str(&sha256_bytes(&bytes));
                tensors.extend_from_slice(&out);
                count += 1;
            }
            Err(reason) => tracing::warn!(path = %photo.path, %reason, "skipped"),
        }
    }
    if count == 0 {
        bail!(
            "none of the {} photos could be read and decoded",
            photos.len()
        );
    }
    Ok((tensors, sha256_bytes(digests.as_bytes()), count))
}

/// Cosine of `b`'s features against `a`'s, per photo.
fn cosines(a: &ResolvedModel, b: &ResolvedModel, inputs: &[f32], n: usize) -> Result<Vec<f64>> {
    let run = |m: &ResolvedModel| -> Result<Vec<f32>> {
        let backend = m
            .to_ref(BackendKind::Auto, 0, 0)
            .load()
            .with_context(|| format!("cannot load {}", m.path.display()))?;
        let len = m.spec.image_len();
        let mut out = Vec::new();
        for chunk in inputs.chunks(32 * len) {
            out.extend(backend.infer(chunk, chunk.len() / len)?);
        }
        Ok(out)
    };
    let (fa, fb) = (run(a)?, run(b)?);
    let width = fa.len() / n;
    Ok(fa
        .chunks(width)
        .zip(fb.chunks(width))
        .map(|(x, y)| cosine(x, y))
        .collect())
}

/// Cosine similarity of two vectors (0 when one is zero).
fn cosine(x: &[f32], y: &[f32]) -> f64 {
    let dot: f64 = x.iter().zip(y).map(|(a, b)| *a as f64 * *b as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
    let denominator = norm(x) * norm(y);
    if denominator == 0.0 {
        0.0
    } else {
        dot / denominator
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The `p`-th percentile (nearest rank).
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Whether this CPU has VNNI (AVX-512 VNNI or AVX-VNNI); `true` where
/// /proc/cpuinfo cannot be read (not Linux, not x86), where 8-bit weights
/// are the safe default.
fn cpu_has_vnni() -> bool {
    crate::cpu::CpuInfo::current().is_none_or(|cpu| cpu.vnni)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_percentiles() {
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!(cosine(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 1.0), 1.0);
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(mean(&v), 50.5);
    }
}
