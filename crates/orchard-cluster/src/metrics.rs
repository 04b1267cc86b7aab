//! An executor's Prometheus endpoint: `GET /metrics` on its own port, with
//! the engine's process metrics (photos, errors by stage, bytes read, model
//! latency, photo-scan tasks) and the executor's slots.
//!
//! The scheduler's metrics are Ballista's own (jobs submitted, completed,
//! failed and cancelled, job and planning time, pending tasks, process CPU
//! and memory), served at `/api/metrics` on the scheduler's port.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use orchard_engine::metrics::{encode, process_metrics};
use orchard_engine::{EngineError, Result};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The content type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The path scheduler metrics are served at (Ballista's REST API).
pub const SCHEDULER_METRICS_PATH: &str = "/api/metrics";

/// The registry an executor with `slots` task slots exposes.
pub fn executor_registry(slots: usize) -> Registry {
    let mut registry = Registry::default();
    process_metrics().register(&mut registry);
    let gauge: Gauge = Gauge::default();
    gauge.set(slots as i64);
    registry.register(
        "orchard_executor_slots",
        "Tasks this executor runs at once",
        gauge,
    );
    registry
}

/// Binds `addr` and serves `GET /metrics` from `registry` in the background;
/// returns the bound address (port 0 picks a free one).
pub async fn serve_metrics(addr: SocketAddr, registry: Registry) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| EngineError::io(format!("cannot listen for metrics on {addr}"), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| EngineError::io("metrics listener", e))?;
    let registry = Arc::new(registry);
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move { ([(CONTENT_TYPE, OPENMETRICS)], encode(&registry)).into_response() }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    tracing::info!(%bound, "Prometheus metrics at http://{bound}/metrics");
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn the_endpoint_serves_the_process_metrics() {
        let addr = serve_metrics("127.0.0.1:0".parse().unwrap(), executor_registry(3))
            .await
            .unwrap();
        process_metrics().bytes_read.inc_by(10);
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains("application/openmetrics-text"), "{reply}");
        assert!(reply.contains("orchard_executor_slots 3"), "{reply}");
        assert!(reply.contains("orchard_bytes_read_total "), "{reply}");
        assert!(reply.contains("orchard_model_seconds_bucket"), "{reply}");
    }
}
