//! Decoding JPEG/PNG bytes to packed 8-bit RGB, with a pixel budget checked
//! before decoding, EXIF orientation and alpha composited over white.
//!
//! Colour conversions to 8-bit RGB (all exact integer arithmetic):
//!
//! * grayscale: the value is copied to R, G and B (as PIL's `convert('RGB')`);
//! * 16-bit samples: the high byte, `v >> 8` (as Pillow, which reads 16-bit
//!   RGB PNGs with raw mode `RGB;16B`); at most 1 level below `round(v/257)`;
//! * alpha (gray+alpha, RGBA, palette with `tRNS`): composited over white,
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

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::PngDecoder;
use image::metadata::Orientation;
use image::{ColorType, ImageDecoder, Limits, RgbImage};
use serde::{Deserialize, Serialize};

use crate::error::ImageError;
use crate::format::{jpeg_has_eoi, read_header, Header, SourceColor, SourceFormat};
use crate::libjpeg;
use crate::orient::orient_rgb8;

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
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_pixels: DEFAULT_MAX_PIXELS,
            apply_exif_orientation: true,
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

/// Decode JPEG or PNG bytes to 8-bit RGB.
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
    let d = decode_into(bytes, opts, &mut scratch)?;
    let img = RgbImage::from_raw(d.width, d.height, std::mem::take(&mut scratch.rgb))
        .ok_or_else(|| internal("decoded buffer size mismatch"))?;
    Ok((img, d.info))
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

/// Decode into `scratch.rgb` (packed RGB8), reusing its allocation.
pub(crate) fn decode_into(
    bytes: &[u8],
    opts: &DecodeOptions,
    scratch: &mut DecodeScratch,
) -> Result<Decoded, ImageError> {
    let header = read_header(bytes)?;
    check_budget(header.width, header.height, opts)?;

    let fmt = header.format.name();
    let raw = catch_unwind(AssertUnwindSafe(|| {
        run_decoder(bytes, &header, opts, &mut scratch.rgb)
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
            width: raw.width,
            height: raw.height,
            color: header.color,
            bit_depth: header.bit_depth,
            had_alpha,
            exif_orientation,
            orientation_applied: apply,
            resized: false,
        },
    })
}

fn check_budget(width: u32, height: u32, opts: &DecodeOptions) -> Result<(), ImageError> {
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

struct RawDecoded {
    width: u32,
    height: u32,
    color_type: ColorType,
    orientation: Orientation,
}

fn run_decoder(
    bytes: &[u8],
    header: &Header,
    opts: &DecodeOptions,
    buf: &mut Vec<u8>,
) -> Result<RawDecoded, ImageError> {
    let fmt = header.format;
    let map = |e| map_image_error(e, fmt, bytes.len());
    match fmt {
        SourceFormat::Jpeg => {
            // zune-jpeg (through `image`) reads the metadata and is the
            // fallback; libjpeg-turbo decodes the pixels when it can.
            let dec = JpegDecoder::new(Cursor::new(bytes)).map_err(map)?;
            let pil_exact = |buf: &mut Vec<u8>| libjpeg::decode_rgb8(bytes, buf).ok();
            let pil_exact = (header.color != SourceColor::Cmyk).then_some(pil_exact);
            read_all(dec, fmt, opts, buf, pil_exact)
        }
        SourceFormat::Png => {
            let dec = PngDecoder::with_limits(Cursor::new(bytes), opts.limits()).map_err(map)?;
            read_all(dec, fmt, opts, buf, None::<fn(&mut Vec<u8>) -> _>)
        }
    }
    .map_err(|e| match e {
        Mapped::Ours(e) => e,
        Mapped::Image(e) => map(e),
    })
}

enum Mapped {
    Ours(ImageError),
    Image(image::ImageError),
}

impl From<image::ImageError> for Mapped {
    fn from(e: image::ImageError) -> Self {
        Mapped::Image(e)
    }
}

/// Read the metadata from `dec`, then the pixels: with `preferred` when it
/// is given and succeeds (it returns packed RGB8 and the stored size), else
/// with `dec` itself.
fn read_all<D: ImageDecoder>(
    mut dec: D,
    fmt: SourceFormat,
    opts: &DecodeOptions,
    buf: &mut Vec<u8>,
    preferred: Option<impl FnOnce(&mut Vec<u8>) -> Option<(u32, u32)>>,
) -> Result<RawDecoded, Mapped> {
    dec.set_limits(opts.limits())?;
    let (width, height) = dec.dimensions();
    check_budget(width, height, opts).map_err(Mapped::Ours)?;
    // Read (for logging) even when not applied. A damaged or odd EXIF block
    // is not worth rejecting the photo for.
    let orientation = dec.orientation().unwrap_or(Orientation::NoTransforms);
    let color_type = dec.color_type();
    let total = dec.total_bytes();
    if total > opts.max_alloc_bytes() {
        return Err(Mapped::Ours(ImageError::MemoryLimit {
            format: fmt.name(),
            reason: format!(
                "decoded size {total} bytes exceeds {} bytes",
                opts.max_alloc_bytes()
            ),
        }));
    }
    let total = usize::try_from(total).map_err(|_| {
        Mapped::Ours(ImageError::MemoryLimit {
            format: fmt.name(),
            reason: format!("decoded size {total} bytes does not fit in memory"),
        })
    })?;
    if let Some((w, h)) = preferred.and_then(|decode| decode(buf)) {
        if (w, h) == (width, height) {
            return Ok(RawDecoded {
                width,
                height,
                color_type: ColorType::Rgb8,
                orientation,
            });
        }
    }
    // Zero all of it, not only the grown part: on a corrupt scan the JPEG
    // decoder can return Ok without writing every row, and the previous
    // image's pixels must not show through (found by fuzz/; regression
    // fixtures/fuzz/jpeg_partial_scan.jpg). A memset is cheap next to decoding.
    buf.clear();
    buf.resize(total, 0);
    dec.read_image(buf)?;
    Ok(RawDecoded {
        width,
        height,
        color_type,
        orientation,
    })
}

fn map_image_error(e: image::ImageError, fmt: SourceFormat, len: usize) -> ImageError {
    use image::ImageError as E;
    let format = fmt.name();
    let truncated = |detail: String| ImageError::Truncated {
        format,
        detail: format!("{len} bytes; {detail}"),
    };
    match e {
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            truncated(io.to_string())
        }
        E::IoError(io) => ImageError::Corrupt {
            format,
            reason: io.to_string(),
        },
        E::Decoding(d) => {
            // The wrapped decoder error says more than image's wrapper text.
            let reason = std::error::Error::source(&d)
                .map(|s| s.to_string())
                .unwrap_or_else(|| d.to_string());
            let reason = tidy_chunk_names(reason);
            if looks_truncated(&reason) {
                truncated(reason)
            } else {
                ImageError::Corrupt { format, reason }
            }
        }
        E::Limits(l) => ImageError::MemoryLimit {
            format,
            reason: l.to_string(),
        },
        E::Unsupported(u) => ImageError::UnsupportedFeature {
            format,
            reason: u.to_string(),
        },
        other => ImageError::Corrupt {
            format,
            reason: other.to_string(),
        },
    }
}

/// The png crate prints chunk types as `ChunkType { type: IHDR, critical: .. }`;
/// keep just the name.
fn tidy_chunk_names(reason: String) -> String {
    const START: &str = "ChunkType { type: ";
    let Some(at) = reason.find(START) else {
        return reason;
    };
    let rest = &reason[at + START.len()..];
    let (Some(name_end), Some(close)) = (rest.find(','), rest.find('}')) else {
        return reason;
    };
    if name_end > close {
        return reason;
    }
    format!(
        "{}{}{}",
        &reason[..at],
        &rest[..name_end],
        &rest[close + 1..]
    )
}

fn looks_truncated(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        "eof",
        "end of",
        "truncat",
        "premature",
        "no more bytes",
        "unexpected end",
    ]
    .iter()
    .any(|k| r.contains(k))
}

fn internal(what: &str) -> ImageError {
    ImageError::Corrupt {
        format: "image",
        reason: format!("internal error: {what}"),
    }
}

/// Composite one 8-bit sample over white: `round((c·a + 255·(255−a)) / 255)`.
#[inline(always)]
fn over_white(c: u8, a: u8) -> u8 {
    let (c, a) = (u32::from(c), u32::from(a));
    ((c * a + 255 * (255 - a) + 127) / 255) as u8
}

#[inline(always)]
fn hi(buf: &[u8], at: usize) -> u8 {
    // 16-bit samples come back in native byte order; keep the high byte.
    (u16::from_ne_bytes([buf[at], buf[at + 1]]) >> 8) as u8
}

/// Convert the decoder output in `buf` (`pixels` pixels of `ct`) to packed
/// RGB8 in place. Returns whether the source had alpha.
fn to_rgb8_in_place(
    buf: &mut Vec<u8>,
    pixels: usize,
    ct: ColorType,
    fmt: SourceFormat,
) -> Result<bool, ImageError> {
    let bpp = usize::from(ct.bytes_per_pixel());
    if buf.len() != pixels * bpp {
        return Err(internal(
            "decoder output size does not match its colour type",
        ));
    }
    // Shrinking conversions run forwards (a pixel's output never overlaps a
    // later pixel's input); expanding ones run backwards.
    match ct {
        ColorType::Rgb8 => {}
        ColorType::Rgba8 => {
            for i in 0..pixels {
                let s = i * 4;
                let a = buf[s + 3];
                let px = [
                    over_white(buf[s], a),
                    over_white(buf[s + 1], a),
                    over_white(buf[s + 2], a),
                ];
                buf[i * 3..i * 3 + 3].copy_from_slice(&px);
            }
        }
        ColorType::Rgb16 => {
            for i in 0..pixels {
                let s = i * 6;
                let px = [hi(buf, s), hi(buf, s + 2), hi(buf, s + 4)];
                buf[i * 3..i * 3 + 3].copy_from_slice(&px);
            }
        }
        ColorType::Rgba16 => {
            for i in 0..pixels {
                let s = i * 8;
                let a = hi(buf, s + 6);
                let px = [
                    over_white(hi(buf, s), a),
                    over_white(hi(buf, s + 2), a),
                    over_white(hi(buf, s + 4), a),
                ];
                buf[i * 3..i * 3 + 3].copy_from_slice(&px);
            }
        }
        ColorType::La16 => {
            for i in 0..pixels {
                let s = i * 4;
                let g = over_white(hi(buf, s), hi(buf, s + 2));
                buf[i * 3..i * 3 + 3].fill(g);
            }
        }
        ColorType::L8 => {
            buf.resize(pixels * 3, 0);
            for i in (0..pixels).rev() {
                let g = buf[i];
                buf[i * 3..i * 3 + 3].fill(g);
            }
        }
        ColorType::La8 => {
            buf.resize(pixels * 3, 0);
            for i in (0..pixels).rev() {
                let g = over_white(buf[i * 2], buf[i * 2 + 1]);
                buf[i * 3..i * 3 + 3].fill(g);
            }
        }
        ColorType::L16 => {
            buf.resize(pixels * 3, 0);
            for i in (0..pixels).rev() {
                let g = hi(buf, i * 2);
                buf[i * 3..i * 3 + 3].fill(g);
            }
        }
        other => {
            return Err(ImageError::UnsupportedFeature {
                format: fmt.name(),
                reason: format!("decoded colour type {other:?}"),
            })
        }
    }
    buf.truncate(pixels * 3);
    Ok(ct.has_alpha())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let bytes = include_bytes!("../fixtures/fuzz/jpeg_partial_scan.jpg");
        let opts = DecodeOptions::default();
        let mut clean = DecodeScratch::default();
        decode_into(bytes, &opts, &mut clean).unwrap();
        let mut dirty = DecodeScratch {
            rgb: vec![0xA5; 2 * clean.rgb.len()],
            spare: vec![0x5A; 64],
        };
        decode_into(bytes, &opts, &mut dirty).unwrap();
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
