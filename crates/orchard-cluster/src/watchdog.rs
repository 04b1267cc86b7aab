//! No job hangs: every query a cluster session runs is watched on the
//! scheduler, and a job whose tasks make no progress for the stall timeout is
//! cancelled and submitted again as a new job, a bounded number of times.
//!
//! Ballista 55 has no job timeout, and a job can wait forever (a rolled-back
//! stage the adaptive planner no longer knows, upstream issue #1986; every
//! executor lost). [`WatchdogPlanner`] wraps the session's query planner: each
//! plan it makes becomes a [`WatchedQueryExec`] around Ballista's
//! `DistributedQueryExec`. While the job runs, its stages and tasks are read
//! from the scheduler's REST API every [`POLL_EVERY`](crate::progress::POLL_EVERY);
//! any change (a task started, finished or failed, a stage resolved) is
//! progress. Without progress for the stall timeout ([`StallPolicy`],
//! measured from the run's tasks) the job is
//! cancelled (`PATCH /api/job/{id}`), and, as long as none of its results has
//! been passed on, planned and submitted again (a new job id; Ballista's task
//! ids and shuffle files are per job, so attempts cannot collide). After
//! [`StallPolicy::attempts`] the query fails with what was seen; the engine's
//! checkpoint lets `--resume` finish the run. While no executor is
//! registered the job is not stalled but waiting: the client says so, and
//! after [`StallPolicy::wait_for_executors`] cancels it and fails at once
//! (see [`crate::stall`]).

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;

use ballista_core::execution_plans::DistributedQueryExec;
use datafusion_proto::protobuf::LogicalPlanNode;

use crate::stall::{stopped, Stop, TaskTimes, Watch};
pub use crate::stall::{JobApi, JobSnapshot, StallPolicy, POLL_EVERY};

/// The scheduler's job id of a plan made by a remote context, once it has
/// been submitted (after `execute`); `None` for other plans. Ballista 55 has
/// no progress API over gRPC (`RunningJob` carries timestamps only); with the
/// scheduler's `rest-api` feature, `GET /api/job/{id}/stages` lists tasks.
pub fn job_id(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    match plan.downcast_ref::<WatchedQueryExec>() {
        Some(watched) => watched.job_id(),
        None => distributed_job_id(plan),
    }
}

/// Wraps a session's planner so that every distributed query is watched.
pub struct WatchdogPlanner {
    inner: Arc<dyn QueryPlanner + Send + Sync>,
    api: Arc<dyn JobApi>,
    policy: StallPolicy,
    /// The longest task seen by any job of this session.
    times: TaskTimes,
}

impl fmt::Debug for WatchdogPlanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchdogPlanner")
            .field("policy", &self.policy)
            .finish()
    }
}

impl WatchdogPlanner {
    /// Watches the plans `inner` (Ballista's planner) makes.
    pub fn new(
        inner: Arc<dyn QueryPlanner + Send + Sync>,
        api: Arc<dyn JobApi>,
        policy: StallPolicy,
    ) -> Self {
        WatchdogPlanner {
            inner,
            api,
            policy,
            times: TaskTimes::default(),
        }
    }
}

#[async_trait]
impl QueryPlanner for WatchdogPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self
            .inner
            .create_physical_plan(logical_plan, session)
            .await?;
        let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
            return Ok(plan);
        };
        if !is_distributed(&plan) {
            return Ok(plan); // not a cluster job (e.g. an empty relation)
        }
        Ok(Arc::new(WatchedQueryExec {
            first: Mutex::new(Some(plan.clone())),
            properties: plan.properties().clone(),
            planner: self.inner.clone(),
            logical_plan: logical_plan.clone(),
            state: state.clone(),
            api: self.api.clone(),
            policy: self.policy,
            times: self.times.clone(),
            job_id: Arc::new(Mutex::new(None)),
        }))
    }
}

fn is_distributed(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.name() == "DistributedQueryExec"
}

/// A distributed query, submitted again when its job stalls.
pub struct WatchedQueryExec {
    /// The plan of the first attempt (later ones are planned anew).
    first: Mutex<Option<Arc<dyn ExecutionPlan>>>,
    properties: Arc<PlanProperties>,
    planner: Arc<dyn QueryPlanner + Send + Sync>,
    logical_plan: LogicalPlan,
    state: SessionState,
    api: Arc<dyn JobApi>,
    policy: StallPolicy,
    times: TaskTimes,
    /// The current attempt's job id.
    job_id: Arc<Mutex<Option<String>>>,
}

impl fmt::Debug for WatchedQueryExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchedQueryExec")
            .field("policy", &self.policy)
            .field("job_id", &self.job_id())
            .finish()
    }
}

impl WatchedQueryExec {
    /// The scheduler's id of the current attempt's job, once submitted.
    pub fn job_id(&self) -> Option<String> {
        self.job_id.lock().ok().and_then(|id| id.clone())
    }
}

impl DisplayAs for WatchedQueryExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "WatchedQueryExec: stall_timeout={:?}, attempts={}",
            self.policy.fixed, self.policy.attempts
        )
    }
}

impl ExecutionPlan for WatchedQueryExec {
    fn name(&self) -> &str {
        "WatchedQueryExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let attempts = Attempts {
            first: self.first.lock().ok().and_then(|mut f| f.take()),
            planner: self.planner.clone(),
            logical_plan: self.logical_plan.clone(),
            state: self.state.clone(),
            api: self.api.clone(),
            policy: self.policy,
            times: self.times.clone(),
            job_id: self.job_id.clone(),
        };
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema(), 2);
        let tx = builder.tx();
        builder.spawn(async move { attempts.run(partition, context, tx).await });
        Ok(builder.build())
    }
}

/// What one execution needs to plan, submit and watch its attempts.
struct Attempts {
    first: Option<Arc<dyn ExecutionPlan>>,
    planner: Arc<dyn QueryPlanner + Send + Sync>,
    logical_plan: LogicalPlan,
    state: SessionState,
    api: Arc<dyn JobApi>,
    policy: StallPolicy,
    times: TaskTimes,
    job_id: Arc<Mutex<Option<String>>>,
}

impl Attempts {
    async fn run(
        mut self,
        partition: usize,
        context: Arc<TaskContext>,
        tx: tokio::sync::mpsc::Sender<Result<datafusion::arrow::array::RecordBatch>>,
    ) -> Result<()> {
        let mut stalls = Vec::new();
        for attempt in 1..=self.policy.attempts.max(1) {
            let plan = match self.first.take() {
                Some(plan) => plan,
                None => {
                    self.planner
                        .create_physical_plan(&self.logical_plan, &self.state)
                        .await?
                }
            };
            let mut stream = plan.execute(partition, context.clone())?;
            let stop = Arc::new(OnceLock::new());
            let watch = Watch {
                api: self.api.clone(),
                policy: self.policy,
                times: self.times.clone(),
                stop: stop.clone(),
            };
            let (watched, current_job) = (plan.clone(), self.job_id.clone());
            let watcher = tokio::spawn(watch.run(move || {
                let id = plan_job(&watched)?;
                if let Ok(mut current) = current_job.lock() {
                    *current = Some(id.clone());
                }
                Some(id)
            }));
            let mut passed_on = false;
            let outcome = loop {
                tokio::select! {
                    item = stream.next() => match item {
                        None => break Ok(()),
                        Some(Ok(batch)) => {
                            if !passed_on {
                                if let (Some(id), Ok(mut current)) = (plan_job(&plan), self.job_id.lock()) {
                                    *current = Some(id);
                                }
                                // The job has finished; results are being
                                // fetched: no resubmission from here on.
                                watcher.abort();
                                passed_on = true;
                            }
                            orchard_engine::metrics::process_metrics().result_received(&batch);
                            if tx.send(Ok(batch)).await.is_err() {
                                break Ok(()); // the consumer is gone
                            }
                        }
                        Some(Err(e)) => break Err(e),
                    },
                    why = stopped(&stop), if !passed_on => {
                        break Err(DataFusionError::Execution(format!("{why:?}")));
                    }
                }
            };
            watcher.abort();
            if let (Some(id), Ok(mut current)) = (plan_job(&plan), self.job_id.lock()) {
                *current = Some(id);
            }
            let job = plan_job(&plan).unwrap_or_else(|| "(not yet submitted)".to_string());
            match outcome {
                Ok(()) => return Ok(()),
                Err(_) if !passed_on && matches!(stop.get(), Some(Stop::NoExecutors { .. })) => {
                    drop(stream);
                    let cancelled = match plan_job(&plan) {
                        Some(id) => self.api.cancel(&id).await.map_err(|e| e.to_string()),
                        None => Err("no job id".to_string()),
                    };
                    let Some(Stop::NoExecutors { waited }) = stop.get() else {
                        unreachable!("matched above")
                    };
                    tracing::warn!(job = %job, cancelled = ?cancelled, "no executor: job cancelled");
                    return Err(DataFusionError::Execution(format!(
                        "no executor was registered with the scheduler at {} for {:.0} s \
                         (--wait-for-executors), so job {job} could not run and was cancelled; \
                         start executors (`orchard cluster executor --scheduler {}`), then run the \
                         same command with --resume to finish",
                        self.api.scheduler(),
                        waited.as_secs_f64(),
                        self.api.scheduler(),
                    )));
                }
                Err(e) if !passed_on && matches!(stop.get(), Some(Stop::Stalled { .. })) => {
                    // Dropping the stream stops the client's wait; the
                    // cancel tells the scheduler.
                    drop(stream);
                    let cancelled = match plan_job(&plan) {
                        Some(id) => self.api.cancel(&id).await.map_err(|e| e.to_string()),
                        None => Err("no job id".to_string()),
                    };
                    let seen = self.last_seen(&plan).await;
                    tracing::warn!(
                        job = %job,
                        attempt,
                        attempts = self.policy.attempts,
                        stall_timeout_secs = self.policy.timeout(self.times.longest()).as_secs_f64(),
                        seen = %seen,
                        cancelled = ?cancelled,
                        error = %e,
                        "cluster job made no progress: cancelled; submitting it again"
                    );
                    stalls.push(format!("job {job}: {seen}"));
                }
                Err(e) if !passed_on && lost_results(&e) && attempt < self.policy.attempts => {
                    // The job finished, but the executor holding its results
                    // is gone: nothing was passed on, so run it again.
                    tracing::warn!(
                        job = %job,
                        attempt,
                        error = %e,
                        "the results of a cluster job were lost with their executor; submitting it again"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Err(DataFusionError::Execution(format!(
            "the cluster made no progress for {:.0} s on {} attempts, each cancelled on the scheduler ({}); \
             check the scheduler and executor logs, then run the same command with --resume to finish",
            self.policy.timeout(self.times.longest()).as_secs_f64(),
            stalls.len(),
            stalls.join("; ")
        )))
    }

    async fn last_seen(&self, plan: &Arc<dyn ExecutionPlan>) -> String {
        match plan_job(plan) {
            Some(id) => match self.api.snapshot(&id).await {
                Ok(p) => p.summary,
                Err(e) => format!("scheduler did not say ({e})"),
            },
            None => "never accepted by the scheduler".to_string(),
        }
    }
}

/// Whether `e` says a result partition could not be fetched because its
/// executor is gone (Ballista keeps a finished job's results on the
/// executors that computed them).
fn lost_results(e: &DataFusionError) -> bool {
    let text = e.to_string();
    [
        "fetch partition error",
        "FetchFailed",
        "GrpcConnectionError",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// The job id of Ballista's own `DistributedQueryExec`, once submitted.
fn distributed_job_id(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    plan.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
        .and_then(|exec| exec.job_id())
        .map(|id| id.to_string())
}

fn plan_job(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    distributed_job_id(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lost_executors_make_a_finished_job_run_again() {
        let lost = DataFusionError::Execution(
            "Shuffle fetch partition error from Executor 7: GrpcConnectionError(…)".into(),
        );
        assert!(lost_results(&lost));
        let bad_plan = DataFusionError::Plan("no column x".into());
        assert!(!lost_results(&bad_plan));
    }
}
