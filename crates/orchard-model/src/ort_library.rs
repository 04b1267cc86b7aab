//! Finding and loading ONNX Runtime's shared library: `dlopen` once per
//! process, on first use (see [`find_onnxruntime`] for where it is looked
//! for), and one process-wide ONNX Runtime environment created with it and
//! kept for the life of the process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::error::ModelError;

/// The process-wide ONNX Runtime environment, or why it could not be created.
/// Created at most once: ONNX Runtime allows one environment per process, and
/// the dylib cannot be swapped once loaded.
static ORT_ENV: OnceLock<Result<(Environment, PathBuf), String>> = OnceLock::new();

/// Loads ONNX Runtime (once per process) and returns its environment and the
/// library's path.
pub(crate) fn environment() -> Result<&'static (Environment, PathBuf), ModelError> {
    ORT_ENV
        .get_or_init(|| {
            let path = locate_onnxruntime()?;
            let builder = ort::init_from(&path).map_err(|e| e.to_string())?;
            let env = builder
                .with_name("orchard")
                .with_telemetry(false)
                .build()
                .map_err(|e| {
                    format!(
                        "cannot create an environment with `{}`: {e}",
                        path.display()
                    )
                })?;
            tracing::debug!("loaded ONNX Runtime from {}", path.display());
            Ok((env, path))
        })
        .as_ref()
        .map_err(|why| ModelError::OrtUnavailable(why.clone()))
}

/// Path of the ONNX Runtime library this process has loaded, if it has loaded one.
pub fn loaded_onnxruntime() -> Option<&'static Path> {
    ORT_ENV
        .get()
        .and_then(|r| r.as_ref().ok())
        .map(|(_, p)| p.as_path())
}

/// Finds ONNX Runtime's shared library (`libonnxruntime.so*`), in this order:
///
/// 1. `$ORT_DYLIB_PATH` (authoritative: when set, nothing else is tried);
/// 2. `$ORCHARD_HOME/lib/` (default `~/.cache/orchard/lib/`);
/// 3. next to the executable (`.`, `lib/`, `../lib/`);
/// 4. the `onnxruntime` Python package (`onnxruntime/capi/`) in a `.venv` or
///    `venv` in the current directory or any ancestor, then in `$VIRTUAL_ENV`;
/// 5. the `onnxruntime` package of `$ORCHARD_PYTHON` / `python3`;
/// 6. `/usr/local/lib`, `/usr/lib`, `/usr/lib64`, `/usr/lib/<arch>-linux-gnu`.
pub fn find_onnxruntime() -> Option<PathBuf> {
    locate_onnxruntime().ok()
}

/// [`find_onnxruntime`], with a reason when nothing is found.
fn locate_onnxruntime() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "ORT_DYLIB_PATH points at `{}`, which does not exist",
                p.display()
            ))
        };
    }
    let mut dirs: Vec<PathBuf> = vec![crate::home::ModelHome::from_env().lib_dir()];
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join("lib"));
        if let Some(parent) = exe_dir.parent() {
            dirs.push(parent.join("lib"));
        }
        dirs.push(exe_dir);
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            for venv in [".venv", "venv"] {
                dirs.extend(site_packages(&dir.join(venv)).map(|sp| sp.join("onnxruntime/capi")));
            }
        }
    }
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        dirs.extend(site_packages(Path::new(&venv)).map(|sp| sp.join("onnxruntime/capi")));
    }
    if let Some(found) = dirs.iter().find_map(|d| library_in(d)) {
        return Ok(found);
    }
    if let Some(found) = python_onnxruntime_dir().and_then(|d| library_in(&d)) {
        return Ok(found);
    }
    let mut system = vec![
        PathBuf::from("/usr/local/lib"),
        PathBuf::from("/usr/lib"),
        PathBuf::from("/usr/lib64"),
    ];
    system.push(PathBuf::from(format!(
        "/usr/lib/{}-linux-gnu",
        std::env::consts::ARCH
    )));
    if let Some(found) = system.iter().find_map(|d| library_in(d)) {
        return Ok(found);
    }
    Err(
        "libonnxruntime.so not found (looked at ORT_DYLIB_PATH, $ORCHARD_HOME/lib, next to the executable, \
         .venv/venv site-packages, python3's onnxruntime package and /usr/lib); \
         install it with `pip install onnxruntime` or set ORT_DYLIB_PATH"
            .to_string(),
    )
}

/// `<venv>/lib/python3*/site-packages` directories.
fn site_packages(venv: &Path) -> impl Iterator<Item = PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path().join("site-packages"))
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found.into_iter().rev()
}

/// The `onnxruntime/capi` directory of the Python package, asking
/// `$ORCHARD_PYTHON` or `python3` where it is (without importing it).
fn python_onnxruntime_dir() -> Option<PathBuf> {
    let python = std::env::var_os("ORCHARD_PYTHON").unwrap_or_else(|| "python3".into());
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import importlib.util as u; s = u.find_spec('onnxruntime'); \
             print(list(s.submodule_search_locations)[0] if s else '')",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let dir = dir.trim();
    (out.status.success() && !dir.is_empty()).then(|| Path::new(dir).join("capi"))
}

/// The ONNX Runtime library in `dir`: `libonnxruntime.so` itself or, failing
/// that, the highest-named `libonnxruntime.so.X.Y.Z` (never the providers libraries).
fn library_in(dir: &Path) -> Option<PathBuf> {
    let stem = format!("{}onnxruntime", std::env::consts::DLL_PREFIX);
    let suffix = std::env::consts::DLL_SUFFIX;
    let exact = dir.join(format!("{stem}{suffix}"));
    if exact.is_file() {
        return Some(exact);
    }
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix(stem.as_str()).is_some_and(|rest| {
                rest.starts_with(&format!("{suffix}."))
                    || (rest.starts_with('.') && rest.ends_with(suffix))
            })
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_in_prefers_plain_name_and_skips_providers() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("libonnxruntime_providers_shared.so"), b"").expect("write");
        assert_eq!(library_in(dir.path()), None);
        std::fs::write(dir.path().join("libonnxruntime.so.1.32.0"), b"").expect("write");
        assert_eq!(
            library_in(dir.path()),
            Some(dir.path().join("libonnxruntime.so.1.32.0"))
        );
        std::fs::write(dir.path().join("libonnxruntime.so"), b"").expect("write");
        assert_eq!(
            library_in(dir.path()),
            Some(dir.path().join("libonnxruntime.so"))
        );
    }
}
