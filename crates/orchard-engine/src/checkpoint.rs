//! Crash safety: the featurize phase runs in chunks whose spill files are
//! checkpointed as they complete, so `--resume` re-does only unfinished work.
//!
//! Layout under the output, all inside `_temporary/` (never read as data):
//!
//! ```text
//! _temporary/<job>/_job.json                 what the job is (fingerprint of the inputs to featurize)
//! _temporary/<job>/features/chunk-000003/    part-*.parquet of one chunk's photos
//! _temporary/<job>/done/chunk-000003         written once that chunk's parts are all durable
//! ```
//!
//! A chunk without its `done` marker is deleted and redone on resume. Photos
//! already in done chunks are not read again; everything after featurization
//! (errors, PCA, projection, metadata) is cheap and is redone whole.

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use orchard_source::Location;
use serde::{Deserialize, Serialize};

use crate::output::{self, SUCCESS, TEMPORARY};
use crate::{EngineError, Result};

/// Default number of photos per checkpointed chunk (about 10 s of work on 2 cores).
pub const DEFAULT_CHECKPOINT_EVERY: usize = 2048;

/// What identifies a job's featurization: resuming with a different input,
/// model or decoding would mix incompatible features, so it is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFingerprint {
    /// The input URL.
    pub input: String,
    /// The glob.
    pub glob: String,
    /// The model's sha256.
    pub model_sha256: String,
    /// Decoding options, as JSON.
    pub decode: serde_json::Value,
    /// Orchard's version.
    pub version: String,
}

/// The `_job.json` of a job in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobState {
    /// The job id (names its `_temporary/<job>/` folder and its part files).
    pub job_id: String,
    /// What the job featurizes.
    pub fingerprint: JobFingerprint,
}

/// A job's checkpoint folder under the output.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The job's id.
    pub job_id: String,
}

impl Checkpoint {
    /// The job folder, relative to the output.
    pub fn dir(&self) -> String {
        format!("{TEMPORARY}/{}", self.job_id)
    }

    /// The folder of all spill files, relative to the output.
    pub fn features_dir(&self) -> String {
        format!("{}/features", self.dir())
    }

    /// The spill folder of chunk `n`.
    pub fn chunk_dir(&self, n: usize) -> String {
        format!("{}/{}", self.features_dir(), chunk_name(n))
    }

    /// Where the task attempts of chunk `n` write, before the winners move
    /// to [`Checkpoint::chunk_dir`].
    pub fn attempts_dir(&self, n: usize) -> String {
        format!("{}/attempts/{}", self.dir(), chunk_name(n))
    }

    fn marker(&self, n: usize) -> String {
        format!("{}/done/{}", self.dir(), chunk_name(n))
    }

    /// Starts a new job: writes `_job.json`.
    pub async fn create(out: &Location, state: &JobState) -> Result<Checkpoint> {
        let checkpoint = Checkpoint {
            job_id: state.job_id.clone(),
        };
        let json =
            serde_json::to_vec_pretty(state).map_err(|e| EngineError::Internal(e.to_string()))?;
        output::put_file(out, &format!("{}/_job.json", checkpoint.dir()), json).await?;
        Ok(checkpoint)
    }

    /// Records that chunk `n`'s spill files are complete.
    pub async fn mark_done(&self, out: &Location, n: usize) -> Result<()> {
        output::put_file(out, &self.marker(n), Vec::new()).await
    }

    /// The chunks marked done, sorted; deletes the spill files of chunks that
    /// were started but not marked (a crash in the middle of one).
    pub async fn completed_chunks(&self, out: &Location) -> Result<Vec<usize>> {
        let done: Vec<usize> = out
            .store()
            .list(Some(&out.child(&format!("{}/done", self.dir()))))
            .map_ok(|m| m.location.filename().and_then(parse_chunk_name))
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        let started: Vec<String> = out
            .store()
            .list(Some(&out.child(&self.features_dir())))
            .map_ok(|m| out.relative(&m.location).unwrap_or_default())
            .try_collect()
            .await?;
        let mut stale: Vec<usize> = started
            .iter()
            .filter_map(|rel| {
                rel.split('/')
                    .find(|p| p.starts_with("chunk-"))
                    .and_then(parse_chunk_name)
            })
            .filter(|n| !done.contains(n))
            .collect();
        stale.sort_unstable();
        stale.dedup();
        for n in stale {
            tracing::info!(chunk = n, "removing an unfinished chunk");
            output::delete_prefix(out, &self.chunk_dir(n)).await?;
        }
        let mut done = done;
        done.sort_unstable();
        Ok(done)
    }
}

fn chunk_name(n: usize) -> String {
    format!("chunk-{n:06}")
}

fn parse_chunk_name(name: &str) -> Option<usize> {
    name.strip_prefix("chunk-")?.parse().ok()
}

/// What an output folder holds, for deciding how a run may use it.
#[derive(Debug, Default)]
pub struct OutputState {
    /// Number of objects in it.
    pub objects: usize,
    /// `_SUCCESS` is there: a complete result.
    pub complete: bool,
    /// Unfinished jobs found in `_temporary/`.
    pub jobs: Vec<JobState>,
}

/// Reads the state of `out`.
pub async fn inspect(out: &Location) -> Result<OutputState> {
    let keys: Vec<object_store::path::Path> = out
        .store()
        .list(Some(out.prefix()))
        .map_ok(|m| m.location)
        .try_collect()
        .await?;
    let mut state = OutputState {
        objects: keys.len(),
        ..Default::default()
    };
    for key in &keys {
        let Some(rel) = out.relative(key) else {
            continue;
        };
        if rel == SUCCESS {
            state.complete = true;
        }
        let parts: Vec<&str> = rel.split('/').collect();
        if parts.len() == 3 && parts[0] == TEMPORARY && parts[2] == "_job.json" {
            let bytes = out.store().get(key).await?.bytes().await?;
            match serde_json::from_slice::<JobState>(&bytes) {
                Ok(job) => state.jobs.push(job),
                Err(e) => tracing::warn!("ignoring unreadable {rel}: {e}"),
            }
        }
    }
    Ok(state)
}

/// Deletes everything under `out` except `_temporary/<keep_job>/`: the
/// leftovers of an interrupted run's final phase (part files, metadata) and
/// of other unfinished jobs.
pub async fn clear_except_job(out: &Location, keep_job: &str) -> Result<()> {
    let keep = format!("{TEMPORARY}/{keep_job}/");
    let keys: Vec<object_store::path::Path> = out
        .store()
        .list(Some(out.prefix()))
        .map_ok(|m| m.location)
        .try_collect()
        .await?;
    let doomed: Vec<_> = keys
        .into_iter()
        .filter(|k| out.relative(k).is_some_and(|rel| !rel.starts_with(&keep)))
        .collect();
    if !doomed.is_empty() {
        tracing::info!(
            objects = doomed.len(),
            "removing the interrupted run's leftovers"
        );
    }
    output::delete_keys(out, doomed).await?;
    if let Some(dir) = out.local_dir() {
        // Emptied folders of other jobs.
        if let Ok(entries) = std::fs::read_dir(dir.join(TEMPORARY)) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy() != keep_job {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_names_round_trip() {
        assert_eq!(chunk_name(7), "chunk-000007");
        assert_eq!(parse_chunk_name("chunk-000007"), Some(7));
        assert_eq!(parse_chunk_name("part-000007"), None);
        let c = Checkpoint { job_id: "j".into() };
        assert_eq!(c.chunk_dir(3), "_temporary/j/features/chunk-000003");
        assert_eq!(c.marker(3), "_temporary/j/done/chunk-000003");
    }

    #[tokio::test]
    async fn unfinished_chunks_are_removed_and_done_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = Location::local(dir.path()).unwrap();
        let state = JobState {
            job_id: "job1".into(),
            fingerprint: JobFingerprint {
                input: "in".into(),
                glob: "*.jpg".into(),
                model_sha256: "x".into(),
                decode: serde_json::Value::Null,
                version: "0".into(),
            },
        };
        let c = Checkpoint::create(&out, &state).await.unwrap();
        for n in [0, 1, 2] {
            output::put_file(&out, &format!("{}/part-0.parquet", c.chunk_dir(n)), vec![1])
                .await
                .unwrap();
        }
        c.mark_done(&out, 0).await.unwrap();
        c.mark_done(&out, 2).await.unwrap();
        output::put_file(&out, "part-00000-old.parquet", vec![1])
            .await
            .unwrap();
        assert_eq!(c.completed_chunks(&out).await.unwrap(), vec![0, 2]);
        assert!(!dir.path().join(c.chunk_dir(1)).exists());
        assert!(dir
            .path()
            .join(c.chunk_dir(2))
            .join("part-0.parquet")
            .exists());

        let found = inspect(&out).await.unwrap();
        assert!(!found.complete);
        assert_eq!(found.jobs.len(), 1);
        assert_eq!(found.jobs[0].fingerprint, state.fingerprint);
        clear_except_job(&out, "job1").await.unwrap();
        assert!(!dir.path().join("part-00000-old.parquet").exists());
        assert!(dir
            .path()
            .join(c.chunk_dir(0))
            .join("part-0.parquet")
            .exists());
    }
}
