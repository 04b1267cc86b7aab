//! `orchard serve`: the app's back end. An HTTP API (axum) that answers a
//! photo with the fruit it shows, a phone page, health and readiness
//! probes and Prometheus metrics. Knows nothing of DataFusion or Ballista.
//!
//! * `POST /v1/identify`: a raw image body or a multipart form's `photo`
//!   field → top labels with probabilities and facts, sure or not, the
//!   model's id and timings. Limits answer with statuses a client can act
//!   on: 413 (body or pixels), 415 (not an image), 422 (undecodable or
//!   empty), 401 (token), 503 + `Retry-After` (queue full), 504 (timeout).
//! * Concurrent requests share model calls ([`Batcher`]).
//! * Uploads are never written or logged. With an upload store
//!   ([`ServeOptions::uploads`]), a photo sent with `consent=training` is
//!   kept (metadata stripped) under a random receipt: `POST /v1/feedback`
//!   records the person's label, `GET`/`DELETE /v1/uploads/{receipt}` give
//!   access and erasure ([`uploads`]).
//! * `GET /openapi.json` describes every route (OpenAPI 3.1).

mod batcher;
mod metrics;
mod reply;
mod routes;
mod state;
pub mod uploads;
mod uploads_routes;

use std::net::SocketAddr;
use std::sync::Arc;

pub use batcher::{Batcher, Inferred};
pub use metrics::Metrics;
pub use routes::router;
pub use state::{AppState, ServeOptions};

/// Serves `state` on `bind` until `shutdown` resolves; requests in flight
/// then finish before this returns.
pub async fn serve(
    bind: SocketAddr,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!("serving on http://{}", listener.local_addr()?);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
