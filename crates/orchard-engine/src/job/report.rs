//! The report stage: what a run did, how long each stage took, and with what
//! (`_run.json`, see [`RunReport`]).

use std::time::Instant;

use orchard_pca::PcaModel;

use crate::featurize::FeaturizeStats;
use crate::job::errors::Failures;
use crate::job::options::ExtractOptions;
use crate::job::plan::{Listed, WorkPlan};
use crate::job::start::Started;
use crate::report::{
    peak_rss_bytes, Counts, ModelReport, PcaReport, RunReport, Seconds, ThroughputPoint,
};

/// When the run started, by the wall clock and the monotonic one.
pub(crate) struct Clock {
    started: Instant,
    started_at: chrono::DateTime<chrono::Utc>,
    /// The process's cluster-result bytes when the run started.
    received_at_start: u64,
    /// The bytes this process had read when the run started.
    read_at_start: u64,
}

/// Wall-clock seconds of the stages, filled in as they end, and the
/// featurize stage's throughput series.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timings {
    pub list: f64,
    pub featurize: f64,
    pub pca_fit: f64,
    pub project_write: f64,
    pub throughput: Vec<ThroughputPoint>,
}

/// The timings of a finished run.
pub(crate) struct Finished {
    timings: Timings,
    started_at: chrono::DateTime<chrono::Utc>,
    total: f64,
    received: u64,
    read: u64,
}

impl Clock {
    pub fn start() -> Self {
        Clock {
            started: Instant::now(),
            started_at: chrono::Utc::now(),
            received_at_start: received_bytes(),
            read_at_start: process_read_bytes(),
        }
    }

    /// When the run started (monotonic).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The run ends now.
    pub fn finish(&self, timings: Timings) -> Finished {
        Finished {
            timings,
            started_at: self.started_at,
            total: self.started.elapsed().as_secs_f64(),
            received: received_bytes().saturating_sub(self.received_at_start),
            read: process_read_bytes().saturating_sub(self.read_at_start),
        }
    }
}

fn received_bytes() -> u64 {
    crate::metrics::process_metrics()
        .results_received_bytes
        .get()
}

/// Bytes this process has read with `read`-like calls, files, sockets and
/// pipes alike (`rchar` of `/proc/self/io`; 0 where there is none).
fn process_read_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("rchar:").and_then(|v| v.trim().parse().ok()))
        })
        .unwrap_or(0)
}

/// Everything `_run.json` holds, from the stages' results.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_report(
    options: &ExtractOptions,
    job: &Started,
    listed: &Listed,
    work: &WorkPlan,
    failures: &Failures,
    succeeded: u64,
    pca: &PcaModel,
    stats: &FeaturizeStats,
    partitions: usize,
    finished: Finished,
) -> RunReport {
    let model = &options.featurize.model;
    let threads = orchard_model::effective_threads(model.threads);
    let Finished {
        timings,
        started_at,
        total,
        received,
        read,
    } = finished;
    RunReport {
        orchard_version: env!("CARGO_PKG_VERSION").to_string(),
        job_id: job.checkpoint.job_id.clone(),
        input: job.input.url().to_string(),
        output: job.out.url().to_string(),
        format: options.write.format.name().to_string(),
        started_at: started_at.to_rfc3339(),
        finished_at: chrono::Utc::now().to_rfc3339(),
        counts: Counts {
            listed: listed.photos.len() as u64,
            succeeded,
            processed: work.wanted.len() as u64,
            failed: failures.total,
            failed_by_stage: failures.by_stage.clone(),
            skipped: listed.listing.skipped,
            labels: listed.labels.len() as u64,
            bytes_listed: listed.photos.iter().map(|p| p.size).sum(),
            spill_answer_bytes: stats
                .spill_answer_bytes
                .load(std::sync::atomic::Ordering::Relaxed),
            results_received_bytes: received,
            process_read_bytes: read,
        },
        seconds: Seconds {
            list: timings.list,
            featurize: timings.featurize,
            prepare_cpu: FeaturizeStats::seconds(&stats.prepare_nanos),
            inference: FeaturizeStats::seconds(&stats.infer_nanos),
            pca_fit: timings.pca_fit,
            project_write: timings.project_write,
            total,
        },
        // Photos read per second (an incremental run reads only the new ones).
        images_per_second: if total > 0.0 {
            work.wanted.len() as f64 / total
        } else {
            0.0
        },
        peak_rss_bytes: peak_rss_bytes(),
        model: ModelReport {
            name: model.spec.name.clone(),
            sha256: model.sha256.clone(),
            backend: job.backend.name().to_string(),
            threads,
            lanes: job.backend.lanes(),
            feature_width: model.spec.feature_width,
        },
        pca: PcaReport {
            k: pca.k(),
            requested: serde_json::to_value(options.fit.components).unwrap_or_default(),
            standardize: options.fit.standardize.is_some(),
            explained_variance_ratio: pca.explained_variance_ratio().to_vec(),
            explained_variance_total: pca.explained_variance_ratio().iter().sum(),
            n_samples: pca.n_samples(),
        },
        partitions,
        batch_rows: options.featurize.scan.batch_rows,
        throughput: timings.throughput,
        command_line: options.command_line.clone(),
    }
}
