//! Labelled feature rows for `train` and `evaluate`: photos featurized (and
//! augmented), extraction outputs' rows checked against the model.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use orchard_classify::{Augmentation, Featurizer, TrainingRow};
use orchard_image::{AugmentParts, Augmenter, DecodeOptions};
use orchard_model::ModelRef;
use orchard_source::{PhotoGlob, StorageOptions};
use tokio::runtime::Runtime;

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

/// The labelled rows of one input (a photo folder or an extraction output).
pub struct LabelledSet {
    /// The input as given.
    pub name: String,
    /// Its labelled rows (photos and their augmented variants).
    pub rows: Vec<TrainingRow>,
    /// Photos that could not be read or decoded.
    pub failed: u64,
}

/// Reads inputs into labelled rows: photos featurized with one model (loaded
/// once, at the first photo folder) and augmented, outputs' rows checked
/// against the model's sha256.
pub struct RowReader<'a> {
    rt: Runtime,
    model: &'a ModelRef,
    glob: PhotoGlob,
    decode: DecodeOptions,
    storage: &'a StorageOptions,
    featurizer: Option<Featurizer>,
    tta: usize,
}

impl<'a> RowReader<'a> {
    /// A reader of photos matching `glob`, featurized with `model`.
    pub fn new(
        model: &'a ModelRef,
        glob: &str,
        decode: &DecodeOptions,
        storage: &'a StorageOptions,
    ) -> Result<Self> {
        Ok(RowReader {
            rt: runtime()?,
            model,
            glob: PhotoGlob::new(glob)?,
            decode: decode.clone(),
            storage,
            featurizer: None,
            tta: 1,
        })
    }

    /// The same reader featurizing photos with test-time augmentation over
    /// `views` fixed views ([`Featurizer::with_tta`]; 1 = off). Rows of
    /// extraction outputs are used as they are.
    pub fn with_tta(mut self, views: usize) -> Self {
        self.tta = views;
        self
    }

    /// The labelled rows of every input, one set per input, in order.
    pub fn read_all(
        &mut self,
        inputs: &[String],
        augmentation: Option<&Augmentation>,
    ) -> Result<Vec<LabelledSet>> {
        inputs
            .iter()
            .map(|input| self.read(input, augmentation))
            .collect()
    }

    /// The labelled rows of `input` (unlabelled photos are left out).
    pub fn read(
        &mut self,
        input: &str,
        augmentation: Option<&Augmentation>,
    ) -> Result<LabelledSet> {
        let model = self.model;
        let mut rows = Vec::new();
        let mut failed = 0u64;
        match open_input(&self.rt, input, &self.glob, self.storage)? {
            Input::Features {
                rows: table,
                model: made_by,
            } => {
                if let Some((name, sha)) = made_by.filter(|(_, sha)| *sha != model.sha256) {
                    bail!("{input} holds features of model `{name}` (sha256 {sha}), not of {} (sha256 {}): extract it again with this model, or pass --model", model.spec.name, model.sha256);
                }
                rows.extend(table.into_iter().filter_map(|r| {
                    Some(TrainingRow {
                        path: r.path,
                        label: r.label?,
                        studio: false,
                        variant: 0,
                        features: r.features,
                    })
                }));
                tracing::info!("{input}: {} labelled feature rows", rows.len());
                if self.tta > 1 {
                    tracing::warn!(
                        "{input} holds features of the photos themselves: --tta applies to photos only"
                    );
                }
            }
            Input::Photos(photos) => {
                let photos: Vec<_> = photos.into_iter().filter(|p| p.label.is_some()).collect();
                if self.featurizer.is_none() {
                    self.featurizer =
                        Some(featurizer(model, self.decode.clone())?.with_tta(self.tta));
                }
                let f = self.featurizer.as_ref().expect("loaded above");
                let dim = f.dim();
                featurize_photos(
                    &self.rt,
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
        Ok(LabelledSet {
            name: input.to_string(),
            rows,
            failed,
        })
    }
}
