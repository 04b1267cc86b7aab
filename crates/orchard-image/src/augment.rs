//! Training-time augmentation: variants of a photo that look more like what
//! a phone sees in a shop than a studio shot on white paper does.
//!
//! Each part can be switched on or off ([`AugmentParts`]); a variant is
//! made by, in this order: **background compositing** (the white background
//! of a studio shot, found by flooding near-white pixels in from the border,
//! is replaced by a generated background or a random crop of a user's
//! background photo), a **random resized crop** (25–100 % of the area,
//! aspect 3:4–4:3: partial views of the fruit), a horizontal **flip** (one
//! in two), **colour jitter** (brightness ×0.6–1.4, contrast ×0.7–1.3,
//! saturation ×0.7–1.3), a Gaussian **blur** (σ 0.5–2, one variant in
//! three) and **down-then-up scaling** (to 20–60 % of the side and back,
//! one variant in three: the softness of a small or distant fruit). Randomness comes from
//! the caller's seeded generator, so a variant is the same on every run.

use image::{imageops, Rgb, RgbImage};
use rand::Rng;

/// Which augmentations are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AugmentParts {
    /// Replace a white studio background.
    pub background: bool,
    /// Random resized crop.
    pub crop: bool,
    /// Random horizontal flip.
    pub flip: bool,
    /// Brightness, contrast and saturation jitter.
    pub color: bool,
    /// Random Gaussian blur.
    pub blur: bool,
    /// Random down-then-up scaling.
    pub scale: bool,
}

impl AugmentParts {
    /// Every part.
    pub const ALL: AugmentParts = AugmentParts {
        background: true,
        crop: true,
        flip: true,
        color: true,
        blur: true,
        scale: true,
    };

    /// Parses a comma-separated list of `background,crop,flip,color,blur,scale`
    /// (or `all`).
    pub fn parse(list: &str) -> Result<AugmentParts, String> {
        let mut parts = AugmentParts {
            background: false,
            crop: false,
            flip: false,
            color: false,
            blur: false,
            scale: false,
        };
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "all" => parts = AugmentParts::ALL,
                "background" => parts.background = true,
                "crop" => parts.crop = true,
                "flip" => parts.flip = true,
                "color" | "colour" => parts.color = true,
                "blur" => parts.blur = true,
                "scale" => parts.scale = true,
                other => {
                    return Err(format!(
                        "unknown augmentation `{other}`: use background, crop, flip, color, blur, scale or all"
                    ))
                }
            }
        }
        Ok(parts)
    }
}

/// A near-white pixel (every channel at least this).
const WHITE: u8 = 230;

fn is_white(p: &Rgb<u8>) -> bool {
    p.0.iter().all(|&c| c >= WHITE)
}

/// Whether `img` looks like a studio shot: at least 60 % of its border
/// pixels are near-white.
pub fn is_studio_shot(img: &RgbImage) -> bool {
    let (w, h) = img.dimensions();
    if w < 3 || h < 3 {
        return false;
    }
    let mut white = 0u64;
    let mut total = 0u64;
    for x in 0..w {
        for y in [0, h - 1] {
            white += is_white(img.get_pixel(x, y)) as u64;
            total += 1;
        }
    }
    for y in 1..h - 1 {
        for x in [0, w - 1] {
            white += is_white(img.get_pixel(x, y)) as u64;
            total += 1;
        }
    }
    white * 10 >= total * 6
}

/// The background of a studio shot: near-white pixels connected to the
/// border (4-connectivity). `true` marks background.
pub fn white_background_mask(img: &RgbImage) -> Vec<bool> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut mask = vec![false; w * h];
    let mut stack = Vec::new();
    let seed = |x: usize, y: usize, mask: &mut Vec<bool>, stack: &mut Vec<(usize, usize)>| {
        if !mask[y * w + x] && is_white(img.get_pixel(x as u32, y as u32)) {
            mask[y * w + x] = true;
            stack.push((x, y));
        }
    };
    for x in 0..w {
        seed(x, 0, &mut mask, &mut stack);
        seed(x, h.saturating_sub(1), &mut mask, &mut stack);
    }
    for y in 0..h {
        seed(0, y, &mut mask, &mut stack);
        seed(w.saturating_sub(1), y, &mut mask, &mut stack);
    }
    while let Some((x, y)) = stack.pop() {
        if x > 0 {
            seed(x - 1, y, &mut mask, &mut stack);
        }
        if x + 1 < w {
            seed(x + 1, y, &mut mask, &mut stack);
        }
        if y > 0 {
            seed(x, y - 1, &mut mask, &mut stack);
        }
        if y + 1 < h {
            seed(x, y + 1, &mut mask, &mut stack);
        }
    }
    mask
}

/// A generated background: a gradient between two random colours, noise,
/// and a few random discs (stand-ins for shelves, crates, hands).
pub fn generated_background(width: u32, height: u32, rng: &mut impl Rng) -> RgbImage {
    let c0: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.0..255.0));
    let c1: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.0..255.0));
    let horizontal = rng.random_bool(0.5);
    let noise = rng.random_range(0.0..40.0f32);
    let mut img = RgbImage::from_fn(width, height, |x, y| {
        let t = if horizontal {
            x as f32 / width.max(1) as f32
        } else {
            y as f32 / height.max(1) as f32
        };
        Rgb(std::array::from_fn(|c| {
            (c0[c] * (1.0 - t) + c1[c] * t) as u8
        }))
    });
    for p in img.pixels_mut() {
        let n = (rng.random::<f32>() - 0.5) * 2.0 * noise;
        for c in p.0.iter_mut() {
            *c = (*c as f32 + n).clamp(0.0, 255.0) as u8;
        }
    }
    for _ in 0..rng.random_range(0..6) {
        let (cx, cy) = (
            rng.random_range(0..width.max(1)) as i64,
            rng.random_range(0..height.max(1)) as i64,
        );
        let r = rng.random_range(5..(width.max(height) / 2).max(6)) as i64;
        let colour = Rgb(std::array::from_fn(|_| rng.random::<u8>()));
        for y in (cy - r).max(0)..(cy + r).min(height as i64) {
            for x in (cx - r).max(0)..(cx + r).min(width as i64) {
                if (x - cx).pow(2) + (y - cy).pow(2) < r * r {
                    img.put_pixel(x as u32, y as u32, colour);
                }
            }
        }
    }
    img
}

/// Makes augmented variants of photos.
#[derive(Debug, Clone)]
pub struct Augmenter {
    parts: AugmentParts,
    backgrounds: Vec<RgbImage>,
}

impl Augmenter {
    /// An augmenter applying `parts`, compositing onto crops of
    /// `backgrounds` (generated backgrounds when empty).
    pub fn new(parts: AugmentParts, backgrounds: Vec<RgbImage>) -> Augmenter {
        Augmenter { parts, backgrounds }
    }

    /// The parts applied.
    pub fn parts(&self) -> AugmentParts {
        self.parts
    }

    fn background(&self, width: u32, height: u32, rng: &mut impl Rng) -> RgbImage {
        if self.backgrounds.is_empty() {
            return generated_background(width, height, rng);
        }
        let bg = &self.backgrounds[rng.random_range(0..self.backgrounds.len())];
        let scale = rng.random_range(0.3..1.0f32);
        let (cw, ch) = (
            ((bg.width() as f32 * scale) as u32).max(1),
            ((bg.height() as f32 * scale) as u32).max(1),
        );
        let x = rng.random_range(0..=bg.width() - cw);
        let y = rng.random_range(0..=bg.height() - ch);
        let crop = imageops::crop_imm(bg, x, y, cw, ch).to_image();
        imageops::resize(&crop, width, height, imageops::FilterType::Triangle)
    }

    /// One augmented variant of `img`.
    pub fn variant(&self, img: &RgbImage, rng: &mut impl Rng) -> RgbImage {
        let mut out = img.clone();
        let (w, h) = out.dimensions();
        if w == 0 || h == 0 {
            return out;
        }
        if self.parts.background && is_studio_shot(&out) {
            let mask = white_background_mask(&out);
            let bg = self.background(w, h, rng);
            for (i, p) in out.pixels_mut().enumerate() {
                if mask[i] {
                    *p = *bg.get_pixel(i as u32 % w, i as u32 / w);
                }
            }
        }
        if self.parts.crop {
            let area = rng.random_range(0.25..1.0f32);
            let aspect = rng.random_range(0.75..1.333f32);
            let cw = ((w as f32 * (area * aspect).sqrt()) as u32).clamp(1, w);
            let ch = ((h as f32 * (area / aspect).sqrt()) as u32).clamp(1, h);
            let x = rng.random_range(0..=w - cw);
            let y = rng.random_range(0..=h - ch);
            out = imageops::crop_imm(&out, x, y, cw, ch).to_image();
        }
        if self.parts.flip && rng.random_bool(0.5) {
            imageops::flip_horizontal_in_place(&mut out);
        }
        if self.parts.color {
            let brightness = rng.random_range(0.6..1.4f32);
            let contrast = rng.random_range(0.7..1.3f32);
            let saturation = rng.random_range(0.7..1.3f32);
            let mean = out.pixels().map(luma).sum::<f32>() / (out.width() * out.height()) as f32;
            for p in out.pixels_mut() {
                let grey = luma(p);
                for c in p.0.iter_mut() {
                    let v = grey + (*c as f32 - grey) * saturation;
                    let v = mean + (v - mean) * contrast;
                    *c = (v * brightness).clamp(0.0, 255.0) as u8;
                }
            }
        }
        if self.parts.blur && rng.random_bool(1.0 / 3.0) {
            out = imageops::blur(&out, rng.random_range(0.5..2.0f32));
        }
        if self.parts.scale && rng.random_bool(1.0 / 3.0) {
            let (w, h) = out.dimensions();
            let f = rng.random_range(0.2..0.6f32);
            let (sw, sh) = (
                ((w as f32 * f) as u32).max(8),
                ((h as f32 * f) as u32).max(8),
            );
            let small = imageops::resize(&out, sw, sh, imageops::FilterType::Triangle);
            out = imageops::resize(&small, w, h, imageops::FilterType::Triangle);
        }
        out
    }
}

fn luma(p: &Rgb<u8>) -> f32 {
    0.299 * p.0[0] as f32 + 0.587 * p.0[1] as f32 + 0.114 * p.0[2] as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// A red disc on white, like a studio shot.
    fn studio() -> RgbImage {
        RgbImage::from_fn(40, 40, |x, y| {
            if (x as i32 - 20).pow(2) + (y as i32 - 20).pow(2) < 100 {
                Rgb([200, 30, 30])
            } else {
                Rgb([255, 255, 255])
            }
        })
    }

    #[test]
    fn finds_the_white_background_and_keeps_the_fruit() {
        let img = studio();
        assert!(is_studio_shot(&img));
        let mask = white_background_mask(&img);
        assert!(mask[0] && !mask[20 * 40 + 20]);
        let busy = RgbImage::from_fn(40, 40, |x, _| Rgb([x as u8 * 5, 100, 50]));
        assert!(!is_studio_shot(&busy));
    }

    #[test]
    fn background_compositing_replaces_only_the_background() {
        let aug = Augmenter::new(AugmentParts::parse("background").unwrap(), Vec::new());
        let mut rng = StdRng::seed_from_u64(3);
        let out = aug.variant(&studio(), &mut rng);
        assert_eq!(out.get_pixel(20, 20), &Rgb([200, 30, 30]));
        let white = out.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        assert!(white < 100, "{white} white pixels left");
    }

    #[test]
    fn variants_are_deterministic_per_seed_and_differ_between_seeds() {
        let aug = Augmenter::new(AugmentParts::ALL, Vec::new());
        let a = aug.variant(&studio(), &mut StdRng::seed_from_u64(1));
        let b = aug.variant(&studio(), &mut StdRng::seed_from_u64(1));
        let c = aug.variant(&studio(), &mut StdRng::seed_from_u64(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn user_backgrounds_are_used() {
        let green = RgbImage::from_pixel(30, 30, Rgb([0, 255, 0]));
        let aug = Augmenter::new(AugmentParts::parse("background").unwrap(), vec![green]);
        let out = aug.variant(&studio(), &mut StdRng::seed_from_u64(9));
        assert_eq!(out.get_pixel(0, 0), &Rgb([0, 255, 0]));
    }

    #[test]
    fn parse_rejects_unknown_parts() {
        assert_eq!(AugmentParts::parse("all").unwrap(), AugmentParts::ALL);
        assert!(AugmentParts::parse("crop,zoom")
            .unwrap_err()
            .contains("zoom"));
    }
}
