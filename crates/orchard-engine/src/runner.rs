//! The two seams between the engine and where its plans run:
//!
//! * [`PlanRunner`]: *where plans run*. [`Embedded`] runs them in this
//!   process; `orchard-cluster` runs them on a Ballista cluster. The engine
//!   builds its plans the same way for both.
//! * [`ProgressSource`]: *where progress comes from* when the work happens in
//!   other processes (the cluster's scheduler), as task counts. Embedded runs
//!   have none: this process's own counters are the truth.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use orchard_source::{Location, StorageOptions};

use crate::Result;

/// Where an extraction's plans run.
#[async_trait]
pub trait PlanRunner: Send + Sync + Debug {
    /// A session whose plans run here, with Orchard's `config` (see
    /// [`session_config`]); stores are reached with `storage`.
    async fn session(
        &self,
        config: SessionConfig,
        storage: &StorageOptions,
    ) -> Result<SessionContext>;

    /// Refuses an input this runner's workers cannot read (e.g. an HTTP
    /// listing on a cluster), with a message saying why.
    fn check_input(&self, _input: &Location) -> Result<()> {
        Ok(())
    }

    /// Where progress of this runner's plans comes from, if the work happens
    /// outside this process.
    fn progress(&self) -> Option<Arc<dyn ProgressSource>> {
        None
    }
}

/// Runs plans in this process, on an ordinary `SessionContext`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Embedded;

#[async_trait]
impl PlanRunner for Embedded {
    async fn session(
        &self,
        config: SessionConfig,
        _storage: &StorageOptions,
    ) -> Result<SessionContext> {
        Ok(orchard_session(config))
    }
}

/// Task counts of one job (a plan run elsewhere).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    /// Tasks that finished successfully.
    pub done: u64,
    /// Tasks of all the job's stages planned so far.
    pub total: u64,
    /// Task attempts that failed (and were retried).
    pub failed: u64,
}

/// Follows plans run elsewhere and reports their task counts.
pub trait ProgressSource: Send + Sync + Debug {
    /// Starts following `plan` (made by the runner's session; executed after
    /// this call), calling `show` whenever its counts are read.
    fn watch(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        show: Arc<dyn Fn(TaskCounts) + Send + Sync>,
    ) -> Box<dyn ProgressWatch>;
}

/// One plan being followed.
#[async_trait]
pub trait ProgressWatch: Send {
    /// Stops following; the last counts read, if any.
    async fn finish(self: Box<Self>) -> Option<TaskCounts>;
}

/// Tasks of the featurisation jobs run elsewhere, summed over chunks; both
/// zero in embedded runs (see [`PlanRunner::progress`]).
#[derive(Debug, Default)]
pub struct TaskCounters {
    /// Tasks finished so far.
    pub done: AtomicU64,
    /// Tasks planned so far (0 when the runner does not say).
    pub total: AtomicU64,
}

impl TaskCounters {
    /// `(done, total)` now.
    pub fn get(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// Orchard's session settings, the same wherever plans run: `partitions`
/// target partitions (0 = number of cores), batches of 1024, plain Utf8 in
/// outputs, spill read from one folder per chunk.
pub fn session_config(partitions: usize) -> SessionConfig {
    let partitions = if partitions == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        partitions
    };
    let mut config = SessionConfig::new()
        .with_target_partitions(partitions)
        .with_batch_size(1024)
        .with_information_schema(false);
    // Plain utf8 columns in outputs (not Utf8View), the documented schema.
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    // Parquet footers are read exactly (8 bytes, then the metadata) instead
    // of DataFusion's 512 KiB guess: every process that plans over the spill
    // (the cluster client included) reads each spill file's footer, and a
    // 512 KiB read of a 1.6 MB spill file cost the client ~1.5 KB per photo.
    config.options_mut().execution.parquet.metadata_size_hint = None;
    // The spill is one folder per checkpointed chunk.
    config
        .options_mut()
        .execution
        .listing_table_ignore_subdirectory = false;
    config
}

/// An embedded session with `partitions` target partitions (0 = cores).
pub(crate) fn embedded_session(partitions: usize) -> SessionContext {
    orchard_session(session_config(partitions))
}

/// A session with `config` that plans Orchard's plan nodes
/// ([`OrchardQueryPlanner`](crate::write_parts::OrchardQueryPlanner)).
pub fn orchard_session(config: SessionConfig) -> SessionContext {
    let state = datafusion::execution::session_state::SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_query_planner(Arc::new(crate::write_parts::OrchardQueryPlanner))
        .build();
    SessionContext::new_with_state(state)
}
