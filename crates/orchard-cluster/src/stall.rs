//! When a cluster job counts as stuck, and what the client says while it
//! waits: the policy ([`StallPolicy`]), the task durations it learns from
//! ([`TaskTimes`]), and the loop that watches one job ([`watch`]).
//!
//! Two different waits, told apart because their cures differ:
//!
//! * **No executor registered.** Nothing can run until one is started, and
//!   submitting the job again would not help. The client says so within
//!   seconds and again every [`StallPolicy::tell_every`], and after
//!   [`StallPolicy::wait_for_executors`] the job is cancelled and the run
//!   fails (`--resume` finishes it later).
//! * **Executors, but no task progress.** A task is stuck (an executor that
//!   stopped answering but still heart-beats, a lost stage). The timeout is
//!   measured: [`StallPolicy::factor`] times the longest task seen so far in
//!   this run (at least [`StallPolicy::floor`]); before any task has
//!   finished, [`StallPolicy::first_task`]. A fixed `--stall-timeout`
//!   overrides both.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;

use crate::error::ClusterError;

/// How often a running job is polled.
pub const POLL_EVERY: Duration = Duration::from_millis(500);

/// How often the executors are counted while a job runs.
const COUNT_EXECUTORS_EVERY: Duration = Duration::from_secs(2);

/// What the watchdog needs of the scheduler (`progress::SchedulerApi`
/// implements it over the REST API).
#[async_trait]
pub trait JobApi: Send + Sync {
    /// Where job `job_id` stands now.
    async fn snapshot(&self, job_id: &str) -> Result<JobSnapshot, ClusterError>;
    /// Cancels job `job_id`.
    async fn cancel(&self, job_id: &str) -> Result<(), ClusterError>;
    /// How many executors are registered (alive) with the scheduler.
    async fn executors(&self) -> Result<usize, ClusterError>;
    /// The scheduler, for messages (`host:port`).
    fn scheduler(&self) -> String;
}

/// A task's state as the scheduler reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Not created yet.
    NotCreated,
    /// Running.
    Running,
    /// Finished successfully.
    Done,
    /// The attempt failed (it may be retried).
    Failed,
}

/// One stage of a job as the scheduler reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageProgress {
    /// The stage's id.
    pub id: String,
    /// Its status (`Running`, `Successful`, …).
    pub status: String,
    /// Each task's state.
    pub tasks: Vec<TaskState>,
}

/// A job's state: equal `stages` mean nothing happened in between.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSnapshot {
    /// Every stage's and task's status.
    pub stages: Vec<StageProgress>,
    /// The same for a person.
    pub summary: String,
    /// Seconds the longest finished task of the job ran, if any finished.
    pub longest_task_secs: Option<f64>,
}

/// When a job counts as stalled, how often it is tried, and how long it
/// waits for an executor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StallPolicy {
    /// A fixed timeout (`--stall-timeout`); `None`: measured (see the module
    /// documentation).
    pub fixed: Option<Duration>,
    /// The timeout before any task of the run has finished.
    pub first_task: Duration,
    /// The measured timeout is at least this.
    pub floor: Duration,
    /// The measured timeout is this many times the longest task seen.
    pub factor: f64,
    /// Jobs submitted for one query at most (the first included).
    pub attempts: u32,
    /// How long a job waits while no executor is registered before the run
    /// fails (`--wait-for-executors`).
    pub wait_for_executors: Duration,
    /// How often the client says that it waits for an executor.
    pub tell_every: Duration,
}

impl Default for StallPolicy {
    fn default() -> Self {
        StallPolicy {
            fixed: None,
            first_task: Duration::from_secs(180),
            floor: Duration::from_secs(60),
            factor: 5.0,
            attempts: 3,
            wait_for_executors: Duration::from_secs(180),
            tell_every: Duration::from_secs(15),
        }
    }
}

impl StallPolicy {
    /// The default policy for tasks of `photos_per_task` photos: before any
    /// task has finished, at least 3 minutes and 1 s per photo of a task (a
    /// slow machine featurizes a 12-megapixel photo per core in well under a
    /// second); then measured.
    pub fn for_tasks_of(photos_per_task: usize) -> StallPolicy {
        StallPolicy {
            first_task: Duration::from_secs((photos_per_task as u64).max(180)),
            ..StallPolicy::default()
        }
    }

    /// The stall timeout now, given the longest task seen in the run.
    pub fn timeout(&self, longest_task_secs: Option<f64>) -> Duration {
        if let Some(fixed) = self.fixed {
            return fixed;
        }
        match longest_task_secs {
            None => self.first_task,
            Some(secs) => Duration::from_secs_f64((secs * self.factor).max(0.0))
                .clamp(self.floor, self.first_task.max(self.floor)),
        }
    }
}

/// The longest task seen in a run: shared by every job of a session, so
/// that a chunk's job starts with what earlier chunks measured.
#[derive(Debug, Clone, Default)]
pub struct TaskTimes(Arc<Mutex<Option<f64>>>);

impl TaskTimes {
    /// Notes a job's longest finished task.
    pub fn record(&self, secs: Option<f64>) {
        if let (Some(secs), Ok(mut longest)) = (secs, self.0.lock()) {
            *longest = Some(longest.map_or(secs, |l| l.max(secs)));
        }
    }

    /// The longest task seen so far.
    pub fn longest(&self) -> Option<f64> {
        self.0.lock().ok().and_then(|l| *l)
    }
}

/// Why a job was stopped by the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// Executors were registered, but no task made progress for `timeout`.
    Stalled {
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// No executor was registered for `waited`.
    NoExecutors {
        /// How long the job waited.
        waited: Duration,
    },
}

/// What one watch reads and writes.
pub struct Watch {
    /// The scheduler.
    pub api: Arc<dyn JobApi>,
    /// The policy.
    pub policy: StallPolicy,
    /// The run's task durations.
    pub times: TaskTimes,
    /// Set once, when the job is to be stopped.
    pub stop: Arc<OnceLock<Stop>>,
}

impl Watch {
    /// Polls the job `job()` returns (`None` until it is submitted) until
    /// it is to be stopped, then sets `stop` and returns. Says when no
    /// executor is registered.
    pub async fn run(self, job: impl Fn() -> Option<String>) {
        let mut last = None;
        let mut since = Instant::now();
        let mut counted = Instant::now() - COUNT_EXECUTORS_EVERY;
        let mut no_executors_since: Option<Instant> = None;
        let mut told: Option<Instant> = None;
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            let id = job();
            if let Some(id) = &id {
                if let Ok(snapshot) = self.api.snapshot(id).await {
                    self.times.record(snapshot.longest_task_secs);
                    if last.as_ref() != Some(&snapshot.stages) {
                        last = Some(snapshot.stages);
                        since = Instant::now();
                    }
                }
            }
            if counted.elapsed() >= COUNT_EXECUTORS_EVERY {
                counted = Instant::now();
                match self.api.executors().await {
                    Ok(0) => {
                        let started = *no_executors_since.get_or_insert_with(Instant::now);
                        let waited = started.elapsed();
                        if waited >= self.policy.wait_for_executors {
                            let _ = self.stop.set(Stop::NoExecutors { waited });
                            return;
                        }
                        if told.is_none_or(|t| t.elapsed() >= self.policy.tell_every) {
                            told = Some(Instant::now());
                            tracing::warn!(
                                "waiting for an executor: none is registered with the scheduler at {} \
                                 ({} waits; {:.0} s of --wait-for-executors {:.0} s); start one with \
                                 `orchard cluster executor --scheduler {}`",
                                self.api.scheduler(),
                                id.as_deref().map_or("the job".to_string(), |j| format!("job {j}")),
                                waited.as_secs_f64(),
                                self.policy.wait_for_executors.as_secs_f64(),
                                self.api.scheduler(),
                            );
                        }
                        // Time without executors is not a stall.
                    }
                    Ok(n) => {
                        if no_executors_since.take().is_some() {
                            since = Instant::now();
                        }
                        if told.is_some() {
                            tracing::warn!("{n} executor(s) registered: the job runs");
                        }
                        told = None;
                    }
                    Err(_) => {} // an older scheduler: only the stall timeout
                }
            }
            let timeout = self.policy.timeout(self.times.longest());
            if no_executors_since.is_none() && since.elapsed() >= timeout {
                let _ = self.stop.set(Stop::Stalled { timeout });
                return;
            }
        }
    }
}

/// Resolves once `stop` is set.
pub async fn stopped(stop: &OnceLock<Stop>) -> Stop {
    loop {
        if let Some(s) = stop.get() {
            return s.clone();
        }
        tokio::time::sleep(POLL_EVERY / 2).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_timeout_follows_the_longest_task_between_floor_and_first_task() {
        let policy = StallPolicy::for_tasks_of(2048);
        assert_eq!(policy.timeout(None), Duration::from_secs(2048));
        // Tasks of 20 s: stuck after 100 s, not after 34 minutes.
        assert_eq!(policy.timeout(Some(20.0)), Duration::from_secs(100));
        // Fast tasks: the floor.
        assert_eq!(policy.timeout(Some(0.5)), Duration::from_secs(60));
        // Slow ones: never beyond the first task's bound.
        assert_eq!(policy.timeout(Some(1000.0)), Duration::from_secs(2048));
        assert_eq!(
            StallPolicy::for_tasks_of(10).timeout(None),
            Duration::from_secs(180)
        );
        let fixed = StallPolicy {
            fixed: Some(Duration::from_secs(3)),
            ..policy
        };
        assert_eq!(fixed.timeout(Some(20.0)), Duration::from_secs(3));
        assert!(StallPolicy::default().attempts >= 2);
    }

    #[test]
    fn task_times_keep_the_longest() {
        let times = TaskTimes::default();
        assert_eq!(times.longest(), None);
        times.record(Some(3.0));
        times.clone().record(Some(7.5));
        times.record(Some(1.0));
        times.record(None);
        assert_eq!(times.longest(), Some(7.5));
    }

    /// A scheduler with `executors` executors whose job never changes.
    struct Frozen {
        executors: AtomicUsize,
    }

    #[async_trait]
    impl JobApi for Frozen {
        async fn snapshot(&self, _job_id: &str) -> Result<JobSnapshot, ClusterError> {
            Ok(JobSnapshot {
                stages: Vec::new(),
                summary: "stage 1 running".into(),
                longest_task_secs: None,
            })
        }
        async fn cancel(&self, _job_id: &str) -> Result<(), ClusterError> {
            Ok(())
        }
        async fn executors(&self) -> Result<usize, ClusterError> {
            Ok(self.executors.load(Ordering::SeqCst))
        }
        fn scheduler(&self) -> String {
            "127.0.0.1:1".into()
        }
    }

    fn watch(executors: usize, policy: StallPolicy) -> (Watch, Arc<OnceLock<Stop>>) {
        let stop = Arc::new(OnceLock::new());
        let watch = Watch {
            api: Arc::new(Frozen {
                executors: AtomicUsize::new(executors),
            }),
            policy,
            times: TaskTimes::default(),
            stop: stop.clone(),
        };
        (watch, stop)
    }

    #[tokio::test]
    async fn without_executors_the_job_waits_then_stops_and_never_counts_as_stalled() {
        // The stall timeout is shorter than the wait: it must not fire.
        let policy = StallPolicy {
            fixed: Some(Duration::from_secs(1)),
            wait_for_executors: Duration::from_secs(2),
            ..StallPolicy::default()
        };
        let (watch, stop) = watch(0, policy);
        let started = tokio::time::Instant::now();
        watch.run(|| Some("j1".into())).await;
        match stop.get().unwrap() {
            Stop::NoExecutors { waited } => assert!(*waited >= Duration::from_secs(2)),
            other => panic!("{other:?}"),
        }
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn with_executors_a_frozen_job_stalls_after_the_timeout() {
        let policy = StallPolicy {
            fixed: Some(Duration::from_secs(1)),
            ..StallPolicy::default()
        };
        let (watch, stop) = watch(2, policy);
        let started = tokio::time::Instant::now();
        watch.run(|| Some("j1".into())).await;
        assert_eq!(
            stop.get(),
            Some(&Stop::Stalled {
                timeout: Duration::from_secs(1)
            })
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
