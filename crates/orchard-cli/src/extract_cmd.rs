//! `orchard extract`: the command line → the engine's options, where the
//! plans run, progress, and the summary.

use anyhow::{bail, Context, Result};
use orchard_engine::{
    extract, Embedded, ExtractOptions, FeaturizeOptions, FitOptions, PlanRunner, WriteMode,
    WriteOptions,
};
use orchard_image::DecodeOptions;
use orchard_pca::{Components, Standardize};

use crate::args::{ExtractArgs, ProgressFormat};
use crate::hints::with_hint;
use crate::progress::{JsonEvents, Progress};
use crate::setup::{output_format, recorded_command_line, resolve_model, storage_options};

/// Builds the engine's options from the command line.
pub fn extract_options(args: &ExtractArgs) -> Result<ExtractOptions> {
    let components = match args.pca_variance {
        Some(f) if !(f > 0.0 && f <= 1.0) => bail!("--pca-variance must be in (0, 1], got {f}"),
        Some(f) => Components::VarianceFraction(f),
        None if args.pca_k == 0 => bail!("--pca-k must be at least 1"),
        None => Components::Count(args.pca_k),
    };
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if args.checkpoint_every == 0 {
        bail!("--checkpoint-every must be at least 1");
    }
    if let Some(r) = args.max_error_rate {
        if !(0.0..=1.0).contains(&r) {
            bail!("--max-error-rate must be in [0, 1], got {r}");
        }
    }
    Ok(ExtractOptions {
        input: args.input.clone(),
        output: args.output.clone(),
        glob: args.glob.clone(),
        labels: args.labels.as_ref().map(|p| p.display().to_string()),
        storage: storage_options(&args.storage)?,
        mode: write_mode(args),
        partitions: args.partitions,
        featurize: FeaturizeOptions {
            decode: DecodeOptions {
                max_pixels: args.max_pixels,
                apply_exif_orientation: !args.ignore_exif_orientation,
                fast_decode: args.fast_decode,
            },
            scan: orchard_engine::photos::ScanOptions {
                batch_rows: args.batch_size,
                max_bytes: args.max_bytes,
                ..Default::default()
            },
            checkpoint_every: args.checkpoint_every,
            ..FeaturizeOptions::new(resolve_model(&args.model)?)
        },
        fit: FitOptions {
            components,
            standardize: args.standardize.then_some(Standardize {
                with_std: true,
                with_mean: args.with_mean,
            }),
        },
        write: WriteOptions {
            format: output_format(args.format),
            keep_features: args.keep_features,
            max_error_rate: args.max_error_rate,
        },
        command_line: recorded_command_line(std::env::args()),
    })
}

/// The one write mode the flags ask for (clap keeps them exclusive).
fn write_mode(args: &ExtractArgs) -> WriteMode {
    if args.resume {
        WriteMode::Resume
    } else if args.incremental {
        WriteMode::Incremental { refit: args.refit }
    } else if args.overwrite {
        WriteMode::Overwrite
    } else {
        WriteMode::New
    }
}

/// Where the plans run: this process, or the cluster of `--cluster`.
fn plan_runner(args: &ExtractArgs) -> Box<dyn PlanRunner> {
    match &args.cluster {
        Some(url) => {
            // A task holds a partition of a chunk's photos.
            let partitions = orchard_model::effective_threads(args.partitions);
            let per_task = args.checkpoint_every.div_ceil(partitions.max(1));
            let stall = orchard_cluster::StallPolicy {
                fixed: args.stall_timeout.map(std::time::Duration::from_secs),
                attempts: args.stall_attempts,
                wait_for_executors: std::time::Duration::from_secs(args.wait_for_executors),
                ..orchard_cluster::StallPolicy::for_tasks_of(per_task)
            };
            Box::new(orchard_cluster::BallistaRunner::new(url).with_stall_policy(stall))
        }
        None => Box::new(Embedded),
    }
}

/// `orchard extract`.
pub async fn run_extract(args: ExtractArgs, quiet: bool) -> Result<()> {
    let options = extract_options(&args)?;
    let runner = plan_runner(&args);
    let context = || format!("extract {} → {}", args.input, args.output);
    if args.progress == ProgressFormat::Json {
        let result = extract(&options, runner.as_ref(), &JsonEvents)
            .await
            .map_err(with_hint);
        let event = match &result {
            Ok(report) => serde_json::json!({"event": "finished", "report": report}),
            Err(e) => serde_json::json!({"event": "failed", "error": e.to_string()}),
        };
        JsonEvents::print(&event);
        result.with_context(context)?;
        return Ok(());
    }
    let progress = Progress::new(quiet);
    let report = extract(&options, runner.as_ref(), &progress)
        .await
        .map_err(with_hint)
        .with_context(context)?;
    drop(progress);
    if !quiet {
        print_summary(&report);
    }
    Ok(())
}

fn print_summary(report: &orchard_engine::RunReport) {
    let c = &report.counts;
    println!(
        "{} photos → {} rows, {} errors{} in {:.1} s ({:.0} images/s, peak RSS {} MiB)",
        c.listed,
        c.succeeded,
        c.failed,
        if c.failed > 0 {
            " (see _errors.parquet)"
        } else {
            ""
        },
        report.seconds.total,
        report.images_per_second,
        report.peak_rss_bytes.unwrap_or(0) / (1024 * 1024),
    );
    println!(
        "PCA k={} explains {:.1}% of variance; model {} on {}; output {}",
        report.pca.k,
        100.0 * report.pca.explained_variance_total,
        report.model.name,
        report.model.backend,
        report.output
    );
}
