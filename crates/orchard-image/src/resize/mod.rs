//! Bicubic resampling that reproduces Pillow's `Image.resize(size)` (default
//! filter `BICUBIC`) bit for bit on 8-bit RGB.
//!
//! This is a direct port of Pillow's `libImaging/Resample.c` (8 bits per
//! channel path):
//!
//! * filter: Keys cubic with `a = -0.5` (Catmull-Rom), support 2;
//! * when downsampling by `scale = in/out > 1` the kernel is stretched by
//!   `scale` (support `2·scale`), i.e. it is also a low-pass filter;
//! * per output pixel the source window is `[round(c − support),
//!   round(c + support))` clamped to the image, with `c = (i + 0.5)·scale`,
//!   weights normalised to sum 1 in `f64`, then converted to fixed point with
//!   22 fractional bits (`PRECISION_BITS = 32 − 8 − 2`), rounding half away
//!   from zero;
//! * accumulation in `i32` starting from `1 << 21` (rounding), result
//!   `clamp(acc >> 22, 0, 255)`;
//! * two separable passes with the intermediate image rounded to 8 bits:
//!   **horizontal first** (only rows needed by the vertical pass are
//!   computed), except, as in Pillow 13, when the height shrinks by more than
//!   twice as many pixels as the width (`h − H > 2·(w − W)`, `h > H`): then
//!   vertical first. A pass is skipped when that axis keeps its size.
//!
//! `fast_image_resize` (`Convolution(CatmullRom)`) is *not* bit-exact with
//! Pillow: it runs the vertical pass first for `u8` images (so the 8-bit
//! clipping between the passes differs, by up to ~25 levels next to hard
//! edges) and quantises weights to `i16` with at most 15 fractional bits
//! (Pillow-SIMD's scheme; ±1 differences elsewhere). On the test fixtures only
//! 91% of samples matched. Hence this port, which matches 100%.
//!
//! Speed: the vertical pass runs over contiguous rows; for short kernels
//! (upsampling, mild downsampling) the horizontal pass is done the same way
//! on the transposed image. The inner loops are plain Rust compiled twice,
//! once with AVX2 enabled and picked at run time, so that LLVM vectorises
//! them. All variants compute the same integer sums, so the output does not
//! depend on the path taken (checked in the tests).

mod kernels;

use image::RgbImage;

use crate::error::ImageError;
use kernels::*;

/// Reusable PIL-exact bicubic resizer for packed RGB8 images.
///
/// Caches the weights of the last source/target sizes (so a stream of
/// same-sized photos computes them once) and the intermediate buffers.
#[derive(Debug)]
pub struct Resizer {
    horiz: Option<Coeffs>,
    vert: Option<Coeffs>,
    temp: Vec<u8>,
    acc: Vec<i32>,
    tbufs: TransposeBufs,
    avx2: bool,
    hmode: HorizontalMode,
}

/// How the horizontal pass is computed (same result either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HorizontalMode {
    /// Transposed for kernels up to `TRANSPOSE_MAX_KSIZE` taps, direct above.
    Auto,
    #[cfg(test)]
    Direct,
    #[cfg(test)]
    Transposed,
}

impl Default for Resizer {
    fn default() -> Self {
        Resizer::new()
    }
}

impl Resizer {
    /// A resizer with empty caches.
    pub fn new() -> Resizer {
        Resizer {
            horiz: None,
            vert: None,
            temp: Vec::new(),
            acc: Vec::new(),
            tbufs: TransposeBufs::default(),
            avx2: has_avx2(),
            hmode: HorizontalMode::Auto,
        }
    }

    /// Resize an image to `width`×`height`, like PIL's `img.resize((width, height))`.
    pub fn resize(
        &mut self,
        img: &RgbImage,
        width: u32,
        height: u32,
    ) -> Result<RgbImage, ImageError> {
        let (sw, sh) = img.dimensions();
        let len = checked_len(width, height, sw, sh, width, height)?;
        let mut out = vec![0u8; len];
        self.resize_into(img.as_raw(), sw, sh, &mut out, width, height)?;
        RgbImage::from_raw(width, height, out)
            .ok_or_else(|| resize_error(sw, sh, width, height, "output buffer mismatch".into()))
    }

    /// Resize packed RGB8 `src` (`src_w`×`src_h`) into `dst` (`dst_w`×`dst_h`,
    /// exactly `dst_w * dst_h * 3` bytes). Equal sizes copy.
    pub fn resize_into(
        &mut self,
        src: &[u8],
        src_w: u32,
        src_h: u32,
        dst: &mut [u8],
        dst_w: u32,
        dst_h: u32,
    ) -> Result<(), ImageError> {
        let src_len = checked_len(src_w, src_h, src_w, src_h, dst_w, dst_h)?;
        let dst_len = checked_len(dst_w, dst_h, src_w, src_h, dst_w, dst_h)?;
        if src.len() != src_len || dst.len() != dst_len {
            return Err(resize_error(
                src_w,
                src_h,
                dst_w,
                dst_h,
                format!(
                    "buffer sizes {} and {} bytes, expected {src_len} and {dst_len}",
                    src.len(),
                    dst.len()
                ),
            ));
        }
        let need_h = src_w != dst_w;
        let need_v = src_h != dst_h;
        if !need_h && !need_v {
            dst.copy_from_slice(src);
            return Ok(());
        }
        let avx2 = self.avx2;
        let hmode = self.hmode;
        let transposed = |c: &Coeffs| match hmode {
            HorizontalMode::Auto => c.ksize <= TRANSPOSE_MAX_KSIZE,
            #[cfg(test)]
            HorizontalMode::Direct => false,
            #[cfg(test)]
            HorizontalMode::Transposed => true,
        };
        if !need_v {
            let h = cached(&mut self.horiz, src_w, dst_w);
            let t = transposed(h);
            horizontal(src, src_w as usize, 0, h, &mut self.tbufs, dst, (avx2, t));
            return Ok(());
        }
        let v = cached(&mut self.vert, src_h, dst_h);
        let row_bytes = dst_w as usize * 3;
        self.acc.resize(row_bytes, 0);
        if !need_h {
            vertical(src, row_bytes, 0, v, dst, &mut self.acc, avx2);
            return Ok(());
        }
        if vertical_first(src_w, src_h, dst_w, dst_h) {
            // Vertical pass over the full width, then horizontal.
            let src_row_bytes = src_w as usize * 3;
            self.acc.resize(src_row_bytes, 0);
            self.temp.resize(dst_h as usize * src_row_bytes, 0);
            vertical(
                src,
                src_row_bytes,
                0,
                v,
                &mut self.temp,
                &mut self.acc,
                avx2,
            );
            let h = cached(&mut self.horiz, src_w, dst_w);
            let t = transposed(h);
            horizontal(
                &self.temp,
                src_w as usize,
                0,
                h,
                &mut self.tbufs,
                dst,
                (avx2, t),
            );
            return Ok(());
        }
        // Horizontal pass on the rows the vertical pass reads, then vertical.
        let (first, last) = v.span();
        let h = cached(&mut self.horiz, src_w, dst_w);
        self.temp.resize((last - first) * row_bytes, 0);
        let t = transposed(h);
        horizontal(
            src,
            src_w as usize,
            first,
            h,
            &mut self.tbufs,
            &mut self.temp,
            (avx2, t),
        );
        vertical(&self.temp, row_bytes, first, v, dst, &mut self.acc, avx2);
        Ok(())
    }
}

/// Pillow 13's order of the two passes (python-pillow/Pillow#9549): the
/// vertical pass goes first when the height shrinks by more than twice as
/// many pixels as the width does. Checked against Pillow 13 on 1,493 random
/// size pairs; earlier Pillows always went horizontal first (the results then
/// differ by at most a few levels on some pixels).
fn vertical_first(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> bool {
    let shrink_h = i64::from(src_h) - i64::from(dst_h);
    let shrink_w = i64::from(src_w) - i64::from(dst_w);
    shrink_h > 0 && shrink_h > 2 * shrink_w
}

fn cached(slot: &mut Option<Coeffs>, in_size: u32, out_size: u32) -> &Coeffs {
    match slot {
        Some(c) if c.in_size == in_size && c.out_size == out_size => {}
        _ => *slot = Some(Coeffs::new(in_size, out_size)),
    }
    slot.get_or_insert_with(|| Coeffs::new(in_size, out_size))
}

fn resize_error(sw: u32, sh: u32, dw: u32, dh: u32, reason: String) -> ImageError {
    ImageError::Resize {
        src_width: sw,
        src_height: sh,
        dst_width: dw,
        dst_height: dh,
        reason,
    }
}

/// `w * h * 3`, or an error for empty or absurd sizes.
fn checked_len(w: u32, h: u32, sw: u32, sh: u32, dw: u32, dh: u32) -> Result<usize, ImageError> {
    if w == 0 || h == 0 {
        return Err(resize_error(sw, sh, dw, dh, "empty image".into()));
    }
    (w as usize)
        .checked_mul(h as usize)
        .and_then(|p| p.checked_mul(3))
        .ok_or_else(|| resize_error(sw, sh, dw, dh, "size overflows memory".into()))
}

/// Resize an RGB8 image to `width`×`height` exactly as PIL's
/// `img.resize((width, height))` does (bicubic, a = -0.5). See the module
/// docs. For many images, keep a [`Resizer`] instead.
pub fn resize_rgb8(img: &RgbImage, width: u32, height: u32) -> Result<RgbImage, ImageError> {
    Resizer::new().resize(img, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [
            (100, 224),
            (3000, 224),
            (1, 224),
            (37, 224),
            (224, 1),
            (2, 3),
        ] {
            let c = Coeffs::new(i, o);
            for (&(start, n), k) in c.bounds.iter().zip(c.weights.chunks_exact(c.ksize)) {
                assert!(n >= 1 && start + n <= i as usize, "{i}->{o}");
                let sum: i64 = k[..n].iter().map(|&v| i64::from(v)).sum();
                assert!((sum - (1 << 22)).abs() <= n as i64, "{i}->{o}: {sum}");
            }
        }
    }

    #[test]
    fn flat_image_stays_flat_and_scalar_matches_avx2() {
        let img = RgbImage::from_pixel(13, 7, image::Rgb([9, 128, 250]));
        let out = resize_rgb8(&img, 40, 3).unwrap();
        assert!(out.pixels().all(|p| p.0 == [9, 128, 250]));
        // Scalar and vectorised paths agree on noisy data.
        let raw: Vec<u8> = (0..97 * 61 * 3).map(|i| (i * 7919 % 256) as u8).collect();
        let img = RgbImage::from_raw(97, 61, raw).unwrap();
        let mut r = Resizer::new();
        for (w, h) in [(224, 224), (40, 30), (224, 61), (97, 224), (5, 1)] {
            let want = r.resize(&img, w, h).unwrap();
            for avx2 in [false, r.avx2] {
                for mode in [HorizontalMode::Direct, HorizontalMode::Transposed] {
                    let mut alt = Resizer::new();
                    alt.avx2 = avx2;
                    alt.hmode = mode;
                    assert_eq!(
                        alt.resize(&img, w, h).unwrap(),
                        want,
                        "{w}x{h} {mode:?} avx2={avx2}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_sizes_are_errors() {
        let img = RgbImage::new(4, 4);
        assert!(resize_rgb8(&img, 0, 4).is_err());
        let mut r = Resizer::new();
        let mut dst = vec![0; 5];
        let err = r.resize_into(&[0; 48], 4, 4, &mut dst, 2, 2).unwrap_err();
        assert_eq!(err.stage(), "resize");
        assert!(r.resize_into(&[0; 47], 4, 4, &mut [0; 12], 2, 2).is_err());
        assert!(r.resize_into(&[], 0, 4, &mut [0; 12], 2, 2).is_err());
    }
}
