//! Error type of the crate.

use thiserror::Error;

/// Everything that can go wrong while accumulating statistics, fitting,
/// projecting or (de)serialising.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PcaError {
    /// A dimension of zero was requested.
    #[error("dimension must be at least 1")]
    ZeroDimension,

    /// A dimension too large to be represented in the binary encoding or in
    /// memory was requested.
    #[error("dimension {dim} is too large (maximum {max})")]
    DimensionTooLarge {
        /// The requested dimension.
        dim: usize,
        /// The largest supported dimension.
        max: usize,
    },

    /// A row-major batch whose length is not a multiple of the dimension.
    #[error("batch of {len} values is not a whole number of rows of dimension {dim}")]
    RaggedBatch {
        /// Number of values in the batch.
        len: usize,
        /// Expected row dimension.
        dim: usize,
    },

    /// A row contains NaN or an infinity.
    #[error("non-finite value in row {row}, column {col} of the batch")]
    NonFiniteInput {
        /// Row index inside the batch.
        row: usize,
        /// Column (feature) index.
        col: usize,
    },

    /// Two objects of different dimensions were combined.
    #[error("dimension mismatch: expected {expected}, found {found}")]
    DimensionMismatch {
        /// Dimension of the receiving object.
        expected: usize,
        /// Dimension of the other object.
        found: usize,
    },

    /// The row count would overflow `u64` when merging.
    #[error("row count overflow while merging statistics")]
    CountOverflow,

    /// Not enough rows to estimate a (sample) covariance.
    #[error("at least 2 rows are needed to estimate a covariance, got {count}")]
    NotEnoughRows {
        /// Number of rows seen.
        count: u64,
    },

    /// `Components::Count(0)` was requested.
    #[error("the number of components must be at least 1")]
    ZeroComponents,

    /// `Components::VarianceFraction(f)` with `f` outside `(0, 1]`.
    #[error("explained-variance fraction must be in (0, 1], got {0}")]
    InvalidVarianceFraction(f64),

    /// The relative rank tolerance is negative or not finite.
    #[error("rank tolerance must be finite and non-negative, got {0}")]
    InvalidTolerance(f64),

    /// The statistics contain NaN or infinite values (overflow or corruption).
    #[error("the statistics contain non-finite values")]
    NonFiniteStatistics,

    /// The (scaled) covariance has no variance at all: every feature is constant.
    #[error("the data has zero variance in every direction; no principal component exists")]
    ZeroVariance,

    /// The eigen solver did not converge.
    #[error("the eigen-decomposition did not converge")]
    EigenDecomposition,

    /// An output buffer has the wrong length.
    #[error("output buffer has {found} values, expected {expected}")]
    OutputLength {
        /// Required length.
        expected: usize,
        /// Length supplied.
        found: usize,
    },

    /// The binary statistics encoding is malformed.
    #[error("corrupt statistics encoding: {0}")]
    CorruptEncoding(String),

    /// The encoding (binary statistics or JSON model) has a version this build
    /// cannot read.
    #[error("unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version found in the input.
        found: u32,
        /// Version understood by this build.
        supported: u32,
    },

    /// A deserialised model is internally inconsistent.
    #[error("invalid model: {0}")]
    InvalidModel(String),

    /// JSON (de)serialisation failed.
    #[error("model JSON error: {0}")]
    Json(#[from] serde_json::Error),
}
