//! Cluster progress on the client: tasks done/total of the job a plan
//! submitted, read from the scheduler's REST API
//! (`GET /api/job/{job_id}/stages`, served on the scheduler's gRPC port;
//! Ballista's gRPC job status carries no task counts).
//!
//! Progress is best effort: when the scheduler does not answer (an older
//! scheduler, a proxy that only passes gRPC), the client says so once in its
//! log and shows progress by chunk, as it would without this module.

use std::sync::Arc;
use std::time::Duration;

use ballista_api_types::dto::{QueryStagesResponse, TaskStatus};
use datafusion::physical_plan::ExecutionPlan;
use tokio::task::JoinHandle;

use async_trait::async_trait;
use orchard_engine::{ProgressSource, ProgressWatch, TaskCounts};

use crate::error::ClusterError;
use crate::stall::{StageProgress, TaskState};
pub use crate::watchdog::POLL_EVERY;
use crate::watchdog::{job_id, JobApi, JobSnapshot};

/// Task counts of a `/api/job/{id}/stages` answer (failed attempts are
/// retried, up to Ballista's limit).
pub fn task_counts(stages: &QueryStagesResponse) -> TaskCounts {
    let mut counts = TaskCounts::default();
    for task in stages.stages.iter().flat_map(|s| &s.tasks) {
        counts.total += 1;
        match task.as_ref().map(|t| &t.status) {
            Some(TaskStatus::Successful) => counts.done += 1,
            Some(TaskStatus::Failed { .. }) => counts.failed += 1,
            Some(TaskStatus::Running) | None => {}
        }
    }
    counts
}

/// A reader of the scheduler's REST API.
#[derive(Debug, Clone)]
pub struct SchedulerApi {
    client: reqwest::Client,
    base: String,
}

impl SchedulerApi {
    /// The API of the scheduler at `cluster` (`df://host:port`, `host:port`
    /// or `host`; port 50050 by default).
    pub fn new(cluster: &str) -> Self {
        SchedulerApi {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            base: http_base(cluster),
        }
    }

    /// Task counts of job `job_id`.
    pub async fn tasks(&self, job_id: &str) -> Result<TaskCounts, ClusterError> {
        Ok(task_counts(&self.stages(job_id).await?))
    }

    /// Where job `job_id` stands: every stage's status and its tasks'.
    pub async fn job_progress(&self, job_id: &str) -> Result<JobProgress, ClusterError> {
        Ok(JobProgress::of(&self.stages(job_id).await?))
    }

    async fn stages(&self, job_id: &str) -> Result<QueryStagesResponse, ClusterError> {
        self.get_json(&format!("{}/api/job/{job_id}/stages", self.base))
            .await
    }

    /// How many executors are registered with the scheduler
    /// (`GET /api/executors`). The scheduler forgets an executor once its
    /// heartbeats stop for its executor timeout.
    pub async fn executor_count(&self) -> Result<usize, ClusterError> {
        let executors: Vec<serde_json::Value> = self
            .get_json(&format!("{}/api/executors", self.base))
            .await?;
        Ok(executors.len())
    }

    /// `GET url`, its JSON answer.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, ClusterError> {
        let request = |source| ClusterError::Request {
            method: "GET",
            url: url.to_string(),
            source,
        };
        let response = self.client.get(url).send().await.map_err(request)?;
        let status = response.status();
        let body = response.bytes().await.map_err(request)?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(ClusterError::Status {
                method: "GET",
                url: url.to_string(),
                status: status.as_u16(),
                body: text.trim().chars().take(200).collect(),
            });
        }
        serde_json::from_slice(&body).map_err(|source| ClusterError::Decode {
            method: "GET",
            url: url.to_string(),
            source,
        })
    }

    /// Cancels job `job_id` on the scheduler (`PATCH /api/job/{id}`).
    pub async fn cancel_job(&self, job_id: &str) -> Result<(), ClusterError> {
        let url = format!("{}/api/job/{job_id}", self.base);
        let response =
            self.client
                .patch(&url)
                .send()
                .await
                .map_err(|source| ClusterError::Request {
                    method: "PATCH",
                    url: url.clone(),
                    source,
                })?;
        match response.status() {
            s if s.is_success() => Ok(()),
            s => Err(ClusterError::Status {
                method: "PATCH",
                url,
                status: s.as_u16(),
                body: String::new(),
            }),
        }
    }
}

#[async_trait]
impl JobApi for SchedulerApi {
    async fn snapshot(&self, job_id: &str) -> Result<JobSnapshot, ClusterError> {
        let progress = self.job_progress(job_id).await?;
        Ok(JobSnapshot {
            stages: progress.stages.clone(),
            summary: progress.describe(),
            longest_task_secs: progress.longest_task_secs,
        })
    }

    async fn cancel(&self, job_id: &str) -> Result<(), ClusterError> {
        self.cancel_job(job_id).await
    }

    async fn executors(&self) -> Result<usize, ClusterError> {
        self.executor_count().await
    }

    fn scheduler(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }
}

/// A job's stages and tasks as the scheduler reports them; two equal values
/// mean nothing happened in between.
#[derive(Debug, Clone, PartialEq)]
pub struct JobProgress {
    /// Every stage: id, status, and each task's state.
    pub stages: Vec<StageProgress>,
    /// Tasks done, total and failed.
    pub counts: TaskCounts,
    /// Seconds the longest finished task ran (launch to finish), if any.
    pub longest_task_secs: Option<f64>,
}

impl JobProgress {
    fn of(response: &QueryStagesResponse) -> Self {
        let stages = response
            .stages
            .iter()
            .map(|s| {
                let tasks = s
                    .tasks
                    .iter()
                    .map(|t| match t.as_ref().map(|t| &t.status) {
                        Some(TaskStatus::Successful) => TaskState::Done,
                        Some(TaskStatus::Running) => TaskState::Running,
                        Some(TaskStatus::Failed { .. }) => TaskState::Failed,
                        None => TaskState::NotCreated,
                    })
                    .collect();
                StageProgress {
                    id: s.stage_id.clone(),
                    status: s.stage_status.clone(),
                    tasks,
                }
            })
            .collect();
        let longest_task_secs = response
            .stages
            .iter()
            .flat_map(|s| s.tasks.iter().flatten())
            .filter(|t| matches!(t.status, TaskStatus::Successful))
            .map(|t| {
                let ms = match t.finish_time.checked_sub(t.launch_time) {
                    Some(ms) if t.launch_time > 0 => ms,
                    _ => t.exec_duration,
                };
                ms as f64 / 1000.0
            })
            .reduce(f64::max);
        JobProgress {
            stages,
            counts: task_counts(response),
            longest_task_secs,
        }
    }

    /// One line for a person: stages and tasks.
    pub fn describe(&self) -> String {
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|s| format!("stage {} {}", s.id, s.status))
            .collect();
        format!(
            "{} of {} tasks done, {} failed attempts; {}",
            self.counts.done,
            self.counts.total,
            self.counts.failed,
            if stages.is_empty() {
                "no stage planned".to_string()
            } else {
                stages.join(", ")
            }
        )
    }
}

/// `http://host:port` of a scheduler URL.
fn http_base(cluster: &str) -> String {
    let authority = cluster
        .split_once("://")
        .map_or(cluster, |(_, rest)| rest)
        .trim_end_matches('/');
    if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
    {
        format!("http://{authority}")
    } else {
        format!("http://{authority}:50050")
    }
}

/// Watches the job of one plan while it runs: polls every [`POLL_EVERY`]
/// and calls `update` with its task counts. Dropping it stops the polling.
pub struct JobWatch {
    api: SchedulerApi,
    plan: Arc<dyn ExecutionPlan>,
    update: Arc<dyn Fn(TaskCounts) + Send + Sync>,
    poller: JoinHandle<()>,
}

impl JobWatch {
    /// Starts watching `plan` (a plan of a remote context; its job id is
    /// known once the plan has been executed).
    pub fn start(
        api: SchedulerApi,
        plan: Arc<dyn ExecutionPlan>,
        update: Arc<dyn Fn(TaskCounts) + Send + Sync>,
    ) -> Self {
        let poller = tokio::spawn({
            let (api, plan, update) = (api.clone(), plan.clone(), update.clone());
            async move {
                let mut complained = false;
                loop {
                    tokio::time::sleep(POLL_EVERY).await;
                    let Some(id) = job_id(&plan) else { continue };
                    match api.tasks(&id).await {
                        Ok(counts) => update(counts),
                        // The job may not be registered yet; say it once.
                        Err(e) if !complained => {
                            complained = true;
                            tracing::debug!("no task progress from the scheduler: {e}");
                        }
                        Err(_) => {}
                    }
                }
            }
        });
        JobWatch {
            api,
            plan,
            update,
            poller,
        }
    }

    /// Stops polling, reads the finished job's counts once more, reports
    /// them to `update` and returns them (`None` when the scheduler did not
    /// answer).
    pub async fn finish(self) -> Option<TaskCounts> {
        self.poller.abort();
        let id = job_id(&self.plan)?;
        match self.api.tasks(&id).await {
            Ok(counts) => {
                (self.update)(counts);
                Some(counts)
            }
            Err(e) => {
                tracing::info!("cluster progress by task is unavailable: {e}");
                None
            }
        }
    }
}

impl ProgressSource for SchedulerApi {
    fn watch(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        show: Arc<dyn Fn(TaskCounts) + Send + Sync>,
    ) -> Box<dyn ProgressWatch> {
        Box::new(JobWatch::start(self.clone(), plan, show))
    }
}

#[async_trait]
impl ProgressWatch for JobWatch {
    async fn finish(self: Box<Self>) -> Option<TaskCounts> {
        JobWatch::finish(*self).await
    }
}

impl Drop for JobWatch {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_urls_to_http() {
        assert_eq!(http_base("df://h:1"), "http://h:1");
        assert_eq!(http_base("h:1"), "http://h:1");
        assert_eq!(http_base("df://h"), "http://h:50050");
        assert_eq!(http_base("h/"), "http://h:50050");
    }

    #[test]
    fn counts_tasks_by_status() {
        let json = serde_json::json!({"stages": [
            {"stage_id": "1", "stage_status": "Running", "input_rows": 0, "output_rows": 0,
             "tasks": [
                {"id": 0, "status": "Successful", "partition_id": [0], "scheduled_time": 0,
                 "launch_time": 0, "start_exec_time": 0, "end_exec_time": 0,
                 "exec_duration": 0, "finish_time": 0, "input_rows": 0, "output_rows": 0},
                {"id": 1, "status": "Running", "partition_id": [1], "scheduled_time": 0,
                 "launch_time": 0, "start_exec_time": 0, "end_exec_time": 0,
                 "exec_duration": 0, "finish_time": 0, "input_rows": 0, "output_rows": 0},
                {"id": 2, "status": {"Failed": {"reason": "ExecutionError", "error": "x"}},
                 "partition_id": [2], "scheduled_time": 0, "launch_time": 0,
                 "start_exec_time": 0, "end_exec_time": 0, "exec_duration": 0,
                 "finish_time": 0, "input_rows": 0, "output_rows": 0},
                null
             ]}
        ]});
        let stages: QueryStagesResponse = serde_json::from_value(json).unwrap();
        let counts = task_counts(&stages);
        assert_eq!(
            counts,
            TaskCounts {
                done: 1,
                total: 4,
                failed: 1
            }
        );
    }
}
