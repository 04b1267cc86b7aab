//! The extraction job: photos → features → PCA → part files, as DataFusion plans.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use orchard_image::DecodeOptions;
use orchard_pca::{Components, PcaModel, PcaStats, Standardize};
use orchard_source::{list_photos, LabelIndex, Location, PhotoGlob};
use serde::{Deserialize, Serialize};

use crate::featurize::{FeaturizeStats, FeaturizeUdf, ModelRef};
use crate::labels_udf::LabelIndexUdf;
use crate::output::{self, ERRORS, LABELS, PCA_DIR, PCA_MODEL, RUN, SUCCESS, TEMPORARY};
use crate::pca_udf::{PcaProjectUdf, PcaStatsUdaf};
use crate::photos::{PhotoRef, PhotoTable, ScanOptions};
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

/// A session with `partitions` target partitions (0 = number of cores).
pub(crate) fn session_for(partitions: usize) -> SessionContext {
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
    SessionContext::new_with_config(config)
}

fn register(ctx: &SessionContext, location: &Location) {
    ctx.register_object_store(&location.store_url(), location.store().clone());
}

/// Runs the extraction job; returns what `_run.json` holds.
pub async fn extract(options: &ExtractOptions, observer: &dyn JobObserver) -> Result<RunReport> {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let job_id = uuid::Uuid::new_v4().to_string();
    let input = Location::parse(&options.input)?;
    let out = Location::parse(&options.output)?;
    let glob = PhotoGlob::new(&options.glob)?;

    // Fail fast on the model, before any work.
    let model = options.model.load()?;
    output::prepare_output(&out, options.overwrite).await?;

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

    let ctx = session_for(options.partitions);
    register(&ctx, &input);
    register(&ctx, &out);
    let partitions = ctx.state().config().target_partitions();

    // 1. featurize: photos → spill.
    observer.stage("featurize");
    let t = Instant::now();
    let width = options.model.spec.feature_width;
    let featurize = FeaturizeUdf::new(options.model.clone(), options.decode.clone());
    let stats = featurize.stats();
    ctx.register_udf(featurize.into_udf());
    let photos: Vec<PhotoRef> = listing.photos.iter().map(PhotoRef::from).collect();
    let store_url = ObjectStoreUrl::parse(input.store_url().as_str())?;
    ctx.register_table(
        "photos",
        Arc::new(PhotoTable::new(store_url, photos, options.scan)),
    )?;
    let spill_dir = format!("{TEMPORARY}/{job_id}/features");
    let features_plan = ctx
        .sql("SELECT path, label, read_error, featurize(content) AS result FROM photos")
        .await?
        .create_physical_plan()
        .await?;
    observer.featurize_started(listing.photos.len() as u64, stats.clone());
    write_parts(
        &ctx,
        features_plan,
        &out,
        &spill_dir,
        PartFormat::ParquetUncompressed,
        &job_id,
        256,
    )
    .await?;
    observer.featurize_finished();
    let featurize_seconds = t.elapsed().as_secs_f64();

    ctx.register_parquet(
        "spill",
        out.child_url(&spill_dir).as_str(),
        ParquetReadOptions::default(),
    )
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
    let failed = output::write_errors(&out, Box::pin(error_stream)).await?;
    let failed_by_stage = failures_by_stage(&ctx, listing.problems.len() as u64).await?;

    // 3. PCA statistics (partial states merged across partitions), fit here.
    observer.stage("pca");
    let t = Instant::now();
    ctx.register_udaf(PcaStatsUdaf::new(width).into_udaf());
    let batches = ctx
        .sql(
            "SELECT pca_stats(get_field(result, 'features')) AS stats FROM spill \
             WHERE get_field(result, 'features') IS NOT NULL",
        )
        .await?
        .collect()
        .await?;
    let stats_bytes = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_binary_opt::<i32>()
                .map(|a| a.value(0).to_vec())
        })
        .ok_or_else(|| EngineError::Invalid("PCA statistics query returned nothing".into()))?;
    let pca_stats = PcaStats::from_bytes(&stats_bytes)?;
    let succeeded = pca_stats.count();
    if succeeded < 2 {
        return Err(EngineError::Invalid(format!(
            "PCA needs at least 2 featurized photos, got {succeeded} of {} listed ({failed} failed; see {}{ERRORS})",
            listing.photos.len(),
            out.url()
        )));
    }
    let pca = Arc::new(PcaModel::fit(
        &pca_stats,
        options.components,
        options.standardize,
    )?);
    if let Components::Count(k) = options.components {
        if pca.k() < k {
            tracing::warn!(
                requested = k,
                kept = pca.k(),
                "PCA k capped by the rank of the data"
            );
        }
    }
    let pca_seconds = t.elapsed().as_secs_f64();

    // 4. project and write the output.
    observer.stage("write");
    let t = Instant::now();
    ctx.register_udf(PcaProjectUdf::new(pca.clone()).into_udf());
    ctx.register_udf(LabelIndexUdf::new(labels.clone()).into_udf());
    let extra = if options.keep_features {
        ", get_field(result, 'features') AS features"
    } else {
        ""
    };
    let output_plan = ctx
        .sql(&format!(
            "SELECT path, label, label_index(label) AS label_index, \
             pca_project(get_field(result, 'features')) AS pca{extra} \
             FROM spill WHERE get_field(result, 'features') IS NOT NULL"
        ))
        .await?
        .create_physical_plan()
        .await?;
    let format = PartFormat::from(options.format);
    let written = write_parts(&ctx, output_plan, &out, "", format, &job_id, 8192).await?;
    if written != succeeded {
        return Err(EngineError::Invalid(format!(
            "wrote {written} rows but {succeeded} photos were featurized"
        )));
    }
    let project_seconds = t.elapsed().as_secs_f64();

    // 5. metadata, then _SUCCESS last.
    output::put_file(&out, LABELS, labels.to_json().into_bytes()).await?;
    output::put_file(
        &out,
        &format!("{PCA_DIR}/{PCA_MODEL}"),
        pca.to_json()?.into_bytes(),
    )
    .await?;
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
        images_per_second: if total > 0.0 {
            listed as f64 / total
        } else {
            0.0
        },
        peak_rss_bytes: peak_rss_bytes(),
        model: ModelReport {
            name: options.model.spec.name.clone(),
            sha256: options.model.sha256.clone(),
            backend: model.name().to_string(),
            threads: orchard_model::effective_threads(options.model.threads),
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
    output::put_file(&out, SUCCESS, Vec::new()).await?;
    Ok(report)
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
