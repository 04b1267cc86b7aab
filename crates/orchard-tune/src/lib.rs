//! Fine-tuning Orchard's MobileNetV2 and EfficientNet-Lite backbones on labelled photos.
//!
//! The backbone is split where its trainable tail starts
//! ([`cut_tensor`]): the frozen part runs in ONNX Runtime like any Orchard
//! model (its activations cached once per augmented variant of each photo),
//! the tail — the last inverted-residual blocks and the final 1×1 conv —
//! is rebuilt in candle from the model's own weights ([`Tail`]) and trained
//! with a classifier ([`fine_tune`]). The trained weights are written back
//! into a copy of the parent ONNX model ([`OnnxGraph::with_weights`]), so
//! the result has the parent's input spec and runs wherever it runs.
//!
//! ```no_run
//! # fn main() -> Result<(), orchard_tune::TuneError> {
//! use orchard_tune::{cut_tensor, OnnxGraph, Tail};
//! let bytes = std::fs::read("mobilenet_v2.onnx").unwrap();
//! let graph = OnnxGraph::from_bytes(&bytes, "mobilenet_v2.onnx")?;
//! let frozen = graph.frozen_part(&cut_tensor(&graph, 1)?)?; // run in ONNX Runtime
//! let tail = Tail::from_onnx(&graph, 1, candle_core::DType::F32)?;
//! // … fine_tune(&tail, &data, &options, &mut ())? …
//! let tuned = graph.with_weights(&tail.onnx_weights()?, &[])?;
//! # let _ = (frozen, tuned); Ok(()) }
//! ```

mod classifier;
mod data;
mod depthwise;
mod error;
mod graph;
mod tail;
mod train;

pub use candle_core::DType;
pub use classifier::{smoothed_cross_entropy, tail_features};
pub use data::{Grid, TuneData, TunePhoto};
pub use depthwise::depthwise;
pub use error::TuneError;
pub use graph::{OnnxGraph, Weight};
pub use tail::{cut_tensor, nhwc_batch, trainable_blocks, Naming, Tail};
pub use train::{
    fine_tune, schedule, EpochReport, FineTuneOptions, KeepEpoch, TuneObserver, TuneReport,
};
