//! The extraction job: photos → features → PCA → part files, as DataFusion plans.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use orchard_image::DecodeOptions;
use orchard_pca::{Components, PcaModel, PcaStats, Standardize};
use orchard_source::{list_photos, LabelIndex, Location, PhotoGlob, StorageOptions};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Checkpoint, JobFingerprint, JobState, DEFAULT_CHECKPOINT_EVERY};
use crate::cluster::progress::{JobWatch, SchedulerApi, TaskCounts};
use crate::featurize::{FeaturizeStats, FeaturizeUdf, ModelRef};
use crate::incremental;
use crate::labels_udf::LabelIndexUdf;
use crate::output::{self, ERRORS, LABELS, PCA_DIR, PCA_MODEL, RUN, SUCCESS, TEMPORARY};
use crate::pca_udf::{PcaProjectUdf, PcaStatsUdaf};
use crate::photos::{scan_partitions, PhotoRef, PhotoTable, ScanOptions};
use crate::report::{peak_rss_bytes, Counts, ModelReport, PcaReport, RunReport, Seconds};
use crate::schema::errors_schema;
use crate::sink::{PartFormat, PartWriterExec, PartWriterOptions};
use crate::{EngineError, Result};

/// The output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Parquet part files (the default).
    #[default]
    Parquet,
    /// The seed's CSV: `label_index`, `pca` as a JSON array, `path`.
    Csv,
}

impl From<OutputFormat> for PartFormat {
    fn from(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Parquet => PartFormat::Parquet,
            OutputFormat::Csv => PartFormat::Csv,
        }
    }
}

/// Everything an extraction run needs.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Where the photos are (local path or URL).
    pub input: String,
    /// Where the result goes.
    pub output: String,
    /// Which files are photos (`*.jpg,*.jpeg,*.png`).
    pub glob: String,
    /// An existing `_labels.json` to reuse (new labels are appended).
    pub labels: Option<String>,
    /// The model.
    pub model: ModelRef,
    /// Decode limits.
    pub decode: DecodeOptions,
    /// Read batching and concurrency.
    pub scan: ScanOptions,
    /// How many PCA components.
    pub components: Components,
    /// Standardise features before PCA (Spark's StandardScaler).
    pub standardize: Option<Standardize>,
    /// Output format.
    pub format: OutputFormat,
    /// Also write the raw features in the output.
    pub keep_features: bool,
    /// Parallel partitions (0 = number of cores).
    pub partitions: usize,
    /// Replace a non-empty output.
    pub overwrite: bool,
    /// How remote stores are reached (region, endpoint, allow-list, retries).
    pub storage: StorageOptions,
    /// Continue an interrupted run into the same output, reusing its
    /// checkpointed chunks.
    pub resume: bool,
    /// Photos per checkpointed chunk (0 = [`DEFAULT_CHECKPOINT_EVERY`]).
    pub checkpoint_every: usize,
    /// Fail (no `_SUCCESS`, an error) when more than this fraction of the
    /// inputs fails.
    pub max_error_rate: Option<f64>,
    /// Add to an existing output: process only new or changed photos and
    /// project them with the saved PCA model.
    pub incremental: bool,
    /// With `incremental`: fit PCA again on all features (old and new) and
    /// re-project every row (needs an output written with `keep_features`).
    pub refit: bool,
    /// Run the queries on this Ballista cluster (`df://host:50050`) instead
    /// of in this process.
    pub cluster: Option<String>,
}

/// Hooks for showing progress; every method has a no-op default.
pub trait JobObserver: Send + Sync {
    /// A stage starts (`list`, `featurize`, `pca`, `write`).
    fn stage(&self, _name: &str) {}
    /// Featurisation of `total` photos starts; `stats` counts progress.
    fn featurize_started(&self, _total: u64, _stats: Arc<FeaturizeStats>) {}
    /// Featurisation has ended.
    fn featurize_finished(&self) {}
}

/// An observer that shows nothing.
pub struct Quiet;
impl JobObserver for Quiet {}

/// Maps the task counts of one chunk's cluster job onto the featurisation
/// counters, on top of what they showed when the chunk started: tasks as
/// reported (at least the planned scan partitions), and photos in proportion
/// to the tasks done (the chunk's photos are split evenly across its tasks).
struct ChunkProgress {
    stats: Arc<FeaturizeStats>,
    tasks_done_before: u64,
    tasks_total_before: u64,
    photos_before: u64,
    /// Tasks this chunk's job is planned to have (its scan partitions).
    planned_tasks: u64,
    /// Photos of this chunk.
    photos: u64,
}

impl ChunkProgress {
    fn starting(stats: Arc<FeaturizeStats>, planned_tasks: u64, photos: u64) -> Self {
        ChunkProgress {
            tasks_done_before: stats.tasks_done.load(Ordering::Relaxed),
            tasks_total_before: stats.tasks_total.load(Ordering::Relaxed),
            photos_before: stats.photos.load(Ordering::Relaxed),
            stats,
            planned_tasks,
            photos,
        }
    }

    fn show(&self, job: TaskCounts) {
        let total = job.total.max(self.planned_tasks).max(1);
        let done = job.done.min(total);
        let stats = &self.stats;
        stats
            .tasks_total
            .store(self.tasks_total_before + total, Ordering::Relaxed);
        stats
            .tasks_done
            .store(self.tasks_done_before + done, Ordering::Relaxed);
        stats.photos.store(
            self.photos_before + self.photos * done / total,
            Ordering::Relaxed,
        );
    }

    /// The chunk's job has ended: all its photos are done, whatever the
    /// scheduler reported.
    fn complete(&self) {
        self.stats
            .photos
            .store(self.photos_before + self.photos, Ordering::Relaxed);
    }
}

/// Orchard's session settings, shared by embedded runs and cluster clients:
/// `partitions` target partitions (0 = number of cores), batches of 1024,
/// plain Utf8 in outputs, spill read from one folder per chunk.
pub(crate) fn session_config(partitions: usize) -> SessionConfig {
    let partitions = if partitions == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        partitions
    };
    let mut config = SessionConfig::new()
        .with_target_partitions(partitions)
        .with_batch_size(1024)
        .with_information_schema(false);
    // Plain utf8 columns in outputs (not Utf8View), the documented schema.
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    // The spill is one folder per checkpointed chunk.
    config
        .options_mut()
        .execution
        .listing_table_ignore_subdirectory = false;
    config
}

/// A session with `partitions` target partitions (0 = number of cores).
pub(crate) fn session_for(partitions: usize) -> SessionContext {
    SessionContext::new_with_config(session_config(partitions))
}

/// Checks every location against the region allow-list (see
/// [`Location::check_residency`]); logs the regions found.
pub(crate) async fn check_residency(locations: &[&Location]) -> Result<()> {
    for location in locations {
        if let Some(region) = location.check_residency().await? {
            tracing::info!(location = %location.url(), region, "storage region");
        }
    }
    Ok(())
}

fn register(ctx: &SessionContext, location: &Location) {
    ctx.register_object_store(&location.store_url(), location.store().clone());
}

/// Runs the extraction job; returns what `_run.json` holds.
pub async fn extract(options: &ExtractOptions, observer: &dyn JobObserver) -> Result<RunReport> {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let input = Location::parse_with(&options.input, &options.storage)?;
    let out = Location::parse_with(&options.output, &options.storage)?;
    let glob = PhotoGlob::new(&options.glob)?;
    out.ensure_writable()?;
    // Data residency, before anything is read or written.
    check_residency(&[&input, &out]).await?;

    // Fail fast on the model, before any work.
    let model = options.model.load()?;
    let fingerprint = JobFingerprint {
        input: input.url().to_string(),
        glob: options.glob.clone(),
        model_sha256: options.model.sha256.clone(),
        decode: serde_json::to_value(&options.decode).unwrap_or_default(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let prior = if options.incremental {
        if options.format != OutputFormat::Parquet {
            return Err(EngineError::Invalid(
                "--incremental needs Parquet output (CSV cannot hold what later runs need)".into(),
            ));
        }
        incremental::load_prior(&out).await?
    } else {
        None
    };
    let (checkpoint, resumed) = start_job(&out, options, fingerprint, prior.is_some()).await?;
    let job_id = checkpoint.job_id.clone();

    observer.stage("list");
    let t = Instant::now();
    let listing = list_photos(&input, &glob).await?;
    let list_seconds = t.elapsed().as_secs_f64();
    tracing::info!(
        photos = listing.photos.len(),
        skipped = listing.skipped,
        problems = listing.problems.len(),
        "listed {}",
        input.url()
    );
    let mut labels = match &options.labels {
        // Stable across incremental runs: the saved index, extended.
        _ if prior.is_some() => prior.as_ref().map(|p| p.labels.clone()).unwrap_or_default(),
        Some(file) => {
            let bytes = std::fs::read(file).map_err(|e| {
                EngineError::Invalid(format!("cannot read labels file {file}: {e}"))
            })?;
            LabelIndex::from_json(&bytes, file)?
        }
        None => LabelIndex::default(),
    };
    let added = labels.extend(listing.labels());
    if options.labels.is_some() && !added.is_empty() {
        tracing::warn!(new = ?added, "labels not in the labels file get new indexes");
    }

    let ctx = match &options.cluster {
        None => session_for(options.partitions),
        Some(url) => {
            if input.kind() == orchard_source::StoreKind::Http {
                return Err(EngineError::Invalid(
                    "--cluster needs an input every executor can list; HTTP is not supported"
                        .into(),
                ));
            }
            crate::cluster::client::remote_context(url, options.partitions, &options.storage)
                .await?
        }
    };
    register(&ctx, &input);
    register(&ctx, &out);
    let partitions = ctx.state().config().target_partitions();

    // 1. featurize: photos → spill, chunk by chunk, each checkpointed.
    observer.stage("featurize");
    let t = Instant::now();
    let width = options.model.spec.feature_width;
    let featurize = FeaturizeUdf::new(options.model.clone(), options.decode.clone());
    let stats = featurize.stats();
    ctx.register_udf(featurize.into_udf());
    let spill_url = out.child_url(&checkpoint.features_dir());
    let done_chunks = if resumed {
        checkpoint.completed_chunks(&out).await?
    } else {
        Vec::new()
    };
    let done_paths = if done_chunks.is_empty() {
        HashSet::new()
    } else {
        featurized_paths(&ctx, spill_url.as_str()).await?
    };
    // What this job is about: everything listed, or what is new or changed.
    let wanted: Vec<PhotoRef> = listing
        .photos
        .iter()
        .map(PhotoRef::from)
        .filter(|p| {
            prior
                .as_ref()
                .is_none_or(|prior| prior.is_new_or_changed(p))
        })
        .collect();
    let wanted_paths: HashSet<&str> = wanted.iter().map(|p| p.path.as_str()).collect();
    let changed: Vec<String> = match &prior {
        Some(prior) => wanted
            .iter()
            .filter(|p| prior.seen.contains_key(&p.path))
            .map(|p| p.path.clone())
            .collect(),
        None => Vec::new(),
    };
    if let Some(prior) = &prior {
        tracing::info!(
            new = wanted.len() - changed.len(),
            changed = changed.len(),
            unchanged = listing.photos.len() - wanted.len(),
            previously = prior.seen.len(),
            "incremental run"
        );
    }
    let todo: Vec<PhotoRef> = wanted
        .iter()
        .filter(|p| !done_paths.contains(&p.path))
        .cloned()
        .collect();
    if resumed {
        tracing::info!(
            done = done_paths.len(),
            chunks = done_chunks.len(),
            todo = todo.len(),
            "resuming"
        );
    }
    let store_url = ObjectStoreUrl::parse(input.store_url().as_str())?;
    let chunk_size = if options.checkpoint_every == 0 {
        DEFAULT_CHECKPOINT_EVERY
    } else {
        options.checkpoint_every
    };
    let first_chunk = done_chunks.last().map_or(0, |n| n + 1);
    // At least one chunk, so that the spill exists (empty) for an empty input.
    let chunks: Vec<&[PhotoRef]> = if todo.is_empty() && done_chunks.is_empty() {
        vec![&[]]
    } else {
        todo.chunks(chunk_size).collect()
    };
    observer.featurize_started(todo.len() as u64, stats.clone());
    let chunk_count = chunks.len();
    let scheduler_api = options.cluster.as_deref().map(SchedulerApi::new);
    for (i, photos) in chunks.into_iter().enumerate() {
        let n = first_chunk + i;
        ctx.deregister_table("photos")?;
        ctx.register_table(
            "photos",
            Arc::new(PhotoTable::new(
                store_url.clone(),
                photos.to_vec(),
                options.scan,
            )),
        )?;
        let features_plan = ctx
            .sql("SELECT path, label, read_error, featurize(content) AS result FROM photos")
            .await?
            .create_physical_plan()
            .await?;
        // On a cluster the functions run on the executors, so this process's
        // counters follow the chunk's Ballista job instead.
        let watch = scheduler_api.as_ref().map(|api| {
            let planned = scan_partitions(
                ctx.state().config().target_partitions(),
                photos.len(),
                &options.scan,
            );
            let progress = Arc::new(ChunkProgress::starting(
                stats.clone(),
                planned as u64,
                photos.len() as u64,
            ));
            let shown = progress.clone();
            let watch = JobWatch::start(
                api.clone(),
                features_plan.clone(),
                Arc::new(move |c| shown.show(c)),
            );
            (progress, watch)
        });
        write_parts(
            &ctx,
            features_plan,
            &out,
            &checkpoint.chunk_dir(n),
            PartFormat::ParquetUncompressed,
            &job_id,
            256,
        )
        .await?;
        checkpoint.mark_done(&out, n).await?;
        if let Some((progress, watch)) = watch {
            let tasks = watch.finish().await.unwrap_or_default();
            progress.complete();
            tracing::info!(
                chunk = n + 1,
                chunks = first_chunk + chunk_count,
                photos = photos.len(),
                tasks = tasks.total,
                failed_task_attempts = tasks.failed,
                images_per_second = stats.photos.load(Ordering::Relaxed) as f64
                    / t.elapsed().as_secs_f64().max(1e-9),
                "chunk featurized on the cluster"
            );
        }
    }
    observer.featurize_finished();
    let featurize_seconds = t.elapsed().as_secs_f64();

    ctx.register_parquet("spill", spill_url.as_str(), ParquetReadOptions::default())
        .await?;

    // 2. errors.
    let errors_df = ctx
        .sql(
            "SELECT path, \
               CASE WHEN read_error IS NOT NULL THEN 'read' \
                    ELSE COALESCE(get_field(result, 'stage'), 'unknown') END AS stage, \
               COALESCE(read_error, get_field(result, 'message'), 'unknown error') AS message \
             FROM spill WHERE get_field(result, 'features') IS NULL",
        )
        .await?;
    let listing_errors = listing_problem_batch(&listing.problems)?;
    let error_stream = futures::stream::iter(listing_errors.map(Ok::<_, EngineError>)).chain(
        errors_df
            .execute_stream()
            .await?
            .map(|b| b.map_err(EngineError::from)),
    );
    // Earlier runs' errors stay, except for what was processed again (and
    // listing problems, which the new listing reports afresh).
    let earlier = match &prior {
        Some(_) => earlier_errors(&out, &wanted_paths).await?,
        None => Vec::new(),
    };
    let error_stream = futures::stream::iter(earlier.into_iter().map(Ok)).chain(error_stream);
    let failed = output::write_errors(&out, Box::pin(error_stream)).await?;
    let failed_by_stage = failures_by_stage(&ctx, listing.problems.len() as u64).await?;

    // Rows of earlier runs (incremental): the valid part files, less the
    // photos processed again.
    let old_parts = prior.as_ref().map(|p| p.parts.clone()).unwrap_or_default();
    let old_has_features = if old_parts.is_empty() {
        options.keep_features
    } else {
        let old = part_files(&ctx, &out, &old_parts)
            .await?
            .filter(not_in(&changed))?;
        let has = old.schema().field_with_unqualified_name("features").is_ok();
        ctx.register_table("old", old.into_view())?;
        has
    };
    let refit = prior.is_some() && options.refit;
    if refit && !old_has_features {
        return Err(EngineError::Invalid(format!(
            "--refit needs the features of earlier rows, but {} was written without --keep-features",
            out.url()
        )));
    }
    let keep_features = if old_parts.is_empty() {
        options.keep_features
    } else {
        if old_has_features != options.keep_features {
            tracing::warn!(
                keep_features = old_has_features,
                "following the existing output's schema for --keep-features"
            );
        }
        old_has_features
    };
    let new_rows = count(
        &ctx,
        "SELECT COUNT(*) FROM spill WHERE get_field(result, 'features') IS NOT NULL",
    )
    .await?;

    // 3. PCA statistics (partial states merged across partitions), fit here;
    // an incremental run keeps the saved model unless asked to refit.
    observer.stage("pca");
    let t = Instant::now();
    ctx.register_udaf(PcaStatsUdaf::new(width).into_udaf());
    let pca = match &prior {
        Some(prior) if !refit => Arc::new(prior.pca.clone()),
        _ => {
            let features = if refit {
                "SELECT get_field(result, 'features') AS f FROM spill \
                 WHERE get_field(result, 'features') IS NOT NULL \
                 UNION ALL SELECT features AS f FROM old"
            } else {
                "SELECT get_field(result, 'features') AS f FROM spill \
                 WHERE get_field(result, 'features') IS NOT NULL"
            };
            let pca_stats = pca_stats(&ctx, features).await?;
            let fitted_on = pca_stats.count();
            if fitted_on < 2 {
                return Err(EngineError::Invalid(format!(
                    "PCA needs at least 2 featurized photos, got {fitted_on} of {} listed ({failed} failed; see {}{ERRORS})",
                    listing.photos.len(),
                    out.url()
                )));
            }
            let pca = PcaModel::fit(&pca_stats, options.components, options.standardize)?;
            if let Components::Count(k) = options.components {
                if pca.k() < k {
                    tracing::warn!(
                        requested = k,
                        kept = pca.k(),
                        "PCA k capped by the rank of the data"
                    );
                }
            }
            Arc::new(pca)
        }
    };
    let pca_seconds = t.elapsed().as_secs_f64();

    // 4. project and write the output.
    observer.stage("write");
    let t = Instant::now();
    ctx.register_udf(PcaProjectUdf::new(pca.clone()).into_udf());
    ctx.register_udf(LabelIndexUdf::new(labels.clone()).into_udf());
    let extra = if keep_features {
        ", get_field(result, 'features') AS features"
    } else {
        ""
    };
    let format = PartFormat::from(options.format);
    if prior.is_none() || new_rows > 0 {
        let output_plan = ctx
            .sql(&format!(
                "SELECT path, label, label_index(label) AS label_index, \
                 pca_project(get_field(result, 'features')) AS pca{extra} \
                 FROM spill WHERE get_field(result, 'features') IS NOT NULL"
            ))
            .await?
            .create_physical_plan()
            .await?;
        let written = write_parts(&ctx, output_plan, &out, "", format, &job_id, 8192).await?;
        if written != new_rows {
            return Err(EngineError::Invalid(format!(
                "wrote {written} rows but {new_rows} photos were featurized"
            )));
        }
    }
    // Earlier part files that must change: all of them after a refit (new
    // projection), otherwise those holding a photo processed again.
    let superseded: Vec<String> = if refit {
        old_parts.clone()
    } else {
        parts_holding(&ctx, &out, &old_parts, &changed).await?
    };
    if !superseded.is_empty() {
        let rewrite = if refit {
            "SELECT path, label, label_index(label) AS label_index, \
             pca_project(features) AS pca, features FROM old"
                .to_string()
        } else {
            ctx.register_table(
                "superseded",
                part_files(&ctx, &out, &superseded)
                    .await?
                    .filter(not_in(&changed))?
                    .into_view(),
            )?;
            "SELECT * FROM superseded".to_string()
        };
        let plan = ctx.sql(&rewrite).await?.create_physical_plan().await?;
        write_parts(&ctx, plan, &out, "", format, &format!("{job_id}-rw"), 8192).await?;
    }
    let succeeded = if old_parts.is_empty() {
        new_rows
    } else {
        new_rows + count(&ctx, "SELECT COUNT(*) FROM old").await?
    };
    // The commit record makes the new part files valid and the superseded
    // ones obsolete; then they go.
    let sequence = prior.as_ref().map_or(1, |p| p.next_sequence);
    incremental::commit(&out, &job_id, sequence, &wanted, superseded.clone()).await?;
    incremental::delete_superseded(&out, &superseded).await?;
    let project_seconds = t.elapsed().as_secs_f64();

    // 5. metadata, then _SUCCESS last.
    output::put_file(&out, LABELS, labels.to_json().into_bytes()).await?;
    // An incremental run without refit keeps the saved model file as it is.
    if prior.is_none() || refit {
        output::put_file(
            &out,
            &format!("{PCA_DIR}/{PCA_MODEL}"),
            pca.to_json()?.into_bytes(),
        )
        .await?;
    }
    output::delete_prefix(&out, TEMPORARY).await?;
    let total = started.elapsed().as_secs_f64();
    let listed = listing.photos.len() as u64;
    let report = RunReport {
        orchard_version: env!("CARGO_PKG_VERSION").to_string(),
        job_id,
        input: input.url().to_string(),
        output: out.url().to_string(),
        format: match options.format {
            OutputFormat::Parquet => "parquet",
            OutputFormat::Csv => "csv",
        }
        .to_string(),
        started_at: started_at.to_rfc3339(),
        finished_at: chrono::Utc::now().to_rfc3339(),
        counts: Counts {
            listed,
            succeeded,
            processed: wanted.len() as u64,
            failed,
            failed_by_stage,
            skipped: listing.skipped,
            labels: labels.len() as u64,
        },
        seconds: Seconds {
            list: list_seconds,
            featurize: featurize_seconds,
            prepare_cpu: FeaturizeStats::seconds(&stats.prepare_nanos),
            inference: FeaturizeStats::seconds(&stats.infer_nanos),
            pca_fit: pca_seconds,
            project_write: project_seconds,
            total,
        },
        // Photos read per second (an incremental run reads only the new ones).
        images_per_second: if total > 0.0 {
            wanted.len() as f64 / total
        } else {
            0.0
        },
        peak_rss_bytes: peak_rss_bytes(),
        model: ModelReport {
            name: options.model.spec.name.clone(),
            sha256: options.model.sha256.clone(),
            backend: model.name().to_string(),
            threads: orchard_model::effective_threads(options.model.threads),
            lanes: if model.name() == "ort" {
                orchard_model::effective_lanes(
                    options.model.lanes,
                    orchard_model::effective_threads(options.model.threads),
                )
            } else {
                1
            },
            feature_width: width,
        },
        pca: PcaReport {
            k: pca.k(),
            requested: serde_json::to_value(options.components).unwrap_or_default(),
            standardize: options.standardize.is_some(),
            explained_variance_ratio: pca.explained_variance_ratio().to_vec(),
            explained_variance_total: pca.explained_variance_ratio().iter().sum(),
            n_samples: pca.n_samples(),
        },
        partitions,
        batch_rows: options.scan.batch_rows,
    };
    let mut json =
        serde_json::to_vec_pretty(&report).map_err(|e| EngineError::Invalid(e.to_string()))?;
    json.push(b'\n');
    output::put_file(&out, RUN, json).await?;
    if let Some(max) = options.max_error_rate {
        let rate = if listed == 0 {
            0.0
        } else {
            failed as f64 / listed as f64
        };
        if rate > max {
            return Err(EngineError::ErrorRate {
                failed,
                listed,
                rate: 100.0 * rate,
                max: 100.0 * max,
            });
        }
    }
    output::put_file(&out, SUCCESS, Vec::new()).await?;
    Ok(report)
}

/// Decides how this run uses the output: a new job in an empty (or
/// `--overwrite`n) output, the next job of an incremental output
/// (`continuing`, already repaired), or, with `--resume`, the interrupted job
/// found there. Returns the job's checkpoint and whether it was resumed.
async fn start_job(
    out: &Location,
    options: &ExtractOptions,
    fingerprint: JobFingerprint,
    continuing: bool,
) -> Result<(Checkpoint, bool)> {
    if options.resume {
        let state = checkpoint::inspect(out).await?;
        if state.complete {
            return Err(EngineError::Invalid(format!(
                "{} already holds a complete result (_SUCCESS); nothing to resume",
                out.url()
            )));
        }
        if let Some(job) = state.jobs.iter().find(|j| j.fingerprint == fingerprint) {
            checkpoint::clear_except_job(out, &job.job_id).await?;
            tracing::info!(job = %job.job_id, "resuming the interrupted job");
            return Ok((
                Checkpoint {
                    job_id: job.job_id.clone(),
                },
                true,
            ));
        }
        if let Some(job) = state.jobs.first() {
            return Err(EngineError::Invalid(format!(
                "the interrupted job in {} featurized other inputs ({} with model {}, glob {}); \
                 resume it with the same arguments, or start again with --overwrite",
                out.url(),
                job.fingerprint.input,
                &job.fingerprint.model_sha256[..job.fingerprint.model_sha256.len().min(12)],
                job.fingerprint.glob
            )));
        }
        // Killed before its first checkpoint: start again in the leftovers' place.
        tracing::info!("no checkpoint to resume from; starting the job again");
        checkpoint::clear_except_job(out, "").await?;
    } else if !continuing {
        output::prepare_output(out, options.overwrite).await?;
    }
    let state = JobState {
        job_id: uuid::Uuid::new_v4().to_string(),
        fingerprint,
    };
    Ok((Checkpoint::create(out, &state).await?, false))
}

/// Paths already featurized in the spill at `url` (completed chunks).
async fn featurized_paths(ctx: &SessionContext, url: &str) -> Result<HashSet<String>> {
    let batches = ctx
        .read_parquet(url, ParquetReadOptions::default())
        .await?
        .select_columns(&["path"])?
        .collect()
        .await?;
    let mut paths = HashSet::new();
    for batch in &batches {
        let column = batch.column(0).as_string::<i32>();
        paths.extend(column.iter().flatten().map(str::to_string));
    }
    Ok(paths)
}

/// The part files `relative` (names under `out`) as one data frame.
async fn part_files(
    ctx: &SessionContext,
    out: &Location,
    relative: &[String],
) -> Result<datafusion::dataframe::DataFrame> {
    let urls: Vec<String> = relative
        .iter()
        .map(|rel| {
            let mut url = out.store_url();
            url.set_path(out.child(rel).as_ref());
            url.to_string()
        })
        .collect();
    Ok(ctx
        .read_parquet(urls, ParquetReadOptions::default())
        .await?)
}

/// `path NOT IN (paths)`, or `true` for no paths.
fn not_in(paths: &[String]) -> datafusion::prelude::Expr {
    use datafusion::prelude::{col, lit};
    if paths.is_empty() {
        lit(true)
    } else {
        col("path").in_list(paths.iter().map(|p| lit(p.as_str())).collect(), true)
    }
}

/// Which of the part files `relative` hold one of `paths`.
async fn parts_holding(
    ctx: &SessionContext,
    out: &Location,
    relative: &[String],
    paths: &[String],
) -> Result<Vec<String>> {
    let mut holding = Vec::new();
    if paths.is_empty() {
        return Ok(holding);
    }
    for rel in relative {
        let hits = part_files(ctx, out, std::slice::from_ref(rel))
            .await?
            .filter(std::ops::Not::not(not_in(paths)))?
            .count()
            .await?;
        if hits > 0 {
            holding.push(rel.clone());
        }
    }
    Ok(holding)
}

/// The single count a `SELECT COUNT(*) …` query returns.
async fn count(ctx: &SessionContext, sql: &str) -> Result<u64> {
    let batches = ctx.sql(sql).await?.collect().await?;
    Ok(batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| {
            b.column(0)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0) as u64
        })
        .unwrap_or(0))
}

/// Merged PCA statistics of the vectors `f` a query returns.
async fn pca_stats(ctx: &SessionContext, features_sql: &str) -> Result<PcaStats> {
    let batches = ctx
        .sql(&format!(
            "SELECT pca_stats(f) AS stats FROM ({features_sql})"
        ))
        .await?
        .collect()
        .await?;
    let bytes = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_binary_opt::<i32>()
                .map(|a| a.value(0).to_vec())
        })
        .ok_or_else(|| EngineError::Invalid("PCA statistics query returned nothing".into()))?;
    Ok(PcaStats::from_bytes(&bytes)?)
}

/// The rows of the existing `_errors.parquet` to keep: not listing problems
/// (listed afresh) and not photos processed again.
async fn earlier_errors(out: &Location, again: &HashSet<&str>) -> Result<Vec<RecordBatch>> {
    let bytes = match output::get_file(out, ERRORS).await {
        Ok(bytes) => bytes,
        Err(EngineError::Store(object_store::Error::NotFound { .. })) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(datafusion::error::DataFusionError::from)?
            .build()
            .map_err(datafusion::error::DataFusionError::from)?;
    let mut kept = Vec::new();
    for batch in reader {
        let batch = batch?;
        let path = batch.column(0).as_string::<i32>();
        let stage = batch.column(1).as_string::<i32>();
        let keep: datafusion::arrow::array::BooleanArray = (0..batch.num_rows())
            .map(|i| Some(stage.value(i) != "list" && !again.contains(path.value(i))))
            .collect();
        let batch = RecordBatch::try_new(errors_schema(), batch.columns().to_vec())?;
        kept.push(datafusion::arrow::compute::filter_record_batch(
            &batch, &keep,
        )?);
    }
    Ok(kept)
}

/// Runs `plan` through a [`PartWriterExec`] into `dir` under `out`; returns
/// the number of rows written.
pub(crate) async fn write_parts(
    ctx: &SessionContext,
    plan: Arc<dyn ExecutionPlan>,
    out: &Location,
    dir: &str,
    format: PartFormat,
    job_id: &str,
    row_group_rows: usize,
) -> Result<u64> {
    let writer = Arc::new(PartWriterExec::new(
        plan,
        PartWriterOptions {
            store_url: out.store_url().to_string(),
            dir: out.child(dir).to_string(),
            format,
            job_id: job_id.to_string(),
            row_group_rows,
            max_rows_per_file: 1_000_000,
        },
    ));
    let summary = collect(writer, ctx.task_ctx()).await?;
    Ok(summary
        .iter()
        .map(|b| {
            b.column(1)
                .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
                .values()
                .iter()
                .sum::<u64>()
        })
        .sum())
}

fn listing_problem_batch(
    problems: &[orchard_source::ListingProblem],
) -> Result<Option<RecordBatch>> {
    if problems.is_empty() {
        return Ok(None);
    }
    let path = StringArray::from_iter_values(problems.iter().map(|p| p.path.as_str()));
    let stage = StringArray::from_iter_values(problems.iter().map(|_| "list"));
    let message = StringArray::from_iter_values(problems.iter().map(|p| p.reason.as_str()));
    Ok(Some(RecordBatch::try_new(
        errors_schema(),
        vec![Arc::new(path), Arc::new(stage), Arc::new(message)],
    )?))
}

async fn failures_by_stage(
    ctx: &SessionContext,
    listing_problems: u64,
) -> Result<std::collections::BTreeMap<String, u64>> {
    let batches = ctx
        .sql(
            "SELECT CASE WHEN read_error IS NOT NULL THEN 'read' \
                    ELSE COALESCE(get_field(result, 'stage'), 'unknown') END AS stage, \
                    COUNT(*) AS n \
             FROM spill WHERE get_field(result, 'features') IS NULL GROUP BY 1",
        )
        .await?
        .collect()
        .await?;
    let mut out = std::collections::BTreeMap::new();
    if listing_problems > 0 {
        out.insert("list".to_string(), listing_problems);
    }
    for batch in &batches {
        let stages = batch.column(0).as_string::<i32>();
        let counts = batch
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        for row in 0..batch.num_rows() {
            if stages.is_valid(row) {
                *out.entry(stages.value(row).to_string()).or_insert(0) += counts.value(row) as u64;
            }
        }
    }
    Ok(out)
}
