//! The photos table: one row per listed photo with its bytes, like Spark's
//! `binaryFile` source, read through `object_store` with bounded concurrency.
//!
//! Listing happens once, on the client; the table carries the listed entries
//! and each partition reads its share of objects when executed, from the
//! object store registered in the task's runtime (so the same plan runs in
//! any process that has the store).
//!
//! * [`PhotoTable`] (`table`): the table provider, planned either as one
//!   [`PhotoScanExec`] (`scan_exec`) or, for planners that slice a stage's
//!   in-memory leaves into tasks, as [`PhotoReadExec`] (`read_exec`) over the
//!   photo references.
//! * [`PhotoRef`] and [`ScanOptions`] (`refs`): what is read, and how.

mod read_exec;
mod refs;
mod scan_exec;
mod table;

pub use read_exec::{refs_batch, refs_from_batch, refs_schema, PhotoReadExec};
pub(crate) use refs::scan_partitions;
pub use refs::{PhotoRef, ScanOptions};
pub use scan_exec::PhotoScanExec;
pub use table::PhotoTable;
