//! Photo bytes → features with the same decoding, resizing and
//! preprocessing as `orchard extract`, optionally with augmented variants,
//! on every core (one inference lane per worker); with test-time
//! augmentation ([`Featurizer::with_tta`]) each photo's features are the mean
//! over a few fixed views of it ([`crate::tta`]).

use std::sync::Arc;

use orchard_image::{
    decode_rgb8_for, is_studio_shot, preprocess_into, Augmenter, DecodeOptions, ImageError,
    PreprocessSpec, Resizer, RgbImage,
};
use orchard_model::{infer_batch, BatchFeatures, InferenceBackend, ModelError, RowError};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;

use crate::tta::{mean_views, tta_view, MAX_TTA};

/// Augmented variants to make of each photo.
#[derive(Debug, Clone)]
pub struct Augmentation {
    /// The augmenter.
    pub augmenter: Augmenter,
    /// Variants per photo, besides the photo itself.
    pub variants: u32,
    /// Seed; each photo's variants are seeded by this and the photo's label
    /// folder and file name (not the whole path), so they are the same
    /// wherever the photos lie.
    pub seed: u64,
}

/// The features of one photo and of its variants.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoFeatures {
    /// `(1 + variants) × dim` values: the photo first, then its variants
    /// (each the mean over its test-time views when there are several).
    pub features: Vec<f32>,
    /// Whether the photo looks like a studio shot (white background).
    pub studio: bool,
}

/// Why a photo has no features.
#[derive(Debug, thiserror::Error)]
pub enum FeaturizeError {
    /// The photo could not be decoded or resized.
    #[error("{0}")]
    Image(#[from] ImageError),
    /// The model failed.
    #[error("{0}")]
    Model(#[from] ModelError),
    /// The model ran but returned NaN or infinity for this photo.
    #[error("{0}")]
    Features(#[from] RowError),
}

/// Turns photos into features with one loaded model.
#[derive(Clone)]
pub struct Featurizer {
    backend: Arc<dyn InferenceBackend>,
    spec: PreprocessSpec,
    decode: DecodeOptions,
    tta: usize,
}

impl std::fmt::Debug for Featurizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Featurizer")
            .field("backend", &self.backend)
            .field("spec", &self.spec)
            .field("tta", &self.tta)
            .finish()
    }
}

/// Photos per parallel task (one inference call).
const TASK_PHOTOS: usize = 8;

impl Featurizer {
    /// A featurizer over `backend`, decoding with `decode`; one view per
    /// photo (no test-time augmentation).
    pub fn new(backend: Arc<dyn InferenceBackend>, decode: DecodeOptions) -> Featurizer {
        let spec = backend.spec().preprocess();
        Featurizer {
            backend,
            spec,
            decode,
            tta: 1,
        }
    }

    /// The same featurizer with test-time augmentation over `views` fixed
    /// views of each photo (clamped to `1..=MAX_TTA`; 1 = off): the photo,
    /// its flip, the centre crop and its flip, then corner crops
    /// ([`crate::tta_view`]). Each photo's features are the mean of its
    /// views' features; the model runs `views` times as often.
    pub fn with_tta(mut self, views: usize) -> Featurizer {
        self.tta = views.clamp(1, MAX_TTA);
        self
    }

    /// Views per photo (1 = no test-time augmentation).
    pub fn tta(&self) -> usize {
        self.tta
    }

    /// The model.
    pub fn backend(&self) -> Arc<dyn InferenceBackend> {
        self.backend.clone()
    }

    /// Feature width.
    pub fn dim(&self) -> usize {
        self.backend.spec().feature_width
    }

    /// Decodes a photo (EXIF orientation, colour conversion, pixel budget;
    /// a large JPEG at a reduced DCT scale with fast decoding).
    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage, ImageError> {
        decode_rgb8_for(bytes, &self.decode, self.spec.width, self.spec.height)
    }

    /// One photo as the model's input: decoded, resized and normalised by
    /// `orchard_image::prepare`, the same path as `orchard extract`.
    pub fn prepare(&self, bytes: &[u8]) -> Result<Vec<f32>, ImageError> {
        let mut input = vec![0f32; self.spec.tensor_len()];
        orchard_image::prepare(bytes, &self.decode, &self.spec, &mut input)?;
        Ok(input)
    }

    /// One photo's model inputs, one per test-time view (`tta() ×
    /// tensor_len` values, the photo itself first): with one view exactly
    /// [`Featurizer::prepare`]; otherwise the photo decoded once and each
    /// view resized and normalised as [`Featurizer::embed`] does. The
    /// features the model gives for them go through [`Featurizer::pool`].
    pub fn prepare_views(&self, bytes: &[u8]) -> Result<Vec<f32>, ImageError> {
        if self.tta == 1 {
            return self.prepare(bytes);
        }
        let img = self.decode(bytes)?;
        let mut input = Vec::with_capacity(self.tta * self.spec.tensor_len());
        self.push_views(&img, &mut Resizer::new(), &mut input)?;
        Ok(input)
    }

    /// The features of each photo from those of its views (`tta()`
    /// consecutive vectors each): their mean; with one view, unchanged.
    pub fn pool(&self, features: &[f32]) -> Vec<f32> {
        mean_views(features, self.tta, self.dim())
    }

    /// Features of decoded images, in one inference call; each image as it
    /// is (no test-time views). An image whose features are not finite
    /// fails the call.
    pub fn embed(&self, images: &[RgbImage]) -> Result<Vec<f32>, FeaturizeError> {
        let mut input = Vec::with_capacity(images.len() * self.spec.tensor_len());
        let mut resizer = Resizer::new();
        for img in images {
            self.push_input(img, &mut resizer, &mut input)?;
        }
        let features = self.infer(&input, images.len())?;
        let mut out = Vec::with_capacity(images.len() * self.dim());
        for row in features.rows() {
            out.extend_from_slice(row?);
        }
        Ok(out)
    }

    /// One inference call on `images` prepared inputs ([`infer_batch`]:
    /// per-image features, non-finite ones marked).
    pub fn infer(&self, input: &[f32], images: usize) -> Result<BatchFeatures, ModelError> {
        infer_batch(self.backend.as_ref(), input, images)
    }

    /// Appends `img`'s model input to `input`: resized to the model's size
    /// (unless it has it) and normalised.
    fn push_input(
        &self,
        img: &RgbImage,
        resizer: &mut Resizer,
        input: &mut Vec<f32>,
    ) -> Result<(), ImageError> {
        let start = input.len();
        input.resize(start + self.spec.tensor_len(), 0.0);
        let out = &mut input[start..];
        let result = if img.dimensions() == (self.spec.width, self.spec.height) {
            preprocess_into(img, &self.spec, out)
        } else {
            resizer
                .resize(img, self.spec.width, self.spec.height)
                .and_then(|resized| preprocess_into(&resized, &self.spec, out))
        };
        if result.is_err() {
            input.truncate(start);
        }
        result
    }

    /// Appends the model inputs of `img`'s `tta()` views to `input`.
    fn push_views(
        &self,
        img: &RgbImage,
        resizer: &mut Resizer,
        input: &mut Vec<f32>,
    ) -> Result<(), ImageError> {
        let start = input.len();
        for k in 0..self.tta {
            if let Err(e) = self.push_input(&tta_view(img, k), resizer, input) {
                input.truncate(start);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Like [`featurize`](Self::featurize) for photos whose reads may have
    /// failed (`(path, bytes or why not)`): one result per photo, in order;
    /// an unread photo keeps its reason, the others are featurized together.
    pub fn featurize_read(
        &self,
        photos: Vec<(String, Result<Vec<u8>, String>)>,
        augmentation: Option<&Augmentation>,
    ) -> Vec<Result<PhotoFeatures, String>> {
        let mut readable = Vec::new();
        let mut slots = Vec::with_capacity(photos.len());
        for (path, bytes) in photos {
            match bytes {
                Ok(b) => {
                    slots.push(Ok(readable.len()));
                    readable.push((path, b));
                }
                Err(e) => slots.push(Err(e)),
            }
        }
        let mut results: Vec<Option<_>> = self
            .featurize(&readable, augmentation)
            .into_iter()
            .map(Some)
            .collect();
        slots
            .into_iter()
            .map(|slot| {
                slot.and_then(|i| {
                    results[i]
                        .take()
                        .expect("each result is taken once")
                        .map_err(|e| e.to_string())
                })
            })
            .collect()
    }

    /// Features of many photos (`(path, bytes)`), with augmented variants
    /// when asked, in parallel; one result per photo, in order. A photo that
    /// cannot be read fails alone.
    pub fn featurize(
        &self,
        photos: &[(String, Vec<u8>)],
        augmentation: Option<&Augmentation>,
    ) -> Vec<Result<PhotoFeatures, FeaturizeError>> {
        let dim = self.dim();
        let views = self.tta;
        let per = self.spec.tensor_len();
        photos
            .par_chunks(TASK_PHOTOS)
            .flat_map_iter(|chunk| {
                // Every view of every photo (and variant) of the chunk, in
                // one inference call.
                let mut input = Vec::new();
                let mut resizer = Resizer::new();
                let mut results: Vec<Result<(usize, bool), FeaturizeError>> = Vec::new();
                for (path, bytes) in chunk {
                    let start = input.len();
                    let photo = self.decode(bytes).and_then(|img| {
                        let studio = is_studio_shot(&img);
                        self.push_views(&img, &mut resizer, &mut input)?;
                        let mut count = 1;
                        if let Some(aug) = augmentation {
                            let mut rng = StdRng::seed_from_u64(crate::split::fnv1a(
                                aug.seed,
                                crate::split::file_key(path),
                            ));
                            for _ in 0..aug.variants {
                                let variant = aug.augmenter.variant(&img, &mut rng);
                                self.push_views(&variant, &mut resizer, &mut input)?;
                                count += 1;
                            }
                        }
                        Ok((count, studio))
                    });
                    if photo.is_err() {
                        input.truncate(start);
                    }
                    results.push(photo.map_err(FeaturizeError::from));
                }
                let embedded = self.infer(&input, input.len() / per);
                let mut out = Vec::with_capacity(results.len());
                match embedded {
                    Ok(features) => {
                        let mut offset = 0;
                        for r in results {
                            out.push(r.and_then(|(count, studio)| {
                                let rows = offset..offset + count * views;
                                offset = rows.end;
                                let mut f = Vec::with_capacity(rows.len() * dim);
                                for i in rows {
                                    f.extend_from_slice(features.row(i)?);
                                }
                                Ok(PhotoFeatures {
                                    features: mean_views(&f, views, dim),
                                    studio,
                                })
                            }));
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        for r in results {
                            out.push(r.and_then(|_| {
                                Err(FeaturizeError::Model(ModelError::Output(message.clone())))
                            }));
                        }
                    }
                }
                out
            })
            .collect()
    }
}
