//! Feature-extraction models for Orchard: model specs and presets, the model
//! home (`$ORCHARD_HOME`), fetching and converting the presets (MobileNetV2,
//! EfficientNet-Lite2), and two inference backends behind one trait:
//!
//! * [`OrtBackend`]: ONNX Runtime, loaded at run time from `libonnxruntime.so`
//!   (see [`find_onnxruntime`]); fast. Runs one session per core ("lanes")
//!   for throughput, or one session on every core for latency.
//! * [`TractBackend`]: tract, pure Rust; the fallback (single images on one
//!   worker thread per core).
//!
//! Typical use, once per process per model (see [`ModelRef::load`] and
//! [`infer_batch`]):
//!
//! ```no_run
//! use orchard_model::{infer_batch, BackendKind, ModelHome};
//! # fn main() -> Result<(), orchard_model::ModelError> {
//! let model = ModelHome::from_env().resolve("mobilenet_v2")?;
//! // All cores (0), one lane per core (0); loaded once per process.
//! let backend = model.to_ref(BackendKind::Auto, 0, 0).load()?;
//! let images = vec![0.0f32; 2 * model.spec.image_len()]; // preprocessed with spec.preprocess()
//! let features = infer_batch(backend.as_ref(), &images, 2)?; // 2 photos × 1280 values
//! for photo in features.rows() {
//!     let _vector: &[f32] = photo.expect("finite features");
//! }
//! # Ok(()) }
//! ```

pub mod backend;
mod cache;
pub mod class_priors;
pub mod error;
pub mod fetch;
pub mod home;
mod install;
pub mod loader;
mod model_ref;
pub mod onnx;
pub mod ort_backend;
mod ort_library;
pub mod preset;
pub mod quantization;
pub mod quantize;
pub mod spec;
pub mod tract_backend;
pub mod tuning;
pub mod tuning_info;

pub use backend::{effective_lanes, effective_threads, BackendKind, InferenceBackend};
pub use class_priors::{ClassPrior, ClassPriors};
pub use error::{error_chain, ModelError};
pub use fetch::{fetch_preset, find_python, FetchOptions};
pub use home::{
    sha256_bytes, sha256_file, ConverterInfo, CustomModelOptions, ModelHome, ModelManifest,
    ModelSource, ResolvedModel,
};
pub use loader::load;
pub use model_ref::{cached, infer_batch, BatchFeatures, ModelRef, RowError};
pub use onnx::{inspect_onnx, OnnxInfo};
pub use orchard_image::{Layout, Normalization, PreprocessSpec};
pub use ort_backend::OrtBackend;
pub use ort_library::{find_onnxruntime, loaded_onnxruntime};
pub use preset::{preset, EFFICIENTNET_LITE2, MOBILENET_V2, PRESETS};
pub use quantize::{
    quantize_model, Activations, Calibration, CalibrationSet, QuantizationInfo, QuantizeOptions,
    MOBILENET_V2_FP32_NODES, MOBILENET_V2_FP32_NODES_7BIT,
};
pub use spec::ModelSpec;
pub use tract_backend::TractBackend;
pub use tuning::install_fine_tuned;
pub use tuning_info::FineTuningInfo;
