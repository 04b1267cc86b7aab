//! Decoder behaviour on colour types, orientation, odd sizes and bad input.

mod common;

use std::time::{Duration, Instant};

use common::{read, read_png};
use orchard_image::{
    decode_rgb8, decode_rgb8_with_info, prepare, DecodeOptions, ImageError, Layout, Normalization,
    Preparer, PreprocessSpec, SourceColor, SourceFormat,
};

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

fn decode_err(bytes: &[u8]) -> ImageError {
    match decode_rgb8(bytes, &opts()) {
        Ok(img) => panic!("expected an error, decoded {:?}", img.dimensions()),
        Err(e) => e,
    }
}

fn keras_224() -> PreprocessSpec {
    PreprocessSpec {
        width: 224,
        height: 224,
        layout: Layout::Nhwc,
        normalization: Normalization::Keras,
    }
}

/// Decoded pixels equal PIL's (`Image.open(f).convert('RGB')`), exactly.
fn assert_exact(file: &str, expected: &str) -> orchard_image::ImageInfo {
    let (img, info) = decode_rgb8_with_info(&read(file), &opts()).unwrap();
    assert_eq!(img, read_png(expected), "{file}");
    info
}

#[test]
fn grayscale_jpeg_becomes_rgb() {
    let info = assert_exact("decode/gray_jpeg.jpg", "decode/gray_jpeg_expected.png");
    assert_eq!(info.color, SourceColor::Gray);
    assert!(!info.had_alpha);
    let img = decode_rgb8(&read("decode/gray_jpeg.jpg"), &opts()).unwrap();
    assert!(img.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
}

#[test]
fn progressive_jpeg() {
    let info = assert_exact("decode/progressive.jpg", "decode/progressive_expected.png");
    assert_eq!((info.width, info.height), (100, 100));
    assert_eq!(info.format, SourceFormat::Jpeg);
}

#[test]
fn cmyk_jpeg_matches_pil_convert_rgb() {
    // Adobe-inverted CMYK as written by libjpeg/Pillow; PIL renders it with
    // R = round(C'·K'/255) on the stored values, and so does zune-jpeg (the
    // decoder for CMYK, which libjpeg does not turn into RGB).
    let info = assert_exact("decode/cmyk.jpg", "decode/cmyk_expected.png");
    assert_eq!(info.color, SourceColor::Cmyk);
}

/// Subsampled chroma on images narrower than an MCU: libjpeg-turbo's edge
/// handling, as in PIL (zune-jpeg differed by ~2.5 levels here).
#[test]
fn tiny_subsampled_jpegs() {
    for name in ["one_pixel", "thin_17x1", "tall_1x9"] {
        let file = format!("decode/{name}.jpg");
        assert_exact(&file, &format!("decode/{name}_expected.png"));
        // And through the whole pipeline.
        let spec = keras_224();
        let mut out = vec![0f32; spec.tensor_len()];
        let info = prepare(&read(&file), &opts(), &spec, &mut out).unwrap();
        assert!(info.resized);
    }
}

#[test]
fn one_pixel_png_end_to_end() {
    let bytes = read("inputs/one_pixel.png");
    let img = decode_rgb8(&bytes, &opts()).unwrap();
    assert_eq!(img.as_raw(), &[200, 17, 99]);
    let spec = keras_224();
    let mut out = vec![0f32; spec.tensor_len()];
    prepare(&bytes, &opts(), &spec, &mut out).unwrap();
    // A 1x1 image upsamples to a flat image.
    for px in out.chunks_exact(3) {
        assert_eq!(
            px,
            [200.0 / 127.5 - 1.0, 17.0 / 127.5 - 1.0, 99.0 / 127.5 - 1.0]
        );
    }
}

#[test]
fn exif_orientation_all_eight() {
    for o in 1..=8u8 {
        let file = format!("decode/orient{o}.jpg");
        let expected = format!("decode/orient{o}_expected.png");
        let (img, info) = decode_rgb8_with_info(&read(&file), &opts()).unwrap();
        let want = read_png(&expected);
        assert_eq!(img.dimensions(), want.dimensions(), "orientation {o}");
        // Stored as 32x16; 5..=8 swap width and height.
        assert_eq!((info.width, info.height), (32, 16));
        assert_eq!(img.dimensions(), if o >= 5 { (16, 32) } else { (32, 16) });
        assert_eq!(info.exif_orientation, o);
        assert_eq!(info.orientation_applied, o != 1);
        assert_eq!(img, want, "orientation {o}");
        // Disabled: stored orientation, like a bare PIL Image.open.
        let no = DecodeOptions {
            apply_exif_orientation: false,
            ..opts()
        };
        let (raw, info) = decode_rgb8_with_info(&read(&file), &no).unwrap();
        assert_eq!(raw.dimensions(), (32, 16));
        assert_eq!(info.exif_orientation, o);
        assert!(!info.orientation_applied);
    }
    // Orientation 6 means "rotate 90° clockwise to display": the stored
    // top-left (red) ends up top-right.
    let img = decode_rgb8(&read("decode/orient6.jpg"), &opts()).unwrap();
    let tr = img.get_pixel(12, 4).0;
    assert!(tr[0] > 200 && tr[1] < 60 && tr[2] < 60, "{tr:?}");
}

/// Arithmetic-coded JPEGs, which zune-jpeg refuses (`jpegtran -arithmetic`
/// of two fixtures: the same coefficients, so the same pixels): decoded by
/// libjpeg-turbo, as in Pillow, with the EXIF orientation still applied.
#[test]
fn arithmetic_coded_jpegs() {
    assert_exact("decode/arith_progressive.jpg", "inputs/apple_0.png");
    let (img, info) = decode_rgb8_with_info(&read("decode/arith_orient6.jpg"), &opts()).unwrap();
    assert_eq!((info.exif_orientation, info.orientation_applied), (6, true));
    assert_eq!(img, read_png("decode/orient6_expected.png"));
    let full = read("decode/arith_progressive.jpg");
    for cut in [full.len() / 3, full.len() / 2, full.len() - 3] {
        assert!(decode_rgb8(&full[..cut], &opts()).is_err(), "cut at {cut}");
    }
}

#[test]
fn png_colour_types_exact() {
    let info = assert_exact("decode/gray.png", "decode/gray_expected.png");
    assert_eq!((info.color, info.had_alpha), (SourceColor::Gray, false));
    let info = assert_exact("decode/gray_alpha.png", "decode/gray_alpha_expected.png");
    assert_eq!((info.color, info.had_alpha), (SourceColor::GrayAlpha, true));
    let info = assert_exact("decode/rgba.png", "decode/rgba_expected.png");
    assert_eq!((info.color, info.had_alpha), (SourceColor::Rgba, true));
    let info = assert_exact("decode/rgb16.png", "decode/rgb16_expected.png");
    assert_eq!((info.color, info.bit_depth), (SourceColor::Rgb, 16));
    let info = assert_exact(
        "decode/gray_alpha16.png",
        "decode/gray_alpha16_expected.png",
    );
    assert_eq!(
        (info.color, info.bit_depth, info.had_alpha),
        (SourceColor::GrayAlpha, 16, true)
    );
    let info = assert_exact(
        "decode/palette_trns.png",
        "decode/palette_trns_expected.png",
    );
    assert_eq!((info.color, info.had_alpha), (SourceColor::Indexed, true));
    let info = assert_exact("decode/gray1bit.png", "decode/gray1bit_expected.png");
    assert_eq!((info.color, info.bit_depth), (SourceColor::Gray, 1));
    // Spot checks of the alpha rule on the RGBA fixture.
    let img = decode_rgb8(&read("decode/rgba.png"), &opts()).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]); // alpha 0
    assert_eq!(img.get_pixel(1, 0).0, [10, 20, 30]); // alpha 255
    assert_eq!(img.get_pixel(2, 0).0, [127, 127, 127]); // black at alpha 128
}

#[test]
fn zero_bytes() {
    let e = decode_err(&[]);
    assert!(matches!(e, ImageError::Empty));
    assert_eq!(e.stage(), "decode");
    assert_eq!(e.to_string(), "empty input (0 bytes)");
}

#[test]
fn truncated_jpegs() {
    for file in ["src/apple_0.jpg", "decode/progressive.jpg"] {
        let full = read(file);
        let half = &full[..full.len() / 2];
        let e = decode_err(half);
        assert!(
            matches!(e, ImageError::Truncated { format: "JPEG", .. }),
            "{file}: {e}"
        );
        assert!(e.to_string().starts_with("truncated JPEG data"), "{e}");
        // Every cut point is an error, never a panic or a silently grey image.
        for cut in (0..full.len() - 2).step_by(61) {
            let r = decode_rgb8(&full[..cut], &opts());
            assert!(r.is_err(), "{file} cut at {cut} decoded");
        }
    }
}

#[test]
fn truncated_png() {
    let full = read("inputs/apple_0.png");
    for cut in [10, 20, 30, 100, full.len() / 2, full.len() - 13] {
        let e = decode_err(&full[..cut]);
        assert_eq!(e.stage(), "decode");
        println!("png cut {cut}: {e}");
        if cut >= 100 {
            assert!(
                matches!(e, ImageError::Truncated { format: "PNG", .. }),
                "cut {cut}: {e}"
            );
        }
    }
}

#[test]
fn garbage_and_text() {
    let mut state = 0x2545F4914F6CDD1Du64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let e = decode_err(&random);
    assert!(matches!(e, ImageError::UnknownFormat { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("not a JPEG, PNG or WebP (starts with bytes "),
        "{e}"
    );

    let e = decode_err(b"hello, this is not a photo");
    assert_eq!(
        e.to_string(),
        "not a JPEG, PNG or WebP (starts with bytes 68 65 6C 6C 6F 2C 20 74 \"hello, t\")"
    );
    let e = decode_err(b"<!DOCTYPE html><html><body>404</body></html>");
    assert_eq!(
        e.to_string(),
        "unsupported image format HTML text (only JPEG, PNG and WebP are supported)"
    );
    // A JPEG signature followed by garbage.
    let mut fake = vec![0xFF, 0xD8, 0xFF];
    fake.extend_from_slice(&random[..200]);
    assert_eq!(decode_err(&fake).stage(), "decode");
}

#[test]
fn corrupted_png_crc() {
    let mut png = read("decode/gray.png");
    // Flip a bit in the IHDR chunk's CRC (bytes 29..33).
    png[30] ^= 0x01;
    let e = decode_err(&png);
    assert!(
        matches!(e, ImageError::Corrupt { format: "PNG", .. }),
        "{e}"
    );
    assert!(e.to_string().to_lowercase().contains("crc"), "{e}");
    // And a bit flip inside the IDAT payload (CRC no longer matches).
    let mut png = read("decode/gray.png");
    let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
    png[idat + 6] ^= 0x40;
    let e = decode_err(&png);
    assert!(
        matches!(e, ImageError::Corrupt { format: "PNG", .. }),
        "{e}"
    );
}

fn huge_jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8];
    // SOF0: length 17, precision 8, height, width, 3 components.
    j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08]);
    j.extend_from_slice(&h.to_be_bytes());
    j.extend_from_slice(&w.to_be_bytes());
    j.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    // SOS with no tables and a few bytes of "data".
    j.extend_from_slice(&[
        0xFF, 0xDA, 0x00, 0x0C, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0x3F, 0,
    ]);
    j.extend_from_slice(&[0x12, 0x34, 0xFF, 0xD9]);
    j
}

#[test]
fn decompression_bomb_headers_are_refused_before_decoding() {
    let msg =
        "image is 50000×50000 = 2500000000 pixels, above the limit of 64000000 (--max-pixels)";
    for bytes in [
        orchard_image::hostile::bomb_png(50_000, 50_000),
        huge_jpeg(50_000, 50_000),
    ] {
        let t = Instant::now();
        let e = decode_err(&bytes);
        let took = t.elapsed();
        assert!(matches!(e, ImageError::TooManyPixels { .. }), "{e}");
        assert_eq!(e.to_string(), msg);
        assert_eq!(e.stage(), "decode");
        assert!(took < Duration::from_millis(20), "took {took:?}");
        // Same through the pipeline.
        let spec = keras_224();
        let mut out = vec![0f32; spec.tensor_len()];
        assert!(matches!(
            Preparer::new(spec, opts()).prepare(&bytes, &mut out),
            Err(ImageError::TooManyPixels { .. })
        ));
    }
    // The budget is configurable, and applies to real images too.
    let small = DecodeOptions::with_max_pixels(9_999);
    let e = decode_rgb8(&read("src/apple_0.jpg"), &small).unwrap_err();
    assert_eq!(
        e.to_string(),
        "image is 100×100 = 10000 pixels, above the limit of 9999 (--max-pixels)"
    );
    assert!(decode_rgb8(
        &read("src/apple_0.jpg"),
        &DecodeOptions::with_max_pixels(10_000)
    )
    .is_ok());
    // Zero-sized header.
    assert!(matches!(
        decode_err(&orchard_image::hostile::bomb_png(0, 10)),
        ImageError::ZeroSize { .. }
    ));
}

#[test]
fn other_formats_are_named() {
    for (file, name) in [
        ("decode/tiny.gif", "GIF"),
        ("decode/tiny.bmp", "BMP"),
        ("decode/tiny.tiff", "TIFF"),
    ] {
        let e = decode_err(&read(file));
        assert_eq!(
            e.to_string(),
            format!("unsupported image format {name} (only JPEG, PNG and WebP are supported)")
        );
        assert_eq!(e.stage(), "decode");
    }
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
    assert_eq!(
        decode_err(heic).to_string(),
        "unsupported image format HEIF/HEIC (only JPEG, PNG and WebP are supported)"
    );
    // The name of a file plays no role: a PNG is a PNG whatever it is called.
    assert!(decode_rgb8(&read("decode/gray.png"), &opts()).is_ok());
}

/// Deterministic mutation "fuzzing": byte flips, cuts and splices of real
/// files must give `Ok` or `Err`, never a panic or an absurd allocation.
#[test]
fn mutated_inputs_never_panic() {
    let seeds = [
        read("src/apple_0.jpg"),
        read("decode/progressive.jpg"),
        read("decode/cmyk.jpg"),
        read("decode/orient6.jpg"),
        read("decode/gray.png"),
        read("decode/rgba.png"),
        read("decode/palette_trns.png"),
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let spec = keras_224();
    let mut prep = Preparer::new(spec, DecodeOptions::with_max_pixels(4_000_000));
    let mut out = vec![0f32; spec.tensor_len()];
    let (mut ok, mut err) = (0, 0);
    for round in 0..1400 {
        let seed = &seeds[round % seeds.len()];
        let mut b = seed.clone();
        match next() % 4 {
            0 => {
                // a few random bytes anywhere
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
            }
            1 => {
                // bytes in the header region (dimensions, tables, markers)
                let i = (next() as usize) % b.len().min(400);
                b[i] = next() as u8;
            }
            2 => {
                let cut = (next() as usize) % b.len();
                b.truncate(cut);
            }
            _ => {
                // splice a chunk of another seed in
                let other = &seeds[(next() as usize) % seeds.len()];
                let at = (next() as usize) % b.len();
                let from = (next() as usize) % other.len();
                let n = ((next() as usize) % 64).min(other.len() - from);
                b.splice(at..at, other[from..from + n].iter().copied());
            }
        }
        match prep.prepare(&b, &mut out) {
            Ok(_) => {
                ok += 1;
                assert!(out.iter().all(|v| (-1.0..=1.0).contains(v)));
            }
            Err(e) => {
                err += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    println!("mutations: {ok} decoded, {err} refused");
}
