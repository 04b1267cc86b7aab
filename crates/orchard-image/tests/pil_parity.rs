//! Parity with Pillow 13: resize (bit-exact), decode (close), preprocess
//! (bit-exact), against fixtures written by `fixtures/pil/make_resize_fixture.py`.
//!
//! Run with `--nocapture` to see the measured numbers.

mod common;

use common::{diff, fixture_json, read, read_png};
use fast_image_resize as fr;
use image::RgbImage;
use orchard_image::{
    decode_rgb8, preprocess_into, resize_rgb8, DecodeOptions, Layout, Normalization, Preparer,
    PreprocessSpec, Resizer,
};

#[test]
fn resize_matches_pil_exactly() {
    let fx = fixture_json();
    let cases = fx["resize"].as_array().expect("resize cases");
    assert!(cases.len() >= 6);
    let mut resizer = Resizer::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = read_png(case["input"].as_str().unwrap());
        let want = read_png(case["expected"].as_str().unwrap());
        assert_eq!(
            input.dimensions(),
            (
                case["width"].as_u64().unwrap() as u32,
                case["height"].as_u64().unwrap() as u32
            )
        );
        let got = resizer.resize(&input, 224, 224).unwrap();
        let d = diff(&got, &want);
        println!(
            "resize {name:>18} {:>3}x{:<3}: max abs diff {}, mean {:.5}, exact {:.4}%",
            input.width(),
            input.height(),
            d.max,
            d.mean,
            d.exact_fraction * 100.0
        );
        // The brief's bar is max <= 1 and >= 99% exact; the port is exact.
        assert!(d.max <= 1 && d.exact_fraction >= 0.99, "{name}: {d:?}");
        assert_eq!(d.max, 0, "{name}: not bit-exact with PIL: {d:?}");
        // The one-shot function gives the same result as the reused resizer.
        assert_eq!(resize_rgb8(&input, 224, 224).unwrap(), got, "{name}");
    }
}

/// For the record: `fast_image_resize`'s CatmullRom convolution, the obvious
/// choice, is not PIL-exact: it runs the vertical pass first for u8 images
/// (the 8-bit clipping between passes then differs at hard edges, up to
/// ~25 levels) and uses i16 weights with <= 15 fractional bits (±1 rounding
/// differences elsewhere). This test only prints how far it is.
#[test]
fn fast_image_resize_differs_from_pil() {
    let fx = fixture_json();
    let mut resizer = fr::Resizer::new();
    let opts =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::CatmullRom));
    let (mut total, mut exact, mut worst) = (0usize, 0usize, 0u8);
    for case in fx["resize"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let input = read_png(case["input"].as_str().unwrap());
        let want = read_png(case["expected"].as_str().unwrap());
        let src = fr::images::ImageRef::new(
            input.width(),
            input.height(),
            input.as_raw(),
            fr::PixelType::U8x3,
        )
        .unwrap();
        let mut dst = fr::images::Image::new(224, 224, fr::PixelType::U8x3);
        resizer.resize(&src, &mut dst, &opts).unwrap();
        let got = RgbImage::from_raw(224, 224, dst.into_vec()).unwrap();
        let d = diff(&got, &want);
        println!(
            "fast_image_resize {name:>18}: max abs diff {}, mean {:.5}, exact {:.4}%",
            d.max,
            d.mean,
            d.exact_fraction * 100.0
        );
        total += got.as_raw().len();
        exact += (d.exact_fraction * got.as_raw().len() as f64).round() as usize;
        worst = worst.max(d.max);
    }
    println!(
        "fast_image_resize overall: max abs diff {worst}, exact {:.4}%",
        exact as f64 * 100.0 / total as f64
    );
    assert!(exact * 2 > total, "unexpectedly far from PIL");
}

#[test]
fn decode_is_close_to_pil_libjpeg_turbo() {
    let fx = fixture_json();
    for case in fx["decode_parity"].as_array().unwrap() {
        let jpeg = case["jpeg"].as_str().unwrap();
        let want = read_png(case["pil_rgb"].as_str().unwrap());
        let got = decode_rgb8(&read(jpeg), &DecodeOptions::default()).unwrap();
        let d = diff(&got, &want);
        println!(
            "decode {jpeg}: max abs diff {}, mean {:.4}, exact {:.2}%",
            d.max,
            d.mean,
            d.exact_fraction * 100.0
        );
        assert!(d.mean < 1.5, "{jpeg}: {d:?}");
        assert!(d.max <= 16, "{jpeg}: {d:?}");
    }
}

fn spec(layout: Layout, normalization: Normalization) -> PreprocessSpec {
    PreprocessSpec {
        width: 224,
        height: 224,
        layout,
        normalization,
    }
}

#[test]
fn preprocess_matches_numpy_reference() {
    let fx = fixture_json();
    let pre = &fx["preprocess"];
    let img = read_png(pre["image"].as_str().unwrap());
    let hw = 224 * 224;
    for (norm, key) in [
        (Normalization::Keras, "keras"),
        (Normalization::Torch, "torch"),
        (Normalization::None, "none"),
    ] {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            let s = spec(layout, norm);
            let mut out = vec![f32::NAN; s.tensor_len()];
            preprocess_into(&img, &s, &mut out).unwrap();
            for px in pre["pixels"].as_array().unwrap() {
                let (y, x) = (
                    px["y"].as_u64().unwrap() as usize,
                    px["x"].as_u64().unwrap() as usize,
                );
                let rgb: Vec<u64> = px["rgb"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .collect();
                assert_eq!(
                    img.get_pixel(x as u32, y as u32).0.map(u64::from).to_vec(),
                    rgb
                );
                for c in 0..3 {
                    let want = px[key][c].as_f64().unwrap() as f32;
                    let at = match layout {
                        Layout::Nhwc => (y * 224 + x) * 3 + c,
                        Layout::Nchw => c * hw + y * 224 + x,
                    };
                    assert_eq!(out[at], want, "{key} {layout:?} y={y} x={x} c={c}");
                }
            }
            assert!(out.iter().all(|v| v.is_finite()));
        }
    }
}

/// End to end on the real photos: our decode → resize → Keras preprocess vs
/// PIL's (libjpeg-turbo) decode → resize → Keras preprocess. The only
/// difference left is the JPEG decoder's.
#[test]
fn prepare_end_to_end_vs_pil_pipeline() {
    let fx = fixture_json();
    let s = spec(Layout::Nhwc, Normalization::Keras);
    let mut prep = Preparer::new(s, DecodeOptions::default());
    for (case, name) in fx["decode_parity"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["apple_0", "raspberry_0"])
    {
        let bytes = read(case["jpeg"].as_str().unwrap());
        let mut ours = vec![0f32; s.tensor_len()];
        let info = prep.prepare(&bytes, &mut ours).unwrap();
        assert!(info.resized);
        assert_eq!((info.width, info.height), (100, 100));
        let pil = read_png(&format!("expected/{name}.png"));
        let mut reference = vec![0f32; s.tensor_len()];
        preprocess_into(&pil, &s, &mut reference).unwrap();
        let (mut max, mut sum) = (0f32, 0f64);
        for (a, b) in ours.iter().zip(&reference) {
            let d = (a - b).abs();
            max = max.max(d);
            sum += f64::from(d);
        }
        let mean = sum / ours.len() as f64;
        println!(
            "prepare {name}: vs PIL pipeline max abs diff {max:.5} ({:.1} levels), mean {mean:.6} ({:.3} levels)",
            max * 127.5,
            mean * 127.5
        );
        assert!(mean * 127.5 < 1.5);
    }
}
