//! The process-wide model cache: each model is loaded once per process and
//! shared by every task (the only global mutable state of this crate besides
//! ONNX Runtime's environment).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use crate::backend::{effective_lanes, effective_threads, BackendKind, InferenceBackend};
use crate::error::ModelError;
use crate::loader::load;
use crate::spec::ModelSpec;

/// Identifies one loaded model: the file (canonical path plus size and
/// modification time, so a replaced file is reloaded), the spec, the backend
/// kind asked for and the effective thread count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    spec: ModelSpec,
    kind: BackendKind,
    threads: usize,
    lanes: usize,
}

/// One cache entry; its own lock lets the first caller load while later callers
/// for the same key wait, without blocking callers of other keys.
type Slot = Arc<Mutex<Option<Arc<dyn InferenceBackend>>>>;

static CACHE: OnceLock<Mutex<HashMap<CacheKey, Slot>>> = OnceLock::new();

/// Like [`load`], but returns the instance already loaded by this process for
/// the same file, spec, kind, thread count (`threads` 0 = all cores) and lanes when
/// there is one. Concurrent first calls load the model once. Failed loads are
/// not cached. Called through [`crate::ModelRef::load`].
pub(crate) fn load_cached(
    path: &Path,
    spec: &ModelSpec,
    kind: BackendKind,
    threads: usize,
    lanes: usize,
) -> Result<Arc<dyn InferenceBackend>, ModelError> {
    let threads = effective_threads(threads);
    let lanes = effective_lanes(lanes, threads);
    let canonical = path
        .canonicalize()
        .map_err(|e| ModelError::io("cannot read model file", path, e))?;
    let meta = std::fs::metadata(&canonical)
        .map_err(|e| ModelError::io("cannot read model file", &canonical, e))?;
    let key = CacheKey {
        path: canonical.clone(),
        len: meta.len(),
        modified: meta.modified().ok(),
        spec: spec.clone(),
        kind,
        threads,
        lanes,
    };
    let slot: Slot = {
        let mut map = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(key).or_default())
    };
    let mut entry = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(backend) = entry.as_ref() {
        return Ok(Arc::clone(backend));
    }
    let backend = load(&canonical, spec, kind, threads, lanes)?;
    tracing::info!(
        "loaded model {} ({}) with the {} backend, {threads} thread(s), {lanes} lane(s)",
        spec.name,
        canonical.display(),
        backend.name()
    );
    *entry = Some(Arc::clone(&backend));
    Ok(backend)
}
