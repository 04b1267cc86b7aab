//! The one error type of this crate, with plain-language messages.

use std::fmt;

/// Which step of the image pipeline failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Format sniffing, header checks, decoding, colour conversion, orientation.
    Decode,
    /// Resampling to the model's input size.
    Resize,
    /// Conversion to a normalised `f32` tensor.
    Preprocess,
}

impl Stage {
    /// `"decode"`, `"resize"` or `"preprocess"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Resize => "resize",
            Stage::Preprocess => "preprocess",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an image could not be turned into a model input.
///
/// Every variant says the reason in words a user can act on; [`ImageError::stage`]
/// tells which step failed (for logs and per-stage error counts).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The input has no bytes at all.
    #[error("empty input (0 bytes)")]
    Empty,

    /// The bytes are a known image format other than JPEG, PNG or WebP.
    #[error("unsupported image format {format} (only JPEG, PNG and WebP are supported)")]
    UnsupportedFormat {
        /// Name of the detected format, e.g. `"GIF"` or `"HEIF/HEIC"`.
        format: &'static str,
    },

    /// The bytes match no known image signature.
    #[error("not a JPEG, PNG or WebP (starts with bytes {prefix})")]
    UnknownFormat {
        /// The first bytes in hex, with an ASCII rendering.
        prefix: String,
    },

    /// The header declares more pixels than the configured budget; refused
    /// before any pixel memory is allocated.
    #[error(
        "image is {width}×{height} = {pixels} pixels, above the limit of {max_pixels} (--max-pixels)"
    )]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// `width * height`.
        pixels: u64,
        /// The configured [`crate::DecodeOptions::max_pixels`].
        max_pixels: u64,
    },

    /// The header declares a zero width or height.
    #[error("image header declares an empty image ({width}×{height})")]
    ZeroSize {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },

    /// The data ends before the image is complete.
    #[error("truncated {format} data ({detail})")]
    Truncated {
        /// `"JPEG"`, `"PNG"` or `"WebP"`.
        format: &'static str,
        /// Where the data ran out.
        detail: String,
    },

    /// The data is malformed.
    #[error("corrupt {format} data: {reason}")]
    Corrupt {
        /// `"JPEG"`, `"PNG"` or `"WebP"`.
        format: &'static str,
        /// What the decoder objected to.
        reason: String,
    },

    /// A valid file using a feature the decoder does not implement
    /// (e.g. a 12-bit JPEG).
    #[error("unsupported {format} feature: {reason}")]
    UnsupportedFeature {
        /// `"JPEG"`, `"PNG"` or `"WebP"`.
        format: &'static str,
        /// The feature.
        reason: String,
    },

    /// Decoding would allocate more memory than the budget derived from
    /// [`crate::DecodeOptions::max_pixels`].
    #[error("{format} decoder memory limit exceeded: {reason}")]
    MemoryLimit {
        /// `"JPEG"`, `"PNG"` or `"WebP"`.
        format: &'static str,
        /// What exceeded the limit.
        reason: String,
    },

    /// Resizing failed (empty source or target, or a buffer of the wrong size).
    #[error("cannot resize {src_width}×{src_height} to {dst_width}×{dst_height}: {reason}")]
    Resize {
        /// Source width.
        src_width: u32,
        /// Source height.
        src_height: u32,
        /// Target width.
        dst_width: u32,
        /// Target height.
        dst_height: u32,
        /// What is wrong.
        reason: String,
    },

    /// The image handed to preprocessing is not at the spec's size.
    #[error("preprocess expects a {expected_width}×{expected_height} image, got {width}×{height}")]
    PreprocessSize {
        /// Spec width.
        expected_width: u32,
        /// Spec height.
        expected_height: u32,
        /// Actual width.
        width: u32,
        /// Actual height.
        height: u32,
    },

    /// The output slice does not hold exactly one image tensor.
    #[error("preprocess output buffer holds {actual} floats, expected {expected}")]
    OutputLength {
        /// `spec.tensor_len()`.
        expected: usize,
        /// `out.len()`.
        actual: usize,
    },

    /// The preprocess spec itself is unusable (zero width or height).
    #[error("invalid preprocess spec: {0}")]
    InvalidSpec(String),
}

impl ImageError {
    /// The pipeline step that failed, as an enum.
    pub fn stage_kind(&self) -> Stage {
        match self {
            ImageError::Empty
            | ImageError::UnsupportedFormat { .. }
            | ImageError::UnknownFormat { .. }
            | ImageError::TooManyPixels { .. }
            | ImageError::ZeroSize { .. }
            | ImageError::Truncated { .. }
            | ImageError::Corrupt { .. }
            | ImageError::UnsupportedFeature { .. }
            | ImageError::MemoryLimit { .. } => Stage::Decode,
            ImageError::Resize { .. } => Stage::Resize,
            ImageError::PreprocessSize { .. }
            | ImageError::OutputLength { .. }
            | ImageError::InvalidSpec(_) => Stage::Preprocess,
        }
    }

    /// The pipeline step that failed: `"decode"`, `"resize"` or `"preprocess"`.
    pub fn stage(&self) -> &'static str {
        self.stage_kind().as_str()
    }

    /// Whether the input itself is at fault (bad, truncated, unsupported or
    /// oversized data) rather than the caller (wrong buffer sizes or spec).
    pub fn is_bad_input(&self) -> bool {
        self.stage_kind() == Stage::Decode
    }
}

/// Hex + ASCII rendering of the first bytes of an unrecognised input.
pub(crate) fn describe_prefix(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(8)];
    let hex: Vec<String> = head.iter().map(|b| format!("{b:02X}")).collect();
    let ascii: String = head
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    format!("{} \"{}\"", hex.join(" "), ascii)
}
