//! [`ModelRef`]: which model to run and how — everything a process needs to
//! load it (the extraction engine, a cluster executor, `train`, `identify`,
//! the service) — and [`infer_batch`], the one batched inference every
//! caller goes through, with its check that the features are finite.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::backend::{BackendKind, InferenceBackend};
use crate::cache::load_cached;
use crate::error::ModelError;
use crate::loader::load;
use crate::spec::ModelSpec;

/// Which model to run and how: everything a process needs to load it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelRef {
    /// The ONNX file.
    pub path: String,
    /// Its sha256 (verified when the model was resolved).
    pub sha256: String,
    /// What the model expects and returns.
    pub spec: ModelSpec,
    /// The inference backend.
    pub backend: BackendKind,
    /// Compute threads (0 = all cores).
    pub threads: usize,
    /// Batches run at once by ONNX Runtime (0 = one per thread); see
    /// [`crate::load`].
    #[serde(default)]
    pub lanes: usize,
}

impl ModelRef {
    /// The process-wide instance of this model, loaded on first use
    /// ([`cached`]).
    pub fn load(&self) -> Result<Arc<dyn InferenceBackend>, ModelError> {
        cached(self)
    }

    /// A new instance of this model, not shared with the rest of the
    /// process (a forked worker, a benchmark).
    pub fn load_new(&self) -> Result<Arc<dyn InferenceBackend>, ModelError> {
        load(
            Path::new(&self.path),
            &self.spec,
            self.backend,
            self.threads,
            self.lanes,
        )
    }
}

/// The instance of `model` already loaded by this process, or a new one
/// loaded now: one per file (canonical path, size, modification time), spec,
/// backend, thread count (0 = all cores) and lanes. Concurrent first calls
/// load it once; failed loads are not cached.
pub fn cached(model: &ModelRef) -> Result<Arc<dyn InferenceBackend>, ModelError> {
    load_cached(
        Path::new(&model.path),
        &model.spec,
        model.backend,
        model.threads,
        model.lanes,
    )
}

impl crate::ResolvedModel {
    /// This model, to be run by `backend` with `threads` compute threads (0 =
    /// all cores) and `lanes` batches at once (0 = one per thread).
    pub fn to_ref(&self, backend: BackendKind, threads: usize, lanes: usize) -> ModelRef {
        ModelRef {
            path: self.path.display().to_string(),
            sha256: self.sha256.clone(),
            spec: self.spec.clone(),
            backend,
            threads,
            lanes,
        }
    }
}

/// Why one photo of a batch has no features although the model ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The model returned NaN or infinity for it.
    #[error("the model returned non-finite values (NaN or infinity)")]
    NonFinite,
}

impl RowError {
    /// The failure stage it is reported under (`_errors.parquet`'s `stage`).
    pub fn stage(&self) -> &'static str {
        "inference"
    }
}

/// The features of a batch of photos, row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchFeatures {
    values: Vec<f32>,
    width: usize,
    finite: Vec<bool>,
}

impl BatchFeatures {
    /// Photos in the batch.
    pub fn len(&self) -> usize {
        self.finite.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.finite.is_empty()
    }

    /// Feature width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Photo `i`'s features, or why it has none.
    pub fn row(&self, i: usize) -> Result<&[f32], RowError> {
        if self.finite[i] {
            Ok(&self.values[i * self.width..(i + 1) * self.width])
        } else {
            Err(RowError::NonFinite)
        }
    }

    /// Every photo's features or why it has none, in order.
    pub fn rows(&self) -> impl Iterator<Item = Result<&[f32], RowError>> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }
}

/// Runs `backend` once on `batch` prepared photos (`input` holds them one
/// after another) and checks what it returned: the right number of values
/// (an error of the whole batch otherwise) and finite features per photo
/// (a photo with NaN or infinity gets [`RowError::NonFinite`]; the others
/// are unaffected).
pub fn infer_batch(
    backend: &dyn InferenceBackend,
    input: &[f32],
    batch: usize,
) -> Result<BatchFeatures, ModelError> {
    let width = backend.spec().feature_width;
    if batch == 0 {
        return Ok(BatchFeatures {
            values: Vec::new(),
            width,
            finite: Vec::new(),
        });
    }
    let values = backend.infer(input, batch)?;
    if values.len() != batch * width {
        return Err(ModelError::OutputSize {
            model: backend.spec().name.clone(),
            values: values.len(),
            batch,
            width,
        });
    }
    let finite = values
        .chunks_exact(width)
        .map(|row| row.iter().all(|v| v.is_finite()))
        .collect();
    Ok(BatchFeatures {
        values,
        width,
        finite,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend that returns fixed values.
    struct Fixed(ModelSpec, Vec<f32>);

    impl InferenceBackend for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn spec(&self) -> &ModelSpec {
            &self.0
        }
        fn preferred_batch(&self) -> usize {
            2
        }
        fn infer(&self, _input: &[f32], _batch: usize) -> Result<Vec<f32>, ModelError> {
            Ok(self.1.clone())
        }
    }

    fn spec(width: usize) -> ModelSpec {
        ModelSpec {
            feature_width: width,
            ..crate::preset(crate::MOBILENET_V2).expect("preset")
        }
    }

    #[test]
    fn a_non_finite_row_fails_alone() {
        let backend = Fixed(spec(2), vec![1.0, 2.0, f32::NAN, 0.0, 3.0, f32::INFINITY]);
        let out = infer_batch(&backend, &[], 3).expect("batch");
        assert_eq!(out.len(), 3);
        assert_eq!(out.row(0), Ok(&[1.0, 2.0][..]));
        assert_eq!(out.row(1), Err(RowError::NonFinite));
        assert_eq!(out.row(2), Err(RowError::NonFinite));
        assert_eq!(out.rows().filter(Result::is_ok).count(), 1);
    }

    #[test]
    fn a_wrong_number_of_values_fails_the_batch() {
        let backend = Fixed(spec(2), vec![1.0, 2.0, 3.0]);
        let err = infer_batch(&backend, &[], 2).expect_err("short");
        assert!(err.to_string().contains("3 values for 2 images"), "{err}");
        assert!(infer_batch(&backend, &[], 0).expect("empty").is_empty());
    }
}
