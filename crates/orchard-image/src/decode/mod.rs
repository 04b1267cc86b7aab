//! Decoding JPEG/PNG/WebP bytes to packed 8-bit RGB, with a pixel budget checked
//! before decoding, EXIF orientation and alpha composited over white.
//!
//! Colour conversions to 8-bit RGB (all exact integer arithmetic):
//!
//! * grayscale: the value is copied to R, G and B (as PIL's `convert('RGB')`);
//! * 16-bit samples: the high byte, `v >> 8` (as Pillow, which reads 16-bit
//!   RGB PNGs with raw mode `RGB;16B`); at most 1 level below `round(v/257)`;
//! * alpha (gray+alpha, RGBA, palette with `tRNS`, WebP alpha): composited over white,
//!   `out = round((c·a + 255·(255 − a)) / 255)`, computed as
//!   `(c·a + 255·(255 − a) + 127) / 255` in integers (255 is odd, so there are
//!   no ties). Fully transparent pixels become white, opaque ones are
//!   unchanged. Note that PIL's `convert('RGB')` instead *drops* alpha.
//! * YCbCr, grayscale and RGB JPEG: decoded by libjpeg-turbo with Pillow's
//!   settings, pixel for pixel what PIL decodes (module `libjpeg`);
//!   files libjpeg declines or warns about go to zune-jpeg instead.
//! * CMYK / YCCK JPEG (Adobe convention, inverted): converted by zune-jpeg
//!   with `R = round(C'·K'/255)` on the stored (inverted) values, which is
//!   exactly Pillow's `CMYK;I` unpack followed by its `cmyk2rgb`. No ICC
//!   colour management (neither does PIL's `convert`).

mod convert;
mod image_crate;

use std::panic::{catch_unwind, AssertUnwindSafe};

use image::metadata::Orientation;
use image::{Limits, RgbImage};
use serde::{Deserialize, Serialize};

use crate::error::ImageError;
use crate::format::{jpeg_has_eoi, read_header, SourceColor, SourceFormat};
use crate::orient::orient_rgb8;
use convert::{internal, to_rgb8_in_place};
use image_crate::run_decoder;

/// Default pixel budget: 64 megapixels (e.g. 8000×8000, or a 9248×6936
/// 64-MP phone photo). Decoding such an image needs about 192 MB for the RGB
/// buffer (up to 512 MB transiently for a 16-bit RGBA PNG).
pub const DEFAULT_MAX_PIXELS: u64 = 64_000_000;

/// Slack on top of the output buffer for decoder-internal allocations
/// (metadata chunks, Huffman tables, row buffers), in bytes.
const DECODER_SLACK_BYTES: u64 = 64 << 20;

/// How to decode untrusted image bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct DecodeOptions {
    /// Largest `width * height` accepted. Checked against the header before
    /// any decoding; also bounds the decoders' allocations (see
    /// [`DecodeOptions::max_alloc_bytes`]). Default [`DEFAULT_MAX_PIXELS`].
    pub max_pixels: u64,
    /// Rotate/flip according to the EXIF orientation tag (JPEG APP1 or PNG
    /// `eXIf`). Default `true`. Note that `PIL.Image.open(...)` does *not* do
    /// this by itself; set `false` to reproduce a pipeline that never called
    /// `ImageOps.exif_transpose`.
    pub apply_exif_orientation: bool,
    /// Fast decoding of large JPEGs where the target size is known (a
    /// [`crate::Preparer`]): libjpeg decodes with DCT scaling (n/8) to the
    /// smallest size whose sides are both at least twice the target's
    /// larger side, then the exact bicubic resize runs. `false` (the
    /// default) decodes at full size, pixel for pixel what PIL decodes.
    pub fast_decode: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_pixels: DEFAULT_MAX_PIXELS,
            apply_exif_orientation: true,
            fast_decode: false,
        }
    }
}

impl DecodeOptions {
    /// Options with the given pixel budget and the other fields at default.
    pub fn with_max_pixels(max_pixels: u64) -> Self {
        DecodeOptions {
            max_pixels,
            ..Default::default()
        }
    }

    /// Allocation budget handed to the decoders (`image::Limits::max_alloc`):
    /// 8 bytes per allowed pixel (the widest decoded layout, 16-bit RGBA) plus
    /// 64 MiB for decoder internals.
    pub fn max_alloc_bytes(&self) -> u64 {
        self.max_pixels
            .saturating_mul(8)
            .saturating_add(DECODER_SLACK_BYTES)
    }

    fn limits(&self) -> Limits {
        let mut limits = Limits::no_limits();
        limits.max_alloc = Some(self.max_alloc_bytes());
        limits
    }
}

/// What was decoded, for logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// Container format, detected from the content.
    pub format: SourceFormat,
    /// Width as stored in the file (before orientation).
    pub width: u32,
    /// Height as stored in the file (before orientation).
    pub height: u32,
    /// Width the decoder produced (before orientation): `width`, or less
    /// with [`DecodeOptions::fast_decode`].
    pub decoded_width: u32,
    /// Height the decoder produced (before orientation).
    pub decoded_height: u32,
    /// Colour model stored in the file.
    pub color: SourceColor,
    /// Bits per sample stored in the file (8 or 16; 1/2/4 for small PNGs).
    pub bit_depth: u8,
    /// Whether the decoded image had an alpha channel (composited over white).
    pub had_alpha: bool,
    /// EXIF orientation tag (1..=8); 1 when absent or invalid.
    pub exif_orientation: u8,
    /// Whether a rotation/flip was applied (tag ≠ 1 and
    /// [`DecodeOptions::apply_exif_orientation`]).
    pub orientation_applied: bool,
    /// Whether the image was resampled to the model size (set by `prepare`;
    /// always `false` from the decode functions).
    pub resized: bool,
}

/// Decode JPEG, PNG or WebP bytes to 8-bit RGB.
///
/// The format is sniffed from the content. The declared size is checked
/// against `opts.max_pixels` before decoding. EXIF orientation is applied
/// (unless disabled), alpha is composited over white, grayscale, CMYK and
/// 16-bit inputs are converted (see the module docs for the exact rules).
pub fn decode_rgb8(bytes: &[u8], opts: &DecodeOptions) -> Result<RgbImage, ImageError> {
    decode_rgb8_with_info(bytes, opts).map(|(img, _)| img)
}

/// [`decode_rgb8`], also returning what was decoded.
pub fn decode_rgb8_with_info(
    bytes: &[u8],
    opts: &DecodeOptions,
) -> Result<(RgbImage, ImageInfo), ImageError> {
    let mut scratch = DecodeScratch::default();
    let d = decode_into(bytes, opts, &mut scratch, None)?;
    let img = RgbImage::from_raw(d.width, d.height, std::mem::take(&mut scratch.rgb))
        .ok_or_else(|| internal("decoded buffer size mismatch"))?;
    Ok((img, d.info))
}

/// [`decode_rgb8`] for an image that will be resized to `width × height`:
/// with [`DecodeOptions::fast_decode`], a large JPEG is decoded at the
/// smallest DCT scaling whose sides are both at least twice the target's
/// larger side (as [`crate::Preparer`] does); otherwise at full size.
pub fn decode_rgb8_for(
    bytes: &[u8],
    opts: &DecodeOptions,
    width: u32,
    height: u32,
) -> Result<RgbImage, ImageError> {
    let mut scratch = DecodeScratch::default();
    let d = decode_into(
        bytes,
        opts,
        &mut scratch,
        fast_decode_side(opts, width, height),
    )?;
    RgbImage::from_raw(d.width, d.height, std::mem::take(&mut scratch.rgb))
        .ok_or_else(|| internal("decoded buffer size mismatch"))
}

/// The smallest side a fast decode keeps for a `width × height` target:
/// twice its larger side, so the bicubic filter still sees every detail it
/// keeps; `None` without fast decoding.
pub(crate) fn fast_decode_side(opts: &DecodeOptions, width: u32, height: u32) -> Option<u32> {
    opts.fast_decode.then(|| 2 * width.max(height))
}

/// Reusable buffers for [`decode_into`].
#[derive(Debug, Default)]
pub(crate) struct DecodeScratch {
    /// Packed RGB8 result (`width * height * 3` bytes).
    pub rgb: Vec<u8>,
    /// Second buffer, used when an orientation is applied.
    spare: Vec<u8>,
}

impl DecodeScratch {
    /// Free buffers larger than `max_bytes`, so one huge photo does not pin
    /// hundreds of megabytes in a long-lived worker.
    pub(crate) fn trim(&mut self, max_bytes: usize) {
        for buf in [&mut self.rgb, &mut self.spare] {
            if buf.capacity() > max_bytes {
                *buf = Vec::new();
            }
        }
    }
}

/// Result of [`decode_into`]; the pixels are in `scratch.rgb`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decoded {
    /// Width after orientation.
    pub width: u32,
    /// Height after orientation.
    pub height: u32,
    pub info: ImageInfo,
}

/// Decode into `scratch.rgb` (packed RGB8), reusing its allocation; a JPEG
/// with `min_side` at the smallest DCT scaling whose sides are both at least
/// that.
pub(crate) fn decode_into(
    bytes: &[u8],
    opts: &DecodeOptions,
    scratch: &mut DecodeScratch,
    min_side: Option<u32>,
) -> Result<Decoded, ImageError> {
    let header = read_header(bytes)?;
    check_budget(header.width, header.height, opts)?;

    let fmt = header.format.name();
    let raw = catch_unwind(AssertUnwindSafe(|| {
        run_decoder(bytes, &header, opts, &mut scratch.rgb, min_side)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(ImageError::Corrupt {
            format: fmt,
            reason: format!("decoder failed internally: {what}"),
        })
    })?;

    if header.format == SourceFormat::Jpeg && !jpeg_has_eoi(bytes, header.scan_start) {
        return Err(ImageError::Truncated {
            format: "JPEG",
            detail: format!(
                "{} bytes, no end-of-image marker after the scan data",
                bytes.len()
            ),
        });
    }

    let pixels = raw.width as usize * raw.height as usize;
    let had_alpha = to_rgb8_in_place(&mut scratch.rgb, pixels, raw.color_type, header.format)?;

    let exif_orientation = raw.orientation.to_exif();
    let apply = opts.apply_exif_orientation && raw.orientation != Orientation::NoTransforms;
    let (width, height) = if apply {
        let (w, h) = orient_rgb8(
            &scratch.rgb,
            raw.width,
            raw.height,
            raw.orientation,
            &mut scratch.spare,
        );
        std::mem::swap(&mut scratch.rgb, &mut scratch.spare);
        (w, h)
    } else {
        (raw.width, raw.height)
    };

    Ok(Decoded {
        width,
        height,
        info: ImageInfo {
            format: header.format,
            width: header.width,
            height: header.height,
            decoded_width: raw.width,
            decoded_height: raw.height,
            color: header.color,
            bit_depth: header.bit_depth,
            had_alpha,
            exif_orientation,
            orientation_applied: apply,
            resized: false,
        },
    })
}

pub(super) fn check_budget(
    width: u32,
    height: u32,
    opts: &DecodeOptions,
) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::ZeroSize { width, height });
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > opts.max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            pixels,
            max_pixels: opts.max_pixels,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::convert::over_white;
    use super::*;
    use image::ColorType;

    #[test]
    fn over_white_is_exact_rounding() {
        for c in 0..=255u8 {
            for a in 0..=255u8 {
                let exact = (f64::from(c) * f64::from(a) + 255.0 * f64::from(255 - a)) / 255.0;
                assert_eq!(over_white(c, a), exact.round() as u8, "c={c} a={a}");
            }
        }
        assert_eq!(over_white(17, 0), 255);
        assert_eq!(over_white(17, 255), 17);
    }

    #[test]
    fn stale_scratch_never_shows_through() {
        // A corrupt 100×100 JPEG (found by fuzz/) that the decoder accepts
        // after writing only its first rows: the rest must not be whatever
        // the reused buffer held before.
        let bytes = include_bytes!("../../fixtures/fuzz/jpeg_partial_scan.jpg");
        let opts = DecodeOptions::default();
        let mut clean = DecodeScratch::default();
        decode_into(bytes, &opts, &mut clean, None).unwrap();
        let mut dirty = DecodeScratch {
            rgb: vec![0xA5; 2 * clean.rgb.len()],
            spare: vec![0x5A; 64],
        };
        decode_into(bytes, &opts, &mut dirty, None).unwrap();
        assert_eq!(dirty.rgb, clean.rgb);
    }

    #[test]
    fn in_place_conversions() {
        // L8 -> RGB
        let mut b = vec![1, 2, 3];
        assert!(!to_rgb8_in_place(&mut b, 3, ColorType::L8, SourceFormat::Png).unwrap());
        assert_eq!(b, [1, 1, 1, 2, 2, 2, 3, 3, 3]);
        // La8 -> RGB
        let mut b = vec![10, 255, 10, 0, 0, 128];
        assert!(to_rgb8_in_place(&mut b, 3, ColorType::La8, SourceFormat::Png).unwrap());
        assert_eq!(b, [10, 10, 10, 255, 255, 255, 127, 127, 127]);
        // Rgba8 -> RGB
        let mut b = vec![1, 2, 3, 255, 9, 9, 9, 0];
        assert!(to_rgb8_in_place(&mut b, 2, ColorType::Rgba8, SourceFormat::Png).unwrap());
        assert_eq!(b, [1, 2, 3, 255, 255, 255]);
        // L16 -> RGB (high byte)
        let mut b: Vec<u8> = [0x12ffu16, 0xab00]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        assert!(!to_rgb8_in_place(&mut b, 2, ColorType::L16, SourceFormat::Png).unwrap());
        assert_eq!(b, [0x12, 0x12, 0x12, 0xab, 0xab, 0xab]);
        // Wrong size is an error, not a panic.
        let mut b = vec![1, 2];
        assert!(to_rgb8_in_place(&mut b, 3, ColorType::Rgb8, SourceFormat::Png).is_err());
    }
}
