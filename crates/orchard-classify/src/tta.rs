//! Test-time augmentation: a few fixed, deterministic views of a photo whose
//! features are averaged before the classifier answers.
//!
//! The views, in order: the photo itself, its horizontal flip, a centre crop
//! of [`CROP`] of each side, the flipped centre crop, then the four corner
//! crops of the same size (top left, top right, bottom left, bottom right).
//! A crop keeps the photo's pixels; the featurizer resizes it to the model's
//! input with the same resize as any photo.

use std::borrow::Cow;

use image::imageops;
use orchard_image::RgbImage;

/// Most views a photo can have.
pub const MAX_TTA: usize = 8;

/// Share of each side a cropped view keeps.
pub const CROP: f64 = 0.8;

/// View `k` (`0..MAX_TTA`) of `img`; view 0 is `img` itself, borrowed.
///
/// # Panics
/// When `k >= MAX_TTA`.
pub fn tta_view(img: &RgbImage, k: usize) -> Cow<'_, RgbImage> {
    assert!(k < MAX_TTA, "view {k} of at most {MAX_TTA}");
    if k == 0 {
        return Cow::Borrowed(img);
    }
    if k == 1 {
        return Cow::Owned(imageops::flip_horizontal(img));
    }
    let (w, h) = img.dimensions();
    let side = |s: u32| ((f64::from(s) * CROP).round() as u32).clamp(1, s.max(1));
    let (cw, ch) = (side(w), side(h));
    // (x, y) of the crop: centre (twice, once to be flipped), then corners.
    let (x, y) = match k {
        2 | 3 => (w.saturating_sub(cw) / 2, h.saturating_sub(ch) / 2),
        4 => (0, 0),
        5 => (w.saturating_sub(cw), 0),
        6 => (0, h.saturating_sub(ch)),
        _ => (w.saturating_sub(cw), h.saturating_sub(ch)),
    };
    let crop = imageops::crop_imm(img, x, y, cw, ch).to_image();
    if k == 3 {
        Cow::Owned(imageops::flip_horizontal(&crop))
    } else {
        Cow::Owned(crop)
    }
}

/// The first `n` views of `img` (`n` clamped to `1..=MAX_TTA`).
pub fn tta_views(img: &RgbImage, n: usize) -> Vec<RgbImage> {
    (0..n.clamp(1, MAX_TTA))
        .map(|k| tta_view(img, k).into_owned())
        .collect()
}

/// The mean of each run of `views` consecutive feature vectors of width
/// `dim`: `features.len() / views` values. With one view, `features`
/// unchanged (the same bits).
pub fn mean_views(features: &[f32], views: usize, dim: usize) -> Vec<f32> {
    if views <= 1 || dim == 0 {
        return features.to_vec();
    }
    let mut out = Vec::with_capacity(features.len() / views);
    for group in features.chunks_exact(views * dim) {
        let mut sum = group[..dim].to_vec();
        for view in group[dim..].chunks_exact(dim) {
            for (s, v) in sum.iter_mut().zip(view) {
                *s += v;
            }
        }
        let scale = 1.0 / views as f32;
        out.extend(sum.into_iter().map(|s| s * scale));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([x as u8, y as u8, (x * 7 + y * 3) as u8]))
    }

    #[test]
    fn views_are_fixed_crops_and_flips() {
        let img = gradient(50, 40);
        let views = tta_views(&img, MAX_TTA);
        assert_eq!(views.len(), MAX_TTA);
        assert_eq!(views[0], img);
        assert_eq!(views[1].dimensions(), (50, 40));
        assert_eq!(views[1].get_pixel(0, 0), img.get_pixel(49, 0));
        for v in &views[2..] {
            assert_eq!(v.dimensions(), (40, 32));
        }
        // Centre crop: offset (5, 4); its flip mirrors it.
        assert_eq!(views[2].get_pixel(0, 0), img.get_pixel(5, 4));
        assert_eq!(views[3].get_pixel(0, 0), img.get_pixel(44, 4));
        // Corners.
        assert_eq!(views[4].get_pixel(0, 0), img.get_pixel(0, 0));
        assert_eq!(views[5].get_pixel(0, 0), img.get_pixel(10, 0));
        assert_eq!(views[6].get_pixel(0, 0), img.get_pixel(0, 8));
        assert_eq!(views[7].get_pixel(39, 31), img.get_pixel(49, 39));
        // Deterministic: the same views every time.
        assert_eq!(tta_views(&img, MAX_TTA), views);
        assert_eq!(tta_views(&img, 3), views[..3].to_vec());
        // Tiny images still give non-empty views.
        assert!(tta_views(&gradient(1, 1), MAX_TTA)
            .iter()
            .all(|v| v.dimensions() == (1, 1)));
    }

    #[test]
    fn means_runs_of_views() {
        let f = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(mean_views(&f, 2, 2), vec![2.0, 3.0, 20.0, 30.0]);
        assert_eq!(mean_views(&f, 1, 2), f.to_vec());
        assert_eq!(mean_views(&f, 4, 2), vec![11.0, 16.5]);
    }
}
