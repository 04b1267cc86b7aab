//! Erasure reaching derived data: the rows of some photos removed from a
//! complete output, through the same commit protocol as an incremental run.
//!
//! 1. The output is read as an incremental run reads it (`load_prior`,
//!    which also repairs an interrupted run and removes `_SUCCESS`).
//! 2. Only the part files holding a doomed row are rewritten without it
//!    (`part-NNNNN-<job>-rw.parquet`, staged under `_temporary/` and moved
//!    in by the part writer's own commit); every other part file is left
//!    untouched, and every other row is copied as it was.
//! 3. A commit record (`_inputs/<job>.json`: the new files with their rows,
//!    the files they supersede) makes the rewrite valid; then the superseded
//!    files are deleted.
//! 4. The doomed paths leave `_errors.parquet` and the earlier runs' input
//!    manifests (`_inputs/*.parquet`) too.
//! 5. `_SUCCESS` is written last.
//!
//! Which photos are doomed is the caller's business (a predicate on the
//! path); the engine knows nothing of uploads or receipts.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::async_writer::AsyncArrowWriter;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use orchard_source::Location;

use crate::incremental::{self, CommittedFile, INPUTS_DIR};
use crate::job::queries::{not_in, part_files, parts_holding};
use crate::output::{self, ERRORS, SUCCESS, TEMPORARY};
use crate::runner::embedded_session;
use crate::sink::PartFormat;
use crate::write_parts::{write_parts_plan, WriteTarget};
use crate::{EngineError, Result};

/// What an erasure did to one output.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    /// The paths whose rows were removed.
    pub paths: Vec<String>,
    /// Rows removed from the part files.
    pub rows: u64,
    /// Part files rewritten (the superseded ones).
    pub rewritten: Vec<String>,
    /// Part files written in their place.
    pub written: Vec<String>,
    /// Rows removed from `_errors.parquet`.
    pub error_rows: u64,
    /// Input manifests (`_inputs/*.parquet`) that named a doomed path.
    pub manifests: u64,
}

/// Removes the rows of every photo whose path `doomed` accepts from the
/// complete output `out` (see the module docs). An output without a doomed
/// row is left as it was.
pub async fn erase_photos(
    out: &Location,
    doomed: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Erased> {
    out.ensure_writable()?;
    out.check_residency().await?;
    if !exists(out, SUCCESS).await? {
        return Err(EngineError::NotAnOutput {
            url: out.url().to_string(),
            missing: crate::error::OutputPart::Success,
        });
    }
    let ctx = embedded_session(0);
    ctx.register_object_store(&out.store_url(), out.store().clone());
    // Which parts hold doomed rows, before anything changes.
    let all = all_parts(out).await?;
    let mut paths = Vec::new();
    if !all.is_empty() {
        for batch in part_files(&ctx, out, &all)
            .await?
            .select_columns(&["path"])?
            .collect()
            .await?
        {
            let column = batch.column(0).as_string::<i32>();
            paths.extend(
                column
                    .iter()
                    .flatten()
                    .filter(|p| doomed(p))
                    .map(str::to_string),
            );
        }
    }
    paths.sort();
    paths.dedup();
    let error_doomed = file_holds(out, ERRORS, doomed).await?;
    if paths.is_empty() && !error_doomed {
        return Ok(Erased::default());
    }
    if all.iter().any(|p| !p.ends_with(".parquet")) {
        return Err(EngineError::CsvNotRewritable {
            url: out.url().to_string(),
        });
    }
    // From here on the output is being changed: no _SUCCESS until it is done.
    let prior = incremental::load_prior(out)
        .await?
        .ok_or_else(|| EngineError::Internal(format!("{} vanished", out.url())))?;
    let superseded = parts_holding(&ctx, out, &prior.parts, &paths).await?;
    let job_id = uuid::Uuid::new_v4().to_string();
    let mut erased = Erased {
        paths: paths.clone(),
        rewritten: superseded.clone(),
        ..Erased::default()
    };
    let mut files = Vec::new();
    if !superseded.is_empty() {
        let before = part_files(&ctx, out, &superseded).await?.count().await? as u64;
        let kept = part_files(&ctx, out, &superseded)
            .await?
            .filter(not_in(&paths))?;
        let target = WriteTarget {
            out,
            dir: String::new(),
            staging: format!("{TEMPORARY}/{job_id}/erase"),
            format: PartFormat::Parquet,
            job_id: format!("{job_id}-rw"),
            row_group_rows: 8192,
        };
        let written = write_parts_plan(&ctx, kept, target)
            .await?
            .run(&ctx)
            .await?;
        erased.rows = before - written.rows();
        for (name, rows) in &written.files {
            let name = name.rsplit('/').next().unwrap_or(name).to_string();
            erased.written.push(name.clone());
            files.push(CommittedFile { name, rows: *rows });
        }
    }
    incremental::commit(
        out,
        &job_id,
        prior.next_sequence,
        &[],
        superseded.clone(),
        files,
    )
    .await?;
    incremental::delete_superseded(out, &superseded).await?;
    if error_doomed {
        erased.error_rows = filter_file(out, ERRORS, doomed).await?;
    }
    for manifest in manifests(out).await? {
        if filter_file(out, &manifest, doomed).await? > 0 {
            erased.manifests += 1;
        }
    }
    output::delete_prefix(out, TEMPORARY).await?;
    output::put_file(out, SUCCESS, Vec::new()).await?;
    Ok(erased)
}

async fn exists(out: &Location, relative: &str) -> Result<bool> {
    match out.store().head(&out.child(relative)).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The part files at the output's root (all committed: the output is complete).
async fn all_parts(out: &Location) -> Result<Vec<String>> {
    let mut parts: Vec<String> = out
        .store()
        .list_with_delimiter(Some(out.prefix()))
        .await?
        .objects
        .into_iter()
        .filter_map(|m| out.relative(&m.location))
        .filter(|rel| rel.starts_with("part-"))
        .collect();
    parts.sort();
    Ok(parts)
}

/// The input manifests of earlier commits.
async fn manifests(out: &Location) -> Result<Vec<String>> {
    let mut names: Vec<String> = out
        .store()
        .list(Some(&out.child(INPUTS_DIR)))
        .try_filter_map(|m| {
            let rel = out
                .relative(&m.location)
                .filter(|r| r.ends_with(".parquet"));
            futures::future::ready(Ok(rel))
        })
        .try_collect()
        .await?;
    names.sort();
    Ok(names)
}

/// The batches of a small Parquet file whose first column is `path`.
async fn read_small(out: &Location, relative: &str) -> Result<Option<Vec<RecordBatch>>> {
    if !exists(out, relative).await? {
        return Ok(None);
    }
    let bytes = output::get_file(out, relative).await?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    Ok(Some(reader.collect::<std::result::Result<Vec<_>, _>>()?))
}

fn keep_mask(batch: &RecordBatch, doomed: &(dyn Fn(&str) -> bool + Sync)) -> BooleanArray {
    let path = batch.column(0).as_string::<i32>();
    path.iter().map(|p| Some(!p.is_some_and(doomed))).collect()
}

async fn file_holds(
    out: &Location,
    relative: &str,
    doomed: &(dyn Fn(&str) -> bool + Sync),
) -> Result<bool> {
    Ok(read_small(out, relative).await?.is_some_and(|batches| {
        batches
            .iter()
            .any(|b| keep_mask(b, doomed).false_count() > 0)
    }))
}

/// Rewrites a small Parquet file (first column `path`) without the doomed
/// paths' rows; returns how many went. A file without any is not touched.
async fn filter_file(
    out: &Location,
    relative: &str,
    doomed: &(dyn Fn(&str) -> bool + Sync),
) -> Result<u64> {
    let Some(batches) = read_small(out, relative).await? else {
        return Ok(0);
    };
    let mut removed = 0u64;
    let mut kept = Vec::new();
    for batch in &batches {
        let mask = keep_mask(batch, doomed);
        removed += mask.false_count() as u64;
        kept.push(filter_record_batch(batch, &mask)?);
    }
    if removed == 0 {
        return Ok(0);
    }
    let Some(schema) = batches.first().map(|b| b.schema()) else {
        return Ok(0);
    };
    let object = object_store::buffered::BufWriter::new(out.store().clone(), out.child(relative));
    let mut writer = AsyncArrowWriter::try_new(object, Arc::clone(&schema), None)?;
    for batch in &kept {
        writer.write(batch).await?;
    }
    writer.close().await?;
    Ok(removed)
}
