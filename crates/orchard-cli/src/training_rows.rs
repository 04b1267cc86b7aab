//! Labelled feature rows for `train` and `evaluate`: photos featurized (and
//! augmented), extraction outputs' rows checked against the model.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use orchard_classify::{Augmentation, TrainingRow};
use orchard_engine::ModelRef;
use orchard_image::{AugmentParts, Augmenter, DecodeOptions};
use orchard_source::{PhotoGlob, StorageOptions};

use crate::args::{TrainArgs, GLOB};
use crate::photo_inputs::{featurize_photos, featurizer, open_input, Input};
use crate::setup::runtime;

pub fn augmentation(args: &TrainArgs) -> Result<Option<Augmentation>> {
    if args.augment == 0 {
        return Ok(None);
    }
    let parts = AugmentParts::parse(&args.augment_parts).map_err(anyhow::Error::msg)?;
    let mut backgrounds = Vec::new();
    if let Some(dir) = &args.backgrounds {
        for entry in walk_images(dir)? {
            let bytes = std::fs::read(&entry)
                .with_context(|| format!("cannot read {}", entry.display()))?;
            match orchard_image::decode_rgb8(&bytes, &Default::default()) {
                Ok(img) => backgrounds.push(img),
                Err(e) => tracing::warn!("background {} skipped: {e}", entry.display()),
            }
        }
        if backgrounds.is_empty() {
            bail!("no readable background photos in {}", dir.display());
        }
    }
    Ok(Some(Augmentation {
        augmenter: Augmenter::new(parts, backgrounds),
        variants: args.augment,
        seed: args.seed,
    }))
}

fn walk_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let glob = PhotoGlob::new(GLOB)?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(walk_images(&path)?);
        } else if glob.is_match(&path.file_name().unwrap_or_default().to_string_lossy()) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Labelled rows of every input: photos featurized with `model` (and
/// augmented), outputs' rows checked against `model`'s sha256.
pub fn labelled_rows(
    inputs: &[String],
    model: &ModelRef,
    glob: &str,
    decode: &DecodeOptions,
    storage: &StorageOptions,
    augmentation: Option<&Augmentation>,
) -> Result<(Vec<TrainingRow>, u64)> {
    let rt = runtime()?;
    let glob = PhotoGlob::new(glob)?;
    let mut rows = Vec::new();
    let mut failed = 0u64;
    let mut loaded = None;
    for input in inputs {
        match open_input(&rt, input, &glob, storage)? {
            Input::Features {
                rows: table,
                model: made_by,
            } => {
                if let Some((name, sha)) = made_by.filter(|(_, sha)| *sha != model.sha256) {
                    bail!("{input} holds features of model `{name}` (sha256 {sha}), not of {} (sha256 {}): extract it again with this model, or pass --model", model.spec.name, model.sha256);
                }
                let before = rows.len();
                rows.extend(table.into_iter().filter_map(|r| {
                    Some(TrainingRow {
                        path: r.path,
                        label: r.label?,
                        studio: false,
                        variant: 0,
                        features: r.features,
                    })
                }));
                tracing::info!("{input}: {} labelled feature rows", rows.len() - before);
            }
            Input::Photos(photos) => {
                let photos: Vec<_> = photos.into_iter().filter(|p| p.label.is_some()).collect();
                if loaded.is_none() {
                    loaded = Some(featurizer(model, decode.clone())?);
                }
                let f = loaded.as_ref().expect("loaded above");
                let dim = f.dim();
                featurize_photos(
                    &rt,
                    f,
                    &photos,
                    augmentation,
                    |photo, result| match result {
                        Ok(features) => {
                            for (variant, chunk) in features.features.chunks_exact(dim).enumerate()
                            {
                                rows.push(TrainingRow {
                                    path: photo.path.clone(),
                                    label: photo
                                        .label
                                        .clone()
                                        .expect("filtered to labelled photos"),
                                    studio: features.studio,
                                    variant: variant as u32,
                                    features: chunk.to_vec(),
                                });
                            }
                        }
                        Err(reason) => {
                            failed += 1;
                            tracing::warn!("{}: skipped: {reason}", photo.path);
                        }
                    },
                )?;
            }
        }
    }
    Ok((rows, failed))
}
