//! Running Orchard's plans on an Apache DataFusion Ballista 55 cluster: the
//! engine's [`PlanRunner`](orchard_engine::PlanRunner) and
//! [`ProgressSource`](orchard_engine::ProgressSource) for a cluster
//! ([`BallistaRunner`]), the codecs that carry Orchard's plans, and the
//! scheduler and executor processes. The engine knows nothing of this crate;
//! the CLI wires it in.
//!
//! ```text
//!  orchard extract IN OUT --cluster df://host:50050        (client)
//!     │  lists photos, plans SQL, registers UDFs, writes part files
//!     │  logical plan (+ PhotoTable, UDF payloads) ──gRPC──▶ scheduler
//!     ▼
//!  orchard cluster scheduler --bind 0.0.0.0:50050          (scheduler)
//!     │  decodes with OrchardLogicalCodec: PhotoTable → PhotoTable::distributed
//!     │  plans stages; each task plan encoded with OrchardPhysicalCodec
//!     ▼
//!  orchard cluster executor --scheduler host:50050 --slots N   (executors)
//!        decode with OrchardPhysicalCodec (models resolved locally),
//!        read photos / spill files from the shared store, run featurize,
//!        pca_stats, pca_project, label_index; results stream back to the
//!        client, which writes them with `PartWriterExec` as in embedded mode.
//! ```
//!
//! What travels, and how (see `docs/cluster-notes.md` for the verified APIs):
//!
//! * Orchard's functions are *self-describing*: [`codec`] writes a tagged
//!   JSON payload for `featurize` (model + decode options), `pca_stats`
//!   (width), `pca_project` (the fitted model) and `label_index` (the label
//!   index), so neither the scheduler nor the executors need them registered.
//! * The photos table travels as a payload too; the scheduler plans it as
//!   [`scan::PhotoReadExec`] over an in-memory table of photo references,
//!   because Ballista 55 slices a stage's *leaf* into per-task partitions only
//!   for the leaves it knows (`DataSourceExec`, shuffle readers). A custom leaf
//!   such as `PhotoScanExec` would be executed whole by every task.
//! * Object stores are built lazily in every process from the store URL with
//!   `orchard_source::Location::parse_with` ([`store`]); credentials come from
//!   each process's own environment, never from plans.
//! * Models: executors load `ModelRef.path` when that file has the expected
//!   sha256, else the model of the same name or digest in their own
//!   `$ORCHARD_HOME` ([`model`]).
//!
//! No cluster task writes output files (the client does): tasks are free of
//! side effects, so Ballista can re-run them on another executor when one is
//! lost.

pub mod client;
pub mod codec;
mod error;
pub mod metrics;
pub mod model;
pub mod payload;
pub mod process;
pub mod progress;
mod runner;
pub mod stall;
pub mod store;
pub mod watchdog;
mod work_dir;

pub use error::ClusterError;
pub use runner::BallistaRunner;
pub use watchdog::StallPolicy;

/// Turns a Ballista error into an engine error.
pub(crate) fn ballista_err(e: ballista_core::error::BallistaError) -> orchard_engine::EngineError {
    orchard_engine::EngineError::Runner {
        runner: "cluster",
        source: Box::new(e),
    }
}
