//! The classifier bundle: one directory with everything a photo → answer
//! path needs.
//!
//! ```text
//! fruit-model/
//!   classifier.json   format name and version, the feature model (name,
//!                     sha256, spec: input size, layout, preprocessing),
//!                     labels, thresholds, training report, tensor layout
//!   weights.bin       little-endian f32: softmax weights (dim × classes),
//!                     intercepts (classes), mode means (modes × dim: a
//!                     species' studio shots and real photos apart),
//!                     precision (dim × dim); its sha256 is in classifier.json
//! ```

use std::path::{Path, PathBuf};

use orchard_model::ModelSpec;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::classifier::{Classifier, Thresholds};
use crate::error::ClassifyError;
use crate::ood::Mahalanobis;
use crate::softmax::SoftmaxModel;
use crate::train::TrainReport;

/// The `format` field of `classifier.json`.
pub const BUNDLE_FORMAT: &str = "orchard-classifier";
/// The bundle version this build writes and reads.
pub const BUNDLE_VERSION: u32 = 1;
/// Metadata file name.
pub const BUNDLE_META: &str = "classifier.json";
/// Tensor file name.
pub const BUNDLE_WEIGHTS: &str = "weights.bin";

/// The feature model a bundle was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureModel {
    /// Its name (`mobilenet_v2`, or a file's stem).
    pub name: String,
    /// sha256 of the ONNX file.
    pub sha256: String,
    /// Input size, layout, preprocessing and feature width.
    pub spec: ModelSpec,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: String,
    version: u32,
    created: String,
    orchard: String,
    feature_model: FeatureModel,
    representation: String,
    labels: Vec<String>,
    thresholds: Thresholds,
    dim: usize,
    modes: usize,
    weights_file: String,
    weights_sha256: String,
    training: Option<TrainReport>,
}

/// A classifier with the feature model it needs and its training report.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// The classifier.
    pub classifier: Classifier,
    /// The feature model it was trained on.
    pub feature_model: FeatureModel,
    /// How it was trained (absent for hand-made bundles).
    pub training: Option<TrainReport>,
}

fn push_f32(out: &mut Vec<u8>, values: &[f32]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> ClassifyError {
    ClassifyError::BadBundle {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl Bundle {
    /// Writes the bundle into `dir` (created if needed; its two files are
    /// replaced atomically).
    pub fn save(&self, dir: &Path) -> Result<(), ClassifyError> {
        std::fs::create_dir_all(dir).map_err(|e| ClassifyError::io("creating", dir, e))?;
        let c = &self.classifier;
        let mut bytes = Vec::new();
        push_f32(&mut bytes, &c.softmax.weights);
        push_f32(&mut bytes, &c.softmax.bias);
        push_f32(&mut bytes, &c.distance.means);
        push_f32(&mut bytes, &c.distance.precision);
        let meta = Meta {
            format: BUNDLE_FORMAT.into(),
            version: BUNDLE_VERSION,
            created: chrono::Utc::now().to_rfc3339(),
            orchard: env!("CARGO_PKG_VERSION").into(),
            feature_model: self.feature_model.clone(),
            representation: "l2-normalized features".into(),
            labels: c.labels.clone(),
            thresholds: c.thresholds,
            dim: c.dim(),
            modes: c.distance.modes,
            weights_file: BUNDLE_WEIGHTS.into(),
            weights_sha256: hex::encode(Sha256::digest(&bytes)),
            training: self.training.clone(),
        };
        let json = serde_json::to_string_pretty(&meta)
            .map_err(|e| ClassifyError::internal(e.to_string()))?;
        write_atomic(&dir.join(BUNDLE_WEIGHTS), &bytes)?;
        write_atomic(&dir.join(BUNDLE_META), json.as_bytes())
    }

    /// Reads a bundle from `dir`, checking its format, version and the
    /// weights' checksum.
    pub fn load(dir: &Path) -> Result<Bundle, ClassifyError> {
        let meta_path = dir.join(BUNDLE_META);
        let text = std::fs::read_to_string(&meta_path).map_err(|e| {
            bad(
                &meta_path,
                format!(
                    "{e} (is {} a directory made by `orchard train`?)",
                    dir.display()
                ),
            )
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(&meta_path, e.to_string()))?;
        if value.get("format").and_then(|v| v.as_str()) != Some(BUNDLE_FORMAT) {
            return Err(bad(
                &meta_path,
                format!("not an Orchard classifier (no \"format\": \"{BUNDLE_FORMAT}\")"),
            ));
        }
        let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if version != BUNDLE_VERSION {
            return Err(ClassifyError::BundleVersion {
                path: dir.to_path_buf(),
                found: version,
                supported: BUNDLE_VERSION,
            });
        }
        let meta: Meta =
            serde_json::from_value(value).map_err(|e| bad(&meta_path, e.to_string()))?;
        let weights_path = dir.join(&meta.weights_file);
        let bytes = std::fs::read(&weights_path).map_err(|e| bad(&weights_path, e.to_string()))?;
        if hex::encode(Sha256::digest(&bytes)) != meta.weights_sha256 {
            return Err(bad(
                &weights_path,
                "checksum mismatch (the file was changed or truncated)",
            ));
        }
        let (d, k, m) = (meta.dim, meta.labels.len(), meta.modes);
        let expected = (d * k + k + m * d + d * d) * 4;
        if bytes.len() != expected || d != meta.feature_model.spec.feature_width {
            return Err(bad(
                &weights_path,
                format!(
                    "{} bytes, expected {expected} for {k} labels × {d} features",
                    bytes.len()
                ),
            ));
        }
        let floats: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let (w, rest) = floats.split_at(d * k);
        let (bias, rest) = rest.split_at(k);
        let (means, precision) = rest.split_at(m * d);
        Ok(Bundle {
            classifier: Classifier {
                labels: meta.labels,
                softmax: SoftmaxModel {
                    dim: d,
                    classes: k,
                    weights: w.to_vec(),
                    bias: bias.to_vec(),
                },
                distance: Mahalanobis {
                    dim: d,
                    modes: m,
                    means: means.to_vec(),
                    precision: precision.to_vec(),
                },
                thresholds: meta.thresholds,
            },
            feature_model: meta.feature_model,
            training: meta.training,
        })
    }

    /// Refuses a feature model other than the one the bundle was trained on.
    pub fn check_model(&self, dir: &Path, name: &str, sha256: &str) -> Result<(), ClassifyError> {
        if self.feature_model.sha256 != sha256 {
            return Err(ClassifyError::ModelMismatch {
                bundle: dir.display().to_string(),
                expected_name: self.feature_model.name.clone(),
                expected_sha: self.feature_model.sha256.clone(),
                found_name: name.to_string(),
                found_sha: sha256.to_string(),
            });
        }
        Ok(())
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ClassifyError> {
    let tmp: PathBuf = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| ClassifyError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ClassifyError::io("renaming into place", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labelled::TrainingRow;
    use crate::train::{train, TrainOptions};
    use orchard_model::{Layout, Normalization};

    fn bundle() -> Bundle {
        let rows: Vec<TrainingRow> = (0..80u32)
            .map(|i| TrainingRow {
                path: format!("{i}.jpg"),
                label: ["kiwi", "lime"][(i % 2) as usize].into(),
                studio: i % 4 < 2,
                variant: 0,
                features: vec![
                    (i % 2) as f32 + 0.01 * (i % 7) as f32,
                    1.0 - (i % 2) as f32,
                    0.1 * (i % 3) as f32,
                ],
            })
            .collect();
        let (classifier, report) = train(&rows, 3, &TrainOptions::default()).unwrap();
        Bundle {
            classifier,
            feature_model: FeatureModel {
                name: "tiny".into(),
                sha256: "ab".repeat(32),
                spec: ModelSpec {
                    name: "tiny".into(),
                    width: 4,
                    height: 4,
                    layout: Layout::Nhwc,
                    normalization: Normalization::Keras,
                    input_name: None,
                    output_name: None,
                    feature_width: 3,
                },
            },
            training: Some(report),
        }
    }

    #[test]
    fn round_trips_and_checks_its_model() {
        let dir = tempfile::tempdir().unwrap();
        let original = bundle();
        assert_eq!(
            original.classifier.distance.modes, 4,
            "two species × studio/real"
        );
        original.save(dir.path()).unwrap();
        let loaded = Bundle::load(dir.path()).unwrap();
        assert_eq!(loaded, original);
        assert!(loaded
            .check_model(dir.path(), "tiny", &"ab".repeat(32))
            .is_ok());
        let err = loaded
            .check_model(dir.path(), "other", &"cd".repeat(32))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("trained on features of model `tiny`") && err.contains("retrain"),
            "{err}"
        );
    }

    #[test]
    fn refuses_tampered_weights_and_unknown_versions() {
        let dir = tempfile::tempdir().unwrap();
        bundle().save(dir.path()).unwrap();
        let weights = dir.path().join(BUNDLE_WEIGHTS);
        let mut bytes = std::fs::read(&weights).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&weights, &bytes).unwrap();
        assert!(Bundle::load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        bytes[0] ^= 1;
        std::fs::write(&weights, &bytes).unwrap();
        let meta = dir.path().join(BUNDLE_META);
        let text = std::fs::read_to_string(&meta)
            .unwrap()
            .replace("\"version\": 1", "\"version\": 9");
        std::fs::write(&meta, text).unwrap();
        let err = Bundle::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("format version 9"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        assert!(Bundle::load(empty.path())
            .unwrap_err()
            .to_string()
            .contains("orchard train"));
    }
}
