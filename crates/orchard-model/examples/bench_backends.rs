//! Measures images/s of the ONNX Runtime and tract backends on a model with
//! random input.
//!
//! ```text
//! cargo run --release -p orchard-model --example bench_backends -- \
//!     [MODEL] [--threads N] [--seconds S] [--ort-batch B] [--tract-batch B] [--only ort|tract]
//! ```
//!
//! MODEL is a preset name or an `.onnx` path (default `mobilenet_v2` from
//! `$ORCHARD_HOME`). Also measures two threads sharing one ORT backend.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orchard_model::{load, BackendKind, InferenceBackend, ModelHome};

struct Args {
    model: String,
    threads: usize,
    seconds: f64,
    ort_batch: usize,
    tract_batch: Option<usize>,
    only: Option<BackendKind>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        model: "mobilenet_v2".into(),
        threads: 0,
        seconds: 10.0,
        ort_batch: 32,
        tract_batch: None,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--threads" => {
                args.threads = value("--threads")?
                    .parse()
                    .map_err(|e| format!("--threads: {e}"))?
            }
            "--seconds" => {
                args.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--ort-batch" => {
                args.ort_batch = value("--ort-batch")?
                    .parse()
                    .map_err(|e| format!("--ort-batch: {e}"))?
            }
            "--tract-batch" => {
                args.tract_batch = Some(
                    value("--tract-batch")?
                        .parse()
                        .map_err(|e| format!("--tract-batch: {e}"))?,
                )
            }
            "--only" => {
                args.only = Some(
                    value("--only")?
                        .parse()
                        .map_err(|e| format!("--only: {e}"))?,
                )
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => args.model = s.to_string(),
        }
    }
    Ok(args)
}

/// Deterministic pseudo-random values in [-1, 1).
fn random_input(len: usize) -> Vec<f32> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Runs `callers` threads each calling `infer(batch)` until `seconds` pass; returns images/s.
fn measure(backend: &Arc<dyn InferenceBackend>, batch: usize, seconds: f64, callers: usize) -> f64 {
    let input = random_input(batch * backend.spec().image_len());
    backend.infer(&input, batch).expect("warm-up"); // first run allocates / JITs
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let images: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0;
                    while start.elapsed() < budget {
                        backend.infer(&input, batch).expect("infer");
                        n += batch;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("join")).sum()
    });
    images as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let model = match ModelHome::from_env().resolve(&args.model) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let threads = orchard_model::effective_threads(args.threads);
    println!(
        "model {} ({}), {}x{} {:?}, {} features, {threads} thread(s), {} s per measurement",
        model.spec.name,
        model.path.display(),
        model.spec.width,
        model.spec.height,
        model.spec.layout,
        model.spec.feature_width,
        args.seconds
    );
    for kind in [BackendKind::Ort, BackendKind::Tract] {
        if args.only.is_some_and(|o| o != kind) {
            continue;
        }
        let t0 = Instant::now();
        let backend = match load(&model.path, &model.spec, kind, threads, 1) {
            Ok(b) => b,
            Err(e) => {
                println!("{kind}: unavailable: {e}");
                continue;
            }
        };
        let load_s = t0.elapsed().as_secs_f64();
        let batch = match kind {
            BackendKind::Ort => args.ort_batch,
            _ => args
                .tract_batch
                .unwrap_or_else(|| backend.preferred_batch()),
        };
        let ips = measure(&backend, batch, args.seconds, 1);
        println!("{kind}: load {load_s:.2} s, batch {batch}: {ips:.1} img/s");
        if kind == BackendKind::Ort {
            let ips2 = measure(&backend, batch, args.seconds, 2);
            println!(
                "{kind}: batch {batch}, 2 concurrent callers (session mutex): {ips2:.1} img/s"
            );
        }
    }
}
