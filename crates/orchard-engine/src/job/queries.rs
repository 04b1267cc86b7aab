//! The SQL the stages run over the spill (`spill`: path, label, read_error,
//! result) and earlier output rows (`old`), and small helpers to run it.

use std::collections::HashSet;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{col, lit, Expr, ParquetReadOptions, SessionContext};
use orchard_pca::PcaStats;
use orchard_source::Location;

use crate::{EngineError, Result};

/// The featurisation of photos: one spill row per photo of a chunk.
pub(crate) const FEATURIZE_CHUNK: &str =
    "SELECT path, label, read_error, featurize(content) AS result FROM photos";

/// Rows of the spill that were featurized.
pub(crate) const FEATURIZED: &str = "get_field(result, 'features') IS NOT NULL";

/// The stage a failed spill row failed in (`read` when the object could not
/// be read).
const FAILED_STAGE: &str = "CASE WHEN read_error IS NOT NULL THEN 'read' \
     ELSE COALESCE(get_field(result, 'stage'), 'unknown') END";

/// Failed spill rows as `_errors.parquet` rows (path, stage, message).
pub(crate) fn failed_rows() -> String {
    format!(
        "SELECT path, {FAILED_STAGE} AS stage, \
         COALESCE(read_error, get_field(result, 'message'), 'unknown error') AS message \
         FROM spill WHERE get_field(result, 'features') IS NULL"
    )
}

/// Failed spill rows counted by stage.
pub(crate) fn failures_by_stage() -> String {
    format!(
        "SELECT {FAILED_STAGE} AS stage, COUNT(*) AS n \
         FROM spill WHERE get_field(result, 'features') IS NULL GROUP BY 1"
    )
}

/// The feature vectors PCA is fitted on, as `f`: the spill's, and with
/// `with_old` the earlier rows' too.
pub(crate) fn fit_features(with_old: bool) -> String {
    let spill = format!("SELECT get_field(result, 'features') AS f FROM spill WHERE {FEATURIZED}");
    if with_old {
        format!("{spill} UNION ALL SELECT features AS f FROM old")
    } else {
        spill
    }
}

/// The output rows of the spill; with `keep_features` the features too.
pub(crate) fn output_rows(keep_features: bool) -> String {
    let extra = if keep_features {
        ", get_field(result, 'features') AS features"
    } else {
        ""
    };
    format!(
        "SELECT path, label, label_index(label) AS label_index, \
         pca_project(get_field(result, 'features')) AS pca{extra} \
         FROM spill WHERE {FEATURIZED}"
    )
}

/// Earlier rows re-projected with a new PCA model (after a refit).
pub(crate) const REPROJECT_OLD: &str = "SELECT path, label, label_index(label) AS label_index, \
     pca_project(features) AS pca, features FROM old";

/// The single count a `SELECT COUNT(*) …` query returns.
pub(crate) async fn count(ctx: &SessionContext, sql: &str) -> Result<u64> {
    let batches = ctx.sql(sql).await?.collect().await?;
    Ok(batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| b.column(0).as_primitive::<Int64Type>().value(0) as u64)
        .unwrap_or(0))
}

/// Featurized spill rows.
pub(crate) async fn featurized_count(ctx: &SessionContext) -> Result<u64> {
    count(
        ctx,
        &format!("SELECT COUNT(*) FROM spill WHERE {FEATURIZED}"),
    )
    .await
}

/// Merged PCA statistics of the vectors `f` a query returns.
pub(crate) async fn pca_stats(ctx: &SessionContext, features_sql: &str) -> Result<PcaStats> {
    let batches = ctx
        .sql(&format!(
            "SELECT pca_stats(f) AS stats FROM ({features_sql})"
        ))
        .await?
        .collect()
        .await?;
    let bytes = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_binary_opt::<i32>()
                .map(|a| a.value(0).to_vec())
        })
        .ok_or_else(|| EngineError::Internal("PCA statistics query returned nothing".into()))?;
    Ok(PcaStats::from_bytes(&bytes)?)
}

/// Paths already featurized in the spill at `url` (completed chunks).
pub(crate) async fn featurized_paths(ctx: &SessionContext, url: &str) -> Result<HashSet<String>> {
    let batches = ctx
        .read_parquet(url, ParquetReadOptions::default())
        .await?
        .select_columns(&["path"])?
        .collect()
        .await?;
    let mut paths = HashSet::new();
    for batch in &batches {
        let column = batch.column(0).as_string::<i32>();
        paths.extend(column.iter().flatten().map(str::to_string));
    }
    Ok(paths)
}

/// The part files `relative` (names under `out`) as one data frame.
pub(crate) async fn part_files(
    ctx: &SessionContext,
    out: &Location,
    relative: &[String],
) -> Result<DataFrame> {
    let urls: Vec<String> = relative
        .iter()
        .map(|rel| out.key_url(&out.child(rel)))
        .collect();
    Ok(ctx
        .read_parquet(urls, ParquetReadOptions::default())
        .await?)
}

/// `path NOT IN (paths)`, or `true` for no paths.
pub(crate) fn not_in(paths: &[String]) -> Expr {
    if paths.is_empty() {
        lit(true)
    } else {
        col("path").in_list(paths.iter().map(|p| lit(p.as_str())).collect(), true)
    }
}

/// Which of the part files `relative` hold one of `paths`.
pub(crate) async fn parts_holding(
    ctx: &SessionContext,
    out: &Location,
    relative: &[String],
    paths: &[String],
) -> Result<Vec<String>> {
    let mut holding = Vec::new();
    if paths.is_empty() {
        return Ok(holding);
    }
    for rel in relative {
        let hits = part_files(ctx, out, std::slice::from_ref(rel))
            .await?
            .filter(std::ops::Not::not(not_in(paths)))?
            .count()
            .await?;
        if hits > 0 {
            holding.push(rel.clone());
        }
    }
    Ok(holding)
}
