//! WebP, the web's photo format: lossy, lossless and extended files decode
//! to PIL's (libwebp's) pixels exactly, alpha is laid on white, EXIF
//! orientation is applied, and bad files get clear errors.

mod common;

use std::time::{Duration, Instant};

use common::{read, read_png};
use orchard_image::{
    decode_rgb8, decode_rgb8_with_info, DecodeOptions, ImageError, SourceColor, SourceFormat,
};

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

#[test]
fn lossy_photo_matches_libwebp() {
    let (img, info) = decode_rgb8_with_info(&read("decode/photo_lossy.webp"), &opts()).unwrap();
    assert_eq!(info.format, SourceFormat::WebP);
    assert_eq!((info.width, info.height), (100, 100));
    assert_eq!((info.color, info.had_alpha), (SourceColor::Rgb, false));
    // PIL renders it with libwebp (fancy chroma upsampling); the pure-Rust
    // decoder gives the same pixels, exactly.
    assert_eq!(img, read_png("decode/photo_lossy_expected.png"));
}

#[test]
fn lossless_alpha_is_laid_on_white_exactly() {
    let (img, info) = decode_rgb8_with_info(&read("decode/rgba_lossless.webp"), &opts()).unwrap();
    assert_eq!((info.color, info.had_alpha), (SourceColor::Rgba, true));
    assert_eq!(img, read_png("decode/rgba_lossless_expected.png"));
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]); // alpha 0
    assert_eq!(img.get_pixel(1, 0).0, [10, 20, 30]); // alpha 255
                                                     // A lossless file without alpha is exact too.
    let tiny = decode_rgb8(&read("decode/tiny.webp"), &opts()).unwrap();
    assert_eq!(tiny.dimensions(), (4, 4));
}

#[test]
fn lossy_with_alpha_is_laid_on_white() {
    let (img, info) = decode_rgb8_with_info(&read("decode/rgba_lossy.webp"), &opts()).unwrap();
    assert_eq!((info.color, info.had_alpha), (SourceColor::Rgba, true));
    assert_eq!(img.dimensions(), (64, 48));
    // The transparent left quarter is white.
    assert!((0..48).all(|y| (0..16).all(|x| img.get_pixel(x, y).0 == [255, 255, 255])));
    assert_eq!(img, read_png("decode/rgba_lossy_expected.png"));
}

#[test]
fn exif_orientation_in_an_extended_file() {
    let file = read("decode/orient6.webp");
    let (img, info) = decode_rgb8_with_info(&file, &opts()).unwrap();
    assert_eq!((info.width, info.height), (32, 16));
    assert_eq!(info.exif_orientation, 6);
    assert!(info.orientation_applied);
    assert_eq!(img, read_png("decode/orient6_webp_expected.png"));
    // Stored top-left (red) is displayed top-right.
    assert_eq!(img.get_pixel(12, 4).0, [255, 0, 0]);
    let as_stored = DecodeOptions {
        apply_exif_orientation: false,
        ..opts()
    };
    assert_eq!(
        decode_rgb8(&file, &as_stored).unwrap().dimensions(),
        (32, 16)
    );
}

/// A VP8X header declaring a `w × h` canvas and nothing else.
fn extended_header(w: u32, h: u32) -> Vec<u8> {
    let mut chunk = vec![0u8; 10];
    chunk[4..7].copy_from_slice(&(w - 1).to_le_bytes()[..3]);
    chunk[7..10].copy_from_slice(&(h - 1).to_le_bytes()[..3]);
    let mut b = b"RIFF".to_vec();
    b.extend_from_slice(&(4 + 8 + chunk.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WEBPVP8X");
    b.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
    b.extend_from_slice(&chunk);
    b
}

#[test]
fn oversized_canvas_is_refused_before_decoding() {
    let t = Instant::now();
    let e = decode_rgb8(&extended_header(16_000, 16_000), &opts()).unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(20));
    assert_eq!(
        e.to_string(),
        "image is 16000×16000 = 256000000 pixels, above the limit of 64000000 (--max-pixels)"
    );
}

#[test]
fn damaged_files_get_clear_errors() {
    let full = read("decode/photo_lossy.webp");
    // Every cut is an error naming WebP, never a panic or a grey image.
    for cut in (12..full.len()).step_by(37) {
        let e = decode_rgb8(&full[..cut], &opts()).unwrap_err();
        assert_eq!(e.stage(), "decode");
        assert!(e.to_string().contains("WebP"), "cut at {cut}: {e}");
    }
    // A RIFF file of another kind of chunk.
    let mut odd = full.clone();
    odd[12..16].copy_from_slice(b"JUNK");
    assert_eq!(
        decode_rgb8(&odd, &opts()).unwrap_err().to_string(),
        "corrupt WebP data: first chunk is \"JUNK\", not VP8, VP8L or VP8X"
    );
    // A lossy bitstream whose key-frame start code is damaged.
    let mut bad = full;
    bad[23] ^= 0xFF;
    assert!(matches!(
        decode_rgb8(&bad, &opts()),
        Err(ImageError::Corrupt { format: "WebP", .. })
    ));
    // Byte flips never panic.
    let seed = read("decode/rgba_lossy.webp");
    for at in (0..seed.len()).step_by(7) {
        let mut m = seed.clone();
        m[at] = m[at].wrapping_add(0x5B);
        let _ = decode_rgb8(&m, &opts());
    }
}
