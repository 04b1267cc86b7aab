//! The inputs of `train`, `evaluate` and `identify`: photo files, photo
//! folders or prefixes (local or object storage), and extraction outputs;
//! listed, read in groups and featurized with one loaded model.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use orchard_classify::{Augmentation, Featurizer, PhotoFeatures};
use orchard_engine::{is_output, read_features};
use orchard_image::DecodeOptions;
use orchard_model::ModelRef;
use orchard_source::{list_photos, Location, PhotoGlob, StorageOptions};
use tokio::runtime::Runtime;

use crate::hints::with_hint;

/// Photos read and featurized at once (bounds memory).
const GROUP: usize = 256;
/// Concurrent reads from a store.
const READS: usize = 16;

/// One photo to featurize: how the user names it, its label, where it is.
#[derive(Debug, Clone)]
pub struct PhotoRef {
    /// Local path or URL.
    pub path: String,
    /// Parent folder's name, when the photo is under a listed folder.
    pub label: Option<String>,
    location: Arc<Location>,
    key: object_store::path::Path,
}

/// What one input turned out to be.
pub enum Input {
    /// Photos to featurize.
    Photos(Vec<PhotoRef>),
    /// Rows of an extraction output: `(path, label, features)`, and the
    /// model (name, sha256) that made them.
    Features {
        /// The rows.
        rows: Vec<orchard_engine::FeatureRow>,
        /// The model recorded in `_run.json`.
        model: Option<(String, String)>,
    },
}

/// Lists `input`: an extraction output (has `_SUCCESS`), a photo folder or
/// prefix (every photo matching `glob`, labelled by its parent folder), or
/// one local photo file (no label).
pub fn open_input(
    rt: &Runtime,
    input: &str,
    glob: &PhotoGlob,
    storage: &StorageOptions,
) -> Result<Input> {
    rt.block_on(async {
        let path = std::path::Path::new(input);
        if path.is_file() {
            let abs =
                std::path::absolute(path).with_context(|| format!("cannot resolve {input}"))?;
            let dir = abs.parent().context("a file has a parent folder")?;
            let location = Arc::new(Location::local(dir)?);
            let name = abs
                .file_name()
                .context("a file has a name")?
                .to_string_lossy()
                .to_string();
            let key = location.child(&name);
            return Ok(Input::Photos(vec![PhotoRef {
                path: input.to_string(),
                label: None,
                location,
                key,
            }]));
        }
        if is_output(input, storage).await {
            let table = read_features(input, storage).await.map_err(with_hint)?;
            return Ok(Input::Features {
                rows: table.rows,
                model: table.model,
            });
        }
        let location = Location::parse_with(input, storage)?;
        location.check_residency().await?;
        let listing = list_photos(&location, glob).await?;
        for problem in &listing.problems {
            tracing::warn!(path = %problem.path, reason = %problem.reason, "could not list");
        }
        if listing.photos.is_empty() {
            bail!(listing.no_photos_message(glob, input));
        }
        let location = Arc::new(location);
        Ok(Input::Photos(
            listing
                .photos
                .into_iter()
                .map(|p| PhotoRef {
                    path: p.path,
                    label: p.label,
                    location: location.clone(),
                    key: p.key,
                })
                .collect(),
        ))
    })
}

/// Loads the model of `model` and wraps it in a featurizer.
pub fn featurizer(model: &ModelRef, decode: DecodeOptions) -> Result<Featurizer> {
    let backend = model
        .load()
        .with_context(|| format!("cannot load model {}", model.path))?;
    Ok(Featurizer::new(backend, decode))
}

/// Reads `photos` (a few at once), in order: each one's bytes or why not.
pub fn read_photos(rt: &Runtime, photos: &[PhotoRef]) -> Vec<Result<Vec<u8>, String>> {
    rt.block_on(
        futures::stream::iter(photos.iter().map(|p| async move {
            let result = p.location.store().get(&p.key).await;
            match result {
                Ok(r) => r
                    .bytes()
                    .await
                    .map(|b| b.to_vec())
                    .map_err(|e| format!("cannot read: {e}")),
                Err(e) => Err(format!("cannot read: {e}")),
            }
        }))
        .buffered(READS)
        .collect::<Vec<_>>(),
    )
}

/// Reads and featurizes `photos` in groups, calling `each` with every
/// photo and its features (or the reason it has none), in order.
pub fn featurize_photos(
    rt: &Runtime,
    featurizer: &Featurizer,
    photos: &[PhotoRef],
    augmentation: Option<&Augmentation>,
    mut each: impl FnMut(&PhotoRef, Result<PhotoFeatures, String>),
) -> Result<()> {
    let total = photos.len();
    let started = std::time::Instant::now();
    let mut last_log = started;
    for (g, group) in photos.chunks(GROUP).enumerate() {
        let read = group
            .iter()
            .map(|p| p.path.clone())
            .zip(read_photos(rt, group));
        let results = featurizer.featurize_read(read.collect(), augmentation);
        for (p, result) in group.iter().zip(results) {
            each(p, result);
        }
        let done = ((g + 1) * GROUP).min(total);
        if last_log.elapsed().as_secs_f64() >= 5.0 || done == total {
            last_log = std::time::Instant::now();
            tracing::info!(
                "featurized {done}/{total} photos ({:.1} photos/s)",
                done as f64 / started.elapsed().as_secs_f64().max(1e-9)
            );
        }
    }
    Ok(())
}
