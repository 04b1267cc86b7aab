//! Plan codecs: Orchard's functions, the photos table and the photo readers,
//! by name plus a JSON payload; everything else goes to Ballista's codecs.
//!
//! The payloads are [`crate::payload`]'s.
//!
//! * [`OrchardLogicalCodec`] (client → scheduler, `LogicalPlanNode`):
//!   `featurize`, `pca_stats`, `pca_project`, `label_index`, and `PhotoTable`,
//!   which the scheduler decodes as `PhotoTable::sliceable`.
//! * [`OrchardPhysicalCodec`] (scheduler → executors, `PhysicalPlanNode`): the
//!   same functions, [`PhotoReadExec`], and `PhotoScanExec` when it has a
//!   single partition (with more, tasks would each read all of them; see
//!   [`orchard_engine::photos::PhotoReadExec`]). On executors ([`CodecRole::Executor`]) the
//!   model of `featurize` is looked up locally ([`resolve_model`]).
//!
//! Note: `datafusion-proto` ignores errors of `try_encode_udf`/`try_encode_udaf`
//! in *logical* plans (it then sends the name only), so a function that cannot
//! be encoded shows up on the scheduler as "no payload" — decoding says so.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{internal_err, plan_err, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

pub use crate::payload::{decode_payload, encode_payload, CodecRole, Payload, MAGIC};
use crate::payload::{decode_udaf, decode_udf, encode_udaf, encode_udf, photo_table_payload};
use orchard_engine::photos::PhotoReadExec;
use orchard_engine::photos::{PhotoScanExec, PhotoTable};
use orchard_engine::schema::photos_schema;
use orchard_engine::sink::PartWriterExec;
use orchard_engine::write_parts::WriteParts;

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
        match decode_payload(buf)? {
            Some(Payload::WriteParts { options }) => {
                let [input] = inputs else {
                    return internal_err!("WriteParts has one input, got {}", inputs.len());
                };
                Ok(Extension {
                    node: Arc::new(WriteParts::new(input.clone(), options)?),
                })
            }
            Some(other) => internal_err!("plan node came with an Orchard {} payload", other.kind()),
            None => self.inner.try_decode(buf, inputs, ctx),
        }
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        match node.node.as_any().downcast_ref::<WriteParts>() {
            Some(write) => encode_payload(
                &Payload::WriteParts {
                    options: write.options.clone(),
                },
                buf,
            ),
            None => self.inner.try_encode(node, buf),
        }
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
                Ok(Arc::new(PhotoTable::sliceable(
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
        decode_udf(name, buf, self.role, || {
            self.inner.try_decode_udf(name, buf)
        })
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(node, buf, |buf| self.inner.try_encode_udf(node, buf))
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf, || self.inner.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udaf(node, buf, |buf| self.inner.try_encode_udaf(node, buf))
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
            Some(Payload::WriteParts { options }) => {
                let [input] = inputs else {
                    return internal_err!("PartWriterExec has one input, got {}", inputs.len());
                };
                Ok(Arc::new(PartWriterExec::new(Arc::clone(input), options)))
            }
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
        if let Some(exec) = node.downcast_ref::<PartWriterExec>() {
            return encode_payload(
                &Payload::WriteParts {
                    options: exec.options().clone(),
                },
                buf,
            );
        }
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
        decode_udf(name, buf, self.role, || {
            self.inner.try_decode_udf(name, buf)
        })
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(node, buf, |buf| self.inner.try_encode_udf(node, buf))
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf, || self.inner.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udaf(node, buf, |buf| self.inner.try_encode_udaf(node, buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchard_engine::pca_udf::{PcaStatsUdaf, PCA_STATS};

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
