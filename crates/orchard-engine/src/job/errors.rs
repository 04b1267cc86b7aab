//! The errors stage: every input that did not become a row, with its stage
//! and reason → `_errors.parquet` (listing problems, failed spill rows, and
//! an incremental run's earlier errors that still hold).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use orchard_source::{ListingProblem, Location};

use crate::job::queries;
use crate::output::{self, ERRORS};
use crate::schema::errors_schema;
use crate::{EngineError, Result};

/// What the errors stage counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Failures {
    /// Rows of `_errors.parquet`.
    pub total: u64,
    /// This run's failures by stage (`list`, `read`, `decode`, …).
    pub by_stage: BTreeMap<String, u64>,
}

/// Writes `_errors.parquet`: the listing's `problems`, the spill's failed
/// rows, and (`incremental`) the earlier errors of photos not processed again
/// (`again`).
pub(crate) async fn write_errors(
    ctx: &SessionContext,
    out: &Location,
    problems: &[ListingProblem],
    incremental: bool,
    again: &HashSet<&str>,
) -> Result<Failures> {
    let failed_rows = ctx.sql(&queries::failed_rows()).await?;
    let listing = listing_problem_batch(problems)?;
    let this_run = futures::stream::iter(listing.map(Ok::<_, EngineError>)).chain(
        failed_rows
            .execute_stream()
            .await?
            .map(|b| b.map_err(EngineError::from)),
    );
    // Earlier runs' errors stay, except for what was processed again (and
    // listing problems, which the new listing reports afresh).
    let earlier = if incremental {
        earlier_errors(out, again).await?
    } else {
        Vec::new()
    };
    let all = futures::stream::iter(earlier.into_iter().map(Ok)).chain(this_run);
    let total = output::write_errors(out, Box::pin(all)).await?;
    let by_stage = failures_by_stage(ctx, problems.len() as u64).await?;
    Ok(Failures { total, by_stage })
}

/// Listing problems as `_errors.parquet` rows (stage `list`).
fn listing_problem_batch(problems: &[ListingProblem]) -> Result<Option<RecordBatch>> {
    if problems.is_empty() {
        return Ok(None);
    }
    let path = StringArray::from_iter_values(problems.iter().map(|p| p.path.as_str()));
    let stage = StringArray::from_iter_values(problems.iter().map(|_| "list"));
    let message = StringArray::from_iter_values(problems.iter().map(|p| p.reason.as_str()));
    Ok(Some(RecordBatch::try_new(
        errors_schema(),
        vec![Arc::new(path), Arc::new(stage), Arc::new(message)],
    )?))
}

/// The rows of the existing `_errors.parquet` to keep: not listing problems
/// (listed afresh) and not photos processed again.
async fn earlier_errors(out: &Location, again: &HashSet<&str>) -> Result<Vec<RecordBatch>> {
    let bytes = match output::get_file(out, ERRORS).await {
        Ok(bytes) => bytes,
        Err(EngineError::Store(object_store::Error::NotFound { .. })) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    let mut kept = Vec::new();
    for batch in reader {
        let batch = batch?;
        let path = batch.column(0).as_string::<i32>();
        let stage = batch.column(1).as_string::<i32>();
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|i| Some(stage.value(i) != "list" && !again.contains(path.value(i))))
            .collect();
        let batch = RecordBatch::try_new(errors_schema(), batch.columns().to_vec())?;
        kept.push(datafusion::arrow::compute::filter_record_batch(
            &batch, &keep,
        )?);
    }
    Ok(kept)
}

/// This run's failures by stage: listing problems, then the spill's.
async fn failures_by_stage(
    ctx: &SessionContext,
    listing_problems: u64,
) -> Result<BTreeMap<String, u64>> {
    let batches = ctx
        .sql(&queries::failures_by_stage())
        .await?
        .collect()
        .await?;
    let mut out = BTreeMap::new();
    if listing_problems > 0 {
        out.insert("list".to_string(), listing_problems);
    }
    for batch in &batches {
        let stages = batch.column(0).as_string::<i32>();
        let counts = batch.column(1).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            if stages.is_valid(row) {
                *out.entry(stages.value(row).to_string()).or_insert(0) += counts.value(row) as u64;
            }
        }
    }
    Ok(out)
}
