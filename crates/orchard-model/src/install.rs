//! Writing into the model home: installing an ONNX file atomically, and the
//! small helpers the installers share (stderr tails of the Python steps,
//! RFC 3339 timestamps for manifests).

use std::path::{Path, PathBuf};

use crate::error::ModelError;
use crate::home::{sha256_file, ModelHome};

/// Copies `onnx` into the home as `models/<name>.onnx` (atomically);
/// returns its path and sha256.
pub(crate) fn install_onnx(
    home: &ModelHome,
    name: &str,
    onnx: &Path,
) -> Result<(PathBuf, String), ModelError> {
    let sha256 = sha256_file(onnx)?;
    let models = home.models_dir();
    std::fs::create_dir_all(&models)
        .map_err(|e| ModelError::io("cannot create model directory", &models, e))?;
    let path = home.model_path(name);
    write_atomically(&path, |f| {
        let mut src = std::fs::File::open(onnx)?;
        std::io::copy(&mut src, f).map(|_| ())
    })?;
    Ok((path, sha256))
}

/// Writes `dest` through a temporary file in the same directory, renamed into place.
pub(crate) fn write_atomically(
    dest: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), ModelError> {
    let dir = dest.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".orchard-tmp-")
        .tempfile_in(dir)
        .map_err(|e| ModelError::io("cannot create temporary file in", dir, e))?;
    write(tmp.as_file_mut())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| ModelError::io("cannot write", tmp.path(), e))?;
    tmp.persist(dest)
        .map_err(|e| ModelError::io("cannot move into place", dest, e.error))?;
    Ok(())
}

/// The last lines of a process's stderr.
pub(crate) fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    if tail.is_empty() {
        "(no output on stderr)".to_string()
    } else {
        tail
    }
}

/// The current time as RFC 3339 UTC, e.g. `2025-01-31T12:00:00Z`.
pub(crate) fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Formats seconds since the Unix epoch as RFC 3339 UTC.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn stderr_tail_keeps_last_lines() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let tail = stderr_tail(text.as_bytes());
        assert!(tail.starts_with("line 15"));
        assert!(tail.ends_with("line 29"));
        assert_eq!(stderr_tail(b""), "(no output on stderr)");
    }
}
