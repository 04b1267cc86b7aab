//! `orchard.list_photos`: the photos `extract` would read under a folder or
//! prefix (sorted, `_`/`.`-prefixed names skipped, labelled by their parent
//! folder) as an Arrow table, so that a Spark or Ray job can featurize them
//! by path without a Hadoop S3 connector.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use orchard_source::{list_photos as list, Location, PhotoGlob};
use pyo3::prelude::*;
use pyo3_arrow::PyTable;

use crate::errors::{self, OrchardError};

/// `(path, label, size)` of every photo under `location` matching `glob`.
#[pyfunction]
#[pyo3(signature = (location, glob = "*.jpg,*.jpeg,*.png,*.webp", storage = None))]
pub fn list_photos<'py>(
    py: Python<'py>,
    location: &str,
    glob: &str,
    storage: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let storage = crate::storage::parse(storage)?;
    let glob = PhotoGlob::new(glob).map_err(errors::source)?;
    let listing = py.detach(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OrchardError::new_err(format!("cannot start an async runtime: {e}")))?;
        let location = Location::parse_with(location, &storage).map_err(errors::source)?;
        runtime
            .block_on(list(&location, &glob))
            .map_err(errors::source)
    })?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, true),
        Field::new("size", DataType::UInt64, false),
    ]));
    let photos = &listing.photos;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            photos.iter().map(|p| p.path.as_str()),
        )),
        Arc::new(StringArray::from_iter(
            photos.iter().map(|p| p.label.as_deref()),
        )),
        Arc::new(UInt64Array::from_iter_values(photos.iter().map(|p| p.size))),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(errors::arrow)?;
    PyTable::try_new(vec![batch], schema)?.into_pyarrow(py)
}
