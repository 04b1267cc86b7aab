//! `orchard cost` arguments.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// `orchard cost`: wall time and USD for N photos.
#[derive(Debug, Clone, Args)]
pub struct CostArgs {
    /// Photos to process: 10M, 250k, 1200.
    #[arg(long)]
    pub images: String,
    /// A finished run to measure from: its output folder or its `_run.json`
    /// (images/s, vCPUs, photo sizes, output bytes per photo).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Measured images/s, instead of (or over) the run's.
    #[arg(long)]
    pub images_per_second: Option<f64>,
    /// vCPUs the measurement ran on (default: the run's partitions).
    #[arg(long)]
    pub measured_vcpus: Option<f64>,
    /// Images/s of one worker, instead of scaling the measurement by vCPUs.
    #[arg(long)]
    pub per_worker_images_per_second: Option<f64>,
    /// Worker instance type (a key of the price table).
    #[arg(long, default_value = "m5.xlarge")]
    pub instance: String,
    /// Workers (executors).
    #[arg(long, default_value_t = 1)]
    pub workers: u32,
    /// No driver/scheduler node (embedded runs).
    #[arg(long)]
    pub no_driver: bool,
    /// Workers on spot prices (the driver stays on demand).
    #[arg(long)]
    pub spot: bool,
    /// Add EMR's per-instance surcharge.
    #[arg(long)]
    pub emr: bool,
    /// Parallel efficiency (speed-up = workers × efficiency); the default is
    /// the cluster benchmark's (2 executors: 1.81× one).
    #[arg(long, default_value_t = orchard_ops::DEFAULT_EFFICIENCY)]
    pub efficiency: f64,
    /// Average photo size, kB (default: the run's; else 100).
    #[arg(long)]
    pub photo_kb: Option<f64>,
    /// Output bytes per photo (default: the run's output folder; else 600).
    #[arg(long)]
    pub output_bytes_per_photo: Option<f64>,
    /// Months the photos and the output are stored.
    #[arg(long, default_value_t = 1.0)]
    pub months: f64,
    /// A price table (TOML) in place of the built-in one.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CostFormat,
}

/// Output of `orchard cost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CostFormat {
    /// The inputs, every step with its formula, and the totals.
    Text,
    /// The same as one JSON object.
    Json,
}
