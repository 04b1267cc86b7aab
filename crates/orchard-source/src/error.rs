//! Errors of the source crate.

/// What went wrong while resolving a location, listing it, or reading labels.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The location string could not be understood.
    #[error("invalid location '{location}': {reason}")]
    InvalidLocation {
        /// The location as the user gave it.
        location: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The glob pattern could not be compiled.
    #[error("invalid glob pattern '{pattern}': {reason}")]
    InvalidGlob {
        /// The offending pattern.
        pattern: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The storage back end failed.
    #[error("storage error at '{location}': {source}")]
    Store {
        /// The location being accessed.
        location: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },
    /// A labels file could not be read or parsed.
    #[error("labels file '{path}': {reason}")]
    Labels {
        /// The labels file.
        path: String,
        /// Why it could not be used.
        reason: String,
    },
}
