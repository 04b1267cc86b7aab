//! Reading an extraction output back as Arrow: its part files (every
//! non-hidden `*.parquet`, in sorted order, as `orchard transform` and
//! Spark read them) and `_errors.parquet`.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use object_store::ObjectStoreExt;
use orchard_source::{Location, StorageOptions};

use crate::errors::{self, OrchardError};
use pyo3::PyResult;

/// An output's rows and errors.
pub struct OutputTable {
    /// The part files' schema.
    pub schema: SchemaRef,
    /// Their rows, file by file.
    pub rows: Vec<RecordBatch>,
    /// `_errors.parquet`'s rows (none when it is absent).
    pub errors: Vec<RecordBatch>,
}

/// Reads the output at `location`.
pub async fn read(location: &str, storage: &StorageOptions) -> PyResult<OutputTable> {
    let loc = Location::parse_with(location, storage).map_err(errors::source)?;
    let files = orchard_engine::part_file_urls(&loc, "parquet")
        .await
        .map_err(errors::engine)?;
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        OrchardError::new_err(format!("cannot read {what} of the output {location}: {e}"))
    };
    let (schema, rows) = if files.is_empty() {
        (Arc::new(Schema::empty()), Vec::new())
    } else {
        // One partition: the rows keep the files' order.
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
        ctx.register_object_store(&loc.store_url(), loc.store().clone());
        let df = ctx
            .read_parquet(files, ParquetReadOptions::default())
            .await
            .map_err(|e| failed("the part files", &e))?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let rows = df
            .collect()
            .await
            .map_err(|e| failed("the part files", &e))?;
        (schema, rows)
    };
    let errors = match loc.store().get(&loc.child("_errors.parquet")).await {
        Ok(got) => {
            let bytes = got
                .bytes()
                .await
                .map_err(|e| failed("_errors.parquet", &e))?;
            ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.build())
                .map_err(|e| failed("_errors.parquet", &e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| failed("_errors.parquet", &e))?
        }
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(failed("_errors.parquet", &e)),
    };
    Ok(OutputTable {
        schema,
        rows,
        errors,
    })
}
