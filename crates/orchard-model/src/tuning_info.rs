//! What a fine-tuned model records about how it was made (in its manifest).

use serde::{Deserialize, Serialize};

/// How an installed model was fine-tuned (in its manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuningInfo {
    /// The parent model's name.
    pub parent_model: String,
    /// The parent model's sha256.
    pub parent_sha256: String,
    /// Fingerprint of the labelled photos it was tuned on (their paths,
    /// labels and sizes, hashed).
    pub training_fingerprint: String,
    /// Photos it was tuned on (held-out groups excluded).
    pub training_photos: u64,
    /// Inverted-residual blocks trained (with the final 1×1 conv).
    pub blocks: usize,
    /// Epoch whose weights were kept.
    pub kept_epoch: usize,
    /// Share of the kept epoch's weights in the model, the rest the
    /// parent's (`train --tune-mix`); 1 for models made before the option.
    #[serde(default = "unmixed")]
    pub mix: f64,
    /// Cosine between the exported model's features (ONNX Runtime) and the
    /// training framework's, lowest over the checked photos.
    pub export_check_cosine: f64,
    /// Labels the classifier was trained on while tuning.
    pub labels: Vec<String>,
}

fn unmixed() -> f64 {
    1.0
}
