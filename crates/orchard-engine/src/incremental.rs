//! Incremental runs: what an output already holds, so that a new run
//! processes only photos that are new or changed.
//!
//! Every successful run records what it processed in `_inputs/`:
//!
//! ```text
//! _inputs/<job>.parquet    path, size, modified of every photo the job read (rows and errors)
//! _inputs/<job>.json       the commit record: written last, it makes the job's part files
//!                          valid, lists them with their rows (the manifest) and the part
//!                          files they supersede
//! ```
//!
//! A part file (`part-NNNNN-<job>[-rw].parquet`) belongs to the output only
//! when its job has a commit record; the superseded files of a committed job
//! are deleted. So a crash anywhere in an incremental run is repaired by the
//! next run: uncommitted part files are removed, half-finished deletions are
//! finished.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::async_writer::AsyncArrowWriter;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;
use orchard_pca::PcaModel;
use orchard_source::{LabelIndex, Location};
use serde::{Deserialize, Serialize};

use crate::output::{self, LABELS, PCA_DIR, PCA_MODEL, SUCCESS, TEMPORARY};
use crate::photos::PhotoRef;
use crate::{EngineError, Result};

/// The folder of per-job input manifests and commit records.
pub const INPUTS_DIR: &str = "_inputs";

/// A job's commit record (`_inputs/<job>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    /// The job's id.
    pub job_id: String,
    /// Order of commits (1 for the first run).
    pub sequence: u64,
    /// Photos the job read.
    pub photos: u64,
    /// Part files (relative names) this job's files replace.
    pub superseded: Vec<String>,
    /// The part files this job wrote, with their rows: the manifest of the
    /// commit (empty in records of versions before it was kept).
    #[serde(default)]
    pub files: Vec<CommittedFile>,
}

/// A part file in a commit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedFile {
    /// Its name, relative to the output.
    pub name: String,
    /// Its rows.
    pub rows: u64,
}

/// What a complete (or repaired) output holds, for an incremental run.
#[derive(Debug)]
pub struct Prior {
    /// The saved PCA model.
    pub pca: PcaModel,
    /// The saved label index.
    pub labels: LabelIndex,
    /// Every photo processed so far: path → (size, modified µs).
    pub seen: HashMap<String, (u64, i64)>,
    /// The valid part files, relative names.
    pub parts: Vec<String>,
    /// The next commit's sequence number.
    pub next_sequence: u64,
}

impl Prior {
    /// Whether `photo` is new or changed since it was processed.
    pub fn is_new_or_changed(&self, photo: &PhotoRef) -> bool {
        self.seen.get(&photo.path) != Some(&(photo.size, photo.modified_micros))
    }
}

fn manifest_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("size", DataType::UInt64, false),
        Field::new(
            "modified",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

/// The job id in a part file's name (`part-00003-<36-char uuid>[-rw].parquet`).
pub fn part_job(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("part-")?;
    let rest = &rest[rest.find('-')? + 1..];
    rest.get(..36)
}

/// Records what job `job_id` processed, then commits it (see the module docs).
pub async fn commit(
    out: &Location,
    job_id: &str,
    sequence: u64,
    photos: &[PhotoRef],
    superseded: Vec<String>,
    files: Vec<CommittedFile>,
) -> Result<()> {
    let batch = RecordBatch::try_new(
        manifest_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                photos.iter().map(|p| p.path.as_str()),
            )),
            Arc::new(UInt64Array::from_iter_values(photos.iter().map(|p| p.size))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    photos.iter().map(|p| p.modified_micros),
                )
                .with_timezone("UTC"),
            ),
        ],
    )?;
    let object = object_store::buffered::BufWriter::new(
        out.store().clone(),
        out.child(&format!("{INPUTS_DIR}/{job_id}.parquet")),
    );
    let mut writer = AsyncArrowWriter::try_new(object, manifest_schema(), None)
        .map_err(datafusion::error::DataFusionError::from)?;
    writer
        .write(&batch)
        .await
        .map_err(datafusion::error::DataFusionError::from)?;
    writer
        .close()
        .await
        .map_err(datafusion::error::DataFusionError::from)?;
    let record = Commit {
        job_id: job_id.to_string(),
        sequence,
        photos: photos.len() as u64,
        superseded,
        files,
    };
    let json =
        serde_json::to_vec_pretty(&record).map_err(|e| EngineError::Internal(e.to_string()))?;
    output::put_file(out, &format!("{INPUTS_DIR}/{job_id}.json"), json).await?;
    Ok(())
}

/// Deletes the part files a commit superseded (after it is durable).
pub async fn delete_superseded(out: &Location, superseded: &[String]) -> Result<()> {
    let keys = superseded.iter().map(|rel| out.child(rel)).collect();
    output::delete_keys_if_present(out, keys).await
}

/// Reads an existing output for an incremental run, repairing what an
/// interrupted run left: `None` when the output is empty (a first run).
pub async fn load_prior(out: &Location) -> Result<Option<Prior>> {
    let keys: Vec<Path> = out
        .store()
        .list(Some(out.prefix()))
        .map_ok(|m| m.location)
        .try_collect()
        .await?;
    if keys.is_empty() {
        return Ok(None);
    }
    let relative: Vec<String> = keys.iter().filter_map(|k| out.relative(k)).collect();
    let mut commits = Vec::new();
    for rel in &relative {
        if rel.starts_with(&format!("{INPUTS_DIR}/")) && rel.ends_with(".json") {
            let bytes = out.store().get(&out.child(rel)).await?.bytes().await?;
            let commit: Commit = serde_json::from_slice(&bytes).map_err(|e| EngineError::Json {
                context: format!("unreadable commit record {rel}"),
                source: e,
            })?;
            commits.push(commit);
        }
    }
    if commits.is_empty() {
        return Err(EngineError::NotAnOutput {
            url: out.url().to_string(),
            missing: crate::error::OutputPart::InputRecords,
        });
    }
    commits.sort_by_key(|c| c.sequence);
    let committed: HashSet<&str> = commits.iter().map(|c| c.job_id.as_str()).collect();
    let superseded: HashSet<&str> = commits
        .iter()
        .flat_map(|c| c.superseded.iter().map(String::as_str))
        .collect();

    // Repair: leftovers of an interrupted run.
    let mut doomed = Vec::new();
    let mut parts = Vec::new();
    for (key, rel) in keys.iter().zip(&relative) {
        let is_part = !rel.contains('/') && rel.starts_with("part-");
        let uncommitted = is_part && part_job(rel).is_none_or(|job| !committed.contains(job));
        if rel == SUCCESS
            || rel.starts_with(&format!("{TEMPORARY}/"))
            || uncommitted
            || superseded.contains(rel.as_str())
        {
            doomed.push(key.clone());
        } else if is_part {
            parts.push(rel.clone());
        }
    }
    if !doomed.is_empty() {
        tracing::info!(
            objects = doomed.len(),
            "removing what an interrupted run left"
        );
    }
    output::delete_keys(out, doomed).await?;
    output::delete_prefix(out, TEMPORARY).await?;
    parts.sort();

    let mut seen = HashMap::new();
    for commit in &commits {
        let bytes =
            output::get_file(out, &format!("{INPUTS_DIR}/{}.parquet", commit.job_id)).await?;
        let reader =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                bytes,
            )
            .map_err(datafusion::error::DataFusionError::from)?
            .build()
            .map_err(datafusion::error::DataFusionError::from)?;
        for batch in reader {
            let batch = batch?;
            let path = batch.column(0).as_string::<i32>();
            let size = batch
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
            let modified = batch
                .column(2)
                .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
            for i in 0..batch.num_rows() {
                if path.is_valid(i) {
                    seen.insert(
                        path.value(i).to_string(),
                        (size.value(i), modified.value(i)),
                    );
                }
            }
        }
    }
    let pca_json = output::get_file(out, &format!("{PCA_DIR}/{PCA_MODEL}")).await?;
    let pca = PcaModel::from_json(&String::from_utf8_lossy(&pca_json))?;
    let labels_json = output::get_file(out, LABELS).await?;
    let labels = LabelIndex::from_json(&labels_json, &out.display_relative(LABELS))?;
    Ok(Some(Prior {
        pca,
        labels,
        seen,
        parts,
        next_sequence: commits.last().map_or(1, |c| c.sequence + 1),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_carry_their_job() {
        let job = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(part_job(&format!("part-00003-{job}.parquet")), Some(job));
        assert_eq!(part_job(&format!("part-00003-{job}-rw.parquet")), Some(job));
        assert_eq!(part_job("part-1-short.parquet"), None);
        assert_eq!(part_job("_errors.parquet"), None);
    }
}
