//! `_run.json`: what a run did, how long each stage took, and with what.

use serde::{Deserialize, Serialize};

/// Counts of inputs and where they ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    /// Photos listed (matching the glob).
    pub listed: u64,
    /// Rows in the output.
    pub succeeded: u64,
    /// Photos this run read (all listed ones, or the new and changed ones of
    /// an incremental run).
    #[serde(default)]
    pub processed: u64,
    /// Rows in `_errors.parquet` (including listing problems).
    pub failed: u64,
    /// Failures per stage (`list`, `read`, `decode`, `resize`, `inference`).
    pub failed_by_stage: std::collections::BTreeMap<String, u64>,
    /// Objects seen by the listing that did not match the glob or are hidden.
    pub skipped: u64,
    /// Distinct labels.
    pub labels: u64,
    /// Bytes of the listed photos (by the listing's sizes).
    #[serde(default)]
    pub bytes_listed: u64,
    /// Bytes this process received for the featurize stage's output (file
    /// names and row counts; the features stay where they were written).
    #[serde(default)]
    pub spill_answer_bytes: u64,
    /// Bytes of query results this process received from a cluster during
    /// the run, all queries together (0 for an embedded run): file names and
    /// row counts, the PCA statistics, error rows and counts.
    #[serde(default)]
    pub results_received_bytes: u64,
    /// Bytes this process read during the run, from files, sockets and
    /// pipes alike (Linux: `rchar` of `/proc/self/io`; 0 elsewhere). On a
    /// cluster, the client's reads: the model file, the PCA statistics and
    /// a few bytes per photo (`bench/cluster_client_bytes.sh`).
    #[serde(default)]
    pub process_read_bytes: u64,
}

/// Wall-clock seconds per stage, and CPU seconds inside featurisation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Seconds {
    /// Listing the input.
    pub list: f64,
    /// Reading, decoding, resizing and running the model, up to the spilled features.
    pub featurize: f64,
    /// Of which: decode + resize + normalise, summed over threads.
    pub prepare_cpu: f64,
    /// Of which: model inference, summed over calls.
    pub inference: f64,
    /// PCA statistics over the spilled features and the fit.
    pub pca_fit: f64,
    /// Projection and writing the output part files.
    pub project_write: f64,
    /// The whole run.
    pub total: f64,
}

/// The model a run used.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModelReport {
    /// Preset name or file stem.
    pub name: String,
    /// sha256 of the ONNX file.
    pub sha256: String,
    /// Inference backend actually used (`onnxruntime` or `tract`).
    pub backend: String,
    /// Compute threads.
    pub threads: usize,
    /// Batches the backend ran at once (ONNX Runtime sessions).
    pub lanes: usize,
    /// Feature width.
    pub feature_width: usize,
}

/// The PCA a run fitted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PcaReport {
    /// Components kept.
    pub k: usize,
    /// What was asked for (`{"count": 100}` or `{"variance_fraction": 0.9}`).
    pub requested: serde_json::Value,
    /// Whether features were standardised first.
    pub standardize: bool,
    /// Explained-variance ratio of each kept component.
    pub explained_variance_ratio: Vec<f64>,
    /// Their sum.
    pub explained_variance_total: f64,
    /// Rows the fit saw.
    pub n_samples: u64,
}

/// Photos featurized so far at a moment of the run.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct ThroughputPoint {
    /// Seconds since the run started.
    pub seconds: f64,
    /// Photos featurized by then (this run's).
    pub photos: u64,
}

/// Everything `_run.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    /// Orchard's version.
    pub orchard_version: String,
    /// The job's id (also in every part file name).
    pub job_id: String,
    /// Input location (URL).
    pub input: String,
    /// Output location (URL).
    pub output: String,
    /// Output format (`parquet` or `csv`).
    pub format: String,
    /// Start time, RFC 3339.
    pub started_at: String,
    /// End time, RFC 3339.
    pub finished_at: String,
    /// Input accounting.
    pub counts: Counts,
    /// Timings.
    pub seconds: Seconds,
    /// Listed photos per second of the whole run.
    pub images_per_second: f64,
    /// Peak resident memory of this process, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// The model.
    pub model: ModelReport,
    /// The PCA.
    pub pca: PcaReport,
    /// Partitions used for featurisation.
    pub partitions: usize,
    /// Photos per batch.
    pub batch_rows: usize,
    /// Photos featurized over time, sampled during the featurize stage (at
    /// most a few hundred points, evenly spaced).
    #[serde(default)]
    pub throughput: Vec<ThroughputPoint>,
    /// The command that ran the job, as its caller recorded it (secrets
    /// removed); empty when run as a library without one.
    #[serde(default)]
    pub command_line: Vec<String>,
}

/// Peak resident set size of this process (`VmHWM`), where the OS tells.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
