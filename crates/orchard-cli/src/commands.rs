//! What each subcommand does.

use anyhow::{bail, Context, Result};
use orchard_engine::{
    extract, transform, Embedded, ExtractOptions, FeaturizeOptions, FitOptions, OutputFormat,
    PlanRunner, TransformOptions, WriteMode, WriteOptions,
};
use orchard_image::DecodeOptions;
use orchard_model::{fetch_preset, FetchOptions, ModelHome, PRESETS};
use orchard_pca::{Components, Standardize};

use crate::args::{
    Cli, ClusterCommand, Command, ExtractArgs, Format, ModelCommand, ProgressFormat, TransformArgs,
};
use crate::progress::{JsonEvents, Progress};
use crate::setup::{recorded_command_line, resolve_model, runtime, storage_options};

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
        Command::Uploads(cmd) => crate::uploads_cmd::run(cmd),
        Command::Cost(args) => crate::cost_cmd::run_cost(args),
        Command::Report(args) => runtime()?.block_on(crate::report_cmd::run_report(args)),
        Command::Cluster(cmd) => runtime()?.block_on(run_cluster(cmd)),
    }
}

async fn run_cluster(cmd: ClusterCommand) -> Result<()> {
    use orchard_cluster::process::{
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
            metrics_port,
            no_metrics,
            storage,
        } => {
            let slots = orchard_model::effective_threads(slots);
            let metrics_addr = match no_metrics {
                true => None,
                false => Some(
                    tokio::net::lookup_host((bind_host.as_str(), metrics_port))
                        .await?
                        .next()
                        .with_context(|| format!("cannot resolve --bind-host {bind_host}"))?,
                ),
            };
            let options = ExecutorOptions {
                external_host,
                storage: storage_options(&storage)?,
                metrics_addr,
                ..Default::default()
            };
            let ports = ExecutorPorts {
                flight: port,
                grpc: grpc_port,
            };
            run_executor(&scheduler, slots, &bind_host, ports, options, |at| {
                // The chosen ports, for operators and scripts (with port 0).
                let metrics = at
                    .metrics
                    .map_or_else(|| "off".to_string(), |a| a.port().to_string());
                tracing::info!(
                    "executor: {slots} slot(s), flight port {}, grpc port {}, metrics port {metrics}, \
                     registering with the scheduler at {scheduler}",
                    at.ports.flight,
                    at.ports.grpc
                );
            })
            .await?;
        }
    }
    Ok(())
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
                attempts: args.stall_attempts.max(1),
                wait_for_executors: std::time::Duration::from_secs(args.wait_for_executors),
                ..orchard_cluster::StallPolicy::for_tasks_of(per_task)
            };
            Box::new(orchard_cluster::BallistaRunner::new(url).with_stall_policy(stall))
        }
        None => Box::new(Embedded),
    }
}

async fn run_extract(args: ExtractArgs, quiet: bool) -> Result<()> {
    let options = extract_options(&args)?;
    let runner = plan_runner(&args);
    let context = || format!("extract {} → {}", args.input, args.output);
    if args.progress == ProgressFormat::Json {
        let result = extract(&options, runner.as_ref(), &JsonEvents).await;
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
        ModelCommand::Quantize(args) => crate::quantize_cmd::run_quantize(&home, *args)?,
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
