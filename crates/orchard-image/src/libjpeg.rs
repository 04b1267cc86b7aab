//! JPEG decoding with libjpeg-turbo's decoder, the one PIL uses, so that
//! Orchard sees the very pixels the seed pipeline saw.
//!
//! The decoder is the libjpeg-turbo code vendored by mozjpeg (its changes are
//! all on the encoder side), built from C by the `mozjpeg-sys` crate. It runs
//! with libjpeg's and Pillow's defaults: the accurate integer IDCT
//! (`JDCT_ISLOW`) and "fancy" (triangular) chroma upsampling. libjpeg-turbo's
//! SIMD kernels for these are bit-exact with its C code, so the output equals
//! Pillow's, whose wheels carry a SIMD build.
//!
//! Only what libjpeg turns into RGB by itself is decoded here: YCbCr,
//! grayscale and RGB JPEGs. Anything else (CMYK/YCCK, 12-bit), and any file
//! on which libjpeg so much as *warns* (corrupt or truncated data, which it
//! would otherwise paper over with grey), is declined and left to the
//! fallback decoder (zune-jpeg through `image`), which decides between
//! pixels and a clear error exactly as before.

use std::mem;
use std::os::raw::c_int;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use mozjpeg::{DctMethod, Decompress};
use mozjpeg_sys::{jpeg_common_struct, jpeg_error_mgr, jpeg_std_error, J_COLOR_SPACE};

/// Why libjpeg declined a file (for debugging; the fallback decoder reports
/// the user-facing error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Declined(pub String);

/// What [`decode_rgb8`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scaled {
    /// `(width, height)` as stored in the file (no orientation applied).
    pub stored: (u32, u32),
    /// `(width, height)` of the pixels in the buffer: `stored`, or smaller
    /// when DCT scaling was asked for.
    pub output: (u32, u32),
}

/// The smallest DCT scaling `n/8` (n in 1..=8) of a `width × height` image
/// whose sides are both at least `min_side`; libjpeg rounds scaled sides up.
pub(crate) fn dct_scale(width: usize, height: usize, min_side: u32) -> u8 {
    let scaled = |side: usize, n: usize| side.saturating_mul(n).div_ceil(8);
    (1..=8u8)
        .find(|&n| {
            let n = n as usize;
            scaled(width, n) >= min_side as usize && scaled(height, n) >= min_side as usize
        })
        .unwrap_or(8)
}

/// Decode `bytes` to packed RGB8 into `buf` (resized to fit); with
/// `min_side`, at the smallest DCT scaling whose sides are both at least
/// that ([`dct_scale`]): libjpeg then computes only the lower frequencies of
/// each 8×8 block, several times faster for a large photo.
pub(crate) fn decode_rgb8(
    bytes: &[u8],
    buf: &mut Vec<u8>,
    min_side: Option<u32>,
) -> Result<Scaled, Declined> {
    catch_unwind(AssertUnwindSafe(|| decode_unwinding(bytes, buf, min_side))).unwrap_or_else(
        |payload| {
            Err(Declined(
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "libjpeg stopped".into()),
            ))
        },
    )
}

/// The decode proper. libjpeg reports errors and warnings through the error
/// manager, which unwinds (see [`strict_error_mgr`]); `decode_rgb8` catches.
fn decode_unwinding(
    bytes: &[u8],
    buf: &mut Vec<u8>,
    min_side: Option<u32>,
) -> Result<Scaled, Declined> {
    let io = |e: std::io::Error| Declined(e.to_string());
    let mut dec = Decompress::with_err(strict_error_mgr())
        .from_mem(bytes)
        .map_err(io)?;
    match dec.color_space() {
        J_COLOR_SPACE::JCS_YCbCr | J_COLOR_SPACE::JCS_GRAYSCALE | J_COLOR_SPACE::JCS_RGB => {}
        other => return Err(Declined(format!("colour space {other:?}"))),
    }
    // libjpeg's defaults, which Pillow keeps; set explicitly all the same.
    dec.dct_method(DctMethod::IntegerSlow);
    dec.do_fancy_upsampling(true);
    let stored = (dec.width(), dec.height());
    if let Some(min_side) = min_side {
        dec.scale(dct_scale(stored.0, stored.1, min_side));
    }
    let mut started = dec.to_colorspace(J_COLOR_SPACE::JCS_RGB).map_err(io)?;
    let (width, height) = (started.width(), started.height());
    let len = width
        .checked_mul(height)
        .and_then(|p| p.checked_mul(3))
        .ok_or_else(|| Declined("image too large".into()))?;
    buf.clear();
    buf.resize(len, 0);
    started.read_scanlines_into::<u8>(buf).map_err(io)?;
    started.finish().map_err(io)?;
    let dim = |v: usize| u32::try_from(v).map_err(|_| Declined("image too large".into()));
    Ok(Scaled {
        stored: (dim(stored.0)?, dim(stored.1)?),
        output: (dim(width)?, dim(height)?),
    })
}

/// libjpeg's standard error manager, except that errors *and warnings*
/// unwind with the formatted message instead of printing to stderr (errors)
/// or carrying on (warnings).
fn strict_error_mgr() -> jpeg_error_mgr {
    // SAFETY: jpeg_std_error fills every field of a zeroed jpeg_error_mgr;
    // the struct holds no pointers into itself, so it may then be moved.
    unsafe {
        let mut err: jpeg_error_mgr = mem::zeroed();
        jpeg_std_error(&mut err);
        err.error_exit = Some(unwind_on_error);
        err.emit_message = Some(unwind_on_warning);
        err
    }
}

extern "C-unwind" fn unwind_on_error(cinfo: &mut jpeg_common_struct) {
    resume_unwind(Box::new(format!("libjpeg: {}", message(cinfo))));
}

/// `msg_level` < 0 is a warning (corrupt data); ≥ 0 are trace messages.
extern "C-unwind" fn unwind_on_warning(cinfo: &mut jpeg_common_struct, msg_level: c_int) {
    if msg_level < 0 {
        resume_unwind(Box::new(format!("libjpeg warning: {}", message(cinfo))));
    }
}

/// The current message, formatted by libjpeg (at most 80 bytes).
fn message(cinfo: &mut jpeg_common_struct) -> String {
    // SAFETY: `cinfo.err` is the manager installed above, valid for the
    // whole decode; `format_message` writes a NUL-terminated string of at
    // most JMSG_LENGTH_MAX (80) bytes into the buffer. mozjpeg-sys declares
    // the buffer `&[u8; 80]` although libjpeg writes to it, so it is passed
    // through a raw pointer.
    unsafe {
        let Some(err) = cinfo.err.as_ref() else {
            return "unknown error".into();
        };
        let code = err.msg_code;
        let Some(format) = err.format_message else {
            return format!("code {code}");
        };
        let mut buffer = [0u8; 80];
        let ptr = buffer.as_mut_ptr() as *const [u8; 80];
        format(cinfo, &*ptr);
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        // The directory at run time: the test binary may have been built in
        // a clone at another path sharing the build folder.
        let dir = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        );
        let path = format!("{}/fixtures/pil/decode/{name}", dir.display());
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn decodes_baseline_and_progressive() {
        let mut buf = Vec::new();
        for name in ["orient1.jpg", "progressive.jpg", "gray_jpeg.jpg"] {
            let scaled = decode_rgb8(&fixture(name), &mut buf, None).unwrap();
            let (w, h) = scaled.output;
            assert_eq!(scaled.stored, scaled.output);
            assert_eq!(buf.len(), w as usize * h as usize * 3, "{name}");
        }
    }

    #[test]
    fn the_smallest_scaling_keeping_both_sides() {
        assert_eq!(dct_scale(4000, 3000, 448), 2); // 1000 × 750
        assert_eq!(dct_scale(4032, 3024, 448), 2);
        assert_eq!(dct_scale(1920, 1080, 448), 4); // 960 × 540
        assert_eq!(dct_scale(1000, 1000, 448), 4); // 500 × 500
        assert_eq!(dct_scale(448, 448, 448), 8);
        assert_eq!(dct_scale(300, 300, 448), 8); // never upscaled
        assert_eq!(dct_scale(8000, 6000, 448), 1); // 1000 × 750
    }

    #[test]
    fn declines_cmyk() {
        let err = decode_rgb8(&fixture("cmyk.jpg"), &mut Vec::new(), None).unwrap_err();
        assert!(err.0.contains("CMYK"), "{err:?}");
    }

    #[test]
    fn declines_truncated_and_garbage_without_printing() {
        let whole = fixture("orient1.jpg");
        let mut buf = Vec::new();
        for cut in [whole.len() / 2, whole.len() - 2, 3] {
            let err = decode_rgb8(&whole[..cut], &mut buf, Some(448)).unwrap_err();
            assert!(err.0.starts_with("libjpeg"), "cut at {cut}: {err:?}");
        }
        let err = decode_rgb8(b"not a jpeg at all", &mut buf, None).unwrap_err();
        assert!(err.0.contains("Not a JPEG file"), "{err:?}");
    }
}
