//! `orchard serve`.

use std::time::Duration;

use anyhow::{Context, Result};
use orchard_serve::{serve, AppState, ServeOptions};

use crate::args::ServeArgs;
use crate::classify_cmd::load_bundle;
use crate::photo_inputs::featurizer;
use crate::setup::runtime;

/// Runs the service until SIGTERM or Ctrl-C; requests in flight finish.
pub fn run_serve(args: ServeArgs) -> Result<()> {
    let (bundle, model) = load_bundle(&args.classifier, &args.run)?;
    let featurizer = featurizer(&model, args.run.decode_options())?.with_tta(args.run.tta);
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
