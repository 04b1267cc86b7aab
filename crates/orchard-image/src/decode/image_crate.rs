//! The `image` crate's decoders as the fallback path: run with the pixel
//! budget as allocation limits and a panic guard, their errors mapped to
//! Orchard's with the file format and what went wrong.

use std::io::Cursor;

use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::metadata::Orientation;
use image::{ColorType, ImageDecoder};

use crate::error::ImageError;
use crate::format::{Header, SourceColor, SourceFormat};
use crate::libjpeg;

use super::{check_budget, DecodeOptions};

pub(super) struct RawDecoded {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) color_type: ColorType,
    pub(super) orientation: Orientation,
}

pub(super) fn run_decoder(
    bytes: &[u8],
    header: &Header,
    opts: &DecodeOptions,
    buf: &mut Vec<u8>,
    min_side: Option<u32>,
) -> Result<RawDecoded, ImageError> {
    let fmt = header.format;
    let map = |e| map_image_error(e, fmt, bytes.len());
    match fmt {
        SourceFormat::Jpeg => {
            // zune-jpeg (through `image`) reads the metadata and is the
            // fallback; libjpeg-turbo decodes the pixels when it can.
            let dec = match JpegDecoder::new(Cursor::new(bytes)) {
                Ok(dec) => dec,
                Err(e) => return libjpeg_alone(bytes, header, buf, min_side).ok_or_else(|| map(e)),
            };
            let pil_exact = |buf: &mut Vec<u8>| libjpeg::decode_rgb8(bytes, buf, min_side).ok();
            let pil_exact = (header.color != SourceColor::Cmyk).then_some(pil_exact);
            read_all(dec, fmt, opts, buf, pil_exact)
        }
        SourceFormat::Png => {
            let dec = PngDecoder::with_limits(Cursor::new(bytes), opts.limits()).map_err(map)?;
            read_all(dec, fmt, opts, buf, None::<fn(&mut Vec<u8>) -> _>)
        }
        SourceFormat::WebP => {
            let dec = WebPDecoder::new(Cursor::new(bytes)).map_err(map)?;
            read_all(dec, fmt, opts, buf, None::<fn(&mut Vec<u8>) -> _>)
        }
    }
    .map_err(|e| match e {
        Mapped::Ours(e) => e,
        Mapped::Image(e) => map(e),
    })
}

/// A JPEG zune-jpeg cannot read (arithmetic coding, whose `DAC` segment it
/// refuses), decoded by libjpeg-turbo alone, as Pillow does; the orientation
/// from the header's EXIF block. `None` when libjpeg declines it too (CMYK
/// is never tried: zune-jpeg's error stands).
fn libjpeg_alone(
    bytes: &[u8],
    header: &Header,
    buf: &mut Vec<u8>,
    min_side: Option<u32>,
) -> Option<RawDecoded> {
    if header.color == SourceColor::Cmyk {
        return None;
    }
    let scaled = libjpeg::decode_rgb8(bytes, buf, min_side).ok()?;
    // The pixel budget was checked on the header's size.
    if scaled.stored != (header.width, header.height) {
        return None;
    }
    let orientation = header
        .exif
        .and_then(|(start, end)| Orientation::from_exif_chunk(bytes.get(start..end)?))
        .unwrap_or(Orientation::NoTransforms);
    Some(RawDecoded {
        width: scaled.output.0,
        height: scaled.output.1,
        color_type: ColorType::Rgb8,
        orientation,
    })
}

pub(super) enum Mapped {
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
pub(super) fn read_all<D: ImageDecoder>(
    mut dec: D,
    fmt: SourceFormat,
    opts: &DecodeOptions,
    buf: &mut Vec<u8>,
    preferred: Option<impl FnOnce(&mut Vec<u8>) -> Option<libjpeg::Scaled>>,
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
    if let Some(scaled) = preferred.and_then(|decode| decode(buf)) {
        if scaled.stored == (width, height) {
            return Ok(RawDecoded {
                width: scaled.output.0,
                height: scaled.output.1,
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

pub(super) fn map_image_error(e: image::ImageError, fmt: SourceFormat, len: usize) -> ImageError {
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
pub(super) fn tidy_chunk_names(reason: String) -> String {
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

pub(super) fn looks_truncated(reason: &str) -> bool {
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
