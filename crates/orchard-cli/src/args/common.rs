//! Arguments shared by several commands: the model and object storage.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Pixel normalisations for custom models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preprocess {
    /// x/127.5 − 1 (Keras MobileNet family).
    Keras,
    /// ImageNet mean/std on x/255 (torchvision).
    Torch,
    /// Raw 0..255.
    None,
}

/// Inference backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// ONNX Runtime when available, tract otherwise.
    Auto,
    /// ONNX Runtime (fast; needs libonnxruntime).
    Ort,
    /// tract (pure Rust; slower).
    Tract,
}

/// How the model is chosen and run (shared by extract and bench).
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// A preset name (mobilenet_v2) or a path to an .onnx file.
    #[arg(long, default_value = "mobilenet_v2")]
    pub model: String,
    /// Pixel normalisation of a custom .onnx model.
    #[arg(long, value_enum)]
    pub preprocess: Option<Preprocess>,
    /// Square input size of a custom .onnx model with a dynamic input shape.
    #[arg(long)]
    pub input_size: Option<u32>,
    /// Inference backend.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: Backend,
    /// Inference threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Batches ONNX Runtime runs at once, sharing the threads (0 = one per
    /// thread: best throughput; 1 = all threads on one batch: lowest latency).
    #[arg(long, default_value_t = 0)]
    pub lanes: usize,
}

/// Object storage options shared by the commands that read or write stores.
/// Credentials are never options: they come from the environment, the shared
/// AWS profile or the machine's role (see the README).
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// S3 region (default: AWS_REGION, the profile's region, or the bucket's own).
    #[arg(long)]
    pub region: Option<String>,
    /// S3-compatible endpoint, e.g. http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Data residency: comma-separated region patterns every bucket must be in
    /// (e.g. `eu-*`); also `allowed_regions` in the config file.
    #[arg(long, env = "ORCHARD_ALLOWED_REGIONS", value_delimiter = ',')]
    pub allowed_regions: Vec<String>,
    /// Unsigned requests (public buckets).
    #[arg(long)]
    pub anonymous: bool,
    /// Timeout of one storage request, in seconds.
    #[arg(long)]
    pub request_timeout: Option<f64>,
    /// Retries of a failed storage request (throttling, 5xx, timeouts).
    #[arg(long)]
    pub max_retries: Option<usize>,
    /// Config file (TOML, `[storage]` table); default $ORCHARD_HOME/config.toml when present.
    #[arg(long, env = "ORCHARD_CONFIG")]
    pub config: Option<PathBuf>,
}
