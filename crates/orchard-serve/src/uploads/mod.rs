//! Kept uploads: photos people chose to give for training, with the answer
//! they got and their feedback, erasable by receipt, with an audit log.
//! Knows nothing of HTTP (the routes use it) or of DataFusion (erasure from
//! extraction outputs lives in `orchard-engine`).
//!
//! * [`receipt`]: the random key of an upload.
//! * [`exif`]: metadata stripped from the stored copy (GPS above all).
//! * [`record`]: what is kept besides the photo.
//! * [`store`]: keep, read, correct, list and erase, on any object store.
//! * [`audit`]: the append-only log of erasures.
//! * [`lineage`]: which uploads a classifier bundle was trained with.

pub mod audit;
pub mod error;
pub mod exif;
pub mod lineage;
pub mod receipt;
pub mod record;
pub mod store;

pub use audit::{AuditEvent, AuditLog};
pub use error::UploadError;
pub use exif::{strip_metadata, StripError, Stripped};
pub use lineage::{bundles_trained_with, TrainingSet, TRAINING_SET};
pub use receipt::Receipt;
pub use record::{now, Feedback, KeptAnswer, KeptGuess, KeptModel, UploadRecord};
pub use store::{KeptPhoto, UploadStore, CONSENT_TRAINING};
