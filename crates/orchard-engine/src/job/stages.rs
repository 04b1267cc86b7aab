//! The stages as [`extract`](super::extract) runs them: each call runs one
//! stage module with what the earlier stages returned, tells the observer,
//! and times it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use datafusion::prelude::{ParquetReadOptions, SessionContext};
use orchard_pca::PcaModel;

use crate::featurize::{FeaturizeStats, FeaturizeUdf};
use crate::job::errors::{self, Failures};
use crate::job::featurize::{self, Counters};
use crate::job::fit::{self, FitSource};
use crate::job::observer::{JobEvent, JobObserver};
use crate::job::options::ExtractOptions;
use crate::job::plan::{self, Listed, WorkPlan};
use crate::job::queries;
use crate::job::start::Started;
use crate::job::throughput::ThroughputRecorder;
use crate::job::write::{self, EarlierRows, Projection};
use crate::output::ERRORS;
use crate::report::{RunReport, ThroughputPoint};
use crate::runner::{PlanRunner, TaskCounters};
use crate::Result;

/// A started job and where its plans run.
pub(crate) struct Job<'a> {
    pub options: &'a ExtractOptions,
    pub observer: &'a dyn JobObserver,
    pub started: Started,
    pub ctx: SessionContext,
}

impl Job<'_> {
    /// Tells the observer.
    pub fn tell(&self, event: JobEvent) {
        self.observer.event(&event);
    }

    pub fn started_event(&self) -> JobEvent {
        let s = &self.started;
        JobEvent::Started {
            job_id: s.checkpoint.job_id.clone(),
            input: s.input.url().to_string(),
            output: s.out.url().to_string(),
            resumed: s.resumed,
        }
    }

    fn incremental(&self) -> bool {
        self.started.prior.is_some()
    }

    fn refit(&self) -> bool {
        self.incremental() && self.options.mode.refits()
    }

    fn spill_url(&self) -> String {
        let s = &self.started;
        s.out.child_url(&s.checkpoint.features_dir()).to_string()
    }

    /// The list stage.
    pub async fn list(&self) -> Result<Listed> {
        self.observer.stage("list");
        let s = &self.started;
        let saved = s.prior.as_ref().map(|p| &p.labels);
        let listed = plan::list(&s.input, &s.glob, self.options.labels.as_deref(), saved).await?;
        self.tell(JobEvent::Listed {
            photos: listed.photos.len() as u64,
            skipped: listed.listing.skipped,
            problems: listed.listing.problems.len() as u64,
            seconds: listed.seconds,
        });
        Ok(listed)
    }

    /// The plan stage: what the resumed job already checkpointed, then the
    /// pure plan over the listing.
    pub async fn plan(&self, listed: &Listed) -> Result<WorkPlan> {
        let s = &self.started;
        let done_chunks = if s.resumed {
            s.checkpoint.completed_chunks(&s.out).await?
        } else {
            Vec::new()
        };
        let done_paths: HashSet<String> = if done_chunks.is_empty() {
            HashSet::new()
        } else {
            queries::featurized_paths(&self.ctx, &self.spill_url()).await?
        };
        let seen = s.prior.as_ref().map(|p| &p.seen);
        let chunk_size = self.options.featurize.chunk_size();
        let work = plan::plan_work(&listed.photos, seen, &done_paths, &done_chunks, chunk_size);
        if let Some(prior) = &s.prior {
            tracing::info!(
                new = work.wanted.len() - work.changed.len(),
                changed = work.changed.len(),
                unchanged = listed.photos.len() - work.wanted.len(),
                previously = prior.seen.len(),
                "incremental run"
            );
        }
        if s.resumed {
            tracing::info!(
                done = done_paths.len(),
                chunks = done_chunks.len(),
                todo = work.todo.len(),
                "resuming"
            );
        }
        self.tell(JobEvent::Planned {
            todo: work.todo.len() as u64,
            chunks: work.chunks().len() as u64,
            changed: work.changed.len() as u64,
        });
        Ok(work)
    }

    /// The featurize stage; then the spill is the `spill` table. Returns the
    /// counters, the stage's seconds and its throughput series (times since
    /// `run_started`).
    pub async fn featurize(
        &self,
        work: &WorkPlan,
        runner: &dyn PlanRunner,
        run_started: Instant,
    ) -> Result<(Arc<FeaturizeStats>, f64, Vec<ThroughputPoint>)> {
        self.observer.stage("featurize");
        let t = Instant::now();
        let f = &self.options.featurize;
        let udf = FeaturizeUdf::with_loader(f.model.clone(), f.decode.clone(), f.loader.clone());
        let stats = udf.stats();
        self.ctx.register_udf(udf.into_udf());
        let tasks = Arc::new(TaskCounters::default());
        let todo = work.todo.len() as u64;
        self.observer
            .featurize_started(todo, stats.clone(), tasks.clone());
        let counters = Counters {
            stats: &stats,
            tasks: &tasks,
        };
        let progress = runner.progress();
        let s = &self.started;
        let recorder = ThroughputRecorder::start(stats.clone(), run_started);
        let done = featurize::featurize(
            &self.ctx,
            s,
            work,
            f.scan,
            progress,
            counters,
            self.observer,
        )
        .await;
        let throughput = recorder.finish().await;
        done?;
        self.observer.featurize_finished();
        let seconds = t.elapsed().as_secs_f64();
        let spill = self.spill_url();
        self.ctx
            .register_parquet("spill", &spill, ParquetReadOptions::default())
            .await?;
        Ok((stats, seconds, throughput))
    }

    /// The errors stage.
    pub async fn errors(&self, listed: &Listed, work: &WorkPlan) -> Result<Failures> {
        let problems = &listed.listing.problems;
        let out = &self.started.out;
        let again = work.wanted_paths();
        let failures =
            errors::write_errors(&self.ctx, out, problems, self.incremental(), &again).await?;
        self.tell(JobEvent::ErrorsWritten {
            failed: failures.total,
            by_stage: failures.by_stage.clone(),
        });
        Ok(failures)
    }

    /// Earlier runs' rows (the `old` table), for the fit and write stages.
    pub async fn earlier_rows(&self, work: &WorkPlan) -> Result<EarlierRows> {
        let prior = self.started.prior.as_ref();
        let write = &self.options.write;
        let out = &self.started.out;
        write::earlier_rows(&self.ctx, out, prior, &work.changed, write, self.refit()).await
    }

    /// The fit stage; returns the model and the stage's seconds.
    pub async fn fit(&self, listed: &Listed, failures: &Failures) -> Result<(Arc<PcaModel>, f64)> {
        self.observer.stage("pca");
        let t = Instant::now();
        let source = match &self.started.prior {
            Some(prior) if !self.refit() => FitSource::Saved(&prior.pca),
            _ => FitSource::Fit {
                with_old: self.refit(),
            },
        };
        let width = self.options.featurize.model.spec.feature_width;
        let describe = || {
            format!(
                "{} listed ({} failed; see {}{ERRORS})",
                listed.photos.len(),
                failures.total,
                self.started.out.url()
            )
        };
        let pca = fit::fit(&self.ctx, source, &self.options.fit, width, describe).await?;
        self.tell(JobEvent::PcaFitted {
            k: pca.k(),
            explained_variance: pca.explained_variance_ratio().iter().sum(),
            n_samples: pca.n_samples(),
        });
        Ok((pca, t.elapsed().as_secs_f64()))
    }

    /// The write stage up to the commit; returns the output's rows and the
    /// stage's seconds.
    pub async fn write(
        &self,
        listed: &Listed,
        work: &WorkPlan,
        earlier: &EarlierRows,
        pca: Arc<PcaModel>,
    ) -> Result<(u64, f64)> {
        self.observer.stage("write");
        let t = Instant::now();
        let s = &self.started;
        let new_rows = queries::featurized_count(&self.ctx).await?;
        let projection = Projection {
            out: &s.out,
            job_id: &s.checkpoint.job_id,
            pca,
            labels: &listed.labels,
            format: self.options.write.format.into(),
            new_output: !self.incremental(),
            refit: self.refit(),
        };
        let sequence = s.prior.as_ref().map_or(1, |p| p.next_sequence);
        let succeeded = write::project_and_commit(
            &self.ctx,
            &projection,
            earlier,
            &work.changed,
            new_rows,
            &work.wanted,
            sequence,
        )
        .await?;
        self.tell(JobEvent::Committed { rows: succeeded });
        Ok((succeeded, t.elapsed().as_secs_f64()))
    }

    /// Metadata, `_run.json` and `_SUCCESS` last. An incremental run without
    /// refit keeps the saved model file as it is.
    pub async fn finish(&self, listed: &Listed, pca: &PcaModel, report: &RunReport) -> Result<()> {
        let new_model = (!self.incremental() || self.refit()).then_some(pca);
        let max_error_rate = self.options.write.max_error_rate;
        write::finish(
            &self.started.out,
            &listed.labels,
            new_model,
            report,
            max_error_rate,
        )
        .await
    }
}
