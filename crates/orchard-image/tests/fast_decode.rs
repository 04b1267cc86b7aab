//! `fast_decode`: a large JPEG is decoded with libjpeg's DCT scaling to at
//! least twice the model's input, then resized exactly; the model input stays
//! within a tight bound of the exact path's, and small photos are untouched.

use image::codecs::jpeg::JpegEncoder;
use image::{ImageEncoder, RgbImage};
use orchard_image::{DecodeOptions, Layout, Normalization, Preparer, PreprocessSpec};

const SPEC: PreprocessSpec = PreprocessSpec {
    width: 224,
    height: 224,
    layout: Layout::Nhwc,
    normalization: Normalization::Keras,
};

/// A photo-like `width × height` JPEG: smooth shading, hard-edged shapes and
/// sensor-like noise (a fixed pseudo-random sequence), at quality 90.
fn large_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 17) as i32 - 8
    };
    let (cx, cy, r) = (
        width as f32 * 0.55,
        height as f32 * 0.45,
        height as f32 * 0.3,
    );
    let image = RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let inside = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt() < r;
        let stripe = (x / 37 + y / 53) % 2 == 0;
        let base = if inside {
            [220.0 - 90.0 * fy, 60.0 + 40.0 * fx, 40.0]
        } else if stripe {
            [90.0 + 100.0 * fx, 120.0, 70.0 + 80.0 * fy]
        } else {
            [200.0, 190.0 - 60.0 * fx, 170.0]
        };
        image::Rgb(base.map(|c| (c as i32 + noise()).clamp(0, 255) as u8))
    });
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 90)
        .write_image(
            image.as_raw(),
            width,
            height,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    bytes
}

fn prepare(bytes: &[u8], fast: bool) -> (Vec<f32>, orchard_image::ImageInfo) {
    let opts = DecodeOptions {
        fast_decode: fast,
        ..DecodeOptions::default()
    };
    let mut out = vec![0f32; SPEC.tensor_len()];
    let info = Preparer::new(SPEC, opts).prepare(bytes, &mut out).unwrap();
    (out, info)
}

#[test]
fn a_large_jpeg_is_decoded_scaled_and_stays_close_to_the_exact_path() {
    let bytes = large_jpeg(4000, 3000);
    let (exact, exact_info) = prepare(&bytes, false);
    let (fast, fast_info) = prepare(&bytes, true);
    assert_eq!(
        (exact_info.decoded_width, exact_info.decoded_height),
        (4000, 3000)
    );
    // 3000 × n/8 ≥ 448 → n = 2: 1000 × 750.
    assert_eq!(
        (fast_info.decoded_width, fast_info.decoded_height),
        (1000, 750)
    );
    assert_eq!((fast_info.width, fast_info.height), (4000, 3000));
    // Model inputs in [-1, 1]: close per value and as a whole.
    let diffs: Vec<f32> = exact
        .iter()
        .zip(&fast)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
    let max = diffs.iter().cloned().fold(0.0, f32::max);
    let dot: f32 = exact.iter().zip(&fast).map(|(a, b)| a * b).sum();
    let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
    let cosine = dot / (norm(&exact) * norm(&fast));
    eprintln!("fast vs exact: mean |diff| {mean:.5}, max {max:.4}, cosine {cosine:.6}");
    assert!(mean < 0.006, "mean |diff| {mean}");
    assert!(max < 0.06, "max |diff| {max}");
    assert!(cosine > 0.9999, "cosine {cosine}");
}

#[test]
fn the_plain_decoder_scales_for_a_target_as_the_preparer_does() {
    let bytes = large_jpeg(4000, 3000);
    let fast = DecodeOptions {
        fast_decode: true,
        ..DecodeOptions::default()
    };
    let image = orchard_image::decode_rgb8_for(&bytes, &fast, 224, 224).unwrap();
    assert_eq!(image.dimensions(), (1000, 750));
    let exact =
        orchard_image::decode_rgb8_for(&bytes, &DecodeOptions::default(), 224, 224).unwrap();
    assert_eq!(exact.dimensions(), (4000, 3000));
}

#[test]
fn photos_smaller_than_twice_the_input_are_decoded_exactly() {
    // 440 px: no scaling keeps both sides ≥ 448, so nothing changes.
    let bytes = large_jpeg(600, 440);
    let (exact, _) = prepare(&bytes, false);
    let (fast, info) = prepare(&bytes, true);
    assert_eq!((info.decoded_width, info.decoded_height), (600, 440));
    assert_eq!(exact, fast);
}
