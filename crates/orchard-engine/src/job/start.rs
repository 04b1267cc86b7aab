//! The start stage: the locations, the residency check, the model, and how
//! this run uses the output (a new job, the next incremental one, or the
//! interrupted job it resumes).

use std::sync::Arc;

use orchard_model::InferenceBackend;
use orchard_source::{Location, PhotoGlob};

use crate::checkpoint::{self, Checkpoint, JobFingerprint, JobState};
use crate::incremental::{self, Prior};
use crate::job::options::{ExtractOptions, OutputFormat, WriteMode};
use crate::output;
use crate::residency::check_residency;
use crate::runner::PlanRunner;
use crate::{EngineError, Result};

/// A started job: where it reads and writes, and its checkpoint.
pub(crate) struct Started {
    /// The input.
    pub input: Location,
    /// The output.
    pub out: Location,
    /// Which files are photos.
    pub glob: PhotoGlob,
    /// The loaded model backend.
    pub backend: Arc<dyn InferenceBackend>,
    /// What the earlier runs left (incremental runs).
    pub prior: Option<Prior>,
    /// The job's checkpoint.
    pub checkpoint: Checkpoint,
    /// Whether an interrupted job is being resumed.
    pub resumed: bool,
}

/// Opens the locations and checks them, loads the model, and starts (or
/// finds) the job in the output.
pub(crate) async fn start(options: &ExtractOptions, runner: &dyn PlanRunner) -> Result<Started> {
    let input = Location::parse_with(&options.input, &options.storage)?;
    let out = Location::parse_with(&options.output, &options.storage)?;
    let glob = PhotoGlob::new(&options.glob)?;
    out.ensure_writable()?;
    // Data residency, before anything is read or written.
    check_residency(&[&input, &out]).await?;
    runner.check_input(&input)?;

    // Fail fast on the model, before any work.
    let featurize = &options.featurize;
    let backend = featurize.loader.load(&featurize.model)?;
    let fingerprint = JobFingerprint {
        input: input.url().to_string(),
        glob: options.glob.clone(),
        model_sha256: featurize.model.sha256.clone(),
        decode: serde_json::to_value(&featurize.decode).unwrap_or_default(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let prior = if options.mode.is_incremental() {
        if options.write.format != OutputFormat::Parquet {
            return Err(EngineError::IncrementalNeedsParquet);
        }
        incremental::load_prior(&out).await?
    } else {
        None
    };
    let (checkpoint, resumed) = start_job(&out, options.mode, fingerprint, prior.is_some()).await?;
    Ok(Started {
        input,
        out,
        glob,
        backend,
        prior,
        checkpoint,
        resumed,
    })
}

/// Decides how this run uses the output: a new job in an empty (or
/// overwritten) output, the next job of an incremental output
/// (`continuing`, already repaired), or, in [`WriteMode::Resume`], the
/// interrupted job found there. Returns the job's checkpoint and whether it
/// was resumed.
async fn start_job(
    out: &Location,
    mode: WriteMode,
    fingerprint: JobFingerprint,
    continuing: bool,
) -> Result<(Checkpoint, bool)> {
    match mode {
        WriteMode::Resume => {
            let state = checkpoint::inspect(out).await?;
            if state.complete {
                return Err(EngineError::AlreadyComplete {
                    url: out.url().to_string(),
                });
            }
            if let Some(job) = state.jobs.iter().find(|j| j.fingerprint == fingerprint) {
                checkpoint::clear_except_job(out, &job.job_id).await?;
                tracing::info!(job = %job.job_id, "resuming the interrupted job");
                let checkpoint = Checkpoint {
                    job_id: job.job_id.clone(),
                };
                return Ok((checkpoint, true));
            }
            if let Some(job) = state.jobs.first() {
                let sha = &job.fingerprint.model_sha256;
                return Err(EngineError::ResumeOtherJob {
                    url: out.url().to_string(),
                    input: job.fingerprint.input.clone(),
                    model: sha[..sha.len().min(12)].to_string(),
                    glob: job.fingerprint.glob.clone(),
                });
            }
            // Killed before its first checkpoint: start again in the leftovers' place.
            tracing::info!("no checkpoint to resume from; starting the job again");
            checkpoint::clear_except_job(out, "").await?;
        }
        WriteMode::New | WriteMode::Overwrite | WriteMode::Incremental { .. } => {
            if !continuing {
                output::prepare_output(out, mode == WriteMode::Overwrite).await?;
            }
        }
    }
    let state = JobState {
        job_id: uuid::Uuid::new_v4().to_string(),
        fingerprint,
    };
    Ok((Checkpoint::create(out, &state).await?, false))
}
