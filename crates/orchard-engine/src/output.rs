//! The output directory: Spark/EMR conventions. Part files, then `_`-prefixed
//! metadata (`_errors.parquet`, `_labels.json`, `_pca/`, `_run.json`), and
//! `_SUCCESS` last of all.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::basic::Compression;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use orchard_source::Location;

use crate::schema::errors_schema;
use crate::{EngineError, Result};

/// Marker written last: its presence means the output is complete.
pub const SUCCESS: &str = "_SUCCESS";
/// Inputs that are not in the output, with stage and reason.
pub const ERRORS: &str = "_errors.parquet";
/// The label index.
pub const LABELS: &str = "_labels.json";
/// The fitted PCA model folder.
pub const PCA_DIR: &str = "_pca";
/// The fitted PCA model file inside [`PCA_DIR`].
pub const PCA_MODEL: &str = "model.json";
/// The run report.
pub const RUN: &str = "_run.json";
/// Intermediate files, removed when the job succeeds.
pub const TEMPORARY: &str = "_temporary";

/// Makes sure `out` can receive a new result: it must be empty, or
/// `overwrite` must be set, in which case everything under it is deleted.
pub async fn prepare_output(out: &Location, overwrite: bool) -> Result<()> {
    let store = out.store();
    let existing: Vec<Path> = store
        .list(Some(out.prefix()))
        .map_ok(|m| m.location)
        .try_collect()
        .await?;
    if existing.is_empty() {
        return Ok(());
    }
    if !overwrite {
        return Err(EngineError::OutputNotEmpty {
            url: out.url().to_string(),
            objects: existing.len(),
            example: out.display(&existing[0]).to_string(),
        });
    }
    tracing::info!(objects = existing.len(), output = %out.url(), "overwriting output");
    delete_all(store, existing).await
}

/// Deletes every object under `prefix` (relative to `out`).
pub async fn delete_prefix(out: &Location, prefix: &str) -> Result<()> {
    let store = out.store();
    let keys: Vec<Path> = store
        .list(Some(&out.child(prefix)))
        .map_ok(|m| m.location)
        .try_collect()
        .await?;
    delete_all(store, keys).await?;
    // Local file systems keep the emptied folders: remove them too.
    if let Some(dir) = out.local_dir() {
        let path = dir.join(prefix);
        if path.is_dir() {
            std::fs::remove_dir_all(&path)
                .map_err(|e| EngineError::io(format!("cannot remove {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// Deletes the given objects of `out`'s store, ignoring those already gone.
pub async fn delete_keys_if_present(out: &Location, keys: Vec<Path>) -> Result<()> {
    for key in keys {
        match out.store().delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Deletes the given objects of `out`'s store.
pub async fn delete_keys(out: &Location, keys: Vec<Path>) -> Result<()> {
    delete_all(out.store(), keys).await
}

async fn delete_all(store: &Arc<dyn ObjectStore>, keys: Vec<Path>) -> Result<()> {
    let locations = futures::stream::iter(keys.into_iter().map(Ok)).boxed();
    store
        .delete_stream(locations)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// Writes a small file (`_labels.json`, `_run.json`, …) under `out`.
pub async fn put_file(out: &Location, relative: &str, bytes: Vec<u8>) -> Result<()> {
    out.store()
        .put(&out.child(relative), PutPayload::from(bytes))
        .await?;
    Ok(())
}

/// Reads a small file under `out`.
pub async fn get_file(out: &Location, relative: &str) -> Result<bytes::Bytes> {
    Ok(out.store().get(&out.child(relative)).await?.bytes().await?)
}

/// Writes `_errors.parquet` from a stream of error batches (schema
/// [`errors_schema`]); returns the number of rows.
pub async fn write_errors(
    out: &Location,
    batches: impl futures::Stream<Item = Result<RecordBatch>> + Unpin,
) -> Result<u64> {
    let mut writer = crate::sink::parquet_writer(
        out.store().clone(),
        out.child(ERRORS),
        errors_schema(),
        Compression::SNAPPY,
        8192,
    )?;
    let mut rows = 0u64;
    let mut batches = batches;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).await?;
    }
    writer.close().await?;
    Ok(rows)
}
