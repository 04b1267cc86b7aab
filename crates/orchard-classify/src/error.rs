//! Error type of the crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while training, saving, loading or using a
/// classifier. The variants a user can act on say what to do.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClassifyError {
    /// Nothing to train on.
    #[error("no labelled training rows: give photo folders whose sub-folders are the labels, or extraction outputs written with --keep-features")]
    NoTrainingData,

    /// Fewer than two classes.
    #[error("training needs at least 2 labels, found {found}: {labels}")]
    TooFewClasses {
        /// Number of labels found.
        found: usize,
        /// The labels found.
        labels: String,
    },

    /// Rows of different widths were mixed.
    #[error("feature width {found} from {origin} does not match {expected} (were these made with another model?)")]
    WidthMismatch {
        /// Width expected.
        expected: usize,
        /// Width found.
        found: usize,
        /// Where the rows came from.
        origin: String,
    },

    /// The bundle was made for another feature model than the one given.
    #[error("classifier {bundle} was trained on features of model `{expected_name}` (sha256 {expected_sha}), not of `{found_name}` (sha256 {found_sha}); retrain it with this model (orchard train --model …) or use the model it was made with")]
    ModelMismatch {
        /// The bundle directory.
        bundle: String,
        /// Model name the bundle expects.
        expected_name: String,
        /// Model sha256 the bundle expects.
        expected_sha: String,
        /// Model name offered.
        found_name: String,
        /// Model sha256 offered.
        found_sha: String,
    },

    /// A bundle could not be read.
    #[error("cannot read classifier bundle {path}: {reason}")]
    BadBundle {
        /// File or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// A bundle of a format this Orchard does not know.
    #[error("classifier bundle {path} has format version {found}; this orchard reads version {supported} (upgrade orchard, or retrain the classifier)")]
    BundleVersion {
        /// The bundle.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },

    /// Reading or writing a file.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A broken invariant: a bug, not something the user can fix.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ClassifyError {
    /// An internal error with this message.
    pub fn internal(message: impl Into<String>) -> Self {
        ClassifyError::Internal(message.into())
    }

    /// An I/O error while doing `action` on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ClassifyError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
