//! Storage options from Python: the `**storage` keyword arguments, passed
//! down as JSON with `StorageOptions`' field names (the Python side checks
//! the names).

use orchard_source::StorageOptions;
use pyo3::PyResult;

use crate::errors::UsageError;

/// `json` (an object of `StorageOptions` fields) over the defaults; `None`
/// gives the defaults (the environment still applies: `AWS_REGION`,
/// `AWS_ENDPOINT_URL`, …).
pub fn parse(json: Option<&str>) -> PyResult<StorageOptions> {
    match json {
        None => Ok(StorageOptions::default()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            UsageError::new_err(format!(
                "invalid storage options {text}: {e} (region, endpoint, allowed_regions, anonymous, \
                 request_timeout_secs, connect_timeout_secs, max_retries, retry_timeout_secs)"
            ))
        }),
    }
}
