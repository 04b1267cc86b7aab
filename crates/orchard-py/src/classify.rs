//! `orchard.Classifier`: a classifier bundle (from `orchard train`) and the
//! feature model it names, answering as `orchard identify --format jsonl`:
//! label, probability, sure, unsure_reason, top, facts; or the photo's
//! error. Photos are files, folders or prefixes (local or object storage),
//! listed with the glob as `identify` lists them.

use std::path::Path;
use std::sync::Arc;

use orchard_classify::Bundle;
use orchard_engine::{ModelLoader, ModelRef};
use orchard_image::DecodeOptions;
use orchard_model::{BackendKind, ModelHome};
use orchard_source::{list_photos, Location, PhotoGlob, StorageOptions};
use pyo3::prelude::*;
use serde_json::json;

use crate::errors::{self, ModelError, OrchardError, UsageError};
use crate::interrupt::{self, Cancel};
use crate::process::{self, ProcessModels};
use crate::reads::{is_remote, Reader};

/// Photos read and featurized at once (as `identify`).
const GROUP: usize = 256;

/// A loaded classifier bundle.
#[pyclass(module = "orchard._core", name = "Classifier", frozen)]
pub struct Classifier {
    bundle: Bundle,
    model: ModelRef,
    decode: DecodeOptions,
    tta: usize,
    glob: PhotoGlob,
    storage: StorageOptions,
    reader: Reader,
}

#[pymethods]
impl Classifier {
    /// Loads the bundle in `dir` and checks its feature model (installed in
    /// `$ORCHARD_HOME`, or `model`) is the one it was trained with.
    #[staticmethod]
    #[pyo3(signature = (
        dir, *, model = None, unsure_below = None, threads = None, exact_decode = false,
        tta = 1, glob = "*.jpg,*.jpeg,*.png,*.webp", storage = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn load(
        dir: &str,
        model: Option<&str>,
        unsure_below: Option<f32>,
        threads: Option<usize>,
        exact_decode: bool,
        tta: usize,
        glob: &str,
        storage: Option<&str>,
    ) -> PyResult<Self> {
        if !(1..=8).contains(&tta) {
            return Err(UsageError::new_err(format!(
                "tta must be 1 to 8, got {tta}"
            )));
        }
        let path = Path::new(dir);
        let mut bundle = Bundle::load(path).map_err(|e| UsageError::new_err(errors::chain(&e)))?;
        if let Some(p) = unsure_below {
            bundle.classifier.thresholds.min_probability = p;
        }
        let name = model.map_or_else(|| bundle.feature_model.name.clone(), str::to_string);
        let resolved = ModelHome::from_env().resolve(&name).map_err(|e| {
            ModelError::new_err(format!(
                "cannot find the feature model `{name}` of classifier {dir} (pass model=\"FILE.onnx\"): {}",
                errors::chain(&e)
            ))
        })?;
        bundle
            .check_model(path, &resolved.spec.name, &resolved.sha256)
            .map_err(|e| ModelError::new_err(errors::chain(&e)))?;
        let storage = crate::storage::parse(storage)?;
        Ok(Classifier {
            model: ModelRef {
                path: resolved.path.display().to_string(),
                sha256: resolved.sha256,
                spec: bundle.feature_model.spec.clone(),
                backend: BackendKind::Auto,
                threads: process::threads(threads),
                lanes: 0,
            },
            bundle,
            decode: DecodeOptions {
                fast_decode: !exact_decode,
                ..DecodeOptions::default()
            },
            tta,
            glob: PhotoGlob::new(glob).map_err(errors::source)?,
            reader: Reader::new(storage.clone()),
            storage,
        })
    }

    /// The species it knows.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.bundle.classifier.labels.clone()
    }

    /// The feature model's name.
    #[getter]
    fn model(&self) -> String {
        self.model.spec.name.clone()
    }

    /// One JSON object per photo of `photos` (files, folders, prefixes), as
    /// a JSON array: the answers of `orchard identify --format jsonl`.
    #[pyo3(signature = (photos, top = 3))]
    fn identify_json(&self, py: Python<'_>, photos: Vec<String>, top: usize) -> PyResult<String> {
        if top == 0 {
            return Err(UsageError::new_err("top must be at least 1"));
        }
        py.detach(|| {
            let paths = self.list(&photos)?;
            let backend = ProcessModels.load(&self.model).map_err(errors::model)?;
            let featurizer =
                orchard_classify::Featurizer::new(backend, self.decode.clone()).with_tta(self.tta);
            let cancel = Cancel::default();
            let mut answers = Vec::with_capacity(paths.len());
            for group in paths.chunks(GROUP) {
                if let Some(e) = interrupt::check(&cancel) {
                    return Err(e);
                }
                let names: Vec<Option<&str>> = group.iter().map(|p| Some(p.as_str())).collect();
                let read = group.iter().cloned().zip(self.reader.read(&names));
                let results = featurizer.featurize_read(read.collect(), None);
                for (path, result) in group.iter().zip(results) {
                    answers.push(match result {
                        Ok(features) => {
                            self.bundle.classifier.answer_batch(&features.features, top)[0]
                                .to_json(path)
                        }
                        Err(reason) => json!({ "path": path, "error": reason }),
                    });
                }
            }
            serde_json::to_string(&answers)
                .map_err(|e| OrchardError::new_err(format!("cannot serialise answers: {e}")))
        })
    }
}

impl Classifier {
    /// Every photo of `inputs`: a local file, or an object URL whose name
    /// matches the glob, as given; a folder or prefix listed with the glob
    /// (sorted, as `identify` lists it).
    fn list(&self, inputs: &[String]) -> PyResult<Vec<String>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OrchardError::new_err(format!("cannot start an async runtime: {e}")))?;
        let mut paths = Vec::new();
        for input in inputs {
            let photo = if is_remote(input) {
                input
                    .rsplit_once('/')
                    .is_some_and(|(_, name)| !name.is_empty() && self.glob.is_match(name))
            } else {
                Path::new(input).is_file()
            };
            if photo {
                paths.push(input.clone());
                continue;
            }
            let location =
                Arc::new(Location::parse_with(input, &self.storage).map_err(errors::source)?);
            let listing = runtime
                .block_on(list_photos(&location, &self.glob))
                .map_err(errors::source)?;
            if listing.photos.is_empty() {
                return Err(UsageError::new_err(
                    listing.no_photos_message(&self.glob, input),
                ));
            }
            paths.extend(listing.photos.into_iter().map(|p| p.path));
        }
        Ok(paths)
    }
}
