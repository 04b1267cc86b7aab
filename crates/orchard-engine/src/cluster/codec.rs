//! Plan codecs: Orchard's functions, the photos table and the photo readers,
//! by name plus a JSON payload; everything else goes to Ballista's codecs.
//!
//! Every payload is `MAGIC` followed by the JSON of a [`Payload`]. `MAGIC`
//! starts with `O` (0x4F: protobuf field 9, wire type 7, which does not exist),
//! so no protobuf message that Ballista's codecs write can be mistaken for one.
//!
//! * [`OrchardLogicalCodec`] (client → scheduler, `LogicalPlanNode`):
//!   `featurize`, `pca_stats`, `pca_project`, `label_index`, and `PhotoTable`,
//!   which the scheduler decodes as `PhotoTable::distributed`.
//! * [`OrchardPhysicalCodec`] (scheduler → executors, `PhysicalPlanNode`): the
//!   same functions, [`PhotoReadExec`], and `PhotoScanExec` when it has a
//!   single partition (with more, tasks would each read all of them; see
//!   [`crate::cluster::scan`]). On executors ([`CodecRole::Executor`]) the
//!   model of `featurize` is looked up locally ([`resolve_model`]).
//!
//! Note: `datafusion-proto` ignores errors of `try_encode_udf`/`try_encode_udaf`
//! in *logical* plans (it then sends the name only), so a function that cannot
//! be encoded shows up on the scheduler as "no payload" — decoding says so.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{internal_err, plan_err, DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use orchard_image::DecodeOptions;
use orchard_pca::PcaModel;
use orchard_source::LabelIndex;
use serde::{Deserialize, Serialize};

use crate::cluster::model::{resolve_model, MissingModelUdf};
use crate::cluster::scan::PhotoReadExec;
use crate::featurize::{FeaturizeUdf, ModelRef, FEATURIZE};
use crate::labels_udf::{LabelIndexUdf, LABEL_INDEX_FN};
use crate::pca_udf::{PcaProjectUdf, PcaStatsUdaf, PCA_PROJECT, PCA_STATS};
use crate::photos::{PhotoRef, PhotoScanExec, PhotoTable, ScanOptions};
use crate::schema::photos_schema;

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
}

impl Payload {
    fn kind(&self) -> &'static str {
        match self {
            Payload::Featurize { .. } => "featurize",
            Payload::PcaStats { .. } => "pca_stats",
            Payload::PcaProject { .. } => "pca_project",
            Payload::LabelIndex { .. } => "label_index",
            Payload::PhotoTable { .. } => "photo_table",
            Payload::PhotoRead { .. } => "photo_read",
            Payload::PhotoScan { .. } => "photo_scan",
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
                        MissingModelUdf::new(model, reason).into_udf()
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

fn photo_table_payload(node: &dyn TableProvider) -> Option<Payload> {
    node.downcast_ref::<PhotoTable>()
        .map(|t| Payload::PhotoTable {
            store_url: t.store_url().as_str().to_string(),
            photos: t.photos().to_vec(),
            options: t.options(),
        })
}

/// Logical codec of the client (and of the scheduler, which decodes with it).
#[derive(Debug)]
pub struct OrchardLogicalCodec {
    inner: Arc<dyn LogicalExtensionCodec>,
    role: CodecRole,
}

impl OrchardLogicalCodec {
    /// Orchard's codec in front of `BallistaLogicalExtensionCodec::default()`.
    pub fn new(role: CodecRole) -> Self {
        Self {
            inner: Arc::new(BallistaLogicalExtensionCodec::default()),
            role,
        }
    }
}

impl LogicalExtensionCodec for OrchardLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match decode_payload(buf)? {
            Some(Payload::PhotoTable {
                store_url,
                photos,
                options,
            }) => {
                if schema.fields().len() != photos_schema().fields().len() {
                    return internal_err!(
                        "table {table_ref} has {} columns, the photos table has {}",
                        schema.fields().len(),
                        photos_schema().fields().len()
                    );
                }
                Ok(Arc::new(PhotoTable::distributed(
                    ObjectStoreUrl::parse(&store_url)?,
                    photos,
                    options,
                )))
            }
            Some(other) => internal_err!(
                "table {table_ref} came with an Orchard {} payload",
                other.kind()
            ),
            None => self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match photo_table_payload(node.as_ref()) {
            Some(payload) => encode_payload(&payload, buf),
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        match decode_payload(buf)? {
            Some(payload) => scalar_from_payload(name, payload, self.role),
            None => match missing_payload(name) {
                Some(err) => err,
                None => self.inner.try_decode_udf(name, buf),
            },
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        match scalar_payload(node)? {
            Some(payload) => encode_payload(&payload, buf),
            None => self.inner.try_encode_udf(node, buf),
        }
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        match decode_payload(buf)? {
            Some(payload) => aggregate_from_payload(name, payload),
            None => match missing_payload(name) {
                Some(err) => err,
                None => self.inner.try_decode_udaf(name, buf),
            },
        }
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        match aggregate_payload(node) {
            Some(payload) => encode_payload(&payload, buf),
            None => self.inner.try_encode_udaf(node, buf),
        }
    }
}

/// Physical codec of the scheduler (encodes task plans) and of the executors
/// (decode them); the client sets it too, for physical-plan submission.
#[derive(Debug)]
pub struct OrchardPhysicalCodec {
    inner: Arc<dyn PhysicalExtensionCodec>,
    role: CodecRole,
}

impl OrchardPhysicalCodec {
    /// Orchard's codec in front of `BallistaPhysicalExtensionCodec::default()`.
    pub fn new(role: CodecRole) -> Self {
        Self {
            inner: Arc::new(BallistaPhysicalExtensionCodec::default()),
            role,
        }
    }
}

impl PhysicalExtensionCodec for OrchardPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match decode_payload(buf)? {
            Some(Payload::PhotoRead {
                store_url,
                options,
                projection,
            }) => {
                let [input] = inputs else {
                    return internal_err!("PhotoReadExec has one input, got {}", inputs.len());
                };
                Ok(Arc::new(PhotoReadExec::try_new(
                    Arc::clone(input),
                    ObjectStoreUrl::parse(&store_url)?,
                    options,
                    projection,
                )?))
            }
            Some(Payload::PhotoScan {
                store_url,
                photos,
                options,
                projection,
            }) => Ok(Arc::new(PhotoScanExec::new(
                ObjectStoreUrl::parse(&store_url)?,
                vec![Arc::new(photos)],
                options,
                projection,
            )?)),
            Some(other) => internal_err!("plan node came with an Orchard {} payload", other.kind()),
            None => self.inner.try_decode(buf, inputs, ctx, proto_converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(exec) = node.downcast_ref::<PhotoReadExec>() {
            return encode_payload(
                &Payload::PhotoRead {
                    store_url: exec.store_url().as_str().to_string(),
                    options: exec.options(),
                    projection: exec.projection().cloned(),
                },
                buf,
            );
        }
        if let Some(exec) = node.downcast_ref::<PhotoScanExec>() {
            let [photos] = exec.partitions() else {
                return plan_err!(
                    "PhotoScanExec with {} partitions cannot run on a Ballista cluster \
                     (every task would read all of them); plan the photos table with \
                     the cluster codecs so that it becomes PhotoReadExec",
                    exec.partitions().len()
                );
            };
            return encode_payload(
                &Payload::PhotoScan {
                    store_url: exec.store_url().as_str().to_string(),
                    photos: photos.to_vec(),
                    options: exec.options(),
                    projection: exec.projection().cloned(),
                },
                buf,
            );
        }
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        match decode_payload(buf)? {
            Some(payload) => scalar_from_payload(name, payload, self.role),
            None => match missing_payload(name) {
                Some(err) => err,
                None => self.inner.try_decode_udf(name, buf),
            },
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        match scalar_payload(node)? {
            Some(payload) => encode_payload(&payload, buf),
            None => self.inner.try_encode_udf(node, buf),
        }
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        match decode_payload(buf)? {
            Some(payload) => aggregate_from_payload(name, payload),
            None => match missing_payload(name) {
                Some(err) => err,
                None => self.inner.try_decode_udaf(name, buf),
            },
        }
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        match aggregate_payload(node) {
            Some(payload) => encode_payload(&payload, buf),
            None => self.inner.try_encode_udaf(node, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_foreign_bytes_are_not_ours() {
        let mut buf = Vec::new();
        encode_payload(&Payload::PcaStats { dim: 7 }, &mut buf).unwrap();
        assert!(matches!(
            decode_payload(&buf).unwrap(),
            Some(Payload::PcaStats { dim: 7 })
        ));
        assert!(decode_payload(b"\x0a\x03abc").unwrap().is_none());
        assert!(decode_payload(b"").unwrap().is_none());
    }

    #[test]
    fn pca_stats_round_trips_through_the_logical_codec() {
        let codec = OrchardLogicalCodec::new(CodecRole::Scheduler);
        let udaf = PcaStatsUdaf::new(4).into_udaf();
        let mut buf = Vec::new();
        codec.try_encode_udaf(&udaf, &mut buf).unwrap();
        let back = codec.try_decode_udaf(PCA_STATS, &buf).unwrap();
        assert_eq!(back.name(), PCA_STATS);
        assert_eq!(
            back.inner().downcast_ref::<PcaStatsUdaf>().map(|u| u.dim()),
            Some(4)
        );
    }

    #[test]
    fn built_in_functions_get_no_payload() {
        let codec = OrchardPhysicalCodec::new(CodecRole::Executor);
        let count = datafusion::functions_aggregate::count::count_udaf();
        let mut buf = Vec::new();
        codec.try_encode_udaf(&count, &mut buf).unwrap();
        assert!(buf.is_empty());
    }
}
