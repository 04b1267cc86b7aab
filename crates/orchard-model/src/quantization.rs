//! What an int8 model records about how it was made (in its manifest), and
//! the settings it was made with.

use serde::{Deserialize, Serialize};

/// Activation type of the quantized model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activations {
    /// Unsigned 8-bit, asymmetric (ORT's default for QDQ on x86).
    U8,
    /// Signed 8-bit, symmetric.
    S8,
}

/// How ranges are calibrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Calibration {
    /// Minimum and maximum seen.
    MinMax,
    /// A high percentile of the magnitudes.
    Percentile,
    /// Minimum KL divergence of the histogram.
    Entropy,
}

/// How an installed model was quantized (in its manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantizationInfo {
    /// The fp32 model's name and sha256.
    pub from_model: String,
    /// Its sha256.
    pub from_sha256: String,
    /// Calibration photos.
    pub calibration_photos: usize,
    /// Where they came from.
    pub calibration_source: String,
    /// Their fingerprint ([`crate::CalibrationSet::fingerprint`]).
    pub calibration_fingerprint: String,
    /// Nodes kept in fp32.
    pub excluded: Vec<String>,
    /// Activation type.
    pub activations: Activations,
    /// Range calibration.
    pub calibration: Calibration,
    /// Whether weights use 7 bits.
    pub reduce_range: bool,
    /// Whether biases were corrected for the weights' rounding (absent, so
    /// false, in manifests written before it existed).
    #[serde(default)]
    pub bias_correction: bool,
}
