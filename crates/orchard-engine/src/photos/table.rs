//! The photos table as DataFusion sees it.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use super::read_exec::sliced_read;
use super::refs::{scan_partitions, split_contiguous, PhotoRef, ScanOptions};
use super::scan_exec::PhotoScanExec;
use crate::schema::photos_schema;

/// A table over listed photos; see the module docs.
#[derive(Debug)]
pub struct PhotoTable {
    store_url: ObjectStoreUrl,
    photos: Arc<Vec<PhotoRef>>,
    options: ScanOptions,
    /// Planned as references in an in-memory leaf that a distributed planner
    /// can slice into tasks ([`PhotoReadExec`](super::PhotoReadExec)) rather than as one
    /// [`PhotoScanExec`].
    sliceable: bool,
}

impl PhotoTable {
    /// A table over `photos`, read from the store registered for `store_url`.
    pub fn new(store_url: ObjectStoreUrl, photos: Vec<PhotoRef>, options: ScanOptions) -> Self {
        Self {
            store_url,
            photos: Arc::new(photos),
            options,
            sliceable: false,
        }
    }

    /// The same table as a distributed planner (e.g. a Ballista scheduler)
    /// must plan it: photo references in an in-memory leaf the planner can
    /// slice into tasks, read by [`PhotoReadExec`](super::PhotoReadExec). Same rows, same batches.
    pub fn sliceable(
        store_url: ObjectStoreUrl,
        photos: Vec<PhotoRef>,
        options: ScanOptions,
    ) -> Self {
        Self {
            sliceable: true,
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
        if self.sliceable {
            return sliced_read(
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
