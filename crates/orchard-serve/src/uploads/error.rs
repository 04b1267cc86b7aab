//! The errors of the upload store, each saying what to do.

use crate::uploads::exif::StripError;

/// Why an upload could not be kept, read, changed or erased.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The store refused or failed a request.
    #[error("the upload store {store} failed to {action}: {source}; check that it is reachable and writable (credentials, permissions, free space)")]
    Store {
        /// The store's URL.
        store: String,
        /// What was being done.
        action: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// A record could not be parsed.
    #[error("the record {key} is damaged ({source}); erase the upload with `orchard uploads forget` and ask the person for it again")]
    Damaged {
        /// The record's key.
        key: String,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The photo's metadata could not be stripped, so it is not kept.
    #[error("the photo is not kept: {0}")]
    Strip(#[from] StripError),
    /// A local file (the audit log) could not be written.
    #[error("cannot write {path}: {source}; check the folder's permissions and free space")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}
