//! The write stage: earlier rows (incremental runs), the projection of new
//! rows into part files, the rewrite of superseded parts, the commit, and the
//! metadata with `_SUCCESS` last.

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use orchard_pca::PcaModel;
use orchard_source::{LabelIndex, Location};

use crate::incremental::{self, CommittedFile, Prior};
use crate::job::options::WriteOptions;
use crate::job::queries::{self, not_in, part_files, parts_holding};
use crate::labels_udf::LabelIndexUdf;
use crate::output::{self, LABELS, PCA_DIR, PCA_MODEL, RUN, SUCCESS, TEMPORARY};
use crate::pca_udf::PcaProjectUdf;
use crate::photos::PhotoRef;
use crate::report::RunReport;
use crate::sink::PartFormat;
use crate::write_parts::{write_parts_plan, WriteTarget};
use crate::{EngineError, Result};

/// Rows per row group of output part files.
const OUTPUT_ROW_GROUP: usize = 8192;

/// The rows an incremental run keeps from earlier runs.
pub(crate) struct EarlierRows {
    /// The valid part files of earlier runs (empty for a new output).
    pub parts: Vec<String>,
    /// Whether the output carries `features` (the existing output's schema
    /// wins over the option, so that all parts agree).
    pub keep_features: bool,
}

/// Registers the earlier rows, less the photos processed again (`changed`),
/// as the table `old`. A refit needs their features.
pub(crate) async fn earlier_rows(
    ctx: &SessionContext,
    out: &Location,
    prior: Option<&Prior>,
    changed: &[String],
    options: &WriteOptions,
    refit: bool,
) -> Result<EarlierRows> {
    let parts = prior.map(|p| p.parts.clone()).unwrap_or_default();
    let has_features = if parts.is_empty() {
        options.keep_features
    } else {
        let old = part_files(ctx, out, &parts)
            .await?
            .filter(not_in(changed))?;
        let has = old.schema().field_with_unqualified_name("features").is_ok();
        ctx.register_table("old", old.into_view())?;
        has
    };
    if refit && !has_features {
        return Err(EngineError::RefitWithoutFeatures {
            url: out.url().to_string(),
        });
    }
    if !parts.is_empty() && has_features != options.keep_features {
        tracing::warn!(
            keep_features = has_features,
            "following the existing output's schema for --keep-features"
        );
    }
    Ok(EarlierRows {
        parts,
        keep_features: has_features,
    })
}

/// What the write stage needs besides the session.
pub(crate) struct Projection<'a> {
    /// The output.
    pub out: &'a Location,
    /// The job writing it.
    pub job_id: &'a str,
    /// The fitted (or saved) model.
    pub pca: Arc<PcaModel>,
    /// The label index.
    pub labels: &'a LabelIndex,
    /// The output's format.
    pub format: PartFormat,
    /// Whether the output is new (no earlier run).
    pub new_output: bool,
    /// Whether PCA was fitted again (every earlier row re-projected).
    pub refit: bool,
}

/// Projects and writes the new rows (`new_rows` featurized), rewrites the
/// earlier part files that change, commits the run (`wanted`, its photos;
/// `sequence`, its number) and deletes what it superseded. Returns the rows
/// the output now holds.
pub(crate) async fn project_and_commit(
    ctx: &SessionContext,
    p: &Projection<'_>,
    earlier: &EarlierRows,
    changed: &[String],
    new_rows: u64,
    wanted: &[PhotoRef],
    sequence: u64,
) -> Result<u64> {
    ctx.register_udf(PcaProjectUdf::new(p.pca.clone()).into_udf());
    ctx.register_udf(LabelIndexUdf::new(p.labels.clone()).into_udf());
    let mut files = Vec::new();
    if p.new_output || new_rows > 0 {
        let sql = queries::output_rows(earlier.keep_features);
        let frame = ctx.sql(&sql).await?;
        let target = output_target(p, p.job_id.to_string(), "output");
        let plan = write_parts_plan(ctx, frame, target).await?;
        let written = plan.run(ctx).await?;
        files.extend(written.files.iter().map(committed));
        let written = written.rows();
        if written != new_rows {
            return Err(EngineError::Internal(format!(
                "wrote {written} rows but {new_rows} photos were featurized"
            )));
        }
    }
    // Earlier part files that must change: all of them after a refit (new
    // projection), otherwise those holding a photo processed again.
    let superseded: Vec<String> = if p.refit {
        earlier.parts.clone()
    } else {
        parts_holding(ctx, p.out, &earlier.parts, changed).await?
    };
    if !superseded.is_empty() {
        let rewrite = if p.refit {
            queries::REPROJECT_OLD.to_string()
        } else {
            let kept = part_files(ctx, p.out, &superseded)
                .await?
                .filter(not_in(changed))?;
            ctx.register_table("superseded", kept.into_view())?;
            "SELECT * FROM superseded".to_string()
        };
        let frame = ctx.sql(&rewrite).await?;
        let rewrite_id = format!("{}-rw", p.job_id);
        let target = output_target(p, rewrite_id, "rewrite");
        let plan = write_parts_plan(ctx, frame, target).await?;
        files.extend(plan.run(ctx).await?.files.iter().map(committed));
    }
    let succeeded = if earlier.parts.is_empty() {
        new_rows
    } else {
        new_rows + queries::count(ctx, "SELECT COUNT(*) FROM old").await?
    };
    // The commit record makes the new part files valid and the superseded
    // ones obsolete; then they go.
    incremental::commit(p.out, p.job_id, sequence, wanted, superseded.clone(), files).await?;
    incremental::delete_superseded(p.out, &superseded).await?;
    Ok(succeeded)
}

/// A written file as the commit record lists it.
fn committed((name, rows): &(String, u64)) -> CommittedFile {
    CommittedFile {
        name: name.rsplit('/').next().unwrap_or(name).to_string(),
        rows: *rows,
    }
}

/// Part files of write `id` at the output's root, staged in
/// `_temporary/<job>/<staging>`.
fn output_target<'a>(p: &Projection<'a>, id: String, staging: &str) -> WriteTarget<'a> {
    WriteTarget {
        out: p.out,
        dir: String::new(),
        staging: format!("{TEMPORARY}/{}/{staging}", p.job_id),
        format: p.format,
        job_id: id,
        row_group_rows: OUTPUT_ROW_GROUP,
    }
}

/// Writes the metadata (`_labels.json`, the PCA model unless it is the saved
/// one, `_run.json`), clears `_temporary/`, and, unless more inputs failed
/// than `max_error_rate` allows, writes `_SUCCESS` last.
pub(crate) async fn finish(
    out: &Location,
    labels: &LabelIndex,
    pca: Option<&PcaModel>,
    report: &RunReport,
    max_error_rate: Option<f64>,
) -> Result<()> {
    output::put_file(out, LABELS, labels.to_json().into_bytes()).await?;
    if let Some(pca) = pca {
        let path = format!("{PCA_DIR}/{PCA_MODEL}");
        output::put_file(out, &path, pca.to_json()?.into_bytes()).await?;
    }
    output::delete_prefix(out, TEMPORARY).await?;
    let mut json = serde_json::to_vec_pretty(report)
        .map_err(|e| EngineError::Internal(format!("cannot write {RUN}: {e}")))?;
    json.push(b'\n');
    output::put_file(out, RUN, json).await?;
    let (failed, listed) = (report.counts.failed, report.counts.listed);
    if let Some(max) = max_error_rate {
        let rate = if listed == 0 {
            0.0
        } else {
            failed as f64 / listed as f64
        };
        if rate > max {
            return Err(EngineError::ErrorRate {
                failed,
                listed,
                rate: 100.0 * rate,
                max: 100.0 * max,
            });
        }
    }
    output::put_file(out, SUCCESS, Vec::new()).await?;
    Ok(())
}
