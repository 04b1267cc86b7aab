//! Test-time augmentation in the featurizer, with a tiny deterministic model
//! in place of MobileNetV2 (per-channel means and two position-weighted
//! means on 16×16 images, so a flip or a crop changes the features): one
//! view gives exactly the features of the plain path, several views the
//! mean over the fixed views, the same every time.

use std::io::Cursor;
use std::sync::Arc;

use orchard_classify::{
    fnv1a, mean_views, tta_views, Augmentation, FeaturizeError, Featurizer, PhotoFeatures,
};
use orchard_image::{
    decode_rgb8_for, preprocess_into, AugmentParts, Augmenter, DecodeOptions, Layout,
    Normalization, Resizer, RgbImage,
};
use orchard_model::{InferenceBackend, ModelError, ModelSpec, RowError};
use rand::rngs::StdRng;
use rand::SeedableRng;

const SIDE: u32 = 16;
const DIM: usize = 5;

/// Means of R, G, B; R weighted by column, G weighted by row. With
/// `nan_when_dark`, NaN features for an image whose mean red is below 1.
#[derive(Debug)]
struct Moments {
    spec: ModelSpec,
    nan_when_dark: bool,
}

impl InferenceBackend for Moments {
    fn name(&self) -> &'static str {
        "moments"
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn preferred_batch(&self) -> usize {
        4
    }

    fn infer(&self, input: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        let per = (SIDE * SIDE * 3) as usize;
        assert_eq!(input.len(), batch * per);
        let mut out = Vec::with_capacity(batch * DIM);
        for image in input.chunks_exact(per) {
            let mut f = [0f32; DIM];
            for (i, px) in image.chunks_exact(3).enumerate() {
                let (x, y) = ((i as u32 % SIDE) as f32, (i as u32 / SIDE) as f32);
                f[0] += px[0];
                f[1] += px[1];
                f[2] += px[2];
                f[3] += px[0] * x;
                f[4] += px[1] * y;
            }
            let dark = self.nan_when_dark && f[0] < (SIDE * SIDE) as f32;
            out.extend(f.iter().map(|v| {
                if dark {
                    f32::NAN
                } else {
                    v / (SIDE * SIDE) as f32
                }
            }));
        }
        Ok(out)
    }
}

fn featurizer() -> Featurizer {
    featurizer_with(false)
}

fn featurizer_with(nan_when_dark: bool) -> Featurizer {
    let spec = ModelSpec {
        name: "moments".into(),
        width: SIDE,
        height: SIDE,
        layout: Layout::Nhwc,
        normalization: Normalization::None,
        input_name: None,
        output_name: None,
        feature_width: DIM,
    };
    Featurizer::new(
        Arc::new(Moments {
            spec,
            nan_when_dark,
        }),
        DecodeOptions::default(),
    )
}

fn png(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 5 + seed) as u8,
            (y * 3 + x * seed) as u8,
            ((x ^ y) * 7) as u8,
        ])
    });
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

fn photos() -> Vec<(String, Vec<u8>)> {
    let mut photos: Vec<(String, Vec<u8>)> = (0..11u32)
        .map(|i| (format!("p{i}.png"), png(40 + 7 * i, 32 + 5 * i, i)))
        .collect();
    photos.insert(4, ("broken.png".into(), b"not a photo".to_vec()));
    photos
}

/// What the featurizer did before test-time augmentation: the decoded photo
/// and its variants, each resized and normalised, through the model.
fn plain(f: &Featurizer, path: &str, bytes: &[u8], aug: Option<&Augmentation>) -> Vec<f32> {
    let spec = f.backend().spec().preprocess();
    let img = decode_rgb8_for(bytes, &DecodeOptions::default(), SIDE, SIDE).unwrap();
    let mut images = vec![img.clone()];
    if let Some(aug) = aug {
        let mut rng = StdRng::seed_from_u64(fnv1a(aug.seed, path));
        for _ in 0..aug.variants {
            images.push(aug.augmenter.variant(&img, &mut rng));
        }
    }
    embed(f, &spec, &images)
}

fn embed(f: &Featurizer, spec: &orchard_image::PreprocessSpec, images: &[RgbImage]) -> Vec<f32> {
    let mut resizer = Resizer::new();
    let mut input = vec![0f32; images.len() * spec.tensor_len()];
    for (img, out) in images.iter().zip(input.chunks_exact_mut(spec.tensor_len())) {
        if img.dimensions() == (SIDE, SIDE) {
            preprocess_into(img, spec, out).unwrap();
        } else {
            preprocess_into(&resizer.resize(img, SIDE, SIDE).unwrap(), spec, out).unwrap();
        }
    }
    f.backend().infer(&input, images.len()).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn features(
    results: Vec<Result<PhotoFeatures, orchard_classify::FeaturizeError>>,
) -> Vec<Option<Vec<f32>>> {
    results
        .into_iter()
        .map(|r| r.ok().map(|p| p.features))
        .collect()
}

#[test]
fn one_view_gives_exactly_the_plain_features() {
    let f = featurizer();
    assert_eq!(f.tta(), 1);
    assert_eq!(f.clone().with_tta(1).tta(), 1);
    let aug = Augmentation {
        augmenter: Augmenter::new(AugmentParts::parse("all").unwrap(), Vec::new()),
        variants: 2,
        seed: 7,
    };
    let photos = photos();
    for augmentation in [None, Some(&aug)] {
        let got = features(f.featurize(&photos, augmentation));
        assert_eq!(got.len(), photos.len());
        for ((path, bytes), got) in photos.iter().zip(&got) {
            if path == "broken.png" {
                assert!(got.is_none());
                continue;
            }
            let got = got.as_ref().expect("a readable photo has features");
            let want = plain(&f, path, bytes, augmentation);
            assert_eq!(bits(got), bits(&want), "{path}");
        }
    }
    // The serving path: one input per photo, exactly `prepare`'s.
    let (_, bytes) = &photos[0];
    assert_eq!(
        bits(&f.prepare_views(bytes).unwrap()),
        bits(&f.prepare(bytes).unwrap())
    );
    let one = f.backend().infer(&f.prepare(bytes).unwrap(), 1).unwrap();
    assert_eq!(bits(&f.pool(&one)), bits(&one));
}

#[test]
fn several_views_average_fixed_views_deterministically() {
    let plain_f = featurizer();
    let photos = photos();
    let before = features(plain_f.featurize(&photos, None));
    for n in [2, 4, 8] {
        let f = featurizer().with_tta(n);
        assert_eq!(f.tta(), n);
        let spec = f.backend().spec().preprocess();
        let got = features(f.featurize(&photos, None));
        // Deterministic: the same features on every run.
        assert_eq!(got, features(f.featurize(&photos, None)));
        for (((path, bytes), got), before) in photos.iter().zip(&got).zip(&before) {
            if path == "broken.png" {
                assert!(got.is_none());
                continue;
            }
            let got = got.as_ref().unwrap();
            let img = decode_rgb8_for(bytes, &DecodeOptions::default(), SIDE, SIDE).unwrap();
            let views = embed(&f, &spec, &tta_views(&img, n));
            assert_eq!(views.len(), n * DIM);
            let want = mean_views(&views, n, DIM);
            assert_eq!(bits(got), bits(&want), "{path} with {n} views");
            // The views change the features (the flip moves the red mass).
            assert_ne!(got, before.as_ref().unwrap(), "{path}");
            // The serving path: n inputs, pooled, the same features.
            let input = f.prepare_views(bytes).unwrap();
            assert_eq!(input.len(), n * spec.tensor_len());
            let served = f.pool(&f.backend().infer(&input, n).unwrap());
            assert_eq!(bits(&served), bits(got), "{path} served");
        }
    }
    // More views than there are are clamped.
    assert_eq!(featurizer().with_tta(99).tta(), orchard_classify::MAX_TTA);
    assert_eq!(featurizer().with_tta(0).tta(), 1);
}

#[test]
fn a_photo_with_non_finite_features_fails_alone() {
    let solid = |v: u8| {
        let mut bytes = Vec::new();
        RgbImage::from_pixel(20, 20, image::Rgb([v, v, v]))
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        bytes
    };
    let photos = vec![
        ("light.png".to_string(), solid(200)),
        ("dark.png".to_string(), solid(0)),
        ("also-light.png".to_string(), png(30, 30, 9)),
    ];
    for views in [1, 4] {
        let f = featurizer_with(true).with_tta(views);
        let out = f.featurize(&photos, None);
        let clean = featurizer().with_tta(views).featurize(&photos, None);
        assert!(
            matches!(out[1], Err(FeaturizeError::Features(RowError::NonFinite))),
            "{:?}",
            out[1]
        );
        for i in [0, 2] {
            let (a, b) = (out[i].as_ref().unwrap(), clean[i].as_ref().unwrap());
            assert_eq!(bits(&a.features), bits(&b.features), "photo {i}");
        }
        let err = f
            .embed(&[RgbImage::from_pixel(16, 16, image::Rgb([0, 0, 0]))])
            .expect_err("dark image");
        assert!(err.to_string().contains("non-finite"), "{err}");
    }
}

#[test]
fn variants_depend_on_label_and_name_not_on_where_the_photos_lie() {
    let f = featurizer();
    let aug = Augmentation {
        augmenter: Augmenter::new(AugmentParts::parse("all").unwrap(), Vec::new()),
        variants: 2,
        seed: 7,
    };
    let (_, bytes) = &photos()[0];
    let at = |path: &str| {
        f.featurize(&[(path.to_string(), bytes.clone())], Some(&aug))
            .remove(0)
            .expect("a readable photo")
            .features
    };
    let here = at("/data/fruits/apple/p0.png");
    assert_eq!(bits(&here), bits(&at("s3://bucket/copy/apple/p0.png")));
    assert_ne!(bits(&here), bits(&at("/data/fruits/pear/p0.png")));
    assert_ne!(bits(&here), bits(&at("/data/fruits/apple/p1.png")));
}

#[test]
fn unread_photos_keep_their_reason_and_the_others_their_order() {
    let f = featurizer().with_tta(2);
    let good = photos();
    let read = vec![
        (
            "gone.png".to_string(),
            Err("cannot read: not found".to_string()),
        ),
        (good[0].0.clone(), Ok(good[0].1.clone())),
        ("broken.png".to_string(), Ok(b"not an image".to_vec())),
        (good[1].0.clone(), Ok(good[1].1.clone())),
    ];
    let out = f.featurize_read(read, None);
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].as_ref().unwrap_err(), "cannot read: not found");
    assert!(out[2].is_err(), "{:?}", out[2]);
    let direct = features(f.featurize(&good[..2], None));
    for (i, want) in [(1, &direct[0]), (3, &direct[1])] {
        let want = want.as_ref().expect("a readable photo");
        assert_eq!(
            bits(&out[i].as_ref().unwrap().features),
            bits(want),
            "photo {i}"
        );
    }
}
