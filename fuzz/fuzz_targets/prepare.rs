//! Fuzz target: arbitrary bytes through `orchard_image`'s decode → resize →
//! preprocess pipeline (`decode_rgb8_with_info` and a long-lived `Preparer`,
//! as a worker thread uses it), checking invariants that must hold for *any*
//! input. See fuzz/README.md.
//!
//! Reused state: before each input the preparer first prepares a fixed
//! "poison" image (224×224, solid non-zero colour), so its buffers always hold
//! stale pixels when the input is decoded. The result must still be
//! bit-identical to a fresh one-shot decode + resize + preprocess; and since
//! the stale state is the same every time, a failure reproduces from the one
//! input (`cargo fuzz run prepare <file>`, `cargo fuzz tmin`).
//!
//! Panics: `orchard_image` runs the third-party decoders under
//! `catch_unwind` and turns a decoder panic into a `Corrupt` error. By default
//! such a *caught* panic is not a failure here (it is logged once per panic
//! location); any panic that escapes the API is. Set
//! `ORCHARD_FUZZ_STRICT_PANICS=1` to abort on every panic, caught or not.

#![no_main]

use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use orchard_image::{
    decode_rgb8_with_info, preprocess_into, resize_rgb8, DecodeOptions, ImageError, ImageInfo,
    Layout, Normalization, Preparer, PreprocessSpec, RgbImage, SourceFormat,
};

/// Small pixel budget, so a header declaring a huge image is refused (as it
/// must be) instead of exhausting the fuzzer's memory.
const MAX_PIXELS: u64 = 4_000_000;

const SPEC: PreprocessSpec = PreprocessSpec {
    width: 224,
    height: 224,
    layout: Layout::Nhwc,
    normalization: Normalization::Keras,
};

/// Written into the output before each call: outside [-1, 1], so a value the
/// pipeline failed to write is caught by the range check.
const SENTINEL: f32 = 7.0;

fn opts() -> DecodeOptions {
    DecodeOptions {
        max_pixels: MAX_PIXELS,
        ..Default::default()
    }
}

/// Side of the poison image; its decoded buffer (150 KB) covers every input
/// up to 50,176 pixels, larger inputs get a partly stale buffer.
const POISON_SIDE: u32 = 224;

/// A valid PNG of a solid, non-zero colour.
fn poison_png() -> Vec<u8> {
    use image::ImageEncoder;
    let rgb: Vec<u8> = [0x5A, 0xA5, 0x3C].repeat((POISON_SIDE * POISON_SIDE) as usize);
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, POISON_SIDE, POISON_SIDE, image::ExtendedColorType::Rgb8)
        .expect("encoding the poison PNG");
    png
}

thread_local! {
    static POISON: Vec<u8> = poison_png();
    /// One preparer for the whole run, like a worker thread: buffers, resize
    /// weights and the LUT are reused from one input to the next.
    static PREPARER: RefCell<Preparer> = RefCell::new(Preparer::new(SPEC, opts()));
    /// Message, location and backtrace of the most recent panic.
    static LAST_PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
    /// Locations of decoder panics already reported.
    static SEEN_CAUGHT: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

static HOOK: Once = Once::new();

/// Replace libfuzzer-sys's abort-on-any-panic hook with one that records the
/// panic, so panics caught inside `orchard_image` can be told from panics
/// that escape it (unless strict mode is on).
fn install_panic_hook() {
    HOOK.call_once(|| {
        if std::env::var_os("ORCHARD_FUZZ_STRICT_PANICS").is_some_and(|v| v != "0") {
            return; // keep libfuzzer-sys's hook: every panic aborts
        }
        panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map_or_else(|| "<unknown>".to_string(), |l| l.to_string());
            let report = format!("{info}\n{}", Backtrace::force_capture());
            LAST_PANIC.with(|p| *p.borrow_mut() = Some((location, report)));
        }));
    });
}

fn take_last_panic() -> Option<(String, String)> {
    LAST_PANIC.with(|p| p.borrow_mut().take())
}

fuzz_target!(|data: &[u8]| {
    install_panic_hook();
    take_last_panic();
    if panic::catch_unwind(AssertUnwindSafe(|| check(data))).is_err() {
        // A panic escaped orchard_image or an invariant assertion failed.
        if let Some((_, report)) = take_last_panic() {
            eprintln!("\n==== panic escaped / invariant violated ====\n{report}");
        }
        std::process::abort();
    }
});

fn check(data: &[u8]) {
    // 1. The one-shot decoder.
    let decoded = decode_rgb8_with_info(data, &opts());
    match &decoded {
        Ok((img, info)) => check_decoded(img, info),
        Err(e) => check_error(e, "decode_rgb8_with_info"),
    }

    // 2. The long-lived preparer, its buffers dirtied by the poison image.
    let len = SPEC.tensor_len();
    let mut out = vec![SENTINEL; len];
    let prepared = PREPARER.with(|p| {
        let mut p = p.borrow_mut();
        POISON.with(|poison| p.prepare(poison, &mut out))
            .unwrap_or_else(|e| panic!("the poison image failed to prepare: {e}"));
        out.fill(SENTINEL);
        p.prepare(data, &mut out)
    });
    assert_eq!(out.len(), len, "output length changed");

    match (&decoded, &prepared) {
        (Ok((img, dinfo)), Ok(pinfo)) => {
            check_output(&out);
            let needs_resize = img.dimensions() != (SPEC.width, SPEC.height);
            assert_eq!(
                pinfo.resized, needs_resize,
                "info.resized wrong for a {}x{} image",
                img.width(),
                img.height()
            );
            assert_eq!(
                ImageInfo {
                    resized: false,
                    ..*pinfo
                },
                *dinfo,
                "prepare and decode_rgb8_with_info report different ImageInfo"
            );
            // Differential: fresh one-shot resize + preprocess must give
            // bit-identical floats to the preparer with its reused state.
            let resized = if needs_resize {
                resize_rgb8(img, SPEC.width, SPEC.height)
                    .unwrap_or_else(|e| panic!("resize of a decoded image failed: {e}"))
            } else {
                img.clone()
            };
            let mut reference = vec![SENTINEL; len];
            preprocess_into(&resized, &SPEC, &mut reference)
                .unwrap_or_else(|e| panic!("preprocess of a resized image failed: {e}"));
            if let Some(i) = (0..len).find(|&i| out[i].to_bits() != reference[i].to_bits()) {
                panic!(
                    "Preparer output differs from one-shot decode+resize+preprocess \
                     at index {i}: {} vs {}",
                    out[i], reference[i]
                );
            }
        }
        (Err(de), Err(pe)) => {
            check_error(pe, "Preparer::prepare");
            assert_eq!(
                de.to_string(),
                pe.to_string(),
                "decode and prepare fail differently on the same bytes"
            );
            if is_caught_decoder_panic(pe) {
                report_caught_panic(pe);
            }
        }
        (Ok(_), Err(e)) => panic!("decoding succeeded but prepare failed: {e} (stage {})", e.stage()),
        (Err(e), Ok(_)) => panic!("prepare succeeded but decoding failed: {e}"),
    }
}

fn check_decoded(img: &RgbImage, info: &ImageInfo) {
    let (w, h) = img.dimensions();
    assert!(w > 0 && h > 0, "decoded an empty {w}x{h} image");
    assert!(
        u64::from(w) * u64::from(h) <= MAX_PIXELS,
        "decoded {w}x{h}, above the {MAX_PIXELS}-pixel budget"
    );
    assert_eq!(img.as_raw().len(), w as usize * h as usize * 3);
    assert!(!info.resized, "decode reports resized");
    assert!(
        (1..=8).contains(&info.exif_orientation),
        "EXIF orientation {} out of range",
        info.exif_orientation
    );
    assert!(
        !info.orientation_applied || info.exif_orientation != 1,
        "orientation applied for tag 1"
    );
    let swaps = info.orientation_applied && info.exif_orientation >= 5;
    let expected = if swaps {
        (info.height, info.width)
    } else {
        (info.width, info.height)
    };
    assert_eq!(
        (w, h),
        expected,
        "decoded size disagrees with ImageInfo {info:?}"
    );
    if info.format == SourceFormat::Png {
        assert!(
            [1, 2, 4, 8, 16].contains(&info.bit_depth),
            "PNG decoded with bit depth {}",
            info.bit_depth
        );
    }
}

fn check_output(out: &[f32]) {
    if let Some((i, v)) = out
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || !(-1.0..=1.0).contains(*v))
    {
        panic!("output[{i}] = {v} is not a finite value in [-1, 1]");
    }
}

fn check_error(e: &ImageError, from: &str) {
    let stage = e.stage();
    assert!(
        matches!(stage, "decode" | "resize" | "preprocess"),
        "{from}: unknown stage {stage:?}"
    );
    let msg = e.to_string();
    assert!(!msg.trim().is_empty(), "{from}: empty error message ({e:?})");
    // With a valid spec and output buffer only the input can be at fault.
    assert_eq!(
        stage, "decode",
        "{from}: well-formed call failed outside decoding: {e} ({e:?})"
    );
}

fn is_caught_decoder_panic(e: &ImageError) -> bool {
    e.to_string().contains("decoder failed internally")
}

/// Log each distinct decoder panic location once (stderr of the run).
fn report_caught_panic(e: &ImageError) {
    let Some((location, report)) = take_last_panic() else {
        return;
    };
    let new = SEEN_CAUGHT.with(|s| s.borrow_mut().insert(location.clone()));
    if new {
        eprintln!("\n==== decoder panic caught by orchard-image (returned as error: {e}) ====\n{report}");
    }
}
