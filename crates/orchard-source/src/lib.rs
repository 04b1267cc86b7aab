//! Where photos come from: storage locations (through `object_store`), recursive
//! listing with a glob filter, labels taken from folder names, and the label index.
//!
//! This crate knows nothing of images, models or DataFusion: it turns a user's
//! `./photos` or `s3://bucket/prefix/` into a sorted list of [`PhotoEntry`]s.

mod cloud;
mod error;
mod glob;
mod label;
mod listing;
mod location;
mod options;
mod storage;

pub use error::{SourceError, StoreAction};
pub use glob::{PhotoGlob, DEFAULT_GLOB};
pub use label::{label_of, LabelIndex};
pub use listing::{list_photos, Listing, ListingProblem, PhotoEntry};
pub use location::Location;
pub use options::{region_matches, StorageOptions, StoreKind};
