//! `orchard._core`: Orchard's engine as a Python extension module, the
//! compiled half of the `orchard` Python package (`python/`, built by
//! maturin).
//!
//! * [`extract::extract`]: the extraction job of `orchard extract`, its rows
//!   and errors returned as Arrow tables;
//! * [`featurizer::Featurizer`]: photo bytes or paths in an Arrow batch →
//!   features and a per-row error, for Spark's `mapInArrow`, pandas UDFs and
//!   Ray Data;
//! * [`classify::Classifier`]: a classifier bundle answering as
//!   `orchard identify`.
//!
//! Arrow data crosses the boundary through the Arrow C stream / PyCapsule
//! interface (`pyo3-arrow`), without copies. Nothing starts at import: no
//! threads, no async runtime, no ONNX Runtime session. Models, runtimes and
//! store clients are made on first use and belong to the process that made
//! them ([`process`]): after a `fork` the child makes its own.

mod classify;
mod errors;
mod extract;
mod featurizer;
mod interrupt;
mod listing;
mod output;
mod process;
mod reads;
mod storage;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<featurizer::Featurizer>()?;
    m.add_class::<classify::Classifier>()?;
    m.add_function(wrap_pyfunction!(extract::extract, m)?)?;
    m.add_function(wrap_pyfunction!(listing::list_photos, m)?)?;
    m.add_function(wrap_pyfunction!(process::onnxruntime_library, m)?)?;
    errors::register(m)?;
    Ok(())
}
