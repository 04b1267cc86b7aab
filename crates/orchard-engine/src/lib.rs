//! Orchard's engine: the extraction job as Apache DataFusion plans, run as a
//! sequence of named stages.
//!
//! ```text
//! start      output, mode (new / overwrite / resume / incremental) → checkpoint
//! plan       listing × previous output × checkpoint → chunks to do (pure)
//! featurize  PhotoScanExec ─▶ featurize(content) ─▶ PartWriterExec (spill, _temporary/)
//! errors     failed rows + listing problems (+ earlier runs') → _errors.parquet
//! fit        spill ─▶ pca_stats(features) (partial states merge) ─▶ fit here
//! write      spill ─▶ label_index(label), pca_project(features) ─▶ part files,
//!            superseded parts rewritten, commit, metadata, _SUCCESS last
//! report     what happened → _run.json
//! ```
//!
//! Every step is an ordinary plan node or function, so the same plans run on
//! an in-process `SessionContext` ([`Embedded`]) or wherever a [`PlanRunner`]
//! runs them (the `orchard-cluster` crate runs them on Ballista); the engine
//! knows nothing of Ballista or HTTP. The only per-process state is the model
//! cache of `orchard-model`, reached through a [`ModelLoader`].
//!
//! See `docs/architecture.md` for the whole picture.

pub mod checkpoint;
mod erase;
mod error;
pub mod features;
pub mod featurize;
pub mod incremental;
mod job;
pub mod labels_udf;
pub mod metrics;
pub mod output;
pub mod pca_udf;
pub mod photos;
pub mod report;
mod residency;
pub mod runner;
pub mod schema;
pub mod sink;
pub mod summary;
pub mod transform;
pub mod write_parts;

pub use erase::{erase_photos, Erased};
pub use error::{EngineError, OutputPart, Result};
pub use features::{is_output, read_features, FeatureRow, FeatureTable};
pub use featurize::{CachedModels, FeaturizeStats, FeaturizeUdf, ModelLoader, ModelRef};
pub use job::{
    extract, ExtractOptions, FeaturizeOptions, FitOptions, JobEvent, JobObserver, OutputFormat,
    Quiet, WriteMode, WriteOptions,
};
pub use report::{RunReport, ThroughputPoint};
pub use runner::{
    orchard_session, session_config, Embedded, PlanRunner, ProgressSource, ProgressWatch,
    TaskCounters, TaskCounts,
};
pub use transform::{part_file_urls, transform, TransformOptions};
