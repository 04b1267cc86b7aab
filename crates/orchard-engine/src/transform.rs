//! `orchard transform`: project features with a saved PCA model, no refit.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{cast, col, Expr, ParquetReadOptions};
use orchard_pca::PcaModel;
use orchard_source::{list_photos, Location, PhotoGlob, StorageOptions};

use crate::job::OutputFormat;
use crate::output::{self, LABELS, PCA_DIR, PCA_MODEL, SUCCESS};
use crate::pca_udf::PcaProjectUdf;
use crate::residency::check_residency;
use crate::runner::embedded_session;
use crate::schema::{vector_type, FEATURES, LABEL, LABEL_INDEX, PATH, PCA};
use crate::sink::PartFormat;
use crate::write_parts::{write_parts_plan, WriteTarget};
use crate::{EngineError, Result};

/// What `orchard transform` needs.
#[derive(Debug, Clone)]
pub struct TransformOptions {
    /// A Parquet file or folder of Parquet files with a `features` column
    /// (e.g. an output written with `--keep-features`).
    pub features: String,
    /// Where the projected result goes.
    pub output: String,
    /// A previous output folder (holding `_pca/model.json`), the `_pca` folder
    /// itself, or the `model.json` file.
    pub pca: String,
    /// Output format.
    pub format: OutputFormat,
    /// Replace a non-empty output.
    pub overwrite: bool,
    /// Parallel partitions (0 = number of cores).
    pub partitions: usize,
    /// How remote stores are reached.
    pub storage: StorageOptions,
}

/// Loads a saved PCA model from an output folder, a `_pca` folder or the file.
pub async fn load_pca(
    location: &str,
    storage: &StorageOptions,
) -> Result<(PcaModel, Option<Vec<u8>>)> {
    if location.ends_with(".json") && std::path::Path::new(location).is_file() {
        let json = std::fs::read_to_string(location)
            .map_err(|e| EngineError::io(format!("cannot read {location}"), e))?;
        return Ok((PcaModel::from_json(&json)?, None));
    }
    let loc = Location::parse_with(location, storage)?;
    for candidate in [format!("{PCA_DIR}/{PCA_MODEL}"), PCA_MODEL.to_string()] {
        if let Ok(bytes) = output::get_file(&loc, &candidate).await {
            let json = String::from_utf8_lossy(&bytes);
            let labels = output::get_file(&loc, LABELS)
                .await
                .ok()
                .map(|b| b.to_vec());
            return Ok((PcaModel::from_json(&json)?, labels));
        }
    }
    Err(EngineError::NotAnOutput {
        url: location.to_string(),
        missing: crate::error::OutputPart::PcaModel,
    })
}

/// Projects the features at `options.features` with the saved model and
/// writes an output like `extract`'s; returns the number of rows.
pub async fn transform(options: &TransformOptions) -> Result<u64> {
    let (model, labels) = load_pca(&options.pca, &options.storage).await?;
    let out = Location::parse_with(&options.output, &options.storage)?;
    out.ensure_writable()?;
    let features = Location::parse_with(&options.features, &options.storage).ok();
    let mut checked = vec![&out];
    checked.extend(features.as_ref());
    check_residency(&checked).await?;
    output::prepare_output(&out, options.overwrite).await?;

    let ctx = embedded_session(options.partitions);
    let files = parquet_files(&options.features, &options.storage).await?;
    if let Some(loc) = &features {
        ctx.register_object_store(&loc.store_url(), loc.store().clone());
    }
    ctx.register_object_store(&out.store_url(), out.store().clone());
    let df = ctx
        .read_parquet(files, ParquetReadOptions::default())
        .await?;
    let schema = df.schema().clone();
    let has = |c: &str| schema.field_with_unqualified_name(c).is_ok();
    let feature_type = schema
        .field_with_unqualified_name(FEATURES)
        .map_err(|_| EngineError::NoFeatures {
            url: options.features.clone(),
        })?
        .data_type()
        .clone();
    if !matches!(
        feature_type,
        DataType::FixedSizeList(..) | DataType::List(_) | DataType::LargeList(_)
    ) {
        return Err(EngineError::Column {
            url: options.features.clone(),
            column: FEATURES.to_string(),
            expected: "a list of floats",
            found: feature_type.to_string(),
        });
    }
    if options.format == OutputFormat::Csv {
        if let Some(column) = [PATH, LABEL_INDEX].into_iter().find(|c| !has(c)) {
            return Err(EngineError::Column {
                url: options.features.clone(),
                column: column.to_string(),
                expected: "present for CSV output",
                found: "missing".into(),
            });
        }
    }
    let project = PcaProjectUdf::new(Arc::new(model.clone())).into_udf();
    let mut columns: Vec<Expr> = [PATH, LABEL, LABEL_INDEX]
        .into_iter()
        .filter(|c| has(c))
        .map(col)
        .collect();
    columns.push(
        project
            .call(vec![cast(col(FEATURES), vector_type(model.dim()))])
            .alias(PCA),
    );
    let frame = df.select(columns)?;
    let format = PartFormat::from(options.format);
    let job_id = uuid::Uuid::new_v4().to_string();
    let target = WriteTarget {
        out: &out,
        dir: String::new(),
        staging: format!("{}/{job_id}/output", crate::output::TEMPORARY),
        format,
        job_id: job_id.clone(),
        row_group_rows: 8192,
    };
    let plan = write_parts_plan(&ctx, frame, target).await?;
    let rows = plan.run(&ctx).await?.rows();
    output::put_file(
        &out,
        &format!("{PCA_DIR}/{PCA_MODEL}"),
        model.to_json()?.into_bytes(),
    )
    .await?;
    if let Some(labels) = labels {
        output::put_file(&out, LABELS, labels).await?;
    }
    output::put_file(&out, SUCCESS, Vec::new()).await?;
    Ok(rows)
}

/// The Parquet data files of a dataset: the file itself, or every
/// non-hidden `*.parquet` under a folder (so `_errors.parquet` is skipped).
pub(crate) async fn parquet_files(location: &str, storage: &StorageOptions) -> Result<Vec<String>> {
    data_files(location, storage, "parquet").await
}

/// URLs of the data files (`*.<extension>`, not `_`/`.`-prefixed, so not
/// `_errors.parquet`) under an output folder, in key order, as `transform`
/// and Spark read them; empty when there are none.
pub async fn part_file_urls(loc: &Location, extension: &str) -> Result<Vec<String>> {
    let listing = list_photos(loc, &PhotoGlob::new(&format!("*.{extension}"))?).await?;
    Ok(listing.photos.iter().map(|p| loc.key_url(&p.key)).collect())
}

/// The data files (`*.<extension>`, not `_`/`.`-prefixed) of an output, or
/// `location` itself when it is one file; an error when there are none.
pub(crate) async fn data_files(
    location: &str,
    storage: &StorageOptions,
    extension: &str,
) -> Result<Vec<String>> {
    let path = std::path::Path::new(location);
    if path.is_file() {
        let abs = std::path::absolute(path).map_err(|e| EngineError::io(location, e))?;
        return Ok(vec![abs.display().to_string()]);
    }
    let loc = Location::parse_with(location, storage)?;
    let files = part_file_urls(&loc, extension).await?;
    if files.is_empty() {
        return Err(EngineError::NoFiles {
            url: location.to_string(),
            extension: extension.to_string(),
        });
    }
    Ok(files)
}
