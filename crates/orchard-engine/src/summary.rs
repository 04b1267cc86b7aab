//! What a finished output holds, summarised for `orchard report`: its
//! `_run.json`, its errors grouped by stage and reason, rows per label and a
//! sample of the first two PCA components. Reads only the output.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Float32Type, Int32Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::{col, CsvReadOptions, ParquetReadOptions, SessionContext};
use futures::StreamExt;
use orchard_source::{LabelIndex, Location, StorageOptions};

use crate::output::{self, ERRORS, LABELS, RUN, SUCCESS};
use crate::report::RunReport;
use crate::schema::{ERROR_MESSAGE, ERROR_STAGE, LABEL, LABEL_INDEX, PATH, PCA};
use crate::{EngineError, Result};

/// How much of the output a summary keeps.
#[derive(Debug, Clone, Copy)]
pub struct SummaryOptions {
    /// Points of the PCA scatter at most (evenly sampled over the rows).
    pub max_points: usize,
    /// Error rows listed with their paths at most (all are counted).
    pub max_error_rows: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            max_points: 2_000,
            max_error_rows: 200,
        }
    }
}

/// One input that is not in the output.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRow {
    /// The photo (or listing entry).
    pub path: String,
    /// The stage that failed (`list`, `read`, `decode`, `resize`, `inference`).
    pub stage: String,
    /// Why.
    pub message: String,
}

/// Errors of one stage with the same reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorGroup {
    /// The stage.
    pub stage: String,
    /// The reason (the message with the photo's path taken out).
    pub reason: String,
    /// How many inputs.
    pub count: u64,
}

/// One sampled row of the output: its label and first two PCA components.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterPoint {
    /// The row's label (`None` for photos directly under the input).
    pub label: Option<String>,
    /// First component.
    pub x: f32,
    /// Second component.
    pub y: f32,
}

/// What [`summarize`] found.
#[derive(Debug, Clone)]
pub struct OutputSummary {
    /// The output's URL.
    pub location: String,
    /// Its `_run.json`.
    pub run: RunReport,
    /// Whether `_SUCCESS` is there.
    pub complete: bool,
    /// Every error, grouped by stage and reason, most frequent first.
    pub error_groups: Vec<ErrorGroup>,
    /// The first errors with their paths (up to `max_error_rows`).
    pub errors: Vec<ErrorRow>,
    /// Rows of `_errors.parquet`.
    pub errors_total: u64,
    /// Rows per label (`None`: no label).
    pub rows_per_label: BTreeMap<Option<String>, u64>,
    /// Rows read.
    pub rows: u64,
    /// The scatter sample (every `rows / max_points`-th row, in file order).
    pub scatter: Vec<ScatterPoint>,
}

/// Reads the output at `location` and summarises it.
pub async fn summarize(
    location: &str,
    storage: &StorageOptions,
    options: SummaryOptions,
) -> Result<OutputSummary> {
    let loc = Location::parse_with(location, storage)?;
    let run_bytes = output::get_file(&loc, RUN)
        .await
        .map_err(|_| EngineError::NotAnOutput {
            url: location.to_string(),
            missing: crate::error::OutputPart::RunReport,
        })?;
    let run: RunReport =
        serde_json::from_slice(&run_bytes).map_err(|source| EngineError::Json {
            context: format!("{}: not a run report", loc.display_relative(RUN)),
            source,
        })?;
    let complete = output::get_file(&loc, SUCCESS).await.is_ok();
    let ctx = crate::runner::embedded_session(1);
    ctx.register_object_store(&loc.store_url(), loc.store().clone());

    let (errors, error_groups, errors_total) = read_errors(&loc, options).await?;
    let rows = if run.format == "csv" {
        let labels = output::get_file(&loc, LABELS).await?;
        let labels = LabelIndex::from_json(&labels, &loc.display_relative(LABELS))?;
        read_csv_rows(&ctx, location, storage, &labels, sample_step(&run, options)).await?
    } else {
        read_parquet_rows(&ctx, location, storage, sample_step(&run, options)).await?
    };
    Ok(OutputSummary {
        location: loc.url().to_string(),
        run,
        complete,
        error_groups,
        errors,
        errors_total,
        rows_per_label: rows.per_label,
        rows: rows.total,
        scatter: rows.sample,
    })
}

/// Every `step`-th row is drawn.
fn sample_step(run: &RunReport, options: SummaryOptions) -> u64 {
    let rows = run.counts.succeeded.max(1);
    rows.div_ceil(options.max_points.max(1) as u64).max(1)
}

async fn read_errors(
    loc: &Location,
    options: SummaryOptions,
) -> Result<(Vec<ErrorRow>, Vec<ErrorGroup>, u64)> {
    let bytes = match output::get_file(loc, ERRORS).await {
        Ok(bytes) => bytes,
        Err(EngineError::Store(object_store::Error::NotFound { .. })) => {
            return Ok((Vec::new(), Vec::new(), 0))
        }
        Err(e) => return Err(e),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    let mut rows = Vec::new();
    let mut groups: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut total = 0u64;
    for batch in reader {
        let batch = batch?;
        let text = |name: &str| -> Result<StringArray> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>().cloned())
                .ok_or_else(|| EngineError::Column {
                    url: loc.display_relative(ERRORS),
                    column: name.to_string(),
                    expected: "text",
                    found: batch
                        .column_by_name(name)
                        .map_or("missing".into(), |c| c.data_type().to_string()),
                })
        };
        let (paths, stages, messages) = (text(PATH)?, text(ERROR_STAGE)?, text(ERROR_MESSAGE)?);
        for i in 0..batch.num_rows() {
            total += 1;
            let path = paths.value(i);
            let reason = reason_of(messages.value(i), path);
            *groups
                .entry((stages.value(i).to_string(), reason))
                .or_default() += 1;
            if rows.len() < options.max_error_rows {
                rows.push(ErrorRow {
                    path: path.to_string(),
                    stage: stages.value(i).to_string(),
                    message: messages.value(i).to_string(),
                });
            }
        }
    }
    let mut groups: Vec<ErrorGroup> = groups
        .into_iter()
        .map(|((stage, reason), count)| ErrorGroup {
            stage,
            reason,
            count,
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.stage.cmp(&b.stage)));
    Ok((rows, groups, total))
}

/// The message without the photo's path (so that one reason groups many
/// photos), shortened to a line.
fn reason_of(message: &str, path: &str) -> String {
    let mut reason = message.replace(path, "…");
    if let Some(name) = path.rsplit('/').next().filter(|n| !n.is_empty()) {
        reason = reason.replace(name, "…");
    }
    let reason = reason
        .trim()
        .trim_start_matches(['…', ':', ' '])
        .to_string();
    match reason.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason,
    }
}

/// Rows per label and the scatter sample, from one pass over the rows.
#[derive(Default)]
struct Rows {
    per_label: BTreeMap<Option<String>, u64>,
    total: u64,
    sample: Vec<ScatterPoint>,
    step: u64,
}

impl Rows {
    fn new(step: u64) -> Self {
        Rows {
            step,
            ..Default::default()
        }
    }

    fn add(&mut self, label: Option<&str>, pc: impl FnOnce() -> Option<(f32, f32)>) {
        *self.per_label.entry(label.map(str::to_string)).or_default() += 1;
        if self.total.is_multiple_of(self.step) {
            if let Some((x, y)) = pc() {
                self.sample.push(ScatterPoint {
                    label: label.map(str::to_string),
                    x,
                    y,
                });
            }
        }
        self.total += 1;
    }
}

async fn read_parquet_rows(
    ctx: &SessionContext,
    location: &str,
    storage: &StorageOptions,
    step: u64,
) -> Result<Rows> {
    let files = crate::transform::data_files(location, storage, "parquet").await?;
    let df = ctx
        .read_parquet(files, ParquetReadOptions::default())
        .await?
        .select(vec![col(LABEL), col(PCA)])?;
    let mut rows = Rows::new(step);
    let mut stream = df.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let labels = batch.column(0).as_string::<i32>().clone();
        let pca = batch.column(1).clone();
        for i in 0..batch.num_rows() {
            let label = labels.is_valid(i).then(|| labels.value(i));
            rows.add(label, || first_two(&pca, i));
        }
    }
    Ok(rows)
}

/// The first two components of row `i` of a list column.
fn first_two(pca: &dyn Array, i: usize) -> Option<(f32, f32)> {
    if pca.is_null(i) {
        return None;
    }
    let values = match pca.data_type() {
        DataType::FixedSizeList(..) => pca.as_fixed_size_list().value(i),
        DataType::List(_) => pca.as_list::<i32>().value(i),
        _ => return None,
    };
    let values = values.as_primitive_opt::<Float32Type>()?;
    (values.len() >= 2).then(|| (values.value(0), values.value(1)))
}

async fn read_csv_rows(
    ctx: &SessionContext,
    location: &str,
    storage: &StorageOptions,
    labels: &LabelIndex,
    step: u64,
) -> Result<Rows> {
    let by_index: BTreeMap<i32, &str> = labels.entries().into_iter().map(|(l, i)| (i, l)).collect();
    let files = crate::transform::data_files(location, storage, "csv").await?;
    let schema = datafusion::arrow::datatypes::Schema::new(vec![
        datafusion::arrow::datatypes::Field::new(LABEL_INDEX, DataType::Int32, true),
        datafusion::arrow::datatypes::Field::new(PCA, DataType::Utf8, true),
        datafusion::arrow::datatypes::Field::new(PATH, DataType::Utf8, true),
    ]);
    let df = ctx
        .read_csv(
            files,
            CsvReadOptions::new().schema(&schema).has_header(true),
        )
        .await?;
    let mut rows = Rows::new(step);
    let mut stream = df.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let index = batch.column(0).as_primitive::<Int32Type>().clone();
        let pca = batch.column(1).as_string::<i32>().clone();
        for i in 0..batch.num_rows() {
            let label = index
                .is_valid(i)
                .then(|| by_index.get(&index.value(i)).copied())
                .flatten();
            rows.add(label, || {
                pca.is_valid(i)
                    .then(|| first_two_of_json(pca.value(i)))
                    .flatten()
            });
        }
    }
    Ok(rows)
}

/// The first two numbers of a JSON array of floats (`[0.5,-1.2,…]`).
fn first_two_of_json(text: &str) -> Option<(f32, f32)> {
    let mut items = text.trim().strip_prefix('[')?.split(',');
    let x = items.next()?.trim().parse().ok()?;
    let y = items.next()?.trim().trim_end_matches(']').parse().ok()?;
    Some((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_group_photos_by_what_went_wrong() {
        let a = reason_of(
            "/in/pear/broken.png: not a JPEG, PNG or WebP",
            "/in/pear/broken.png",
        );
        let b = reason_of(
            "/in/apple/bad.png: not a JPEG, PNG or WebP",
            "/in/apple/bad.png",
        );
        assert_eq!(a, "not a JPEG, PNG or WebP");
        assert_eq!(a, b);
        let long = reason_of(&"x".repeat(500), "/p.jpg");
        assert_eq!(long.chars().count(), 161);
    }

    #[test]
    fn csv_components_are_read_from_the_json_array() {
        assert_eq!(first_two_of_json("[1.5,-2,3]"), Some((1.5, -2.0)));
        assert_eq!(first_two_of_json("[1.5,-2]"), Some((1.5, -2.0)));
        assert_eq!(first_two_of_json("[1.5]"), None);
        assert_eq!(first_two_of_json("nope"), None);
    }

    #[test]
    fn the_sample_takes_every_step_th_row_and_counts_all() {
        let mut rows = Rows::new(3);
        for i in 0..10 {
            let label = if i % 2 == 0 { Some("a") } else { None };
            rows.add(label, || Some((i as f32, 0.0)));
        }
        assert_eq!(rows.total, 10);
        let xs: Vec<f32> = rows.sample.iter().map(|p| p.x).collect();
        assert_eq!(xs, [0.0, 3.0, 6.0, 9.0]);
        assert_eq!(rows.per_label[&Some("a".to_string())], 5);
        assert_eq!(rows.per_label[&None], 5);
    }
}
