//! The extraction job as a sequence of named stages, each in its own module
//! with its inputs and outputs as types:
//!
//! | stage | module | in → out |
//! |---|---|---|
//! | start | [`start`] | options, output folder → locations, model, checkpoint |
//! | list, plan | [`plan`] | listing × previous output × checkpoint → chunks to do |
//! | featurize | [`featurize`] | chunks → spill + checkpoint marks |
//! | errors | [`errors`] | failed rows, listing problems → `_errors.parquet` |
//! | fit | [`fit`] | PCA statistics → model (or the saved one) |
//! | write | [`write`] | projection → parts, superseded rewrite, commit, `_SUCCESS` |
//! | report | [`report`] | counts and timings → `_run.json` |

mod errors;
mod featurize;
mod fit;
mod observer;
mod options;
mod plan;
mod queries;
mod report;
mod start;
mod write;

use std::sync::Arc;
use std::time::Instant;

use datafusion::prelude::{ParquetReadOptions, SessionContext};
use orchard_source::Location;

pub use observer::{JobEvent, JobObserver, Quiet};
pub use options::{
    ExtractOptions, FeaturizeOptions, FitOptions, OutputFormat, WriteMode, WriteOptions,
};

use crate::featurize::FeaturizeUdf;
use crate::output::ERRORS;
use crate::report::RunReport;
use crate::runner::{session_config, PlanRunner, TaskCounters};
use crate::Result;
use fit::FitSource;
use report::{Clock, Timings};
use write::Projection;

/// Runs the extraction job where `runner` runs plans; returns what
/// `_run.json` holds.
pub async fn extract(
    options: &ExtractOptions,
    runner: &dyn PlanRunner,
    observer: &dyn JobObserver,
) -> Result<RunReport> {
    let clock = Clock::start();
    let mut timings = Timings::default();
    let job = start::start(options, runner).await?;
    observer.event(&JobEvent::Started {
        job_id: job.checkpoint.job_id.clone(),
        input: job.input.url().to_string(),
        output: job.out.url().to_string(),
        resumed: job.resumed,
    });

    observer.stage("list");
    let prior = job.prior.as_ref();
    let listed = plan::list(
        &job.input,
        &job.glob,
        options.labels.as_deref(),
        prior.map(|p| &p.labels),
    )
    .await?;
    timings.list = listed.seconds;
    observer.event(&JobEvent::Listed {
        photos: listed.photos.len() as u64,
        skipped: listed.listing.skipped,
        problems: listed.listing.problems.len() as u64,
        seconds: listed.seconds,
    });

    let ctx = runner
        .session(session_config(options.partitions), &options.storage)
        .await?;
    register(&ctx, &job.input);
    register(&ctx, &job.out);
    let spill_url = job.out.child_url(&job.checkpoint.features_dir());
    let work = plan_work(&ctx, &job, &listed, options, spill_url.as_str()).await?;
    observer.event(&JobEvent::Planned {
        todo: work.todo.len() as u64,
        chunks: work.chunks().len() as u64,
        changed: work.changed.len() as u64,
    });

    observer.stage("featurize");
    let t = Instant::now();
    let f = &options.featurize;
    let udf = FeaturizeUdf::with_loader(f.model.clone(), f.decode.clone(), f.loader.clone());
    let stats = udf.stats();
    ctx.register_udf(udf.into_udf());
    let tasks = Arc::new(TaskCounters::default());
    observer.featurize_started(work.todo.len() as u64, stats.clone(), tasks.clone());
    let progress = runner.progress();
    let counters = featurize::Counters {
        stats: &stats,
        tasks: &tasks,
    };
    featurize::featurize(&ctx, &job, &work, f.scan, progress, counters, observer).await?;
    observer.featurize_finished();
    timings.featurize = t.elapsed().as_secs_f64();
    ctx.register_parquet("spill", spill_url.as_str(), ParquetReadOptions::default())
        .await?;

    let incremental = prior.is_some();
    let failures = errors::write_errors(
        &ctx,
        &job.out,
        &listed.listing.problems,
        incremental,
        &work.wanted_paths(),
    )
    .await?;
    observer.event(&JobEvent::ErrorsWritten {
        failed: failures.total,
        by_stage: failures.by_stage.clone(),
    });
    let refit = incremental && options.mode.refits();
    let earlier =
        write::earlier_rows(&ctx, &job.out, prior, &work.changed, &options.write, refit).await?;
    let new_rows = queries::featurized_count(&ctx).await?;

    observer.stage("pca");
    let t = Instant::now();
    let source = match prior {
        Some(prior) if !refit => FitSource::Saved(&prior.pca),
        _ => FitSource::Fit { with_old: refit },
    };
    let width = f.model.spec.feature_width;
    let pca = fit::fit(&ctx, source, &options.fit, width, || {
        format!(
            "{} listed ({} failed; see {}{ERRORS})",
            listed.photos.len(),
            failures.total,
            job.out.url()
        )
    })
    .await?;
    timings.pca_fit = t.elapsed().as_secs_f64();
    observer.event(&JobEvent::PcaFitted {
        k: pca.k(),
        explained_variance: pca.explained_variance_ratio().iter().sum(),
        n_samples: pca.n_samples(),
    });

    observer.stage("write");
    let t = Instant::now();
    let projection = Projection {
        out: &job.out,
        job_id: &job.checkpoint.job_id,
        pca: pca.clone(),
        labels: &listed.labels,
        format: options.write.format.into(),
        new_output: !incremental,
        refit,
    };
    let sequence = prior.map_or(1, |p| p.next_sequence);
    let succeeded = write::project_and_commit(
        &ctx,
        &projection,
        &earlier,
        &work.changed,
        new_rows,
        &work.wanted,
        sequence,
    )
    .await?;
    timings.project_write = t.elapsed().as_secs_f64();
    observer.event(&JobEvent::Committed { rows: succeeded });

    let report = report::run_report(
        options,
        &job,
        &listed,
        &work,
        &failures,
        succeeded,
        &pca,
        &stats,
        ctx.state().config().target_partitions(),
        clock.finish(timings),
    );
    // An incremental run without refit keeps the saved model file as it is.
    let new_model = (!incremental || refit).then_some(pca.as_ref());
    write::finish(
        &job.out,
        &listed.labels,
        new_model,
        &report,
        options.write.max_error_rate,
    )
    .await?;
    Ok(report)
}

fn register(ctx: &SessionContext, location: &Location) {
    ctx.register_object_store(&location.store_url(), location.store().clone());
}

/// The plan stage: what the resumed job already checkpointed, then the pure
/// plan over the listing.
async fn plan_work(
    ctx: &SessionContext,
    job: &start::Started,
    listed: &plan::Listed,
    options: &ExtractOptions,
    spill_url: &str,
) -> Result<plan::WorkPlan> {
    let done_chunks = if job.resumed {
        job.checkpoint.completed_chunks(&job.out).await?
    } else {
        Vec::new()
    };
    let done_paths = if done_chunks.is_empty() {
        Default::default()
    } else {
        queries::featurized_paths(ctx, spill_url).await?
    };
    let seen = job.prior.as_ref().map(|p| &p.seen);
    let work = plan::plan_work(
        &listed.photos,
        seen,
        &done_paths,
        &done_chunks,
        options.featurize.chunk_size(),
    );
    if let Some(prior) = &job.prior {
        tracing::info!(
            new = work.wanted.len() - work.changed.len(),
            changed = work.changed.len(),
            unchanged = listed.photos.len() - work.wanted.len(),
            previously = prior.seen.len(),
            "incremental run"
        );
    }
    if job.resumed {
        tracing::info!(
            done = done_paths.len(),
            chunks = done_chunks.len(),
            todo = work.todo.len(),
            "resuming"
        );
    }
    Ok(work)
}
