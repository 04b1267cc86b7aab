//! Python exceptions for Orchard's typed errors: `OrchardError` and, below
//! it, `UsageError` (something the caller can fix: arguments, a missing
//! model, an output that is not empty), `StorageError` and `ModelError`.
//! Messages carry the whole chain of causes, as the CLI prints them.

use pyo3::create_exception;
use pyo3::prelude::*;

create_exception!(
    _core,
    OrchardError,
    pyo3::exceptions::PyException,
    "Any error of Orchard's engine."
);
create_exception!(
    _core,
    UsageError,
    OrchardError,
    "The job cannot run as asked (arguments, input, output folder); the message says what to change."
);
create_exception!(
    _core,
    StorageError,
    OrchardError,
    "A store (local folder, S3, GCS, Azure) could not be read or written."
);
create_exception!(
    _core,
    ModelError,
    OrchardError,
    "The feature model could not be found, verified or loaded."
);

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("OrchardError", py.get_type::<OrchardError>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    Ok(())
}

/// `e` and its sources, each once.
pub use orchard_model::error_chain as chain;

/// The engine's error as a Python exception, with what to pass instead
/// where the Python API has the answer (the engine names no arguments).
pub fn engine(e: orchard_engine::EngineError) -> PyErr {
    use orchard_engine::EngineError;
    let hint = match &e {
        EngineError::OutputNotEmpty { .. } => {
            "; choose another dst, or pass overwrite=True (or resume=True to finish an interrupted run)"
        }
        EngineError::RefitWithoutFeatures { .. } => {
            "; rebuild the output with keep_features=True, overwrite=True"
        }
        EngineError::ResumeOtherJob { .. } => {
            "; resume it with the same arguments, or pass overwrite=True"
        }
        _ => "",
    };
    let message = format!("{}{hint}", chain(&e));
    match &e {
        EngineError::Model(_) => ModelError::new_err(message),
        EngineError::Store(_) => StorageError::new_err(message),
        EngineError::Source(orchard_source::SourceError::Store { .. }) => {
            StorageError::new_err(message)
        }
        _ if e.is_user_error() => UsageError::new_err(message),
        _ => OrchardError::new_err(message),
    }
}

/// A model problem as `ModelError`.
pub fn model(e: orchard_model::ModelError) -> PyErr {
    ModelError::new_err(chain(&e))
}

/// A source (location, listing) problem: `StorageError` for a store's
/// failure, `UsageError` otherwise.
pub fn source(e: orchard_source::SourceError) -> PyErr {
    match &e {
        orchard_source::SourceError::Store { .. } => StorageError::new_err(chain(&e)),
        _ => UsageError::new_err(chain(&e)),
    }
}

/// An Arrow problem in data the caller passed.
pub fn arrow(e: datafusion::arrow::error::ArrowError) -> PyErr {
    OrchardError::new_err(format!("Arrow: {e}"))
}
