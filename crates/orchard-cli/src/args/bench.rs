//! `orchard bench` arguments.

use std::path::PathBuf;

use clap::Args;

use super::common::ModelArgs;

/// `orchard bench` arguments.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Folder of photos (label folders, like extract's input).
    #[arg(long, default_value = "../shared/data/fruits360-sample")]
    pub input: PathBuf,
    /// Use at most this many photos for the stage benchmarks.
    #[arg(long, default_value_t = 2000)]
    pub limit: usize,
    /// Backends to time inference on.
    #[arg(long, value_delimiter = ',', default_value = "ort,tract")]
    pub backends: Vec<String>,
    /// Batch sizes to time inference with.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub batch_sizes: Vec<usize>,
    /// Images per inference measurement (tract is slow: keep it modest).
    #[arg(long, default_value_t = 256)]
    pub inference_images: usize,
    /// Skip the end-to-end runs.
    #[arg(long)]
    pub no_end_to_end: bool,
    /// End-to-end runs over the input repeated this many times, comma-separated
    /// (e.g. 1,10 for 2,000 and 20,000 photos from the sample), to show that
    /// peak memory does not grow with the number of photos.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub repeat: Vec<usize>,
    /// Models to compare, comma-separated (e.g. mobilenet_v2,mobilenet_v2-int8
    /// for the precision axis); default: --model's.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// End-to-end runs also with --fast-decode.
    #[arg(long)]
    pub fast_decode: bool,
    /// Backend for the end-to-end runs.
    #[arg(long, default_value = "auto")]
    pub end_to_end_backend: String,
    #[command(flatten)]
    pub model: ModelArgs,
}
