//! `orchard bench`: images/s of each stage on real photos, and of the whole
//! job (run as a child process, so its peak RSS is the job's own).

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use orchard_image::{decode_rgb8, preprocess_into, resize_rgb8, DecodeOptions, Preparer};
use orchard_model::{load, BackendKind};
use orchard_source::{list_photos, Location, PhotoGlob};

use crate::args::{BenchArgs, ModelArgs};

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

/// Runs the benchmark and prints a table.
pub fn run(args: BenchArgs, _quiet: bool) -> Result<()> {
    let rt = crate::setup::runtime()?;
    let location = Location::local(&args.input)?;
    let listing = rt.block_on(list_photos(&location, &PhotoGlob::default()))?;
    let photos: Vec<Vec<u8>> = listing
        .photos
        .iter()
        .take(args.limit)
        .map(|p| std::fs::read(&p.path).with_context(|| format!("read {}", p.path)))
        .collect::<Result<_>>()?;
    if photos.is_empty() {
        bail!("no photos under {}", args.input.display());
    }
    let model = crate::setup::resolve_model(&args.model)?;
    let spec = model.spec.preprocess();
    println!(
        "orchard bench: {} photos from {}, model {} ({}), {} cores",
        photos.len(),
        args.input.display(),
        model.spec.name,
        &model.sha256[..12],
        orchard_model::effective_threads(0)
    );
    if let Some(cpu) = crate::cpu::CpuInfo::current() {
        println!("CPU: {}", cpu.summary());
    }
    println!("{:<44} {:>12}", "stage", "images/s");

    // Decode (one thread).
    let opts = DecodeOptions::default();
    let t = Instant::now();
    let decoded: Vec<_> = photos
        .iter()
        .map(|b| decode_rgb8(b, &opts))
        .collect::<Result<_, _>>()?;
    println!(
        "{:<44} {:>12.0}",
        "decode (1 thread)",
        rate(photos.len(), t.elapsed().as_secs_f64())
    );

    // Resize + normalise (one thread).
    let mut tensors = vec![0f32; decoded.len() * spec.tensor_len()];
    let t = Instant::now();
    for (img, out) in decoded.iter().zip(tensors.chunks_mut(spec.tensor_len())) {
        let resized = resize_rgb8(img, spec.width, spec.height)?;
        preprocess_into(&resized, &spec, out)?;
    }
    println!(
        "{:<44} {:>12.0}",
        format!(
            "resize {}x{} + normalise (1 thread)",
            spec.width, spec.height
        ),
        rate(decoded.len(), t.elapsed().as_secs_f64())
    );
    // All of it in one call, exact and with --fast-decode.
    for fast in [false, true] {
        let mut preparer = Preparer::new(
            spec,
            DecodeOptions {
                fast_decode: fast,
                ..DecodeOptions::default()
            },
        );
        let mut out = vec![0f32; spec.tensor_len()];
        let t = Instant::now();
        for bytes in &photos {
            preparer.prepare(bytes, &mut out)?;
        }
        println!(
            "{:<44} {:>12.0}",
            format!(
                "prepare{} (1 thread)",
                if fast { " --fast-decode" } else { ", exact" }
            ),
            rate(photos.len(), t.elapsed().as_secs_f64())
        );
    }

    let names = if args.models.is_empty() {
        vec![args.model.model.clone()]
    } else {
        args.models.clone()
    };
    for name in &names {
        let model = crate::setup::resolve_model(&ModelArgs {
            model: name.clone(),
            ..args.model.clone()
        })?;
        inference(&args, &model, &tensors, decoded.len())?;
    }

    if !args.no_end_to_end {
        let mut rates = Vec::new();
        for name in &names {
            for fast in std::iter::once(false).chain(args.fast_decode.then_some(true)) {
                for &repeat in &args.repeat {
                    rates.push((name, fast, end_to_end(&args, name, fast, repeat.max(1))?));
                }
            }
        }
        if let Some((first, _, reference)) = rates.first().copied() {
            for (name, fast, rate) in rates.iter().skip(1) {
                println!(
                    "{:<44} {:>12.2}x",
                    format!(
                        "end to end {name}{} vs {first}",
                        if *fast { " --fast-decode" } else { "" }
                    ),
                    rate / reference
                );
            }
        }
    }
    Ok(())
}

/// Times inference of `model` per backend, lanes (batches at once) and batch
/// size on the first `available` prepared `tensors`.
fn inference(
    args: &BenchArgs,
    model: &orchard_model::ModelRef,
    tensors: &[f32],
    available: usize,
) -> Result<()> {
    let len = model.spec.image_len();
    let threads = orchard_model::effective_threads(args.model.threads);
    for backend in &args.backends {
        let kind: BackendKind = backend.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        let lane_counts: Vec<usize> = if kind == BackendKind::Tract || threads == 1 {
            vec![1]
        } else {
            vec![1, threads]
        };
        for lanes in lane_counts {
            let engine = match load(Path::new(&model.path), &model.spec, kind, threads, lanes) {
                Ok(e) => e,
                Err(e) => {
                    println!(
                        "{:<44} {:>12}",
                        format!("inference {} {backend}", model.spec.name),
                        format!("n/a: {e}")
                    );
                    break;
                }
            };
            for &batch in &args.batch_sizes {
                let n = args.inference_images.min(available).max(batch);
                let images_per_second =
                    measure_inference(engine.as_ref(), tensors, len, batch, n, lanes)?;
                println!(
                    "{:<44} {:>12.1}",
                    format!(
                        "{} {} batch {batch} threads {threads} lanes {lanes}",
                        model.spec.name,
                        engine.name()
                    ),
                    images_per_second
                );
            }
        }
    }
    Ok(())
}

/// Runs about `n` images through `engine` in batches of `batch` from
/// `callers` threads at once (one per lane), cycling over the preprocessed
/// `tensors` (`len` floats each), after one warm-up batch per caller; returns
/// images/s.
fn measure_inference(
    engine: &dyn orchard_model::InferenceBackend,
    tensors: &[f32],
    len: usize,
    batch: usize,
    n: usize,
    callers: usize,
) -> Result<f64> {
    let available = tensors.len() / len;
    anyhow::ensure!(available >= batch, "need at least {batch} decoded photos");
    let batches = n.div_ceil(batch).div_ceil(callers).max(1);
    let run = |warm_up: bool| -> Result<usize> {
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..callers)
                .map(|caller| {
                    scope.spawn(move || -> Result<usize> {
                        let rounds = if warm_up { 1 } else { batches };
                        for round in 0..rounds {
                            let start =
                                ((caller * batches + round) * batch) % (available - batch + 1);
                            engine.infer(&tensors[start * len..(start + batch) * len], batch)?;
                        }
                        Ok(rounds * batch)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .map_err(|_| anyhow::anyhow!("inference thread panicked"))?
                })
                .sum()
        })
    };
    run(true)?;
    let t = Instant::now();
    let done = run(false)?;
    Ok(rate(done, t.elapsed().as_secs_f64()))
}

/// Runs `orchard extract` as a child process on the input (repeated
/// `repeat` times through symlinks) and prints its images/s and peak RSS.
fn end_to_end(args: &BenchArgs, model: &str, fast_decode: bool, repeat: usize) -> Result<f64> {
    let work = tempfile::tempdir().context("temporary folder")?;
    let input = if repeat == 1 {
        std::path::absolute(&args.input)?
    } else {
        let root = work.path().join("input");
        let source = std::path::absolute(&args.input)?;
        for i in 0..repeat {
            let copy = root.join(format!("copy{i:03}"));
            std::fs::create_dir_all(&copy)?;
            for entry in std::fs::read_dir(&source)? {
                let entry = entry?;
                std::os::unix::fs::symlink(entry.path(), copy.join(entry.file_name()))?;
            }
        }
        root
    };
    let output = work.path().join("out");
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--quiet")
        .arg("extract")
        .arg(&input)
        .arg(&output)
        .args(["--model", model])
        .args(["--backend", &args.end_to_end_backend])
        .args(["--threads", &args.model.threads.to_string()]);
    if fast_decode {
        cmd.arg("--fast-decode");
    }
    let status = cmd.status().context("run orchard extract")?;
    if !status.success() {
        bail!("orchard extract failed ({status})");
    }
    let run: serde_json::Value = serde_json::from_slice(&std::fs::read(output.join("_run.json"))?)?;
    let listed = run["counts"]["listed"].as_u64().unwrap_or(0);
    let images_per_second = run["images_per_second"].as_f64().unwrap_or(0.0);
    println!(
        "{:<44} {:>12.1}   peak RSS {} MiB, backend {}, {:.1} s",
        format!(
            "end to end {model}{}, {listed} photos",
            if fast_decode { " --fast-decode" } else { "" }
        ),
        images_per_second,
        run["peak_rss_bytes"].as_u64().unwrap_or(0) / (1024 * 1024),
        run["model"]["backend"].as_str().unwrap_or("?"),
        run["seconds"]["total"].as_f64().unwrap_or(0.0),
    );
    Ok(images_per_second)
}
