//! What a run tells the outside while it works: events and progress hooks.

use std::sync::Arc;

use crate::featurize::FeaturizeStats;
use crate::runner::TaskCounters;

/// What happened, for tools that follow a run (`orchard extract --progress
/// json` prints one per line).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    /// The job started (or was resumed) in the output.
    Started {
        /// The job's id.
        job_id: String,
        /// Input URL.
        input: String,
        /// Output URL.
        output: String,
        /// Whether an interrupted job is continued.
        resumed: bool,
    },
    /// The input was listed.
    Listed {
        /// Photos matching the glob.
        photos: u64,
        /// Objects skipped (not matching, hidden).
        skipped: u64,
        /// Listing problems (they go to `_errors.parquet`).
        problems: u64,
        /// Seconds it took.
        seconds: f64,
    },
    /// What this run will featurize.
    Planned {
        /// Photos to featurize now.
        todo: u64,
        /// Chunks they make.
        chunks: u64,
        /// Photos that replace rows of an earlier run.
        changed: u64,
    },
    /// A chunk was featurized and checkpointed.
    ChunkDone {
        /// Its number.
        chunk: usize,
        /// Its photos.
        photos: u64,
        /// Photos featurized so far in this run.
        photos_done: u64,
        /// Of which failed so far (counted in this process).
        failed: u64,
        /// Photos per second so far.
        images_per_second: f64,
    },
    /// `_errors.parquet` was written.
    ErrorsWritten {
        /// Its rows.
        failed: u64,
        /// This run's failures by stage.
        by_stage: std::collections::BTreeMap<String, u64>,
    },
    /// The PCA model is ready (fitted, or the saved one).
    PcaFitted {
        /// Components.
        k: usize,
        /// Explained variance of the kept components.
        explained_variance: f64,
        /// Rows it was fitted on.
        n_samples: u64,
    },
    /// The output's rows were written and committed.
    Committed {
        /// Rows the output now holds.
        rows: u64,
    },
}

/// Hooks for showing progress; every method has a no-op default.
pub trait JobObserver: Send + Sync {
    /// Something happened (see [`JobEvent`]).
    fn event(&self, _event: &JobEvent) {}
    /// A stage starts (`list`, `featurize`, `pca`, `write`).
    fn stage(&self, _name: &str) {}
    /// Featurisation of `total` photos starts; `stats` counts progress, and
    /// `tasks` the tasks of plans run elsewhere (zero when embedded).
    fn featurize_started(
        &self,
        _total: u64,
        _stats: Arc<FeaturizeStats>,
        _tasks: Arc<TaskCounters>,
    ) {
    }
    /// Featurisation has ended.
    fn featurize_finished(&self) {}
}

/// An observer that shows nothing.
pub struct Quiet;
impl JobObserver for Quiet {}
