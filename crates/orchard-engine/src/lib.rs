//! Orchard's engine: the extraction job as Apache DataFusion plans.
//!
//! ```text
//! PhotoScanExec ─▶ featurize(content) ─▶ PartWriterExec (spill, _temporary/)
//!   spill ─▶ pca_stats(features) (partial states merge) ─▶ fit on the client
//!   spill ─▶ label_index(label), pca_project(features) ─▶ PartWriterExec (output)
//! ```
//!
//! Every step is an ordinary plan node or function, so the same plans run on
//! an in-process `SessionContext` or on a cluster; the only per-process state
//! is the model cache of `orchard-model`.

pub mod checkpoint;
pub mod cluster;
pub mod extract;
pub mod features;
pub mod featurize;
pub mod incremental;
pub mod labels_udf;
pub mod output;
pub mod pca_udf;
pub mod photos;
pub mod report;
pub mod schema;
pub mod sink;
pub mod transform;

pub use extract::{extract, ExtractOptions, JobObserver, OutputFormat};
pub use features::{is_output, read_features, FeatureRow, FeatureTable};
pub use featurize::{FeaturizeStats, FeaturizeUdf, ModelRef};
pub use report::RunReport;
pub use transform::{transform, TransformOptions};

/// Errors of the engine, with the context a user needs.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A location, listing or labels problem.
    #[error(transparent)]
    Source(#[from] orchard_source::SourceError),
    /// A model problem.
    #[error(transparent)]
    Model(#[from] orchard_model::ModelError),
    /// A PCA problem.
    #[error("PCA: {0}")]
    Pca(#[from] orchard_pca::PcaError),
    /// A query-engine problem.
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// An Arrow problem.
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// A storage problem.
    #[error("storage: {0}")]
    Store(#[from] object_store::Error),
    /// The job cannot run as asked.
    #[error("{0}")]
    Invalid(String),
    /// The job ran to the end but more inputs failed than `--max-error-rate`
    /// allows; the output is written without `_SUCCESS`.
    #[error(
        "{failed} of {listed} inputs failed ({rate:.1}%), above --max-error-rate {max:.1}%; \
         the output was written without _SUCCESS (see _errors.parquet)"
    )]
    ErrorRate {
        /// Failed inputs.
        failed: u64,
        /// Listed inputs.
        listed: u64,
        /// Failure rate, percent.
        rate: f64,
        /// Allowed rate, percent.
        max: f64,
    },
}

/// Result type of the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
