//! What can go wrong while fine-tuning, each with what to do about it.

/// Errors of [`crate::fine_tune`] and the ONNX graph handling.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// The parent model's bytes are not an ONNX model.
    #[error("{origin} is not a readable ONNX model: {source}")]
    NotOnnx {
        /// The file or name.
        origin: String,
        /// The protobuf decoder's reason.
        #[source]
        source: prost::DecodeError,
    },
    /// The parent model lacks a node or weight the trainable tail needs.
    #[error("{origin} cannot be fine-tuned: {reason} (fine-tuning needs a MobileNetV2 converted by `orchard model fetch`, such as the `mobilenet_v2` preset or a model fine-tuned from it)")]
    UnsupportedModel {
        /// The file or name.
        origin: String,
        /// What is missing or unexpected.
        reason: String,
    },
    /// An option is out of its range.
    #[error("invalid fine-tuning option: {0}")]
    Options(String),
    /// A tensor of the wrong shape was handed over.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// No training sample, or only one label.
    #[error("nothing to fine-tune on: {0}")]
    NoData(String),
    /// The tensor library failed.
    #[error("training failed: {0}")]
    Candle(#[from] candle_core::Error),
}
