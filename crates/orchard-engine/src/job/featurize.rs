//! The featurize stage: the planned chunks of photos → the spill (one folder
//! of Parquet files per chunk under the job's `_temporary/`), each chunk
//! checkpointed when written.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;

use crate::featurize::FeaturizeStats;
use crate::job::observer::{JobEvent, JobObserver};
use crate::job::plan::WorkPlan;
use crate::job::queries::FEATURIZE_CHUNK;
use crate::job::start::Started;
use crate::photos::{scan_partitions, PhotoTable, ScanOptions};
use crate::runner::{ProgressSource, TaskCounters, TaskCounts};
use crate::sink::PartFormat;
use crate::write_parts::{write_parts_plan, WriteTarget};
use crate::Result;

/// The counters the stage keeps up to date.
pub(crate) struct Counters<'a> {
    /// Photos and time, counted by the `featurize` function in this process.
    pub stats: &'a Arc<FeaturizeStats>,
    /// Tasks of plans run elsewhere.
    pub tasks: &'a Arc<TaskCounters>,
}

/// Rows per row group of the spill.
const SPILL_ROW_GROUP: usize = 256;

/// Featurizes every chunk of `plan` into the spill (the `featurize` UDF must
/// be registered on `ctx`). With a `progress` source (plans run elsewhere),
/// `stats.photos` and `tasks` follow the runner's task counts.
pub(crate) async fn featurize(
    ctx: &SessionContext,
    job: &Started,
    plan: &WorkPlan,
    scan: ScanOptions,
    progress: Option<Arc<dyn ProgressSource>>,
    counters: Counters<'_>,
    observer: &dyn JobObserver,
) -> Result<()> {
    let Counters { stats, tasks } = counters;
    let t = Instant::now();
    let store_url = ObjectStoreUrl::parse(job.input.store_url().as_str())?;
    let chunks = plan.chunks();
    let last_chunk = plan.first_chunk + chunks.len();
    for (n, photos) in chunks {
        ctx.deregister_table("photos")?;
        let table = PhotoTable::new(store_url.clone(), photos.to_vec(), scan);
        ctx.register_table("photos", Arc::new(table))?;
        let frame = ctx.sql(FEATURIZE_CHUNK).await?;
        // The spill is written where the chunk's partitions run; only file
        // names and row counts come back.
        let target = WriteTarget {
            out: &job.out,
            dir: job.checkpoint.chunk_dir(n),
            staging: job.checkpoint.attempts_dir(n),
            format: PartFormat::ParquetUncompressed,
            job_id: job.checkpoint.job_id.clone(),
            row_group_rows: SPILL_ROW_GROUP,
        };
        let write = write_parts_plan(ctx, frame, target).await?;
        // When the functions run elsewhere, this process's counters follow
        // the chunk's job instead.
        let watch = progress.as_ref().map(|source| {
            let planned = scan_partitions(
                ctx.state().config().target_partitions(),
                photos.len(),
                &scan,
            );
            let shown = Arc::new(ChunkProgress::starting(
                stats.clone(),
                tasks.clone(),
                planned as u64,
                photos.len() as u64,
            ));
            let show = shown.clone();
            let watch = source.watch(write.plan.clone(), Arc::new(move |c| show.show(c)));
            (shown, watch)
        });
        let written = write.run(ctx).await?;
        stats
            .spill_answer_bytes
            .fetch_add(written.answer_bytes, Ordering::Relaxed);
        job.checkpoint.mark_done(&job.out, n).await?;
        if let Some((shown, watch)) = watch {
            let counts = watch.finish().await.unwrap_or_default();
            shown.complete();
            tracing::info!(
                chunk = n + 1,
                chunks = last_chunk,
                photos = photos.len(),
                tasks = counts.total,
                failed_task_attempts = counts.failed,
                images_per_second = stats.photos.load(Ordering::Relaxed) as f64
                    / t.elapsed().as_secs_f64().max(1e-9),
                "chunk featurized on the cluster"
            );
        }
        let photos_done = stats.photos.load(Ordering::Relaxed);
        observer.event(&JobEvent::ChunkDone {
            chunk: n,
            photos: photos.len() as u64,
            photos_done,
            failed: stats.failed.load(Ordering::Relaxed),
            images_per_second: photos_done as f64 / t.elapsed().as_secs_f64().max(1e-9),
        });
    }
    Ok(())
}

/// Maps the task counts of one chunk's job onto the featurisation counters,
/// on top of what they showed when the chunk started: tasks as reported (at
/// least the planned scan partitions), and photos in proportion to the tasks
/// done (the chunk's photos are split evenly across its tasks).
struct ChunkProgress {
    stats: Arc<FeaturizeStats>,
    tasks: Arc<TaskCounters>,
    tasks_done_before: u64,
    tasks_total_before: u64,
    photos_before: u64,
    /// Tasks this chunk's job is planned to have (its scan partitions).
    planned_tasks: u64,
    /// Photos of this chunk.
    photos: u64,
}

impl ChunkProgress {
    fn starting(
        stats: Arc<FeaturizeStats>,
        tasks: Arc<TaskCounters>,
        planned_tasks: u64,
        photos: u64,
    ) -> Self {
        let (tasks_done_before, tasks_total_before) = tasks.get();
        ChunkProgress {
            tasks_done_before,
            tasks_total_before,
            photos_before: stats.photos.load(Ordering::Relaxed),
            stats,
            tasks,
            planned_tasks,
            photos,
        }
    }

    fn show(&self, job: TaskCounts) {
        let total = job.total.max(self.planned_tasks).max(1);
        let done = job.done.min(total);
        self.tasks
            .total
            .store(self.tasks_total_before + total, Ordering::Relaxed);
        self.tasks
            .done
            .store(self.tasks_done_before + done, Ordering::Relaxed);
        self.stats.photos.store(
            self.photos_before + self.photos * done / total,
            Ordering::Relaxed,
        );
    }

    /// The chunk's job has ended: all its photos are done, whatever the
    /// runner reported.
    fn complete(&self) {
        self.stats
            .photos
            .store(self.photos_before + self.photos, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_progress_adds_to_earlier_chunks_and_completes() {
        let stats = Arc::new(FeaturizeStats::default());
        let tasks = Arc::new(TaskCounters::default());
        stats.photos.store(10, Ordering::Relaxed);
        tasks.done.store(2, Ordering::Relaxed);
        tasks.total.store(2, Ordering::Relaxed);
        let chunk = ChunkProgress::starting(stats.clone(), tasks.clone(), 4, 40);
        // The scheduler has planned only 2 tasks so far: the plan's 4 count.
        chunk.show(TaskCounts {
            done: 1,
            total: 2,
            failed: 0,
        });
        assert_eq!(tasks.get(), (3, 6));
        assert_eq!(stats.photos.load(Ordering::Relaxed), 10 + 10);
        chunk.show(TaskCounts {
            done: 3,
            total: 4,
            failed: 1,
        });
        assert_eq!(stats.photos.load(Ordering::Relaxed), 10 + 30);
        chunk.complete();
        assert_eq!(stats.photos.load(Ordering::Relaxed), 50);
    }
}
