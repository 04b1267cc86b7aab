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
use orchard_classify::{facts_for, Answer};
use orchard_image::ImageError;
use serde_json::{json, Value};

pub use crate::reply::error;
use crate::state::AppState;
use crate::uploads::{KeptAnswer, KeptGuess, KeptModel, CONSENT_TRAINING};
use crate::uploads_routes;

/// The phone page.
const PAGE: &str = include_str!("page.html");

/// Every route of the service.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/identify", post(identify))
        .route("/v1/model", get(model))
        .route("/v1/feedback", post(uploads_routes::feedback))
        .route(
            "/v1/uploads/{receipt}",
            get(uploads_routes::access).delete(uploads_routes::erase),
        )
        .route("/v1/uploads/{receipt}/photo", get(uploads_routes::photo))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(uploads_routes::openapi))
        .merge(api)
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .layer(axum::extract::DefaultBodyLimit::max(state.options.max_body))
        .with_state(state)
}

async fn count(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    // Receipts never reach the metrics: the uploads routes count as one.
    let route = match req.uri().path() {
        p @ ("/" | "/healthz" | "/readyz" | "/metrics" | "/openapi.json" | "/v1/identify"
        | "/v1/model" | "/v1/feedback") => p.to_string(),
        p if p.starts_with("/v1/uploads/") => "/v1/uploads/{receipt}".to_string(),
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
        "keeps_uploads": state.options.uploads.is_some(),
    }))
}

/// An upload: the photo, and whether the person consented to its being kept
/// for training.
struct Upload {
    bytes: Bytes,
    consent: bool,
}

/// Whether a `consent` value grants training use; any other purpose is
/// refused (the message says why).
fn consent_of(value: &str) -> Result<bool, String> {
    match value.trim() {
        "" => Ok(false),
        CONSENT_TRAINING => Ok(true),
        other => Err(format!(
            "consent `{}` is not a purpose this service asks for: send consent={CONSENT_TRAINING}, or nothing",
            other.chars().take(40).collect::<String>()
        )),
    }
}

/// The `consent` query parameter, if any.
fn query_consent(req: &Request) -> Result<bool, String> {
    let mut consent = false;
    for pair in req.uri().query().unwrap_or("").split('&') {
        if let Some(("consent", value)) = pair.split_once('=') {
            consent |= consent_of(value)?;
        }
    }
    Ok(consent)
}

/// The upload: a raw image body, or the `photo` field of a multipart form
/// (what a phone's file input sends); consent comes as the `consent` query
/// parameter or form field.
async fn upload(state: &Arc<AppState>, req: Request) -> Result<Upload, Response> {
    let mut consent =
        query_consent(&req).map_err(|m| error(StatusCode::UNPROCESSABLE_ENTITY, m))?;
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
        let mut photo = None;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| error(e.status(), e.body_text()))?
        {
            let name = field.name().map(str::to_string);
            let bytes = field
                .bytes()
                .await
                .map_err(|e| error(e.status(), e.body_text()))?;
            match name.as_deref() {
                Some("photo") if photo.is_none() => photo = Some(bytes),
                Some("consent") => {
                    consent |= consent_of(&String::from_utf8_lossy(&bytes))
                        .map_err(|m| error(StatusCode::UNPROCESSABLE_ENTITY, m))?
                }
                _ => {}
            }
        }
        return match photo {
            Some(bytes) => Ok(Upload { bytes, consent }),
            None => Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the form has no `photo` field",
            )),
        };
    }
    let accepted = content_type.is_empty()
        || content_type.starts_with("image/")
        || content_type.starts_with("application/octet-stream");
    if !accepted {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Type `{content_type}`: send image/jpeg, image/png or image/webp, or multipart/form-data with a `photo` field"),
        ));
    }
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|e| error(e.status(), e.body_text()))?;
    Ok(Upload { bytes, consent })
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
    let Upload { bytes, consent } = upload(state, req).await?;
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
    // Kept only with consent, and only when this service keeps uploads.
    let receipt = match (&state.options.uploads, consent) {
        (Some(store), true) => match store.keep(&bytes, kept(&answer), kept_model(state)).await {
            Ok(record) => Some(record.receipt),
            Err(e) => {
                tracing::warn!("a photo given for training was not kept: {e}");
                None
            }
        },
        _ => None,
    };
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
    if consent {
        reply["kept"] = receipt.is_some().into();
    }
    if let Some(receipt) = receipt {
        reply["receipt"] = receipt.into();
    }
    if state.featurizer.tta() > 1 {
        // Test-time views averaged (only with --tta, so the answer is
        // unchanged without it).
        reply["views"] = state.featurizer.tta().into();
    }
    Ok(Json(reply).into_response())
}

/// The answer as an upload's record keeps it (no facts, no timings).
fn kept(answer: &Answer) -> KeptAnswer {
    KeptAnswer {
        label: answer.label().to_string(),
        probability: answer.probability(),
        sure: answer.sure,
        unsure_reason: answer.unsure.map(|u| {
            serde_json::to_value(u)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        }),
        top: answer
            .top
            .iter()
            .map(|r| KeptGuess {
                label: r.label.clone(),
                probability: r.probability,
            })
            .collect(),
    }
}

fn kept_model(state: &AppState) -> KeptModel {
    KeptModel {
        name: state.bundle.feature_model.name.clone(),
        sha256: state.bundle.feature_model.sha256.clone(),
    }
}
