//! A studio shot's background: finding it, replacing it, and laying the
//! shot's fruit several times on a new one.

use image::{imageops, Rgb, RgbImage};
use rand::Rng;

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
    let (w, h) = img.dimensions();
    let mut mask = vec![false; (w * h) as usize];
    if w > 0 && h > 0 {
        let border = (0..w)
            .flat_map(|x| [(x, 0), (x, h - 1)])
            .chain((0..h).flat_map(|y| [(0, y), (w - 1, y)]));
        flood(img, &mut mask, border, is_white);
    }
    mask
}

/// Marks in `mask` (row-major, one flag per pixel) every pixel that `keep`
/// accepts and that is 4-connected to one of `seeds` through such pixels.
/// Marked pixels are not entered again.
pub(super) fn flood(
    img: &RgbImage,
    mask: &mut [bool],
    seeds: impl IntoIterator<Item = (u32, u32)>,
    keep: impl Fn(&Rgb<u8>) -> bool,
) {
    let (w, h) = img.dimensions();
    let mut stack = Vec::new();
    let enter = |x: u32, y: u32, mask: &mut [bool], stack: &mut Vec<(u32, u32)>| {
        let i = (y * w + x) as usize;
        if !mask[i] && keep(img.get_pixel(x, y)) {
            mask[i] = true;
            stack.push((x, y));
        }
    };
    for (x, y) in seeds {
        enter(x, y, mask, &mut stack);
    }
    while let Some((x, y)) = stack.pop() {
        if x > 0 {
            enter(x - 1, y, mask, &mut stack);
        }
        if x + 1 < w {
            enter(x + 1, y, mask, &mut stack);
        }
        if y > 0 {
            enter(x, y - 1, mask, &mut stack);
        }
        if y + 1 < h {
            enter(x, y + 1, mask, &mut stack);
        }
    }
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

/// The fruit of a studio shot (the pixels `background` does not mark), cut
/// out and laid 2–4 times on `canvas`: each copy flipped or turned by a
/// quarter, its longer side 40–70 % of the canvas's, placed anywhere a
/// quarter of it may leave the frame, over the copies before it. `None` when
/// the shot has no fruit pixels.
pub(super) fn several_fruits(
    img: &RgbImage,
    background: &[bool],
    canvas: &RgbImage,
    rng: &mut impl Rng,
) -> Option<RgbImage> {
    let w = img.width();
    let fruit = |x: u32, y: u32| !background[(y * w + x) as usize];
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, _) in img.enumerate_pixels() {
        if fruit(x, y) {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    if x0 > x1 {
        return None;
    }
    // The cut-out: the fruit's box, background pixels transparent.
    let sprite = image::RgbaImage::from_fn(x1 - x0 + 1, y1 - y0 + 1, |x, y| {
        let p = img.get_pixel(x0 + x, y0 + y).0;
        let alpha = if fruit(x0 + x, y0 + y) { 255 } else { 0 };
        image::Rgba([p[0], p[1], p[2], alpha])
    });
    let mut canvas = canvas.clone();
    let (cw, ch) = canvas.dimensions();
    for _ in 0..rng.random_range(2..=4u32) {
        let turned = match rng.random_range(0..4) {
            0 => sprite.clone(),
            1 => imageops::rotate90(&sprite),
            2 => imageops::rotate180(&sprite),
            _ => imageops::flip_horizontal(&sprite),
        };
        let side = cw.min(ch) as f32 * rng.random_range(0.4..0.7f32);
        let scale = side / turned.width().max(turned.height()) as f32;
        let (sw, sh) = (
            ((turned.width() as f32 * scale) as u32).max(1),
            ((turned.height() as f32 * scale) as u32).max(1),
        );
        let copy = imageops::resize(&turned, sw, sh, imageops::FilterType::Triangle);
        let x = rng.random_range(-(sw as i64) / 4..=cw as i64 - 3 * sw as i64 / 4);
        let y = rng.random_range(-(sh as i64) / 4..=ch as i64 - 3 * sh as i64 / 4);
        for (sx, sy, p) in copy.enumerate_pixels() {
            let (tx, ty) = (x + sx as i64, y + sy as i64);
            if p.0[3] >= 128 && (0..cw as i64).contains(&tx) && (0..ch as i64).contains(&ty) {
                canvas.put_pixel(tx as u32, ty as u32, Rgb([p.0[0], p.0[1], p.0[2]]));
            }
        }
    }
    Some(canvas)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A red disc on white, like a studio shot.
    pub(in crate::augment) fn studio() -> RgbImage {
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
}
