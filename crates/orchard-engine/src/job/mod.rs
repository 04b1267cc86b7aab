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
pub(crate) mod queries;
mod report;
mod stages;
mod start;
mod throughput;
mod write;

use datafusion::prelude::SessionContext;
use orchard_source::Location;

pub use observer::{JobEvent, JobObserver, Quiet};
pub use options::{
    ExtractOptions, FeaturizeOptions, FitOptions, OutputFormat, WriteMode, WriteOptions,
};

use crate::report::RunReport;
use crate::runner::{session_config, PlanRunner};
use crate::Result;
use report::{Clock, Timings};
use stages::Job;

/// Runs the extraction job where `runner` runs plans; returns what
/// `_run.json` holds.
pub async fn extract(
    options: &ExtractOptions,
    runner: &dyn PlanRunner,
    observer: &dyn JobObserver,
) -> Result<RunReport> {
    let clock = Clock::start();
    let mut timings = Timings::default();
    let started = start::start(options, runner).await?;
    let ctx = runner
        .session(session_config(options.partitions), &options.storage)
        .await?;
    register(&ctx, &started.input);
    register(&ctx, &started.out);
    let job = Job {
        options,
        observer,
        started,
        ctx,
    };
    job.tell(job.started_event());

    let listed = job.list().await?;
    timings.list = listed.seconds;
    let work = job.plan(&listed).await?;
    let (stats, seconds, throughput) = job.featurize(&work, runner, clock.started()).await?;
    timings.featurize = seconds;
    timings.throughput = throughput;
    let failures = job.errors(&listed, &work).await?;
    let earlier = job.earlier_rows(&work).await?;
    let (pca, seconds) = job.fit(&listed, &failures).await?;
    timings.pca_fit = seconds;
    let (succeeded, seconds) = job.write(&listed, &work, &earlier, pca.clone()).await?;
    timings.project_write = seconds;

    let report = report::run_report(
        options,
        &job.started,
        &listed,
        &work,
        &failures,
        succeeded,
        &pca,
        &stats,
        job.ctx.state().config().target_partitions(),
        clock.finish(timings),
    );
    job.finish(&listed, &pca, &report).await?;
    Ok(report)
}

fn register(ctx: &SessionContext, location: &Location) {
    ctx.register_object_store(&location.store_url(), location.store().clone());
}
