//! `orchard serve` arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::classify::RunArgs;

/// `orchard serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The classifier bundle (from `orchard train`).
    #[arg(long)]
    pub classifier: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Largest upload, bytes (413 above).
    #[arg(long, default_value_t = 20 * 1024 * 1024)]
    pub max_body: usize,
    /// Time to answer one request, milliseconds (504 after).
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Identify requests handled at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = 64)]
    pub queue: usize,
    /// How long a photo waits for others to share a model call, milliseconds.
    #[arg(long, default_value_t = 3)]
    pub batch_window_ms: u64,
    /// Most model inputs in one model call (photos, or with --tta their views;
    /// a photo's views are never split).
    #[arg(long, default_value_t = 16)]
    pub max_batch: usize,
    /// Labels per answer.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
    /// File holding the bearer token the /v1/ routes require.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Keep the photos people give for training (`consent=training`) here:
    /// a local folder, or s3://, gs://, az:// (the region allow-list
    /// applies). Off: photos are never stored. Without consent a photo is
    /// never stored either way.
    #[arg(long, value_name = "URL")]
    pub keep_uploads: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
}
