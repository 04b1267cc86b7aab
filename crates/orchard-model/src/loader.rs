//! Loading a model with the backend asked for ([`load`]): the one place that
//! knows every backend.

use std::path::Path;
use std::sync::Arc;

use crate::backend::{effective_lanes, effective_threads, BackendKind, InferenceBackend};
use crate::error::ModelError;
use crate::ort_backend::OrtBackend;
use crate::spec::ModelSpec;
use crate::tract_backend::TractBackend;

/// Loads the model at `path` with the requested backend. `threads` is the number
/// of compute threads (ONNX Runtime intra-op threads, tract worker threads);
/// 0 = all cores. `lanes` is the number of batches ONNX Runtime may run at
/// once, each on `threads / lanes` threads (0 = one lane per thread, the
/// fastest for batch jobs; 1 = one session on every thread, the lowest latency
/// for one image); tract ignores it.
///
/// [`BackendKind::Auto`] picks ONNX Runtime when its library is found and loads,
/// otherwise tract, logging a warning that says why. Each call loads the model
/// anew; use [`cached`](crate::cached) to share one instance per process.
pub fn load(
    path: &Path,
    spec: &ModelSpec,
    kind: BackendKind,
    threads: usize,
    lanes: usize,
) -> Result<Arc<dyn InferenceBackend>, ModelError> {
    let threads = effective_threads(threads);
    let lanes = effective_lanes(lanes, threads);
    match kind {
        BackendKind::Ort => Ok(Arc::new(OrtBackend::load_lanes(
            path, spec, threads, lanes,
        )?)),
        BackendKind::Tract => Ok(Arc::new(TractBackend::load(path, spec, threads)?)),
        BackendKind::Auto => match OrtBackend::load_lanes(path, spec, threads, lanes) {
            Ok(b) => Ok(Arc::new(b)),
            Err(ModelError::OrtUnavailable(why)) => {
                tracing::warn!(
                    "ONNX Runtime is unavailable ({why}); falling back to tract, which is about 10x slower. \
                     Set ORT_DYLIB_PATH to libonnxruntime.so or install the `onnxruntime` Python package."
                );
                Ok(Arc::new(TractBackend::load(path, spec, threads)?))
            }
            Err(e) => Err(e),
        },
    }
}
