//! RGB8 → normalised `f32` tensor in the model's layout.
//!
//! Values are computed with the same `f32` operations, in the same order, as
//! the Python references, so results are bit-identical:
//!
//! * Keras (`mobilenet_v2.preprocess_input`, mode `"tf"`): `x / 127.5 − 1`;
//! * Torch (`ToTensor` + `Normalize`): `(x / 255 − mean[c]) / std[c]` with
//!   mean `[0.485, 0.456, 0.406]`, std `[0.229, 0.224, 0.225]`;
//! * None: `x`;
//! * Centered128 (TF EfficientNet-Lite, `MEAN_RGB = 127`, `STDDEV_RGB = 128`):
//!   `(x − 127) / 128`, exact in `f32`.
//!
//! Each channel has only 256 possible inputs, so a 3×256 lookup table is
//! built once per spec and the per-pixel work is a table lookup.

use image::RgbImage;

use crate::error::ImageError;
use crate::spec::{Layout, Normalization, PreprocessSpec};

/// ImageNet channel means used by [`Normalization::Torch`].
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations used by [`Normalization::Torch`].
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Normalization {
    /// The normalised value of 8-bit sample `x` in channel `c` (0 = R, 1 = G, 2 = B).
    pub fn apply(self, x: u8, c: usize) -> f32 {
        let x = f32::from(x);
        match self {
            Normalization::Keras => x / 127.5 - 1.0,
            Normalization::Torch => {
                let c = c.min(2);
                (x / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
            }
            Normalization::None => x,
            Normalization::Centered128 => (x - 127.0) / 128.0,
        }
    }
}

/// Precomputed `Normalization::apply` for every channel and value.
#[derive(Clone)]
pub(crate) struct Lut {
    table: [[f32; 256]; 3],
}

impl Lut {
    pub(crate) fn new(n: Normalization) -> Lut {
        let mut table = [[0f32; 256]; 3];
        for (c, t) in table.iter_mut().enumerate() {
            for (x, v) in t.iter_mut().enumerate() {
                *v = n.apply(x as u8, c);
            }
        }
        Lut { table }
    }
}

impl std::fmt::Debug for Lut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lut")
    }
}

/// Write `img` (already `spec.width`×`spec.height`) as `spec.tensor_len()`
/// floats into `out`, in `spec.layout` with `spec.normalization`.
pub fn preprocess_into(
    img: &RgbImage,
    spec: &PreprocessSpec,
    out: &mut [f32],
) -> Result<(), ImageError> {
    let (w, h) = img.dimensions();
    preprocess_slice(img.as_raw(), w, h, spec, &Lut::new(spec.normalization), out)
}

/// [`preprocess_into`] on a packed RGB8 slice, with a prebuilt table.
pub(crate) fn preprocess_slice(
    rgb: &[u8],
    width: u32,
    height: u32,
    spec: &PreprocessSpec,
    lut: &Lut,
    out: &mut [f32],
) -> Result<(), ImageError> {
    if width != spec.width || height != spec.height {
        return Err(ImageError::PreprocessSize {
            expected_width: spec.width,
            expected_height: spec.height,
            width,
            height,
        });
    }
    let expected = spec.tensor_len();
    if out.len() != expected {
        return Err(ImageError::OutputLength {
            expected,
            actual: out.len(),
        });
    }
    if rgb.len() != expected {
        return Err(ImageError::InvalidSpec(format!(
            "pixel buffer holds {} bytes, expected {expected}",
            rgb.len()
        )));
    }
    let [r, g, b] = &lut.table;
    match spec.layout {
        Layout::Nhwc => {
            for (o, p) in out.chunks_exact_mut(3).zip(rgb.chunks_exact(3)) {
                o[0] = r[usize::from(p[0])];
                o[1] = g[usize::from(p[1])];
                o[2] = b[usize::from(p[2])];
            }
        }
        Layout::Nchw => {
            let plane = expected / 3;
            let (or, rest) = out.split_at_mut(plane);
            let (og, ob) = rest.split_at_mut(plane);
            for (i, p) in rgb.chunks_exact(3).enumerate() {
                or[i] = r[usize::from(p[0])];
                og[i] = g[usize::from(p[1])];
                ob[i] = b[usize::from(p[2])];
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_range_and_errors() {
        assert_eq!(Normalization::Keras.apply(0, 0), -1.0);
        assert_eq!(Normalization::Keras.apply(255, 2), 1.0);
        let spec = PreprocessSpec {
            width: 2,
            height: 1,
            layout: Layout::Nchw,
            normalization: Normalization::None,
        };
        let img = RgbImage::from_raw(2, 1, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let mut out = [0f32; 6];
        preprocess_into(&img, &spec, &mut out).unwrap();
        assert_eq!(out, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let err = preprocess_into(&img, &spec, &mut [0f32; 5]).unwrap_err();
        assert_eq!(err.stage(), "preprocess");
        let wrong = RgbImage::new(1, 2);
        assert!(preprocess_into(&wrong, &spec, &mut out).is_err());
    }

    #[test]
    fn centered128_values_and_serde_names() {
        let n = Normalization::Centered128;
        assert_eq!(n.apply(0, 0), -127.0 / 128.0);
        assert_eq!(n.apply(127, 1), 0.0);
        assert_eq!(n.apply(255, 2), 1.0);
        for x in 0..=255u8 {
            assert_eq!(n.apply(x, 0), (f64::from(x) - 127.0) as f32 / 128.0);
        }
        let spec = PreprocessSpec {
            width: 1,
            height: 1,
            layout: Layout::Nhwc,
            normalization: n,
        };
        let img = RgbImage::from_raw(1, 1, vec![63, 127, 191]).unwrap();
        let mut out = [0f32; 3];
        preprocess_into(&img, &spec, &mut out).unwrap();
        assert_eq!(out, [-0.5, 0.0, 0.5]);
        // Serde names: the existing ones unchanged, the new one lowercase.
        for (n, name) in [
            (Normalization::Keras, "\"keras\""),
            (Normalization::Torch, "\"torch\""),
            (Normalization::None, "\"none\""),
            (Normalization::Centered128, "\"centered128\""),
        ] {
            assert_eq!(serde_json::to_string(&n).unwrap(), name);
            assert_eq!(serde_json::from_str::<Normalization>(name).unwrap(), n);
        }
    }
}
