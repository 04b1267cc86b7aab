//! The ONNX Runtime backend (fast; needs `libonnxruntime.so` at run time).
//!
//! The shared library is loaded with `dlopen` once per process, on first use
//! (see [`find_onnxruntime`] for where it is looked for). One process-wide ONNX
//! Runtime environment is created with it and kept for the life of the process.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::backend::{check_input, collect_features, InferenceBackend};
use crate::error::ModelError;
use crate::onnx::fmt_dims;
use crate::spec::ModelSpec;

/// Images per `infer` call at which ONNX Runtime reaches its throughput plateau.
const PREFERRED_BATCH: usize = 32;

/// Images per session run when several lanes share the cores: single-thread
/// runs are fastest on small batches whose activations stay in cache
/// (MobileNetV2 on 2 cores, 2 lanes: 194 images/s at 8, 161 at 32) and their
/// arenas stay small.
const LANE_RUN_BATCH: usize = 8;

/// The process-wide ONNX Runtime environment, or why it could not be created.
/// Created at most once: ONNX Runtime allows one environment per process, and
/// the dylib cannot be swapped once loaded.
static ORT_ENV: OnceLock<Result<(Environment, PathBuf), String>> = OnceLock::new();

/// Loads ONNX Runtime (once per process) and returns its environment and the
/// library's path.
/// ONNX Runtime optimizers Orchard turns off. `WeightBiasQuantization`
/// quantizes, per tensor, the fp32 weights of any Conv that sits between a
/// DequantizeLinear and a QuantizeLinear: exactly the nodes an int8 model
/// keeps in fp32 on purpose (a depthwise convolution quantized per tensor
/// loses most of its channels; BENCHMARKS.md, int8). It changes nothing for
/// fp32 models.
const DISABLED_OPTIMIZERS: &str = "WeightBiasQuantization";

fn environment() -> Result<&'static (Environment, PathBuf), ModelError> {
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

/// A model run by ONNX Runtime on the CPU.
///
/// The backend holds `lanes` sessions of the same model, each with
/// `threads / lanes` intra-op threads (at least 1), one inter-op thread and all
/// graph optimisations (`ORT_ENABLE_ALL`, i.e. levels 1-3 plus layout
/// transforms; ort 2.0's `Level3` is only `ORT_ENABLE_LAYOUT`).
///
/// `Session::run` needs `&mut` in ort 2.0, so each session sits behind a
/// `Mutex`; an `infer` call takes the first free session, so up to `lanes`
/// batches run at once. For throughput (the batch job), one lane per core with
/// one thread each is fastest: measured on 2 cores with MobileNetV2 at batch 32,
/// two single-thread sessions run 194 images/s (batches of 8) against 160 for
/// one session with two threads (batches of 32; `orchard bench`), because small convolutions split across threads spend their
/// time synchronising. For the latency of one image (a service), one lane with
/// every thread is better. Each lane holds its own copy of the weights (14 MB
/// for MobileNetV2) and its own activation arena.
pub struct OrtBackend {
    spec: ModelSpec,
    sessions: Vec<Mutex<Session>>,
    /// Where the search for a free session starts next (round robin).
    next: AtomicUsize,
    input_name: String,
    output_name: String,
    /// Largest batch the model accepts (`Some(1)` for a model exported with a fixed batch of 1).
    max_batch: Option<usize>,
    threads: usize,
}

impl std::fmt::Debug for OrtBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtBackend")
            .field("spec", &self.spec)
            .field("input_name", &self.input_name)
            .field("output_name", &self.output_name)
            .field("max_batch", &self.max_batch)
            .field("threads", &self.threads)
            .field("lanes", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl OrtBackend {
    /// Loads ONNX Runtime (once per process) and creates one session with
    /// `threads` intra-op threads (at least 1): the latency-oriented set-up.
    ///
    /// Fails with [`ModelError::OrtUnavailable`] when the library cannot be found
    /// or loaded, and with [`ModelError::UnsupportedModel`] when the model's input
    /// does not match `spec`.
    pub fn load(path: &Path, spec: &ModelSpec, threads: usize) -> Result<OrtBackend, ModelError> {
        OrtBackend::load_lanes(path, spec, threads, 1)
    }

    /// Like [`load`](OrtBackend::load), but with `lanes` sessions that share
    /// the `threads` (each gets `threads / lanes`, at least 1), so that up to
    /// `lanes` batches run at once. `lanes` is clamped to `1..=threads`.
    pub fn load_lanes(
        path: &Path,
        spec: &ModelSpec,
        threads: usize,
        lanes: usize,
    ) -> Result<OrtBackend, ModelError> {
        let (env, _) = environment()?;
        if !path.is_file() {
            return Err(ModelError::io(
                "cannot read model file",
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        let threads = threads.max(1);
        let lanes = lanes.clamp(1, threads);
        let per_lane = (threads / lanes).max(1);
        let context = || format!("load `{}`", path.display());
        let new_session = || {
            Session::builder(env)
                .map_err(|e| ModelError::ort(context(), e))?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(|e| ModelError::ort(context(), ort::Error::<()>::from(e)))?
                .with_intra_threads(per_lane)
                .map_err(|e| ModelError::ort(context(), ort::Error::<()>::from(e)))?
                .with_inter_threads(1)
                .map_err(|e| ModelError::ort(context(), ort::Error::<()>::from(e)))?
                .with_disabled_optimizers(DISABLED_OPTIMIZERS)
                .map_err(|e| ModelError::ort(context(), ort::Error::<()>::from(e)))?
                .commit_from_file(path)
                .map_err(|e| ModelError::ort(context(), e))
        };
        let session = new_session()?;

        let input = match &spec.input_name {
            Some(name) => session.inputs().iter().find(|i| i.name() == name),
            None => session.inputs().first(),
        }
        .ok_or_else(|| {
            ModelError::unsupported(
                path,
                format!(
                    "no input named {:?}; the model's inputs are {:?}",
                    spec.input_name.as_deref().unwrap_or("<first>"),
                    session
                        .inputs()
                        .iter()
                        .map(|i| i.name())
                        .collect::<Vec<_>>()
                ),
            )
        })?;
        let dims: Vec<Option<usize>> = input
            .dtype()
            .tensor_shape()
            .map(|s| s.iter().map(|&d| usize::try_from(d).ok()).collect())
            .unwrap_or_default();
        let expected = spec.input_shape(1);
        let compatible = dims.len() == 4
            && dims[1..]
                .iter()
                .zip(&expected[1..])
                .all(|(d, e)| d.is_none_or(|d| d == *e));
        if !compatible {
            return Err(ModelError::unsupported(
                path,
                format!(
                    "input `{}` has shape {} but the spec asks for [N, {}, {}, {}] ({:?})",
                    input.name(),
                    fmt_dims(&dims),
                    expected[1],
                    expected[2],
                    expected[3],
                    spec.layout
                ),
            ));
        }
        let max_batch = dims[0];
        let input_name = input.name().to_string();

        let output_name = match &spec.output_name {
            Some(name) => session.outputs().iter().find(|o| o.name() == name),
            None => session.outputs().first(),
        }
        .map(|o| o.name().to_string())
        .ok_or_else(|| {
            ModelError::unsupported(
                path,
                format!(
                    "no output named {:?}; the model's outputs are {:?}",
                    spec.output_name.as_deref().unwrap_or("<first>"),
                    session
                        .outputs()
                        .iter()
                        .map(|o| o.name())
                        .collect::<Vec<_>>()
                ),
            )
        })?;

        let mut sessions = vec![Mutex::new(session)];
        for _ in 1..lanes {
            sessions.push(Mutex::new(new_session()?));
        }
        Ok(OrtBackend {
            spec: spec.clone(),
            sessions,
            next: AtomicUsize::new(0),
            input_name,
            output_name,
            max_batch,
            threads,
        })
    }

    /// Number of intra-op threads, all sessions together.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Number of sessions that can run a batch at the same time.
    pub fn lanes(&self) -> usize {
        self.sessions.len()
    }

    /// Takes a free session, starting the search at the round-robin position;
    /// waits for that one when all are busy.
    fn take_session(&self) -> MutexGuard<'_, Session> {
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            if let Ok(guard) = self.sessions[(start + i) % n].try_lock() {
                return guard;
            }
        }
        // A panic inside a previous run cannot leave a session half-updated on
        // our side, so a poisoned lock is simply taken over.
        self.sessions[start]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl InferenceBackend for OrtBackend {
    fn name(&self) -> &'static str {
        "ort"
    }

    fn lanes(&self) -> usize {
        self.sessions.len()
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn preferred_batch(&self) -> usize {
        self.max_batch.unwrap_or(PREFERRED_BATCH)
    }

    fn infer(&self, input: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        check_input(&self.spec, input, batch)?;
        let mut out = Vec::with_capacity(batch * self.spec.feature_width);
        if batch == 0 {
            return Ok(out);
        }
        let per_image = self.spec.image_len();
        let run_batch = if self.sessions.len() > 1 {
            LANE_RUN_BATCH
        } else {
            batch
        };
        let chunk = self.max_batch.unwrap_or(run_batch).min(run_batch).max(1);
        let mut session = self.take_session();
        for images in input.chunks(chunk * per_image) {
            let n = images.len() / per_image;
            let tensor = TensorRef::from_array_view((self.spec.input_shape(n), images))
                .map_err(|e| ModelError::ort("wrap the input tensor", e))?;
            let outputs = session
                .run(ort::inputs![self.input_name.as_str() => tensor])
                .map_err(|e| ModelError::ort("run the model", e))?;
            let value = outputs.get(&self.output_name).ok_or_else(|| {
                ModelError::Output(format!(
                    "the model produced no output `{}`",
                    self.output_name
                ))
            })?;
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| {
                ModelError::ort(format!("read output `{}` as f32", self.output_name), e)
            })?;
            let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
            collect_features(&self.spec, &dims, data, n, &mut out)?;
        }
        Ok(out)
    }
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
