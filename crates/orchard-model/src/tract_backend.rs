//! The tract backend (pure Rust; the fallback when ONNX Runtime is unavailable).
//!
//! tract is fastest here with a fully fixed input shape of one image and one
//! single-threaded worker per core, so the model is optimised for `[1, H, W, 3]`
//! (or `[1, 3, H, W]`) and a batch is split across worker threads.

use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::backend::{check_input, collect_features, InferenceBackend};
use crate::error::ModelError;
use crate::onnx::inference_model;
use crate::spec::ModelSpec;

/// Images per worker thread in a preferred batch.
const IMAGES_PER_WORKER: usize = 8;

/// A model run by tract on the CPU: an optimised plan for one image, shared by
/// `threads` worker threads that each run single images.
///
/// Concurrent `infer` calls are independent (each spawns its own workers and
/// run states), so they do not block each other but do compete for cores.
pub struct TractBackend {
    spec: ModelSpec,
    plan: Arc<TypedRunnableModel>,
    threads: usize,
}

impl std::fmt::Debug for TractBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractBackend")
            .field("spec", &self.spec)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl TractBackend {
    /// Loads and optimises the model at `path` for inputs of one image, to be
    /// run by `threads` worker threads (at least 1).
    pub fn load(path: &Path, spec: &ModelSpec, threads: usize) -> Result<TractBackend, ModelError> {
        let plan = inference_model(path, spec)?
            .into_optimized()
            .map_err(|e| ModelError::tract(format!("optimise `{}`", path.display()), e))?
            .into_runnable()
            .map_err(|e| ModelError::tract(format!("plan `{}`", path.display()), e))?;
        Ok(TractBackend {
            spec: spec.clone(),
            plan,
            threads: threads.max(1),
        })
    }

    /// Number of worker threads per `infer` call.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `images` (a whole number of images) one at a time on this thread.
    fn run_images(&self, images: &[f32]) -> Result<Vec<f32>, ModelError> {
        let per_image = self.spec.image_len();
        let shape = self.spec.input_shape(1);
        let mut out = Vec::with_capacity(images.len() / per_image * self.spec.feature_width);
        let mut state = self
            .plan
            .spawn()
            .map_err(|e| ModelError::tract("create a run state", e))?;
        for image in images.chunks_exact(per_image) {
            let tensor = Tensor::from_shape(&shape, image)
                .map_err(|e| ModelError::tract("wrap the input tensor", e))?;
            let outputs = state
                .run(tvec!(tensor.into_tvalue()))
                .map_err(|e| ModelError::tract("run the model", e))?;
            let output = outputs
                .first()
                .ok_or_else(|| ModelError::Output("the model produced no output".into()))?;
            let view = output
                .to_plain_array_view::<f32>()
                .map_err(|e| ModelError::tract("read the output as f32", e))?;
            let dims = view.shape().to_vec();
            match view.as_slice() {
                Some(data) => collect_features(&self.spec, &dims, data, 1, &mut out)?,
                None => {
                    let data: Vec<f32> = view.iter().copied().collect();
                    collect_features(&self.spec, &dims, &data, 1, &mut out)?
                }
            }
        }
        Ok(out)
    }
}

impl InferenceBackend for TractBackend {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn preferred_batch(&self) -> usize {
        IMAGES_PER_WORKER * self.threads
    }

    fn infer(&self, input: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        check_input(&self.spec, input, batch)?;
        if batch == 0 {
            return Ok(Vec::new());
        }
        let workers = self.threads.min(batch);
        if workers == 1 {
            return self.run_images(input);
        }
        let per_worker = batch.div_ceil(workers) * self.spec.image_len();
        let parts: Vec<Result<Vec<f32>, ModelError>> = std::thread::scope(|s| {
            let handles: Vec<_> = input
                .chunks(per_worker)
                .map(|chunk| s.spawn(move || self.run_images(chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(ModelError::tract(
                            "run the model",
                            "a worker thread panicked",
                        ))
                    })
                })
                .collect()
        });
        let mut out = Vec::with_capacity(batch * self.spec.feature_width);
        for part in parts {
            out.extend(part?);
        }
        Ok(out)
    }
}
