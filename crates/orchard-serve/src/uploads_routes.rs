//! The routes of kept uploads: feedback (rectification), access, the photo,
//! erasure; and the service's OpenAPI description.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::reply::error;
use crate::state::AppState;
use crate::uploads::{AuditEvent, AuditLog, Receipt, UploadError, UploadRecord, UploadStore};

/// The OpenAPI 3.1 description of every route.
const OPENAPI: &str = include_str!("openapi.json");

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The answer of the uploads routes when this service keeps nothing.
fn no_store() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "this service keeps no uploads (it runs without --keep-uploads)",
    )
}

/// The store, if this service keeps uploads.
fn store(state: &AppState) -> Option<&UploadStore> {
    state.options.uploads.as_ref()
}

fn unknown() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no upload is kept under this receipt (never kept, or erased)",
    )
}

/// A store failure: the client may retry; the log gets the reason (never a photo).
fn unavailable(e: UploadError) -> Response {
    tracing::warn!("upload store: {e}");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the upload store cannot be reached; retry in a moment",
    )
}

/// The record as the person sees it, with where the photo is.
fn shown(record: &UploadRecord) -> Value {
    let mut json = serde_json::to_value(record).expect("a record serializes");
    json["photo_url"] = format!("/v1/uploads/{}/photo", record.receipt).into();
    json
}

/// `POST /v1/feedback` `{"receipt": …, "label": …}`.
pub async fn feedback(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let Some(store) = store(&state) else {
        return no_store();
    };
    let body = match Bytes::from_request(req, &state).await {
        Ok(b) => b,
        Err(e) => return error(e.status(), e.body_text()),
    };
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body is not JSON ({e}): send {{\"receipt\": \"…\", \"label\": \"…\"}}"
                ),
            )
        }
    };
    let (Some(receipt), Some(label)) = (parsed["receipt"].as_str(), parsed["label"].as_str())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "send {\"receipt\": \"…\", \"label\": \"…\"}: both are strings",
        );
    };
    let Some(receipt) = Receipt::parse(receipt) else {
        return unknown();
    };
    let labels = &state.bundle.classifier.labels;
    if !labels.iter().any(|l| l == label) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "`{}` is not a fruit this model knows; choose one of: {}",
                label.chars().take(60).collect::<String>(),
                labels.join(", ")
            ),
        );
    }
    match store.set_feedback(&receipt, label).await {
        Ok(Some(record)) => Json(shown(&record)).into_response(),
        Ok(None) => unknown(),
        Err(e) => unavailable(e),
    }
}

/// `GET /v1/uploads/{receipt}`: what is kept.
pub async fn access(State(state): State<Arc<AppState>>, Path(receipt): Path<String>) -> Response {
    let Some(store) = store(&state) else {
        return no_store();
    };
    let Some(receipt) = Receipt::parse(&receipt) else {
        return unknown();
    };
    match store.record(&receipt).await {
        Ok(Some(record)) => Json(shown(&record)).into_response(),
        Ok(None) => unknown(),
        Err(e) => unavailable(e),
    }
}

/// `GET /v1/uploads/{receipt}/photo`: the kept photo.
pub async fn photo(State(state): State<Arc<AppState>>, Path(receipt): Path<String>) -> Response {
    let Some(store) = store(&state) else {
        return no_store();
    };
    let Some(receipt) = Receipt::parse(&receipt) else {
        return unknown();
    };
    match store.photo(&receipt).await {
        Ok(Some(photo)) => (
            [
                (header::CONTENT_TYPE, photo.content_type),
                (header::CACHE_CONTROL, "no-store"),
            ],
            photo.bytes,
        )
            .into_response(),
        Ok(None) => unknown(),
        Err(e) => unavailable(e),
    }
}

/// `DELETE /v1/uploads/{receipt}`: erasure, idempotent (204 whether or not
/// anything was kept); an erasure that found something is audited.
pub async fn erase(State(state): State<Arc<AppState>>, Path(receipt): Path<String>) -> Response {
    let Some(store) = store(&state) else {
        return no_store();
    };
    let Some(receipt) = Receipt::parse(&receipt) else {
        // Nothing can be kept under what is not a receipt.
        return StatusCode::NO_CONTENT.into_response();
    };
    match store.erase(&receipt).await {
        Ok(found) => {
            if found {
                let event = AuditEvent::new("erase", receipt.as_str(), true, Value::Null);
                if let Err(e) = AuditLog::new(store.location().clone()).append(&event).await {
                    return unavailable(e);
                }
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::OPENAPI;

    /// Every route the router serves is described, with its methods.
    #[test]
    fn the_description_names_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let routes = [
            ("/", "get"),
            ("/healthz", "get"),
            ("/readyz", "get"),
            ("/metrics", "get"),
            ("/openapi.json", "get"),
            ("/v1/identify", "post"),
            ("/v1/model", "get"),
            ("/v1/feedback", "post"),
            ("/v1/uploads/{receipt}", "get"),
            ("/v1/uploads/{receipt}", "delete"),
            ("/v1/uploads/{receipt}/photo", "get"),
        ];
        let paths = doc["paths"].as_object().unwrap();
        let described: usize = paths
            .values()
            .map(|p| {
                p.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "parameters")
                    .count()
            })
            .sum();
        assert_eq!(described, routes.len());
        for (path, method) in routes {
            let op = &doc["paths"][path][method];
            assert!(op["responses"].is_object(), "{method} {path}");
        }
    }
}
