//! The HTTP routes and the identify handler.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orchard_classify::facts_for;
use orchard_image::ImageError;
use serde_json::{json, Value};

use crate::state::AppState;

/// The phone page.
const PAGE: &str = include_str!("page.html");

/// Every route of the service.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/identify", post(identify))
        .route("/v1/model", get(model))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .merge(api)
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .layer(axum::extract::DefaultBodyLimit::max(state.options.max_body))
        .with_state(state)
}

/// A JSON error with a status a client can act on.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn count(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = match req.uri().path() {
        p @ ("/" | "/healthz" | "/readyz" | "/metrics" | "/v1/identify" | "/v1/model") => {
            p.to_string()
        }
        _ => "other".to_string(),
    };
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    state
        .metrics
        .request(&route, status, started.elapsed().as_secs_f64());
    tracing::debug!(
        route,
        status,
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn authorize(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some(token) = &state.options.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let same = given.len() == token.len()
            && given
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |a, (x, y)| a | (x ^ y))
                == 0;
        if !same {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (Authorization: Bearer …)",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    next.run(req).await
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        error(StatusCode::SERVICE_UNAVAILABLE, "the model is loading")
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn model(State(state): State<Arc<AppState>>) -> Json<Value> {
    let b = &state.bundle;
    Json(json!({
        "labels": b.classifier.labels,
        "feature_model": { "name": b.feature_model.name, "sha256": b.feature_model.sha256 },
        "thresholds": b.classifier.thresholds,
        "max_body_bytes": state.options.max_body,
    }))
}

/// The upload's bytes: a raw image body, or the `photo` field of a
/// multipart form (what a phone's file input sends).
async fn upload(state: &Arc<AppState>, req: Request) -> Result<Bytes, Response> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(req, state)
            .await
            .map_err(|e| error(e.status(), e.body_text()))?;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| error(e.status(), e.body_text()))?
        {
            if field.name() == Some("photo") {
                return field
                    .bytes()
                    .await
                    .map_err(|e| error(e.status(), e.body_text()));
            }
        }
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the form has no `photo` field",
        ));
    }
    let accepted = content_type.is_empty()
        || content_type.starts_with("image/")
        || content_type.starts_with("application/octet-stream");
    if !accepted {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Type `{content_type}`: send image/jpeg or image/png, or multipart/form-data with a `photo` field"),
        ));
    }
    Bytes::from_request(req, state)
        .await
        .map_err(|e| error(e.status(), e.body_text()))
}

fn image_error_status(e: &ImageError) -> StatusCode {
    match e {
        ImageError::UnsupportedFormat { .. } | ImageError::UnknownFormat { .. } => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        ImageError::TooManyPixels { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

async fn identify(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let Some(_admitted) = state.admit() else {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many photos in flight; retry in a moment",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        // The upload is refused unread, so this connection cannot carry
        // another request: say so, and the client opens a new one instead of
        // writing into a closed socket.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    };
    state.metrics.in_flight(1);
    let timeout = state.options.timeout;
    let response = match tokio::time::timeout(timeout, answer(&state, req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(r)) => r,
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            format!("no answer within {} ms", timeout.as_millis()),
        ),
    };
    state.metrics.in_flight(-1);
    response
}

async fn answer(state: &Arc<AppState>, req: Request) -> Result<Response, Response> {
    let started = Instant::now();
    let bytes = upload(state, req).await?;
    if bytes.is_empty() {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty upload: the body holds no image",
        ));
    }
    let turn = state.decode_turn().await;
    let decode_started = Instant::now();
    let prep = state.clone();
    let body = bytes.clone();
    let input = tokio::task::spawn_blocking(move || prep.featurizer.prepare_views(&body))
        .await
        .map_err(|e| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("decoding stopped: {e}"),
            )
        })?
        .map_err(|e| {
            error(
                image_error_status(&e),
                format!("cannot read the photo: {e}"),
            )
        })?;
    drop(turn);
    let decode_ms = decode_started.elapsed().as_secs_f64() * 1e3;
    let Some(pending) = state.batcher.submit(input) else {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model queue is full; retry in a moment",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Err(r);
    };
    let inferred = pending
        .await
        .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "the model stopped"))?
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    // With test-time augmentation, the mean over the photo's views.
    let features = state.featurizer.pool(&inferred.features);
    let answer = state
        .bundle
        .classifier
        .answer_batch(&features, state.options.top)
        .remove(0);
    state.metrics.answer(answer.sure);
    if let Some(dir) = &state.options.keep_uploads {
        let path = dir.join(format!("{}.img", uuid::Uuid::new_v4()));
        if let Err(e) = tokio::fs::write(&path, &bytes).await {
            tracing::warn!("cannot keep the upload in {}: {e}", dir.display());
        }
    }
    let top: Vec<Value> = answer
        .top
        .iter()
        .map(|r| json!({ "label": r.label, "probability": r.probability, "facts": facts_for(&r.label) }))
        .collect();
    let mut reply = json!({
        "label": answer.label(),
        "probability": answer.probability(),
        "sure": answer.sure,
        "unsure_reason": answer.unsure,
        "top": top,
        "model": { "name": state.bundle.feature_model.name, "sha256": state.bundle.feature_model.sha256 },
        "batch": inferred.batch,
        "timings_ms": {
            "decode": decode_ms,
            "model": inferred.model_seconds * 1e3,
            "total": started.elapsed().as_secs_f64() * 1e3,
        },
    });
    if state.featurizer.tta() > 1 {
        // Test-time views averaged (only with --tta, so the answer is
        // unchanged without it).
        reply["views"] = state.featurizer.tta().into();
    }
    Ok(Json(reply).into_response())
}
