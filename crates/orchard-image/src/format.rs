//! Content sniffing and header parsing, done before any decoder runs.
//!
//! The dimensions come from our own bounds-checked parse of the PNG `IHDR`
//! chunk or the JPEG `SOFn` segment, so the pixel budget is enforced before a
//! decoder is even constructed (no allocation proportional to the declared
//! size can happen on an oversized header).

use serde::{Deserialize, Serialize};

use crate::error::{describe_prefix, ImageError};

/// Container format of a decodable input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// JPEG / JFIF / EXIF JPEG.
    Jpeg,
    /// PNG (including APNG, whose default image is used).
    Png,
    /// WebP: lossy (VP8), lossless (VP8L) or extended (VP8X: alpha, EXIF;
    /// an animation's first frame is used).
    WebP,
}

impl SourceFormat {
    /// `"JPEG"`, `"PNG"` or `"WebP"`.
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Jpeg => "JPEG",
            SourceFormat::Png => "PNG",
            SourceFormat::WebP => "WebP",
        }
    }
}

/// Colour model stored in the file, before conversion to 8-bit RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceColor {
    /// One luminance channel.
    Gray,
    /// Luminance and alpha.
    GrayAlpha,
    /// RGB (YCbCr for JPEG).
    Rgb,
    /// RGB with alpha.
    Rgba,
    /// Palette-indexed (PNG), possibly with transparency.
    Indexed,
    /// Four-channel JPEG: CMYK or Adobe YCCK.
    Cmyk,
}

/// What the header says, before decoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub format: SourceFormat,
    pub width: u32,
    pub height: u32,
    pub color: SourceColor,
    pub bit_depth: u8,
    /// JPEG only: offset just past the first SOS segment header (start of
    /// entropy-coded data).
    pub scan_start: usize,
    /// JPEG only: where the first EXIF block's TIFF data lies (`APP1` after
    /// its `Exif\0\0` mark), as `(start, end)`.
    pub exif: Option<(usize, usize)>,
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Identify the format from the content and parse its header.
pub(crate) fn read_header(bytes: &[u8]) -> Result<Header, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return parse_jpeg(bytes);
    }
    if bytes.starts_with(PNG_SIGNATURE) {
        return parse_png(bytes);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return parse_webp(bytes);
    }
    match other_format(bytes) {
        Some(format) => Err(ImageError::UnsupportedFormat { format }),
        None => Err(ImageError::UnknownFormat {
            prefix: describe_prefix(bytes),
        }),
    }
}

/// Names formats we recognise but do not decode, so the error can say what
/// the file actually is.
fn other_format(b: &[u8]) -> Option<&'static str> {
    let starts = |sig: &[u8]| b.starts_with(sig);
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some("GIF");
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Some("TIFF");
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        let brand = &b[8..12];
        return match brand {
            b"avif" | b"avis" => Some("AVIF"),
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                Some("HEIF/HEIC")
            }
            b"jxl " => Some("JPEG XL"),
            _ => Some("ISO-BMFF (MP4/MOV/HEIF family)"),
        };
    }
    if starts(b"BM") && b.len() >= 14 {
        return Some("BMP");
    }
    if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0CJXL \r\n\x87\n") {
        return Some("JPEG XL");
    }
    if starts(b"\0\0\0\x0CjP  \r\n\x87\n") || starts(&[0xFF, 0x4F, 0xFF, 0x51]) {
        return Some("JPEG 2000");
    }
    if starts(&[0, 0, 1, 0]) {
        return Some("ICO");
    }
    if starts(b"8BPS") {
        return Some("PSD");
    }
    if starts(b"qoif") {
        return Some("QOI");
    }
    if starts(b"%PDF") {
        return Some("PDF");
    }
    let text = trim_text_start(b);
    let lower: Vec<u8> = text.iter().take(15).map(u8::to_ascii_lowercase).collect();
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        return Some("HTML text");
    }
    if lower.starts_with(b"<svg") {
        return Some("SVG");
    }
    if lower.starts_with(b"<?xml") {
        return Some("XML text (SVG?)");
    }
    None
}

fn trim_text_start(b: &[u8]) -> &[u8] {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    let skip = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[skip..]
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn parse_png(b: &[u8]) -> Result<Header, ImageError> {
    // signature(8) | length(4) | "IHDR"(4) | width(4) height(4) depth(1) colour(1) ...
    let truncated = || ImageError::Truncated {
        format: "PNG",
        detail: format!("{} bytes, ends inside the IHDR header", b.len()),
    };
    let tag = b.get(12..16).ok_or_else(truncated)?;
    if tag != b"IHDR" {
        return Err(ImageError::Corrupt {
            format: "PNG",
            reason: "first chunk is not IHDR".into(),
        });
    }
    let width = be32(b, 16).ok_or_else(truncated)?;
    let height = be32(b, 20).ok_or_else(truncated)?;
    let bit_depth = *b.get(24).ok_or_else(truncated)?;
    let color = match *b.get(25).ok_or_else(truncated)? {
        0 => SourceColor::Gray,
        2 => SourceColor::Rgb,
        3 => SourceColor::Indexed,
        4 => SourceColor::GrayAlpha,
        6 => SourceColor::Rgba,
        other => {
            return Err(ImageError::Corrupt {
                format: "PNG",
                reason: format!("invalid colour type {other} in IHDR"),
            })
        }
    };
    Ok(Header {
        format: SourceFormat::Png,
        width,
        height,
        color,
        bit_depth,
        scan_start: 0,
        exif: None,
    })
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(3)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], 0]))
}

/// The size and colour model from a WebP's first chunk: `VP8X` (extended:
/// canvas size, alpha flag), `VP8L` (lossless: packed 14-bit sizes, alpha
/// hint) or `VP8 ` (lossy: key frame header, no alpha).
fn parse_webp(b: &[u8]) -> Result<Header, ImageError> {
    let truncated = || ImageError::Truncated {
        format: "WebP",
        detail: format!("{} bytes, ends inside the first chunk's header", b.len()),
    };
    let corrupt = |reason: &str| ImageError::Corrupt {
        format: "WebP",
        reason: reason.into(),
    };
    // "RIFF" size "WEBP" | fourcc(4) size(4) payload at 20.
    let fourcc = b.get(12..16).ok_or_else(truncated)?;
    let (width, height, alpha) = match fourcc {
        b"VP8X" => {
            let flags = *b.get(20).ok_or_else(truncated)?;
            let width = le24(b, 24).ok_or_else(truncated)? + 1;
            let height = le24(b, 27).ok_or_else(truncated)? + 1;
            (width, height, flags & 0x10 != 0)
        }
        b"VP8L" => {
            if *b.get(20).ok_or_else(truncated)? != 0x2F {
                return Err(corrupt("lossless bitstream without its 0x2F signature"));
            }
            let bits = b.get(21..25).ok_or_else(truncated)?;
            let bits = u32::from_le_bytes([bits[0], bits[1], bits[2], bits[3]]);
            (
                (bits & 0x3FFF) + 1,
                ((bits >> 14) & 0x3FFF) + 1,
                bits & (1 << 28) != 0,
            )
        }
        b"VP8 " => {
            let frame = b.get(20..30).ok_or_else(truncated)?;
            if frame[0] & 1 != 0 || frame[3..6] != [0x9D, 0x01, 0x2A] {
                return Err(corrupt("lossy bitstream does not start with a key frame"));
            }
            let width = u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3FFF);
            let height = u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3FFF);
            (width, height, false)
        }
        _ => {
            return Err(corrupt(&format!(
                "first chunk is {:?}, not VP8, VP8L or VP8X",
                String::from_utf8_lossy(fourcc)
            )))
        }
    };
    Ok(Header {
        format: SourceFormat::WebP,
        width,
        height,
        color: if alpha {
            SourceColor::Rgba
        } else {
            SourceColor::Rgb
        },
        bit_depth: 8,
        scan_start: 0,
        exif: None,
    })
}

fn parse_jpeg(b: &[u8]) -> Result<Header, ImageError> {
    let truncated = |what: &str| ImageError::Truncated {
        format: "JPEG",
        detail: format!("{} bytes, ends {what}", b.len()),
    };
    let mut frame: Option<(u32, u32, u8, u8)> = None;
    let mut exif = None;
    let mut pos = 2usize;
    loop {
        // Tolerate junk between segments the way libjpeg does (it warns and
        // skips to the next 0xFF), then any number of 0xFF fill bytes.
        while pos < b.len() && b[pos] != 0xFF {
            pos += 1;
        }
        while pos < b.len() && b[pos] == 0xFF {
            pos += 1;
        }
        let Some(&marker) = b.get(pos) else {
            return Err(truncated("before the first scan"));
        };
        pos += 1;
        match marker {
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD8 => continue,
            0xD9 => {
                return Err(ImageError::Corrupt {
                    format: "JPEG",
                    reason: "end-of-image marker before any image data".into(),
                })
            }
            _ => {}
        }
        let len = be16(b, pos).ok_or_else(|| truncated("inside a segment header"))? as usize;
        if len < 2 {
            return Err(ImageError::Corrupt {
                format: "JPEG",
                reason: format!("segment 0xFF{marker:02X} has invalid length {len}"),
            });
        }
        let seg = b
            .get(pos + 2..pos + len)
            .ok_or_else(|| truncated("inside a header segment"))?;
        match marker {
            0xE1 if exif.is_none() && seg.starts_with(b"Exif\0\0") => {
                exif = Some((pos + 2 + 6, pos + len));
            }
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) && frame.is_none() => {
                if seg.len() < 6 {
                    return Err(ImageError::Corrupt {
                        format: "JPEG",
                        reason: "frame header (SOF) too short".into(),
                    });
                }
                let precision = seg[0];
                let height = u32::from(u16::from_be_bytes([seg[1], seg[2]]));
                let width = u32::from(u16::from_be_bytes([seg[3], seg[4]]));
                frame = Some((width, height, seg[5], precision));
            }
            0xDA => {
                let Some((width, height, components, precision)) = frame else {
                    return Err(ImageError::Corrupt {
                        format: "JPEG",
                        reason: "scan data before the frame header (no SOF marker)".into(),
                    });
                };
                let color = match components {
                    1 => SourceColor::Gray,
                    3 => SourceColor::Rgb,
                    4 => SourceColor::Cmyk,
                    n => {
                        return Err(ImageError::UnsupportedFeature {
                            format: "JPEG",
                            reason: format!("{n} colour components"),
                        })
                    }
                };
                return Ok(Header {
                    format: SourceFormat::Jpeg,
                    width,
                    height,
                    color,
                    bit_depth: precision,
                    scan_start: pos + len,
                    exif,
                });
            }
            _ => {}
        }
        pos += len;
    }
}

/// Whether a JPEG has an end-of-image marker after its first scan.
///
/// Inside entropy-coded data every `0xFF` byte is followed by `0x00` or a
/// restart marker, so an `FF D9` after the first scan header is a real EOI
/// (of this image or of something appended after it). Searched from the end,
/// where it normally is.
pub(crate) fn jpeg_has_eoi(b: &[u8], scan_start: usize) -> bool {
    b.get(scan_start..)
        .is_some_and(|data| data.windows(2).rev().any(|w| w == [0xFF, 0xD9]))
}
