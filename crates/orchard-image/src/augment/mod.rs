//! Training-time augmentation: variants of a photo that look more like what
//! a phone sees in a shop than a studio shot on white paper does.
//!
//! Each part can be switched on or off ([`AugmentParts`]); a variant is
//! made by, in this order: **background compositing** (the white background
//! of a studio shot, found by flooding near-white pixels in from the border,
//! is replaced by a generated background or a random crop of a user's
//! background photo), **several fruits** (off unless asked for: in one
//! studio variant in two, the fruit is cut out and laid 2–4 times on the
//! background instead, each copy flipped or turned, 40–70 % of the side,
//! partly over the others or the edge, as in a pile or a bunch), a **random
//! resized crop** (25–100 % of the area, aspect 3:4–4:3: partial views of
//! the fruit), a horizontal **flip** (one in two), **colour jitter**
//! (brightness ×0.6–1.4, contrast ×0.7–1.3, saturation ×0.7–1.3), a
//! Gaussian **blur** (σ 0.5–2, one variant in three) and **down-then-up
//! scaling** (to 20–60 % of the side and back, one variant in three: the
//! softness of a small or distant fruit). Randomness comes from the
//! caller's seeded generator, so a variant is the same on every run.

mod studio;

pub use studio::{generated_background, is_studio_shot, white_background_mask};

use image::{imageops, Rgb, RgbImage};
use rand::Rng;
use studio::several_fruits;

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
    /// Several copies of a studio shot's fruit on one background (needs
    /// `background`).
    pub several: bool,
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
        several: true,
    };

    /// Parses a comma-separated list of
    /// `background,crop,flip,color,blur,scale,several` (or `all`).
    pub fn parse(list: &str) -> Result<AugmentParts, String> {
        let mut parts = AugmentParts {
            background: false,
            crop: false,
            flip: false,
            color: false,
            blur: false,
            scale: false,
            several: false,
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
                "several" => parts.several = true,
                other => {
                    return Err(format!(
                        "unknown augmentation `{other}`: use background, crop, flip, color, blur, scale, several or all"
                    ))
                }
            }
        }
        Ok(parts)
    }
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
            let pile = if self.parts.several && rng.random_bool(0.5) {
                several_fruits(&out, &mask, &bg, rng)
            } else {
                None
            };
            match pile {
                Some(pile) => out = pile,
                None => {
                    for (i, p) in out.pixels_mut().enumerate() {
                        if mask[i] {
                            *p = *bg.get_pixel(i as u32 % w, i as u32 / w);
                        }
                    }
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
    use super::studio::{flood, several_fruits, white_background_mask};
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::studio::tests::studio;

    #[test]
    fn background_compositing_replaces_only_the_background() {
        let aug = Augmenter::new(AugmentParts::parse("background").unwrap(), Vec::new());
        let mut rng = StdRng::seed_from_u64(3);
        let out = aug.variant(&studio(), &mut rng);
        assert_eq!(out.get_pixel(20, 20), &Rgb([200, 30, 30]));
        let white = out.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        assert!(white < 100, "{white} white pixels left");
    }

    /// Separate blobs of red pixels (4-connectivity).
    fn red_blobs(img: &RgbImage) -> usize {
        let red = |p: &Rgb<u8>| p.0[0] > 150 && p.0[1] < 80 && p.0[2] < 80;
        let mut seen = vec![false; (img.width() * img.height()) as usize];
        let mut blobs = 0;
        for (x, y, p) in img.enumerate_pixels() {
            if red(p) && !seen[(y * img.width() + x) as usize] {
                blobs += 1;
                flood(img, &mut seen, [(x, y)], red);
            }
        }
        blobs
    }

    fn red_area(img: &RgbImage) -> usize {
        img.pixels()
            .filter(|p| p.0[0] > 150 && p.0[1] < 80 && p.0[2] < 80)
            .count()
    }

    #[test]
    fn several_fruits_lays_copies_of_the_fruit_on_the_background() {
        // A plain blue background, so red pixels can only be the fruit.
        let blue = |side| RgbImage::from_pixel(side, side, Rgb([0, 0, 255]));
        let one = Augmenter::new(AugmentParts::parse("background").unwrap(), vec![blue(40)]);
        let several = AugmentParts::parse("background,several").unwrap();
        assert!(!one.parts().several && several.several && AugmentParts::ALL.several);
        let several = Augmenter::new(several, vec![blue(40)]);
        let disc = red_area(&studio());
        let mut piles = 0;
        for seed in 0..40 {
            let plain = one.variant(&studio(), &mut StdRng::seed_from_u64(seed));
            assert_eq!(red_area(&plain), disc, "seed {seed}: the fruit as it was");
            let out = several.variant(&studio(), &mut StdRng::seed_from_u64(seed));
            let white = out.pixels().filter(|p| p.0 == [255, 255, 255]).count();
            assert!(white < 100, "seed {seed}: {white} white pixels left");
            assert!(red_area(&out) > 0, "seed {seed}: the fruit is gone");
            // Copies are rescaled: a pile never has the shot's own fruit area.
            piles += (red_area(&out) != disc) as usize;
        }
        assert!(
            (12..=28).contains(&piles),
            "{piles} of 40 variants are piles"
        );
        // Copies (40–70 % of the side each) overlap in most piles, not all.
        let (mut apart, mut copies) = (0, 0);
        let mask = white_background_mask(&studio());
        for seed in 0..40 {
            let mut rng = StdRng::seed_from_u64(seed);
            let pile = several_fruits(&studio(), &mask, &blue(40), &mut rng).unwrap();
            let blobs = red_blobs(&pile);
            (apart, copies) = (apart + (blobs >= 2) as usize, copies.max(blobs));
        }
        assert!(
            apart >= 5 && copies <= 4,
            "{apart} of 20 apart, at most {copies} blobs"
        );
        // A shot without fruit (all background) is left to plain compositing.
        let blank = RgbImage::from_pixel(20, 20, Rgb([255, 255, 255]));
        let mask = white_background_mask(&blank);
        let canvas = RgbImage::new(20, 20);
        assert!(several_fruits(&blank, &mask, &canvas, &mut StdRng::seed_from_u64(1)).is_none());
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
