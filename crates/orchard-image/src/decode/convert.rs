//! Decoder output to packed 8-bit RGB, in place: grayscale copied, 16-bit
//! samples' high byte, alpha composited over white (exact integer rounding).

use image::ColorType;

use crate::error::ImageError;
use crate::format::SourceFormat;

pub(super) fn internal(what: &str) -> ImageError {
    ImageError::Corrupt {
        format: "image",
        reason: format!("internal error: {what}"),
    }
}

/// Composite one 8-bit sample over white: `round((c·a + 255·(255−a)) / 255)`.
#[inline(always)]
pub(super) fn over_white(c: u8, a: u8) -> u8 {
    let (c, a) = (u32::from(c), u32::from(a));
    ((c * a + 255 * (255 - a) + 127) / 255) as u8
}

#[inline(always)]
pub(super) fn hi(buf: &[u8], at: usize) -> u8 {
    // 16-bit samples come back in native byte order; keep the high byte.
    (u16::from_ne_bytes([buf[at], buf[at + 1]]) >> 8) as u8
}

/// Convert the decoder output in `buf` (`pixels` pixels of `ct`) to packed
/// RGB8 in place. Returns whether the source had alpha.
pub(super) fn to_rgb8_in_place(
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
