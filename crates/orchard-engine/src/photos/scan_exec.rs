//! `PhotoScanExec`: reads the photos of each partition, in small batches.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, RecordBatch, StringBuilder, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{project_schema, DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use super::refs::{PhotoRef, ScanOptions};
use crate::metrics::{process_metrics, RunningTask};
use crate::schema::photos_schema;

/// Record batches of photos read ahead of the consumer, per partition.
const READ_AHEAD: usize = 4;

/// Reads the photos of each partition and emits them in small batches.
#[derive(Debug)]
pub struct PhotoScanExec {
    store_url: ObjectStoreUrl,
    partitions: Vec<Arc<Vec<PhotoRef>>>,
    options: ScanOptions,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl PhotoScanExec {
    /// A scan of `partitions` (each read in order), projected to `projection`.
    pub fn new(
        store_url: ObjectStoreUrl,
        partitions: Vec<Arc<Vec<PhotoRef>>>,
        options: ScanOptions,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        let schema = project_schema(&photos_schema(), projection.as_ref())?;
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(partitions.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            store_url,
            partitions,
            options,
            projection,
            schema,
            properties,
        })
    }

    /// The store the photos are read from.
    pub fn store_url(&self) -> &ObjectStoreUrl {
        &self.store_url
    }

    /// The photos of each partition.
    pub fn partitions(&self) -> &[Arc<Vec<PhotoRef>>] {
        &self.partitions
    }

    /// The read options.
    pub fn options(&self) -> ScanOptions {
        self.options
    }

    /// The projected column indexes, if any.
    pub fn projection(&self) -> Option<&Vec<usize>> {
        self.projection.as_ref()
    }
}

impl DisplayAs for PhotoScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let photos: usize = self.partitions.iter().map(|p| p.len()).sum();
        write!(
            f,
            "PhotoScanExec: store={}, photos={photos}, partitions={}, batch_rows={}",
            self.store_url.as_str(),
            self.partitions.len(),
            self.options.batch_rows
        )
    }
}

impl ExecutionPlan for PhotoScanExec {
    fn name(&self) -> &str {
        "PhotoScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let photos = self.partitions.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("PhotoScanExec has no partition {partition}"))
        })?;
        let store = context.runtime_env().object_store(&self.store_url)?;
        let options = self.options;
        let projection = self.projection.clone();
        // Permits are KiB of listed size; at least one per photo.
        let budget_kib = (options.max_bytes_in_flight / 1024).clamp(1, u32::MAX as u64 / 2) as u32;
        let in_flight = Arc::new(tokio::sync::Semaphore::new(budget_kib as usize));
        let reads = futures::stream::iter((0..photos.len()).map(move |i| {
            let store = store.clone();
            let photo = photos[i].clone();
            let in_flight = in_flight.clone();
            async move {
                let kib = (photo.size / 1024).clamp(1, budget_kib as u64) as u32;
                let content = match in_flight.acquire_many_owned(kib).await {
                    Ok(_permit) => read_photo(store.as_ref(), &photo, options.max_bytes).await,
                    Err(_) => Err("read cancelled".to_string()),
                };
                (photo, content)
            }
        }))
        .buffered(options.concurrency.max(1));
        let mut batches = reads
            .chunks(options.batch_rows.max(1))
            .map(move |rows| build_batch(&rows, projection.as_ref()));
        // Read ahead in a task of its own: the next batches download while
        // the consumer (featurisation) works on this one. Without it, reads
        // only start when the next batch is asked for, and every batch from an
        // object store waits for its GETs after the previous inference.
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema.clone(), READ_AHEAD);
        let tx = builder.tx();
        let task = RunningTask::start(process_metrics());
        builder.spawn(async move {
            while let Some(batch) = batches.next().await {
                if tx.send(batch).await.is_err() {
                    return Ok(()); // the consumer is gone
                }
            }
            task.finish();
            Ok(())
        });
        Ok(builder.build())
    }
}

/// Reads one photo; a failure becomes the row's `read_error`.
async fn read_photo(
    store: &dyn ObjectStore,
    photo: &PhotoRef,
    max_bytes: u64,
) -> std::result::Result<bytes::Bytes, String> {
    if photo.size > max_bytes {
        return Err(format!(
            "file is {} bytes, above the limit of {max_bytes} bytes (--max-bytes)",
            photo.size
        ));
    }
    // The key is already an object key: parse it, never re-encode it
    // (`Path::from` would percent-encode `ü` or `%` a second time).
    let key = Path::parse(&photo.key).map_err(|e| format!("invalid object key: {e}"))?;
    let result = store.get(&key).await.map_err(|e| e.to_string())?;
    let bytes = result.bytes().await.map_err(|e| e.to_string())?;
    process_metrics().bytes_read.inc_by(bytes.len() as u64);
    if bytes.len() as u64 > max_bytes {
        return Err(format!(
            "file is {} bytes, above the limit of {max_bytes} bytes (--max-bytes)",
            bytes.len()
        ));
    }
    Ok(bytes)
}

fn build_batch(
    rows: &[(PhotoRef, std::result::Result<bytes::Bytes, String>)],
    projection: Option<&Vec<usize>>,
) -> Result<RecordBatch> {
    let mut path = StringBuilder::new();
    let mut label = StringBuilder::new();
    let content_bytes: usize = rows
        .iter()
        .map(|(_, c)| c.as_ref().map_or(0, |b| b.len()))
        .sum();
    let mut content = BinaryBuilder::with_capacity(rows.len(), content_bytes);
    let mut read_error = StringBuilder::new();
    for (photo, bytes) in rows {
        path.append_value(&photo.path);
        label.append_option(photo.label.as_deref());
        match bytes {
            Ok(b) => {
                content.append_value(b);
                read_error.append_null();
            }
            Err(e) => {
                content.append_null();
                read_error.append_value(e);
            }
        }
    }
    let size = UInt64Array::from_iter_values(rows.iter().map(|(p, _)| p.size));
    let modified =
        TimestampMicrosecondArray::from_iter_values(rows.iter().map(|(p, _)| p.modified_micros))
            .with_timezone("UTC");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(path.finish()),
        Arc::new(label.finish()),
        Arc::new(size),
        Arc::new(modified),
        Arc::new(content.finish()),
        Arc::new(read_error.finish()),
    ];
    let batch = RecordBatch::try_new(photos_schema(), columns)?;
    match projection {
        Some(p) => Ok(batch.project(p)?),
        None => Ok(batch),
    }
}
