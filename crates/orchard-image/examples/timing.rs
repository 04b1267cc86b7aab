//! Rough per-image timings of decode, resize and preprocess (single thread).
//!
//! ```text
//! cargo run --release -p orchard-image --example timing -- FILE_OR_DIR...
//! ```
//!
//! Directories are searched one level deep for `*.jpg`/`*.jpeg`/`*.png`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use orchard_image::{
    decode_rgb8, preprocess_into, DecodeOptions, Layout, Normalization, Preparer, PreprocessSpec,
    Resizer,
};

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                collect(&e, out);
            } else if matches!(
                e.extension().and_then(|x| x.to_str()),
                Some("jpg" | "jpeg" | "png")
            ) {
                out.push(e);
            }
        }
    } else {
        out.push(p.to_path_buf());
    }
}

/// Nanoseconds this thread has spent on a CPU (Linux schedstat), so that
/// time spent waiting for a core on a busy machine is not counted. Falls
/// back to wall-clock time elsewhere.
struct Clock(Instant);

impl Clock {
    fn now() -> Clock {
        Clock(Instant::now())
    }

    fn oncpu_ns() -> Option<u64> {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        s.split_whitespace().next()?.parse().ok()
    }

    fn measure(f: impl FnOnce()) -> Duration {
        let (c0, t0) = (Clock::oncpu_ns(), Clock::now());
        f();
        match (c0, Clock::oncpu_ns()) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => t0.0.elapsed(),
        }
    }
}

fn main() {
    let mut files = Vec::new();
    for a in std::env::args().skip(1) {
        collect(Path::new(&a), &mut files);
    }
    if files.is_empty() {
        eprintln!("usage: timing FILE_OR_DIR...");
        return;
    }
    let blobs: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    let spec = PreprocessSpec {
        width: 224,
        height: 224,
        layout: Layout::Nhwc,
        normalization: Normalization::Keras,
    };
    let opts = DecodeOptions::default();
    // Each measurement is a full pass over the files; the fastest of several
    // passes is reported, which filters out noise from other processes.
    let passes = (4000 / blobs.len()).clamp(5, 40);
    let n = blobs.len() as f64;
    let per = |d: Duration| format!("{:9.1} µs", d.as_secs_f64() * 1e6 / n);

    let mut prep = Preparer::new(spec, opts.clone());
    let mut out = vec![0f32; spec.tensor_len()];
    let mut failed = 0;
    let mut best = Duration::MAX;
    for _ in 0..passes {
        failed = 0;
        best = best.min(Clock::measure(|| {
            for b in &blobs {
                failed += usize::from(prep.prepare(b, &mut out).is_err());
            }
        }));
    }

    // Stage breakdown with the one-shot APIs.
    let mut resizer = Resizer::new();
    let decoded: Vec<_> = blobs
        .iter()
        .filter_map(|b| decode_rgb8(b, &opts).ok())
        .collect();
    let resized: Vec<_> = decoded
        .iter()
        .filter_map(|i| resizer.resize(i, 224, 224).ok())
        .collect();
    let (mut dec, mut res, mut pre) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..passes {
        dec = dec.min(Clock::measure(|| {
            for b in &blobs {
                let _ = decode_rgb8(b, &opts);
            }
        }));
        res = res.min(Clock::measure(|| {
            for i in &decoded {
                let _ = resizer.resize(i, 224, 224);
            }
        }));
        pre = pre.min(Clock::measure(|| {
            for i in &resized {
                let _ = preprocess_into(i, &spec, &mut out);
            }
        }));
    }
    let size = decoded.first().map(|i| i.dimensions()).unwrap_or_default();
    println!(
        "{} files (first {}x{}), best of {passes} passes (on-CPU time), {failed} failures",
        blobs.len(),
        size.0,
        size.1
    );
    println!("Preparer::prepare  {} per image", per(best));
    println!("  decode_rgb8      {}", per(dec));
    println!("  resize 224x224   {}", per(res));
    println!("  preprocess       {}", per(pre));
}
