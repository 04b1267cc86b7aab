//! Orchard's payloads: its functions and the photos table by name plus JSON.
//!
//! Every payload is `MAGIC` followed by the JSON of a [`Payload`]. `MAGIC`
//! starts with `O` (0x4F: protobuf field 9, wire type 7, which does not exist),
//! so no protobuf message that Ballista's codecs write can be mistaken for one.
//! The functions here encode and decode them; anything that is not Orchard's
//! goes to the `fallback` (Ballista's codec), so that both plan codecs
//! ([`crate::codec`]) share one implementation.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::{internal_err, plan_err, DataFusionError, Result};
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use orchard_engine::featurize::{FeaturizeUdf, ModelRef, FEATURIZE};
use orchard_engine::labels_udf::{LabelIndexUdf, LABEL_INDEX_FN};
use orchard_engine::pca_udf::{PcaProjectUdf, PcaStatsUdaf, PCA_PROJECT, PCA_STATS};
use orchard_engine::photos::{PhotoRef, PhotoTable, ScanOptions};
use orchard_engine::sink::PartWriterOptions;
use orchard_image::DecodeOptions;
use orchard_pca::PcaModel;
use orchard_source::LabelIndex;
use serde::{Deserialize, Serialize};

use crate::model::{resolve_model, MissingModelUdf};

/// Prefix of every Orchard payload (format version in the last byte).
pub const MAGIC: &[u8; 8] = b"ORCHRD\x00\x01";

/// What an Orchard payload holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// `featurize(content)`.
    Featurize {
        /// The client's model reference.
        model: ModelRef,
        /// Decode limits.
        decode: DecodeOptions,
    },
    /// `pca_stats(features)`.
    PcaStats {
        /// Vector width.
        dim: usize,
    },
    /// `pca_project(features)`.
    PcaProject {
        /// `PcaModel::to_json`.
        model_json: String,
    },
    /// `label_index(label)`.
    LabelIndex {
        /// `LabelIndex::to_json`.
        labels_json: String,
    },
    /// The photos table (logical plans).
    PhotoTable {
        /// Store URL (`file:///`, `s3://bucket/`).
        store_url: String,
        /// The listed photos, in order.
        photos: Vec<PhotoRef>,
        /// Read options.
        options: ScanOptions,
    },
    /// [`PhotoReadExec`] (its input travels as the node's child).
    PhotoRead {
        /// Store URL.
        store_url: String,
        /// Read options.
        options: ScanOptions,
        /// Projection of `photos_schema()`.
        projection: Option<Vec<usize>>,
    },
    /// A single-partition `PhotoScanExec`.
    PhotoScan {
        /// Store URL.
        store_url: String,
        /// The photos of its only partition.
        photos: Vec<PhotoRef>,
        /// Read options.
        options: ScanOptions,
        /// Projection of `photos_schema()`.
        projection: Option<Vec<usize>>,
    },
    /// The `WriteParts` logical node or `PartWriterExec` (the rows to write
    /// travel as the node's child).
    WriteParts {
        /// Where and how the parts are written.
        options: PartWriterOptions,
    },
}

impl Payload {
    /// The payload's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Featurize { .. } => "featurize",
            Payload::PcaStats { .. } => "pca_stats",
            Payload::PcaProject { .. } => "pca_project",
            Payload::LabelIndex { .. } => "label_index",
            Payload::PhotoTable { .. } => "photo_table",
            Payload::PhotoRead { .. } => "photo_read",
            Payload::PhotoScan { .. } => "photo_scan",
            Payload::WriteParts { .. } => "write_parts",
        }
    }
}

/// Appends `MAGIC` + JSON of `payload` to `buf` (nothing on error).
pub fn encode_payload(payload: &Payload, buf: &mut Vec<u8>) -> Result<()> {
    let json = serde_json::to_vec(payload).map_err(|e| {
        DataFusionError::Internal(format!("cannot encode Orchard {}: {e}", payload.kind()))
    })?;
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&json);
    Ok(())
}

/// The payload in `buf`, or `None` when `buf` is not an Orchard payload.
pub fn decode_payload(buf: &[u8]) -> Result<Option<Payload>> {
    let Some(json) = buf.strip_prefix(MAGIC.as_slice()) else {
        return Ok(None);
    };
    serde_json::from_slice(json)
        .map(Some)
        .map_err(|e| DataFusionError::Internal(format!("cannot decode Orchard payload: {e}")))
}

/// Which process a codec serves; only executors look models up locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecRole {
    /// `orchard extract --cluster`.
    Client,
    /// `orchard cluster scheduler`.
    Scheduler,
    /// `orchard cluster executor`.
    Executor,
}

fn pca_err(e: orchard_pca::PcaError) -> DataFusionError {
    DataFusionError::Execution(format!("PCA: {e}"))
}

/// The payload of one of Orchard's scalar functions, `None` for others.
fn scalar_payload(node: &ScalarUDF) -> Result<Option<Payload>> {
    let inner = node.inner();
    if let Some(f) = inner.downcast_ref::<FeaturizeUdf>() {
        return Ok(Some(Payload::Featurize {
            model: f.model().clone(),
            decode: f.decode_options().clone(),
        }));
    }
    if let Some(f) = inner.downcast_ref::<PcaProjectUdf>() {
        return Ok(Some(Payload::PcaProject {
            model_json: f.model().to_json().map_err(pca_err)?,
        }));
    }
    if let Some(f) = inner.downcast_ref::<LabelIndexUdf>() {
        // NEEDS `LabelIndexUdf::index(&self) -> &LabelIndex` (labels_udf.rs).
        return Ok(Some(Payload::LabelIndex {
            labels_json: f.index().to_json(),
        }));
    }
    Ok(None)
}

/// Rebuilds one of Orchard's scalar functions from its payload.
fn scalar_from_payload(name: &str, payload: Payload, role: CodecRole) -> Result<Arc<ScalarUDF>> {
    let udf = match payload {
        Payload::Featurize { model, decode } if name == FEATURIZE => {
            if role == CodecRole::Executor {
                match resolve_model(&model) {
                    Ok(local) => {
                        if local.path != model.path {
                            tracing::info!(client = %model.path, local = %local.path, "model resolved");
                        }
                        FeaturizeUdf::new(local, decode).into_udf()
                    }
                    Err(reason) => {
                        tracing::error!("{reason}");
                        MissingModelUdf::new(model, reason.to_string()).into_udf()
                    }
                }
            } else {
                FeaturizeUdf::new(model, decode).into_udf()
            }
        }
        Payload::PcaProject { model_json } if name == PCA_PROJECT => {
            let model = PcaModel::from_json(&model_json).map_err(pca_err)?;
            PcaProjectUdf::new(Arc::new(model)).into_udf()
        }
        Payload::LabelIndex { labels_json } if name == LABEL_INDEX_FN => {
            let index = LabelIndex::from_json(labels_json.as_bytes(), "the label_index payload")
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            LabelIndexUdf::new(index).into_udf()
        }
        other => {
            return internal_err!(
                "scalar function {name} came with an Orchard {} payload",
                other.kind()
            )
        }
    };
    Ok(Arc::new(udf))
}

/// The payload of one of Orchard's aggregates, `None` for others.
fn aggregate_payload(node: &AggregateUDF) -> Option<Payload> {
    node.inner()
        .downcast_ref::<PcaStatsUdaf>()
        .map(|f| Payload::PcaStats { dim: f.dim() })
}

fn aggregate_from_payload(name: &str, payload: Payload) -> Result<Arc<AggregateUDF>> {
    match payload {
        Payload::PcaStats { dim } if name == PCA_STATS => {
            Ok(Arc::new(PcaStatsUdaf::new(dim).into_udaf()))
        }
        other => internal_err!(
            "aggregate function {name} came with an Orchard {} payload",
            other.kind()
        ),
    }
}

/// Orchard's functions carry their parameters; a bare name means the sender
/// could not encode them.
fn missing_payload<T>(name: &str) -> Option<Result<T>> {
    [FEATURIZE, PCA_STATS, PCA_PROJECT, LABEL_INDEX_FN]
        .contains(&name)
        .then(|| {
            plan_err!(
                "{name} arrived without its parameters; the sender must use Orchard's \
                 plan codecs (OrchardLogicalCodec / OrchardPhysicalCodec)"
            )
        })
}

pub(crate) fn photo_table_payload(node: &dyn TableProvider) -> Option<Payload> {
    node.downcast_ref::<PhotoTable>()
        .map(|t| Payload::PhotoTable {
            store_url: t.store_url().as_str().to_string(),
            photos: t.photos().to_vec(),
            options: t.options(),
        })
}

/// Decodes an Orchard scalar function from its payload; anything else goes
/// to `fallback` (the inner codec). Both codecs decode functions this way.
pub(crate) fn decode_udf(
    name: &str,
    buf: &[u8],
    role: CodecRole,
    fallback: impl FnOnce() -> Result<Arc<ScalarUDF>>,
) -> Result<Arc<ScalarUDF>> {
    match decode_payload(buf)? {
        Some(payload) => scalar_from_payload(name, payload, role),
        None => missing_payload(name).unwrap_or_else(fallback),
    }
}

/// Encodes an Orchard scalar function as its payload; anything else goes to
/// `fallback`.
pub(crate) fn encode_udf(
    node: &ScalarUDF,
    buf: &mut Vec<u8>,
    fallback: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    match scalar_payload(node)? {
        Some(payload) => encode_payload(&payload, buf),
        None => fallback(buf),
    }
}

/// Decodes an Orchard aggregate function from its payload; anything else
/// goes to `fallback`.
pub(crate) fn decode_udaf(
    name: &str,
    buf: &[u8],
    fallback: impl FnOnce() -> Result<Arc<AggregateUDF>>,
) -> Result<Arc<AggregateUDF>> {
    match decode_payload(buf)? {
        Some(payload) => aggregate_from_payload(name, payload),
        None => missing_payload(name).unwrap_or_else(fallback),
    }
}

/// Encodes an Orchard aggregate function as its payload; anything else goes
/// to `fallback`.
pub(crate) fn encode_udaf(
    node: &AggregateUDF,
    buf: &mut Vec<u8>,
    fallback: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    match aggregate_payload(node) {
        Some(payload) => encode_payload(&payload, buf),
        None => fallback(buf),
    }
}
