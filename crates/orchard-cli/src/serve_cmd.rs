//! `orchard serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use orchard_serve::{serve, AppState, ServeOptions};

use crate::classify_cmd::{load_bundle, RunArgs};
use crate::commands::runtime;
use crate::photo_inputs::featurizer;

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
    /// Most photos in one model call.
    #[arg(long, default_value_t = 16)]
    pub max_batch: usize,
    /// Labels per answer.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
    /// File holding the bearer token the /v1/ routes require.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Keep every upload in this directory (off: photos are never stored).
    #[arg(long)]
    pub keep_uploads: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Runs the service until SIGTERM or Ctrl-C; requests in flight finish.
pub fn run_serve(args: ServeArgs) -> Result<()> {
    let (bundle, model) = load_bundle(&args.classifier, &args.run)?;
    let featurizer = featurizer(&model, args.run.max_pixels)?;
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?
                .trim()
                .to_string(),
        )
        .filter(|t| !t.is_empty()),
        None => None,
    };
    if let Some(dir) = &args.keep_uploads {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        tracing::warn!("uploads are kept in {} (--keep-uploads)", dir.display());
    }
    let options = ServeOptions {
        max_body: args.max_body,
        timeout: Duration::from_millis(args.timeout_ms),
        queue: args.queue,
        batch_window: Duration::from_millis(args.batch_window_ms),
        max_batch: args.max_batch,
        lanes: orchard_model::effective_threads(args.run.threads),
        top: args.top,
        token,
        keep_uploads: args.keep_uploads.clone(),
    };
    runtime()?.block_on(async move {
        let state = AppState::new(bundle, featurizer, options);
        serve(args.bind, state, shutdown_signal())
            .await
            .with_context(|| format!("cannot serve on {}", args.bind))
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
