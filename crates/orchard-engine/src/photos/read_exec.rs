//! The photos table as a distributed planner (a Ballista scheduler) plans it.
//!
//! Ballista 55 gives each task a *slice* of a stage's partitions and rewrites
//! the stage's leaves so that the task plan only has those partitions
//! (`ballista-scheduler` `state/task_builder.rs`, `restrict_plan_to_partitions`).
//! It knows how to do that for `DataSourceExec` (files and in-memory batches)
//! and shuffle readers only; any other leaf is left whole and the executor then
//! runs *all* of its partitions in every task (`ballista-executor`
//! `execution_engine.rs`, `drive_shuffle_writer_stage`). `PhotoScanExec` is such
//! a leaf, so on a cluster every task would read every photo.
//!
//! Here the same photos are planned as
//!
//! ```text
//! PhotoReadExec                       (reads the objects, one output partition per input partition)
//!   DataSourceExec(MemorySourceConfig) (the photo references, split like PhotoTable splits them)
//! ```
//!
//! The in-memory leaf is sliced by the scheduler, and `PhotoReadExec` reads
//! exactly the photos of the partitions it is given, through `PhotoScanExec`,
//! so rows and read errors are the same as in embedded runs.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, UInt64Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{project_schema, DataFusionError, Result};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::TryStreamExt;

use super::refs::{PhotoRef, ScanOptions};
use super::scan_exec::PhotoScanExec;
use crate::schema::photos_schema;

/// Columns of the in-memory table of photo references (one row per photo).
pub fn refs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, true),
        Field::new("size", DataType::UInt64, false),
        Field::new("modified_micros", DataType::Int64, false),
    ]))
}

/// `photos` as one batch of [`refs_schema`].
pub fn refs_batch(photos: &[PhotoRef]) -> Result<RecordBatch> {
    let key = StringArray::from_iter_values(photos.iter().map(|p| p.key.as_str()));
    let path = StringArray::from_iter_values(photos.iter().map(|p| p.path.as_str()));
    let label: StringArray = photos.iter().map(|p| p.label.as_deref()).collect();
    let size = UInt64Array::from_iter_values(photos.iter().map(|p| p.size));
    let modified = Int64Array::from_iter_values(photos.iter().map(|p| p.modified_micros));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(key),
        Arc::new(path),
        Arc::new(label),
        Arc::new(size),
        Arc::new(modified),
    ];
    Ok(RecordBatch::try_new(refs_schema(), columns)?)
}

/// The photo references of a [`refs_schema`] batch, in row order.
pub fn refs_from_batch(batch: &RecordBatch) -> Result<Vec<PhotoRef>> {
    let bad = || DataFusionError::Internal("photo references have an unexpected schema".into());
    if batch.num_columns() != 5 {
        return Err(bad());
    }
    let key = batch.column(0).as_string_opt::<i32>().ok_or_else(bad)?;
    let path = batch.column(1).as_string_opt::<i32>().ok_or_else(bad)?;
    let label = batch.column(2).as_string_opt::<i32>().ok_or_else(bad)?;
    let size = batch
        .column(3)
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(bad)?;
    let modified = batch
        .column(4)
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(bad)?;
    Ok((0..batch.num_rows())
        .map(|i| PhotoRef {
            key: key.value(i).to_string(),
            path: path.value(i).to_string(),
            label: label.is_valid(i).then(|| label.value(i).to_string()),
            size: size.value(i),
            modified_micros: modified.value(i),
        })
        .collect())
}

/// The plan of [`PhotoTable::sliceable`](super::PhotoTable::sliceable): the references of each part in an
/// in-memory leaf (one partition per part), read by [`PhotoReadExec`].
pub(crate) fn sliced_read(
    parts: &[Vec<PhotoRef>],
    store_url: ObjectStoreUrl,
    options: ScanOptions,
    projection: Option<Vec<usize>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let partitions = parts
        .iter()
        .map(|part| -> Result<Vec<RecordBatch>> {
            if part.is_empty() {
                Ok(Vec::new())
            } else {
                Ok(vec![refs_batch(part)?])
            }
        })
        .collect::<Result<Vec<Vec<RecordBatch>>>>()?;
    let input = MemorySourceConfig::try_new_exec(&partitions, refs_schema(), None)?;
    Ok(Arc::new(PhotoReadExec::try_new(
        input, store_url, options, projection,
    )?))
}

/// Reads the photos whose references its input partition holds; one output
/// partition per input partition. Output schema: `photos_schema()` projected.
#[derive(Debug)]
pub struct PhotoReadExec {
    input: Arc<dyn ExecutionPlan>,
    store_url: ObjectStoreUrl,
    options: ScanOptions,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl PhotoReadExec {
    /// A reader of the references `input` produces ([`refs_schema`]).
    pub fn try_new(
        input: Arc<dyn ExecutionPlan>,
        store_url: ObjectStoreUrl,
        options: ScanOptions,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        if input.schema().fields().len() != refs_schema().fields().len() {
            return Err(DataFusionError::Internal(format!(
                "PhotoReadExec expects photo references, got {}",
                input.schema()
            )));
        }
        let schema = project_schema(&photos_schema(), projection.as_ref())?;
        let partitions = input.properties().partitioning.partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            input,
            store_url,
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

    /// The read options.
    pub fn options(&self) -> ScanOptions {
        self.options
    }

    /// The projected column indexes (of `photos_schema()`), if any.
    pub fn projection(&self) -> Option<&Vec<usize>> {
        self.projection.as_ref()
    }
}

impl DisplayAs for PhotoReadExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "PhotoReadExec: store={}, batch_rows={}, concurrency={}",
            self.store_url.as_str(),
            self.options.batch_rows,
            self.options.concurrency
        )
    }
}

impl ExecutionPlan for PhotoReadExec {
    fn name(&self) -> &str {
        "PhotoReadExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    /// Keeps the optimizer from re-splitting the references: the split is the
    /// one `PhotoTable` makes, so batches match embedded runs.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children)
            .map_err(|_| DataFusionError::Internal("PhotoReadExec has one child".into()))?;
        Ok(Arc::new(Self::try_new(
            input,
            self.store_url.clone(),
            self.options,
            self.projection.clone(),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let refs = self.input.execute(partition, context.clone())?;
        let store_url = self.store_url.clone();
        let options = self.options;
        let projection = self.projection.clone();
        let photos = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = refs.try_collect().await?;
            let mut photos = Vec::new();
            for batch in &batches {
                photos.extend(refs_from_batch(batch)?);
            }
            // One partition holding this partition's photos, read exactly as
            // the embedded scan reads a partition.
            let scan = PhotoScanExec::new(store_url, vec![Arc::new(photos)], options, projection)?;
            scan.execute(0, context)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            photos,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(i: usize) -> PhotoRef {
        PhotoRef {
            key: format!("k{i}"),
            path: format!("p{i}"),
            label: i.is_multiple_of(2).then(|| format!("l{i}")),
            size: i as u64,
            modified_micros: -(i as i64),
        }
    }

    #[test]
    fn references_round_trip_through_a_batch() {
        let photos: Vec<_> = (0..5).map(photo).collect();
        let batch = refs_batch(&photos).unwrap();
        assert_eq!(refs_from_batch(&batch).unwrap(), photos);
    }
}
