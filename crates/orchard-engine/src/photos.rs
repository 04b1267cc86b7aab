//! The photos table: one row per listed photo with its bytes, like Spark's
//! `binaryFile` source, read through `object_store` with bounded concurrency.
//!
//! Listing happens once, on the client; the table carries the listed entries
//! and each partition reads its share of objects when executed, from the
//! object store registered in the task's runtime (so the same plan runs in
//! any process that has the store).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, RecordBatch, StringBuilder, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{project_schema, DataFusionError, Result};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use orchard_source::PhotoEntry;

use crate::schema::photos_schema;

/// Record batches of photos read ahead of the consumer, per partition.
const READ_AHEAD: usize = 4;

/// One photo to read: what the scan needs of a [`PhotoEntry`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PhotoRef {
    /// Object key in the store.
    pub key: String,
    /// Path as the user refers to it.
    pub path: String,
    /// Label (parent folder), if any.
    pub label: Option<String>,
    /// Size in bytes, from the listing.
    pub size: u64,
    /// Modification time, microseconds since the epoch (UTC).
    pub modified_micros: i64,
}

impl From<&PhotoEntry> for PhotoRef {
    fn from(e: &PhotoEntry) -> Self {
        Self {
            key: e.key.to_string(),
            path: e.path.clone(),
            label: e.label.clone(),
            size: e.size,
            modified_micros: e.modified.timestamp_micros(),
        }
    }
}

/// How the scan reads objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScanOptions {
    /// Photos per record batch (keep small: a phone photo can be several MB).
    pub batch_rows: usize,
    /// Concurrent GET requests per partition.
    pub concurrency: usize,
    /// Photos larger than this are not read; they get a `read` error.
    pub max_bytes: u64,
    /// Bytes being downloaded at once per partition (by listed size), so that
    /// a run of large photos does not flood memory; a photo larger than the
    /// bound is read alone.
    #[serde(default = "default_in_flight")]
    pub max_bytes_in_flight: u64,
}

fn default_in_flight() -> u64 {
    64 * 1024 * 1024
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            batch_rows: 32,
            concurrency: 16,
            max_bytes: 256 * 1024 * 1024,
            max_bytes_in_flight: default_in_flight(),
        }
    }
}

/// A table over listed photos; see the module docs.
#[derive(Debug)]
pub struct PhotoTable {
    store_url: ObjectStoreUrl,
    photos: Arc<Vec<PhotoRef>>,
    options: ScanOptions,
    /// Planned for a Ballista scheduler (see `cluster::scan`) rather than
    /// for this process.
    distributed: bool,
}

impl PhotoTable {
    /// A table over `photos`, read from the store registered for `store_url`.
    pub fn new(store_url: ObjectStoreUrl, photos: Vec<PhotoRef>, options: ScanOptions) -> Self {
        Self {
            store_url,
            photos: Arc::new(photos),
            options,
            distributed: false,
        }
    }

    /// The same table as a Ballista scheduler must plan it: photo references
    /// in an in-memory leaf the scheduler can slice into tasks, read by
    /// [`crate::cluster::scan::PhotoReadExec`]. Same rows, same batches.
    pub fn distributed(
        store_url: ObjectStoreUrl,
        photos: Vec<PhotoRef>,
        options: ScanOptions,
    ) -> Self {
        Self {
            distributed: true,
            ..Self::new(store_url, photos, options)
        }
    }

    /// The store the photos are read from.
    pub fn store_url(&self) -> &ObjectStoreUrl {
        &self.store_url
    }

    /// The photos, in order.
    pub fn photos(&self) -> &[PhotoRef] {
        &self.photos
    }

    /// How they are read.
    pub fn options(&self) -> ScanOptions {
        self.options
    }
}

#[async_trait]
impl TableProvider for PhotoTable {
    fn schema(&self) -> SchemaRef {
        photos_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let n = scan_partitions(
            state.config().target_partitions(),
            self.photos.len(),
            &self.options,
        );
        let parts = split_contiguous(&self.photos, n);
        if self.distributed {
            return crate::cluster::scan::distributed_read(
                &parts,
                self.store_url.clone(),
                self.options,
                projection.cloned(),
            );
        }
        Ok(Arc::new(PhotoScanExec::new(
            self.store_url.clone(),
            parts.into_iter().map(Arc::new).collect(),
            self.options,
            projection.cloned(),
        )?))
    }
}

/// The number of scan partitions for `photos` photos: the session's target
/// partitions, but no partition smaller than one batch, and at least one.
/// Embedded and cluster scans both use it, so that both group photos into
/// the same batches.
pub(crate) fn scan_partitions(
    target_partitions: usize,
    photos: usize,
    options: &ScanOptions,
) -> usize {
    let wanted = target_partitions.max(1);
    let per_partition = options.batch_rows.max(1);
    wanted.min(photos.div_ceil(per_partition)).max(1)
}

/// Splits `items` into `n` contiguous, nearly equal parts (order kept).
pub(crate) fn split_contiguous(items: &[PhotoRef], n: usize) -> Vec<Vec<PhotoRef>> {
    let n = n.max(1);
    let base = items.len() / n;
    let extra = items.len() % n;
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        out.push(items[start..start + len].to_vec());
        start += len;
    }
    out
}

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
        builder.spawn(async move {
            while let Some(batch) = batches.next().await {
                if tx.send(batch).await.is_err() {
                    break; // the consumer is gone
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(i: usize) -> PhotoRef {
        PhotoRef {
            key: format!("k{i}"),
            path: format!("p{i}"),
            label: None,
            size: 1,
            modified_micros: 0,
        }
    }

    #[test]
    fn contiguous_split_keeps_order_and_balances() {
        let items: Vec<_> = (0..7).map(photo).collect();
        let parts = split_contiguous(&items, 3);
        let lens: Vec<_> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(lens, [3, 2, 2]);
        let flat: Vec<_> = parts.iter().flat_map(|p| p.iter().cloned()).collect();
        assert_eq!(flat, items);
    }
}
