//! An executor's work folder (shuffle, spill and result files).

use std::path::{Path, PathBuf};

use orchard_engine::EngineError;

use crate::error::ClusterError;

/// The folder an executor writes to: the operator's (kept when the executor
/// stops), or a new one in the temp dir, removed when the executor stops so
/// that restarted executors do not fill the temp dir.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
    owned: bool,
}

impl WorkDir {
    /// Creates `given` (or a new `orchard-executor-<uuid>` in the temp dir).
    pub(crate) fn create(given: Option<&Path>) -> Result<WorkDir, EngineError> {
        let (path, owned) = match given {
            Some(p) => (p.to_path_buf(), false),
            None => (
                std::env::temp_dir().join(format!("orchard-executor-{}", uuid::Uuid::new_v4())),
                true,
            ),
        };
        std::fs::create_dir_all(&path)
            .map_err(|e| EngineError::io(format!("cannot create {}", path.display()), e))?;
        // Ballista takes the folder as a string.
        if path.to_str().is_none() {
            return Err(ClusterError::WorkDirNotUtf8 { path }.into());
        }
        Ok(WorkDir { path, owned })
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The folder as Ballista takes it (checked UTF-8 in [`WorkDir::create`]).
    pub(crate) fn as_str(&self) -> &str {
        self.path.to_str().unwrap_or_default()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.owned {
            if let Err(e) = std::fs::remove_dir_all(&self.path) {
                tracing::warn!("cannot remove the work folder {}: {e}", self.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_folder_is_removed_and_a_given_one_kept() {
        let created = WorkDir::create(None).unwrap();
        let path = created.path().to_path_buf();
        std::fs::write(path.join("shuffle.arrow"), b"x").unwrap();
        assert!(path.is_dir());
        assert!(created.as_str().contains("orchard-executor-"));
        drop(created);
        assert!(!path.exists(), "{} was left behind", path.display());

        let parent = tempfile::tempdir().unwrap();
        let given = parent.path().join("work");
        let kept = WorkDir::create(Some(&given)).unwrap();
        std::fs::write(given.join("shuffle.arrow"), b"x").unwrap();
        drop(kept);
        assert!(given.join("shuffle.arrow").is_file());
    }
}
