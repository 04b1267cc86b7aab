//! `orchard serve`.

use std::time::Duration;

use anyhow::{Context, Result};
use orchard_serve::uploads::UploadStore;
use orchard_serve::{serve, AppState, ServeOptions};
use orchard_source::Location;

use crate::args::ServeArgs;
use crate::photo_inputs::featurizer;
use crate::setup::{load_bundle, runtime, storage_options};

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
    let rt = runtime()?;
    let uploads = match &args.keep_uploads {
        Some(url) => Some(rt.block_on(upload_store(url, &args))?),
        None => None,
    };
    let options = ServeOptions {
        max_body: args.max_body,
        timeout: Duration::from_millis(args.timeout_ms),
        queue: args.queue,
        batch_window: Duration::from_millis(args.batch_window_ms),
        max_batch: args.max_batch,
        lanes: orchard_model::effective_threads(args.run.threads),
        top: args.top,
        token,
        uploads,
    };
    rt.block_on(async move {
        let state = AppState::new(bundle, featurizer, options);
        serve(args.bind, state, shutdown_signal())
            .await
            .with_context(|| format!("cannot serve on {}", args.bind))
    })
}

/// The store of `--keep-uploads`: writable, inside the allowed regions
/// (checked before the service starts), and created when local.
async fn upload_store(url: &str, args: &ServeArgs) -> Result<UploadStore> {
    let storage = storage_options(&args.run.storage)?;
    let location =
        Location::parse_with(url, &storage).with_context(|| format!("--keep-uploads {url}"))?;
    location.ensure_writable()?;
    location
        .check_residency()
        .await
        .with_context(|| format!("--keep-uploads {url}"))?;
    if let Some(dir) = location.local_dir() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    tracing::warn!(
        "photos given for training (consent=training) are kept in {} (--keep-uploads)",
        location.url()
    );
    Ok(UploadStore::new(location))
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
