//! `orchard model quantize`: an int8 variant of an installed model, made by
//! ONNX Runtime's static quantization (`onnxruntime.quantization`, QDQ
//! format, per-channel symmetric int8 weights) and calibrated on the user's
//! own photos, prepared by Orchard exactly as it feeds them to the model.
//!
//! The variant is installed like any other model (`models/<name>.onnx` and
//! its manifest, with the sha256, the fp32 model it came from, the
//! calibration set's fingerprint and the settings), so `--model <name>`
//! selects it everywhere.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::error::ModelError;
use crate::fetch::find_python;
use crate::home::{sha256_bytes, ConverterInfo, ModelHome, ModelManifest, ResolvedModel};
use crate::install::{install_onnx, rfc3339_now, stderr_tail, write_atomically};
pub use crate::quantization::{Activations, Calibration, QuantizationInfo};

/// The quantizer script, embedded at build time.
pub const QUANTIZER_SCRIPT: &str = include_str!("../converter/quantize_int8.py");

/// File name the quantizer is written to and recorded under.
pub const QUANTIZER_NAME: &str = "quantize_int8.py";

/// The nodes of the default model kept in fp32 by default: the first
/// convolution and the first depthwise convolution, at 112 × 112, whose
/// channels see inputs with large means and very different ranges (the two
/// most sensitive nodes, `bench/int8_study.py layers`). With bias correction
/// ([`QuantizeOptions::bias_correction`]) and percentile ranges, keeping just
/// these two in fp32 leaves the features within cosine 0.995 (mean) and 0.99
/// (1st percentile) of the fp32 model on studio and real photos, with a
/// margin (BENCHMARKS.md "int8"); they are a small part of the work.
pub const MOBILENET_V2_FP32_NODES: &[&str] = &["Conv1", "expanded_conv_depthwise"];

/// The same with 7-bit weights (`reduce_range`, CPUs without VNNI): the
/// coarser 1×1 weights cost more, and the next two most sensitive nodes
/// (the first block's projection and the second block's expansion, still at
/// 112 × 112) stay fp32 too, to keep the same bar (BENCHMARKS.md "int8").
/// Depthwise weights keep 8 bits either way (ORT's depthwise kernels cannot
/// saturate).
pub const MOBILENET_V2_FP32_NODES_7BIT: &[&str] = &[
    "Conv1",
    "expanded_conv_depthwise",
    "block_1_expand",
    "expanded_conv_project",
];

/// What to quantize, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantizeOptions {
    /// Python with `onnxruntime`, `onnx` and `numpy`; default: [`find_python`].
    pub python: Option<PathBuf>,
    /// Node names kept in fp32.
    pub exclude: Vec<String>,
    /// Activation type.
    pub activations: Activations,
    /// Range calibration.
    pub calibration: Calibration,
    /// 7-bit weights, for CPUs without VNNI, where u8 × s8 products can
    /// saturate (`VPMADDUBSW`).
    pub reduce_range: bool,
    /// Fold each quantized Conv's weight-rounding error times its mean input
    /// into its bias (Nagel et al. 2019), measured on the calibration photos.
    pub bias_correction: bool,
}

/// The calibration photos: `count` model inputs back to back, and what
/// identifies them.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationSet {
    /// `count × spec.image_len()` floats, prepared as the model is fed.
    pub tensors: Vec<f32>,
    /// Number of photos.
    pub count: usize,
    /// Where they came from (a folder or prefix).
    pub source: String,
    /// sha256 over the photos' own sha256s, in order.
    pub fingerprint: String,
}

/// Quantizes the installed `source` into `models/<name>.onnx`, calibrated on
/// `set`; returns the new model, resolvable by `name`.
pub fn quantize_model(
    home: &ModelHome,
    source: &ResolvedModel,
    name: &str,
    set: &CalibrationSet,
    opts: &QuantizeOptions,
) -> Result<ResolvedModel, ModelError> {
    let step = format!("quantizing {} to {name}", source.spec.name);
    let image_len = source.spec.image_len();
    if set.count == 0 || set.tensors.len() != set.count * image_len {
        return Err(ModelError::fetch(
            &step,
            format!(
                "the calibration set must hold whole model inputs of {image_len} values (got {} values for {} photos)",
                set.tensors.len(),
                set.count
            ),
        ));
    }
    let python = find_python(opts.python.as_deref());
    let work = tempfile::tempdir()
        .map_err(|e| ModelError::io("cannot create a temporary directory", Path::new("."), e))?;
    let shape = input_shape(source, set.count);
    let npy = work.path().join("calibration.npy");
    std::fs::write(&npy, npy_f32(&shape, &set.tensors))
        .map_err(|e| ModelError::io("cannot write calibration tensors", &npy, e))?;
    let script = work.path().join(QUANTIZER_NAME);
    std::fs::write(&script, QUANTIZER_SCRIPT)
        .map_err(|e| ModelError::io("cannot write the quantizer script", &script, e))?;
    let onnx = work.path().join(format!("{name}.onnx"));
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .arg("--input")
        .arg(&source.path)
        .arg("--output")
        .arg(&onnx)
        .arg("--calibration")
        .arg(&npy)
        .arg("--exclude")
        .arg(opts.exclude.join(","))
        .arg("--activations")
        .arg(lower(&opts.activations))
        .arg("--method")
        .arg(lower(&opts.calibration));
    if opts.reduce_range {
        cmd.arg("--reduce-range");
    }
    if !opts.bias_correction {
        cmd.arg("--no-bias-correction");
    }
    let out = cmd.output().map_err(|e| {
        ModelError::fetch(
            &step,
            format!(
                "cannot run `{}` ({e}); pass --python or set ORCHARD_PYTHON to a Python 3 with onnxruntime",
                python.display()
            ),
        )
    })?;
    if !out.status.success() || !onnx.is_file() {
        return Err(ModelError::fetch(
            &step,
            format!(
                "the quantizer failed ({}): {}",
                out.status,
                stderr_tail(&out.stderr)
            ),
        ));
    }
    let (path, sha256) = install_onnx(home, name, &onnx)?;
    let mut spec = source.spec.clone();
    spec.name = name.to_string();
    let fp32 = home.read_manifest(&source.spec.name).ok();
    let manifest = ModelManifest {
        spec: spec.clone(),
        sha256: sha256.clone(),
        source: fp32
            .map(|m| m.source)
            .unwrap_or_else(|| crate::home::ModelSource {
                package: None,
                version: None,
                wheel_sha256: None,
                h5_member: source.path.display().to_string(),
                h5_sha256: source.sha256.clone(),
            }),
        converter: ConverterInfo {
            script: QUANTIZER_NAME.to_string(),
            sha256: sha256_bytes(QUANTIZER_SCRIPT.as_bytes()),
            python: python.display().to_string(),
        },
        created_at: rfc3339_now(),
        fine_tuning: None,
        quantization: Some(QuantizationInfo {
            from_model: source.spec.name.clone(),
            from_sha256: source.sha256.clone(),
            calibration_photos: set.count,
            calibration_source: set.source.clone(),
            calibration_fingerprint: set.fingerprint.clone(),
            excluded: opts.exclude.clone(),
            activations: opts.activations,
            calibration: opts.calibration,
            reduce_range: opts.reduce_range,
            bias_correction: opts.bias_correction,
        }),
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ModelError::fetch("writing the manifest", e.to_string()))?;
    write_atomically(&home.manifest_path(name), |f| f.write_all(&json))?;
    tracing::info!("installed {name} at {} (sha256 {sha256})", path.display());
    Ok(ResolvedModel { path, spec, sha256 })
}

/// The model's input shape for `count` images.
fn input_shape(model: &ResolvedModel, count: usize) -> Vec<usize> {
    let spec = &model.spec;
    let (h, w) = (spec.height as usize, spec.width as usize);
    match spec.layout {
        crate::Layout::Nhwc => vec![count, h, w, 3],
        crate::Layout::Nchw => vec![count, 3, h, w],
    }
}

/// A serde enum's lowercase name.
fn lower<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `values` as a NumPy `.npy` file (format 1.0, little-endian f32, C order).
fn npy_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let dims = if dims.len() == 1 {
        format!("{},", dims[0])
    } else {
        dims.join(", ")
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    // Magic (6) + version (2) + length (2) + header + '\n', a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * values.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_describes_the_array() {
        let bytes = npy_f32(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
        assert!(header.contains("'shape': (2, 3)"), "{header}");
        assert_eq!(bytes.len(), 10 + len + 24);
        assert_eq!(&bytes[10 + len..10 + len + 4], &1.0f32.to_le_bytes());
    }

    #[test]
    fn settings_have_their_command_line_names() {
        assert_eq!(lower(&Activations::U8), "u8");
        assert_eq!(lower(&Calibration::MinMax), "minmax");
    }
}
