//! Reading the feature rows of an extraction output (written with
//! `--keep-features`) back into memory, for training and evaluating a
//! classifier on them.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float32Type};
use datafusion::prelude::{col, ParquetReadOptions};
use orchard_source::{Location, StorageOptions};

use crate::output::{self, RUN, SUCCESS};
use crate::report::RunReport;
use crate::schema::{FEATURES, LABEL, PATH};
use crate::{EngineError, Result};

/// One row of an output: the photo, its label and its features.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    /// The photo's path as extraction recorded it.
    pub path: String,
    /// Its label (`None` for photos directly under the input).
    pub label: Option<String>,
    /// The model's features.
    pub features: Vec<f32>,
}

/// The feature rows of an output and the model that made them.
#[derive(Debug, Clone)]
pub struct FeatureTable {
    /// Rows, in the output's order.
    pub rows: Vec<FeatureRow>,
    /// The model's name and sha256, from `_run.json`.
    pub model: Option<(String, String)>,
}

/// Whether `location` is a finished Orchard output (has `_SUCCESS`).
pub async fn is_output(location: &str, storage: &StorageOptions) -> bool {
    match Location::parse_with(location, storage) {
        Ok(loc) => output::get_file(&loc, SUCCESS).await.is_ok(),
        Err(_) => false,
    }
}

/// Reads every row of the output at `location` that has features.
pub async fn read_features(location: &str, storage: &StorageOptions) -> Result<FeatureTable> {
    let loc = Location::parse_with(location, storage)?;
    let model = match output::get_file(&loc, RUN).await {
        Ok(bytes) => serde_json::from_slice::<RunReport>(&bytes)
            .ok()
            .map(|r| (r.model.name, r.model.sha256)),
        Err(_) => None,
    };
    let files = crate::transform::parquet_files(location, storage).await?;
    let ctx = crate::runner::embedded_session(0);
    ctx.register_object_store(&loc.store_url(), loc.store().clone());
    let df = ctx
        .read_parquet(files, ParquetReadOptions::default())
        .await?;
    if df.schema().field_with_unqualified_name(FEATURES).is_err() {
        return Err(EngineError::NoFeatures {
            url: location.to_string(),
        });
    }
    let batches = df
        .select(vec![col(PATH), col(LABEL), col(FEATURES)])?
        .collect()
        .await?;
    let mut rows = Vec::new();
    for batch in batches {
        let paths = batch.column(0).as_string::<i32>();
        let labels = batch.column(1).as_string::<i32>();
        let features = batch.column(2);
        for i in 0..batch.num_rows() {
            if features.is_null(i) {
                continue;
            }
            let values = match features.data_type() {
                DataType::FixedSizeList(..) => features.as_fixed_size_list().value(i),
                DataType::List(_) => features.as_list::<i32>().value(i),
                other => {
                    return Err(EngineError::Column {
                        url: location.to_string(),
                        column: FEATURES.to_string(),
                        expected: "a list of float32",
                        found: other.to_string(),
                    })
                }
            };
            let values =
                values
                    .as_primitive_opt::<Float32Type>()
                    .ok_or_else(|| EngineError::Column {
                        url: location.to_string(),
                        column: FEATURES.to_string(),
                        expected: "a list of float32",
                        found: format!("a list of {}", values.data_type()),
                    })?;
            rows.push(FeatureRow {
                path: paths.value(i).to_string(),
                label: labels.is_valid(i).then(|| labels.value(i).to_string()),
                features: values.values().to_vec(),
            });
        }
    }
    Ok(FeatureTable { rows, model })
}
