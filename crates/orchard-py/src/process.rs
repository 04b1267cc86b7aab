//! What belongs to one process: the loaded models. Each is made on first
//! use and kept for the process's life ("one model per Python worker");
//! after a `fork` the child, whose process id differs, loads its own: the
//! parent's ONNX Runtime sessions own thread pools whose threads do not exist
//! in the child. The parent's instances are never dropped there (their
//! destructors would wait for those threads).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use orchard_engine::{ModelLoader, ModelRef};
use orchard_model::{BackendKind, InferenceBackend, ModelHome};
use pyo3::prelude::*;

use crate::errors;

/// Models loaded by this process, by what was asked for.
struct Models {
    pid: u32,
    loaded: HashMap<ModelRef, Arc<dyn InferenceBackend>>,
}

static MODELS: Mutex<Option<Models>> = Mutex::new(None);

/// Loads models once per process (see the module docs); the engine's
/// featurizer and the classifier take their backend from it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessModels;

impl ModelLoader for ProcessModels {
    fn load(
        &self,
        model: &ModelRef,
    ) -> Result<Arc<dyn InferenceBackend>, orchard_model::ModelError> {
        let pid = std::process::id();
        let mut models = MODELS.lock().unwrap_or_else(PoisonError::into_inner);
        if models.as_ref().is_some_and(|m| m.pid != pid) {
            // Made by the parent of this forked process: leaked on purpose.
            if let Some(inherited) = models.take() {
                std::mem::forget(inherited);
            }
        }
        let models = models.get_or_insert_with(|| Models {
            pid,
            loaded: HashMap::new(),
        });
        if let Some(backend) = models.loaded.get(model) {
            return Ok(Arc::clone(backend));
        }
        let backend = orchard_model::load(
            std::path::Path::new(&model.path),
            &model.spec,
            model.backend,
            model.threads,
            model.lanes,
        )?;
        tracing::info!(
            "loaded model {} with the {} backend, {} thread(s)",
            model.spec.name,
            backend.name(),
            orchard_model::effective_threads(model.threads)
        );
        models.loaded.insert(model.clone(), Arc::clone(&backend));
        Ok(backend)
    }
}

/// Compute threads: `threads` when given, else `OMP_NUM_THREADS`, else 0
/// (every core).
pub fn threads(threads: Option<usize>) -> usize {
    threads
        .or_else(|| {
            std::env::var("OMP_NUM_THREADS")
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
        })
        .unwrap_or(0)
}

/// A model name (installed in `$ORCHARD_HOME/models`, e.g. by `orchard model
/// fetch`) or an `.onnx` path → a verified model reference.
pub fn resolve(name: &str, threads: usize) -> PyResult<ModelRef> {
    let resolved = ModelHome::from_env().resolve(name).map_err(errors::model)?;
    Ok(ModelRef {
        path: resolved.path.display().to_string(),
        sha256: resolved.sha256,
        spec: resolved.spec,
        backend: BackendKind::Auto,
        threads,
        lanes: 0,
    })
}

/// The ONNX Runtime library this process would load (`None` when none is
/// found: the tract backend is then used, about ten times slower).
#[pyfunction]
pub fn onnxruntime_library() -> Option<String> {
    orchard_model::loaded_onnxruntime()
        .map(|p| p.to_path_buf())
        .or_else(orchard_model::find_onnxruntime)
        .map(|p| p.display().to_string())
}
