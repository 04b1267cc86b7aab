//! Photo bytes → features with the same decoding, resizing and
//! preprocessing as `orchard extract`, optionally with augmented variants,
//! on every core (one inference lane per worker).

use std::sync::Arc;

use orchard_image::{
    decode_rgb8_for, is_studio_shot, preprocess_into, Augmenter, DecodeOptions, ImageError,
    PreprocessSpec, Resizer, RgbImage,
};
use orchard_model::{InferenceBackend, ModelError};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;

/// Augmented variants to make of each photo.
#[derive(Debug, Clone)]
pub struct Augmentation {
    /// The augmenter.
    pub augmenter: Augmenter,
    /// Variants per photo, besides the photo itself.
    pub variants: u32,
    /// Seed; each photo's variants are seeded by this and the photo's path.
    pub seed: u64,
}

/// The features of one photo and of its variants.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoFeatures {
    /// `(1 + variants) × dim` values: the photo first, then its variants.
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
}

/// Turns photos into features with one loaded model.
#[derive(Clone)]
pub struct Featurizer {
    backend: Arc<dyn InferenceBackend>,
    spec: PreprocessSpec,
    decode: DecodeOptions,
}

impl std::fmt::Debug for Featurizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Featurizer")
            .field("backend", &self.backend)
            .field("spec", &self.spec)
            .finish()
    }
}

/// Photos per parallel task (one inference call).
const TASK_PHOTOS: usize = 8;

impl Featurizer {
    /// A featurizer over `backend`, decoding with `decode`.
    pub fn new(backend: Arc<dyn InferenceBackend>, decode: DecodeOptions) -> Featurizer {
        let spec = backend.spec().preprocess();
        Featurizer {
            backend,
            spec,
            decode,
        }
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

    /// Features of decoded images, in one inference call.
    pub fn embed(&self, images: &[RgbImage]) -> Result<Vec<f32>, FeaturizeError> {
        let per = self.spec.tensor_len();
        let mut input = vec![0f32; images.len() * per];
        let mut resizer = Resizer::new();
        for (img, out) in images.iter().zip(input.chunks_exact_mut(per)) {
            if img.dimensions() == (self.spec.width, self.spec.height) {
                preprocess_into(img, &self.spec, out)?;
            } else {
                let resized = resizer.resize(img, self.spec.width, self.spec.height)?;
                preprocess_into(&resized, &self.spec, out)?;
            }
        }
        Ok(self.backend.infer(&input, images.len())?)
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
        photos
            .par_chunks(TASK_PHOTOS)
            .flat_map_iter(|chunk| {
                let mut images = Vec::new();
                let mut results: Vec<Result<(usize, bool), FeaturizeError>> = Vec::new();
                for (path, bytes) in chunk {
                    match self.decode(bytes) {
                        Ok(img) => {
                            let studio = is_studio_shot(&img);
                            let mut count = 1;
                            if let Some(aug) = augmentation {
                                let mut rng =
                                    StdRng::seed_from_u64(crate::split::fnv1a(aug.seed, path));
                                for _ in 0..aug.variants {
                                    images.push(aug.augmenter.variant(&img, &mut rng));
                                    count += 1;
                                }
                            }
                            images.insert(images.len() + 1 - count, img);
                            results.push(Ok((count, studio)));
                        }
                        Err(e) => results.push(Err(e.into())),
                    }
                }
                let embedded = if images.is_empty() {
                    Ok(Vec::new())
                } else {
                    self.embed(&images)
                };
                let mut out = Vec::with_capacity(results.len());
                match embedded {
                    Ok(features) => {
                        let mut offset = 0;
                        for r in results {
                            out.push(r.map(|(count, studio)| {
                                let f = features[offset * dim..(offset + count) * dim].to_vec();
                                offset += count;
                                PhotoFeatures {
                                    features: f,
                                    studio,
                                }
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
