//! Prometheus metrics of the work this process does for any job: photos
//! featurized and failed, bytes read, model latency, photo-scan tasks. One
//! set per process (an executor runs many jobs' tasks), registered by
//! whoever serves `/metrics` (`orchard cluster executor --metrics-addr`).

use std::sync::OnceLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// A failure stage label (`stage="decode"`).
pub type StageLabel = Vec<(&'static str, String)>;

/// The process's metrics; clones share the same values.
#[derive(Debug, Clone)]
pub struct ProcessMetrics {
    /// Photos that went through the featurize function (failed ones too).
    pub photos: Counter,
    /// Photos that failed, by stage.
    pub photo_errors: Family<StageLabel, Counter>,
    /// Bytes of photos read from the store.
    pub bytes_read: Counter,
    /// Seconds of one model call (a batch).
    pub model_seconds: Histogram,
    /// Photos per model call.
    pub model_batch_photos: Histogram,
    /// Photo-scan tasks (one partition of photos) started.
    pub tasks_started: Counter,
    /// Photo-scan tasks that read their last photo.
    pub tasks_finished: Counter,
    /// Photo-scan tasks running now.
    pub tasks_running: Gauge,
    /// Bytes of query results received from a cluster (a client's).
    pub results_received_bytes: Counter,
}

/// The stages a photo can fail at in a task; each starts at 0, so the family
/// is exposed (and graphs show 0) before the first failure.
const TASK_STAGES: [&str; 4] = ["read", "decode", "resize", "inference"];

impl Default for ProcessMetrics {
    fn default() -> Self {
        let metrics = ProcessMetrics {
            photos: Counter::default(),
            photo_errors: Family::default(),
            bytes_read: Counter::default(),
            // 5 ms … ~20 s.
            model_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
            model_batch_photos: Histogram::new(exponential_buckets(1.0, 2.0, 9)),
            tasks_started: Counter::default(),
            tasks_finished: Counter::default(),
            tasks_running: Gauge::default(),
            results_received_bytes: Counter::default(),
        };
        for stage in TASK_STAGES {
            metrics.photo_failed_by(stage, 0);
        }
        metrics
    }
}

impl ProcessMetrics {
    /// Registers every metric (names prefixed `orchard_`) in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("orchard");
        r.register(
            "photos",
            "Photos featurized by this process (failed ones included)",
            self.photos.clone(),
        );
        r.register(
            "photo_errors",
            "Photos that failed, by stage",
            self.photo_errors.clone(),
        );
        r.register(
            "bytes_read",
            "Bytes of photos read from the store",
            self.bytes_read.clone(),
        );
        r.register(
            "model_seconds",
            "Seconds of one model call (one batch)",
            self.model_seconds.clone(),
        );
        r.register(
            "model_batch_photos",
            "Photos per model call",
            self.model_batch_photos.clone(),
        );
        r.register(
            "scan_tasks_started",
            "Photo-scan tasks (partitions) started",
            self.tasks_started.clone(),
        );
        r.register(
            "scan_tasks_finished",
            "Photo-scan tasks that read their last photo",
            self.tasks_finished.clone(),
        );
        r.register(
            "scan_tasks_running",
            "Photo-scan tasks running now",
            self.tasks_running.clone(),
        );
        r.register(
            "results_received_bytes",
            "Bytes of query results received from a cluster (a client's)",
            self.results_received_bytes.clone(),
        );
    }

    /// Counts a result batch received from a cluster: the bytes of its
    /// buffers, as they travel.
    pub fn result_received(&self, batch: &datafusion::arrow::array::RecordBatch) {
        let bytes: usize = batch
            .columns()
            .iter()
            .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
            .sum();
        self.results_received_bytes.inc_by(bytes as u64);
    }

    /// Counts one failed photo.
    pub fn photo_failed(&self, stage: &str) {
        self.photo_failed_by(stage, 1);
    }

    fn photo_failed_by(&self, stage: &str, n: u64) {
        self.photo_errors
            .get_or_create(&vec![("stage", stage.to_string())])
            .inc_by(n);
    }
}

/// This process's metrics.
pub fn process_metrics() -> &'static ProcessMetrics {
    static METRICS: OnceLock<ProcessMetrics> = OnceLock::new();
    METRICS.get_or_init(ProcessMetrics::default)
}

/// Marks a photo-scan task running until dropped (also when cancelled).
pub(crate) struct RunningTask {
    metrics: &'static ProcessMetrics,
    finished: bool,
}

impl RunningTask {
    pub fn start(metrics: &'static ProcessMetrics) -> Self {
        metrics.tasks_started.inc();
        metrics.tasks_running.inc();
        RunningTask {
            metrics,
            finished: false,
        }
    }

    /// The task read its last photo.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for RunningTask {
    fn drop(&mut self) {
        let m = self.metrics;
        m.tasks_running.dec();
        if self.finished {
            m.tasks_finished.inc();
        }
    }
}

/// The exposition text of `registry` (OpenMetrics, which Prometheus reads).
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_exposed_with_their_values() {
        let m = ProcessMetrics::default();
        m.photos.inc_by(7);
        m.photo_failed("decode");
        m.bytes_read.inc_by(1234);
        m.model_seconds.observe(0.02);
        let mut registry = Registry::default();
        m.register(&mut registry);
        let text = encode(&registry);
        assert!(text.contains("orchard_photos_total 7"), "{text}");
        assert!(
            text.contains("orchard_photo_errors_total{stage=\"decode\"} 1"),
            "{text}"
        );
        assert!(text.contains("orchard_bytes_read_total 1234"), "{text}");
        assert!(text.contains("orchard_model_seconds_count 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_cancelled_task_stops_running_without_finishing() {
        let m: &'static ProcessMetrics = Box::leak(Box::default());
        drop(RunningTask::start(m));
        let task = RunningTask::start(m);
        assert_eq!(m.tasks_running.get(), 1);
        task.finish();
        assert_eq!(m.tasks_started.get(), 2);
        assert_eq!(m.tasks_finished.get(), 1);
        assert_eq!(m.tasks_running.get(), 0);
    }
}
