//! The ONNX Runtime backend (fast; needs `libonnxruntime.so` at run time,
//! found and loaded by [`crate::ort_library`]).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::backend::{check_input, collect_features, InferenceBackend};
use crate::error::ModelError;
use crate::onnx::fmt_dims;
use crate::ort_library::environment;
use crate::spec::ModelSpec;

/// Images per `infer` call at which ONNX Runtime reaches its throughput plateau.
const PREFERRED_BATCH: usize = 32;

/// Images per session run when several lanes share the cores: single-thread
/// runs are fastest on small batches whose activations stay in cache
/// (MobileNetV2 on 2 cores, 2 lanes: 194 images/s at 8, 161 at 32) and their
/// arenas stay small.
const LANE_RUN_BATCH: usize = 8;

/// ONNX Runtime optimizers Orchard turns off. `WeightBiasQuantization`
/// quantizes, per tensor, the fp32 weights of any Conv that sits between a
/// DequantizeLinear and a QuantizeLinear: exactly the nodes an int8 model
/// keeps in fp32 on purpose (a depthwise convolution quantized per tensor
/// loses most of its channels; BENCHMARKS.md, int8). It changes nothing for
/// fp32 models.
const DISABLED_OPTIMIZERS: &str = "WeightBiasQuantization";

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
