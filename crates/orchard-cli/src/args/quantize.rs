//! `orchard model quantize` arguments.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::StorageArgs;

/// Activation type of an int8 model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActivationsArg {
    /// Unsigned 8-bit, asymmetric (ONNX Runtime's fast path on x86).
    U8,
    /// Signed 8-bit, symmetric.
    S8,
}

/// How activation ranges are calibrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CalibrationArg {
    /// Minimum and maximum seen.
    Minmax,
    /// A high percentile of the magnitudes.
    Percentile,
    /// Minimum KL divergence of the histogram.
    Entropy,
}

/// 7-bit weights, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReduceRangeArg {
    /// On where this CPU has no VNNI (AVX-512 VNNI or AVX-VNNI), where
    /// u8 × s8 products can saturate; off where it has.
    Auto,
    /// Always 7-bit weights.
    On,
    /// Always 8-bit weights.
    Off,
}

/// `orchard model quantize`.
#[derive(Debug, Clone, Args)]
pub struct QuantizeArgs {
    /// The installed fp32 model to quantize.
    #[arg(default_value = "mobilenet_v2")]
    pub name: String,
    /// Photos to calibrate on: a folder or prefix, read recursively (your own
    /// photos, as the model will see them).
    #[arg(long)]
    pub calibrate: String,
    /// Calibration photos taken from it (a fixed sample, the same every time).
    #[arg(long, default_value_t = 200)]
    pub images: usize,
    /// Other photos of the same folder to compare int8 and fp32 features on
    /// (cosine per photo; 0 to skip).
    #[arg(long, default_value_t = 100)]
    pub check: usize,
    /// Name of the new model (default: NAME-int8).
    #[arg(long)]
    pub output: Option<String>,
    /// Nodes kept in fp32, comma-separated; default: the recommended set for
    /// the model (mobilenet_v2: see README); "none" to quantize every node.
    #[arg(long)]
    pub exclude: Option<String>,
    /// Activation type.
    #[arg(long, value_enum, default_value = "u8")]
    pub activations: ActivationsArg,
    /// Range calibration.
    #[arg(long, value_enum, default_value = "percentile")]
    pub calibration: CalibrationArg,
    /// 7-bit weights.
    #[arg(long, value_enum, default_value = "auto")]
    pub reduce_range: ReduceRangeArg,
    /// Leave the biases as they are (by default each quantized Conv's bias
    /// absorbs the mean shift its rounded weights cause).
    #[arg(long)]
    pub no_bias_correction: bool,
    /// Python with onnxruntime, onnx and numpy (default: $ORCHARD_PYTHON, a
    /// .venv above the current folder, python3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Photo file patterns, comma-separated.
    #[arg(long, default_value = super::GLOB)]
    pub glob: String,
    #[command(flatten)]
    pub storage: StorageArgs,
}
