//! Writing results: [`PartWriterExec`] writes every input partition to its own
//! part files (`part-NNNNN-<uuid>.parquet` or `.csv`) in an object store, in
//! parallel, and returns one row per file written. It is an ordinary plan
//! node, so the writes happen wherever the partition runs.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, RecordBatch, StringArray, StringBuilder, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{exec_err, DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::parquet::arrow::async_writer::AsyncArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::schema::{LABEL_INDEX, PATH, PCA};

/// The file format of part files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartFormat {
    /// Parquet, Snappy-compressed (Spark's default), for outputs.
    Parquet,
    /// Parquet without compression, for intermediate spill files.
    ParquetUncompressed,
    /// The seed pipeline's CSV: `label_index`, `pca` as a JSON array, `path`.
    Csv,
}

impl PartFormat {
    /// File extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            PartFormat::Parquet | PartFormat::ParquetUncompressed => "parquet",
            PartFormat::Csv => "csv",
        }
    }
}

/// Where and how [`PartWriterExec`] writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartWriterOptions {
    /// The store (`file:///`, `s3://bucket/`), as registered in the runtime.
    pub store_url: String,
    /// The folder (object key prefix) the part files go to.
    pub dir: String,
    /// File format.
    pub format: PartFormat,
    /// The job's id, part of every file name.
    pub job_id: String,
    /// Rows per Parquet row group (bounds the writer's memory).
    pub row_group_rows: usize,
    /// A new file is started after this many rows.
    pub max_rows_per_file: usize,
}

/// Schema of the summary [`PartWriterExec`] returns: one row per file.
pub fn written_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
    ]))
}

/// Writes each input partition to part files; see the module docs.
#[derive(Debug)]
pub struct PartWriterExec {
    input: Arc<dyn ExecutionPlan>,
    options: PartWriterOptions,
    properties: Arc<PlanProperties>,
}

impl PartWriterExec {
    /// A writer of `input`'s partitions.
    pub fn new(input: Arc<dyn ExecutionPlan>, options: PartWriterOptions) -> Self {
        let partitions = input.properties().partitioning.partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(written_schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            options,
            properties,
        }
    }

    /// The write options.
    pub fn options(&self) -> &PartWriterOptions {
        &self.options
    }
}

impl DisplayAs for PartWriterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "PartWriterExec: {}{} as {:?}",
            self.options.store_url, self.options.dir, self.options.format
        )
    }
}

impl ExecutionPlan for PartWriterExec {
    fn name(&self) -> &str {
        "PartWriterExec"
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
            .map_err(|_| DataFusionError::Internal("PartWriterExec has one child".into()))?;
        Ok(Arc::new(Self::new(input, self.options.clone())))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let url = ObjectStoreUrl::parse(&self.options.store_url)?;
        let store = context.runtime_env().object_store(&url)?;
        let partitions = self.properties.partitioning.partition_count();
        let attempt = context.task_id().map(|id| attempt_suffix(&id));
        let input = self.input.execute(partition, context)?;
        let writer = PartitionWriter {
            store,
            options: self.options.clone(),
            partition,
            partitions,
            attempt,
        };
        let written = futures::stream::once(async move {
            let files = writer.write(input).await?;
            let names = StringArray::from_iter_values(files.iter().map(|(f, _)| f.as_str()));
            let rows = UInt64Array::from_iter_values(files.iter().map(|(_, r)| *r));
            Ok(RecordBatch::try_new(
                written_schema(),
                vec![Arc::new(names) as ArrayRef, Arc::new(rows)],
            )?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            written_schema(),
            written,
        )))
    }
}

/// Writes one partition's stream.
struct PartitionWriter {
    store: Arc<dyn ObjectStore>,
    options: PartWriterOptions,
    partition: usize,
    partitions: usize,
    /// The task attempt (on a cluster, where every task runs partition 0 of
    /// its own slice of the stage): part of the names, so that attempts
    /// never overwrite each other and the caller keeps the winners.
    attempt: Option<String>,
}

/// `-j<job>-s<stage>.<attempt>-t<task>.<attempt>` from Ballista's task
/// identity (`TID <job>/<stage>.<attempt>/<task>.<attempt>`): a job
/// resubmitted by the watchdog gets a new scheduler job id, so its files never
/// share a name with those of the cancelled job's tasks still running. Other
/// identities are kept with anything but letters, digits and dots as `-`.
pub(crate) fn attempt_suffix(task_id: &str) -> String {
    let id = task_id.strip_prefix("TID ").unwrap_or(task_id);
    let parts: Vec<&str> = id.split('/').collect();
    if let [job, stage, task] = parts.as_slice() {
        return format!("-j{}-s{stage}-t{task}", clean_name(job));
    }
    format!("-{}", clean_name(id))
}

/// `text` with anything but ASCII letters, digits and dots as `-`.
fn clean_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Whether `name` is a part file of write `job_id` (`part-N-<job_id>.ext` or
/// `part-N-<job_id>-j…`), and not of a write whose id merely starts with it.
pub fn is_part_of(name: &str, job_id: &str) -> bool {
    let Some(rest) = name.strip_prefix("part-") else {
        return false;
    };
    let Some(dash) = rest.find('-') else {
        return false;
    };
    rest[dash + 1..]
        .strip_prefix(job_id)
        .is_some_and(|tail| tail.starts_with('.') || tail.starts_with("-j"))
}

enum OpenFile {
    Parquet(Box<AsyncArrowWriter<BufWriter>>),
    Csv(Box<BufWriter>),
}

impl PartitionWriter {
    /// The name of this partition's `nth` file: numbers never collide across
    /// partitions (`partition + nth * partitions`).
    fn file_name(&self, nth: usize) -> String {
        format!(
            "part-{:05}-{}{}.{}",
            self.partition + nth * self.partitions,
            self.options.job_id,
            self.attempt.as_deref().unwrap_or(""),
            self.options.format.extension()
        )
    }

    fn file_path(&self, name: &str) -> Path {
        // `dir` is already an object key (spaces, unicode kept as they are).
        let dir = self.options.dir.trim_end_matches('/');
        Path::parse(format!("{dir}/{name}")).unwrap_or_else(|_| Path::from(dir).join(name))
    }

    fn open(&self, path: Path, schema: &SchemaRef) -> Result<OpenFile> {
        Ok(match self.options.format {
            PartFormat::Parquet | PartFormat::ParquetUncompressed => {
                let compression = if self.options.format == PartFormat::Parquet {
                    Compression::SNAPPY
                } else {
                    Compression::UNCOMPRESSED
                };
                OpenFile::Parquet(Box::new(parquet_writer(
                    self.store.clone(),
                    path,
                    schema.clone(),
                    compression,
                    self.options.row_group_rows,
                )?))
            }
            PartFormat::Csv => OpenFile::Csv(Box::new(BufWriter::new(self.store.clone(), path))),
        })
    }

    async fn write(self, mut input: SendableRecordBatchStream) -> Result<Vec<(String, u64)>> {
        let schema = input.schema();
        let mut files: Vec<(String, u64)> = Vec::new();
        let mut current: Option<(OpenFile, u64)> = None;
        // Partition 0 always writes a file, so even an empty result has a schema.
        if self.partition == 0 {
            let name = self.file_name(0);
            current = Some((self.open(self.file_path(&name), &schema)?, 0));
            files.push((name, 0));
        }
        while let Some(batch) = input.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            let full = current
                .as_ref()
                .is_some_and(|(_, rows)| *rows >= self.options.max_rows_per_file as u64);
            if full {
                if let Some((file, _)) = current.take() {
                    close(file).await?;
                }
            }
            if current.is_none() {
                let name = self.file_name(files.len());
                current = Some((self.open(self.file_path(&name), &schema)?, 0));
                files.push((name, 0));
            }
            let (file, rows) = current.as_mut().expect("a file is open");
            match file {
                OpenFile::Parquet(w) => w.write(&batch).await?,
                OpenFile::Csv(w) => {
                    let text = csv_text(&batch, *rows == 0)?;
                    w.write_all(&text).await.map_err(io_err)?;
                }
            }
            *rows += batch.num_rows() as u64;
            if let Some(last) = files.last_mut() {
                last.1 = *rows;
            }
        }
        if let Some((file, rows)) = current.take() {
            if rows == 0 && matches!(file, OpenFile::Csv(_)) {
                // An empty CSV still gets its header.
                if let OpenFile::Csv(mut w) = file {
                    w.write_all(b"label_index,pca,path\n")
                        .await
                        .map_err(io_err)?;
                    w.shutdown().await.map_err(io_err)?;
                }
            } else {
                close(file).await?;
            }
        }
        Ok(files)
    }
}

/// A Parquet writer of `schema` to `path` in `store` (streamed through a
/// multipart upload): `compression`, row groups of at most `row_group_rows`,
/// Orchard named as the writer. Every Parquet file Orchard writes is opened
/// here.
pub(crate) fn parquet_writer(
    store: Arc<dyn ObjectStore>,
    path: Path,
    schema: SchemaRef,
    compression: Compression,
    row_group_rows: usize,
) -> Result<AsyncArrowWriter<BufWriter>> {
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_created_by(format!("orchard {}", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(AsyncArrowWriter::try_new(
        BufWriter::new(store, path),
        schema,
        Some(props),
    )?)
}

fn io_err(e: std::io::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

async fn close(file: OpenFile) -> Result<()> {
    match file {
        OpenFile::Parquet(w) => {
            w.close().await?;
        }
        OpenFile::Csv(mut w) => w.shutdown().await.map_err(io_err)?,
    }
    Ok(())
}

/// The seed's CSV rows for `batch`: `label_index,pca,path`, `pca` as a JSON
/// array of floats (shortest round-trip form).
fn csv_text(batch: &RecordBatch, header: bool) -> Result<Vec<u8>> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .cloned()
            .ok_or_else(|| DataFusionError::Execution(format!("CSV output needs column {name}")))
    };
    let label_index = column(LABEL_INDEX)?;
    let pca = column(PCA)?;
    let path = column(PATH)?;
    let pca = pca
        .as_fixed_size_list_opt()
        .ok_or_else(|| DataFusionError::Execution("pca must be a fixed_size_list".to_string()))?;
    let Some(values) = pca.values().as_any().downcast_ref::<Float32Array>() else {
        return exec_err!("pca values must be float32");
    };
    let k = pca.value_length() as usize;
    let mut json = StringBuilder::new();
    for row in 0..pca.len() {
        if pca.is_null(row) {
            json.append_null();
            continue;
        }
        let start = (pca.offset() + row) * k;
        let items: Vec<String> = values.values()[start..start + k]
            .iter()
            .map(|v| format!("{v}"))
            .collect();
        json.append_value(format!("[{}]", items.join(",")));
    }
    let out = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new(LABEL_INDEX, label_index.data_type().clone(), true),
            Field::new(PCA, DataType::Utf8, true),
            Field::new(PATH, DataType::Utf8, true),
        ])),
        vec![label_index, Arc::new(json.finish()), path],
    )?;
    let mut buf = Vec::new();
    {
        let mut writer = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(header)
            .build(&mut buf);
        writer.write(&out)?;
    }
    Ok(buf)
}
