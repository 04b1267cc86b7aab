//! Class priors: what a backbone's own ImageNet classifier knows of the
//! fruit it names. The `efficientnet_lite2` preset keeps its classifier's
//! rows of the ten ImageNet fruit classes (Granny Smith, strawberry, orange,
//! lemon, fig, pineapple, banana, jackfruit, custard apple, pomegranate),
//! each minus the mean row, in `models/<name>.priors.json`; a fine-tuned or
//! quantized child uses its parent's. Orchard's classifier is pulled towards
//! them, instead of towards zero, for the species they name.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::home::ModelHome;

/// One ImageNet class's row, for the species label it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassPrior {
    /// The species label it is matched to (case-insensitively), e.g. `apple`.
    pub label: String,
    /// The ImageNet class index, e.g. 948.
    pub imagenet_class: u32,
    /// The ImageNet class name, e.g. `Granny Smith`.
    pub imagenet_name: String,
    /// The classifier's row minus the mean of all rows (`feature_width` values).
    pub row: Vec<f32>,
}

/// The class priors of a model, as its converter wrote them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassPriors {
    /// Where the rows come from.
    pub source: String,
    /// The width of the features they apply to.
    pub feature_width: usize,
    /// One per ImageNet fruit class.
    pub priors: Vec<ClassPrior>,
    /// The installed model whose file they were read from (set on reading).
    #[serde(skip)]
    pub from_model: String,
}

impl ClassPriors {
    /// The prior of species `label` (case-insensitive), if any.
    pub fn for_label(&self, label: &str) -> Option<&ClassPrior> {
        self.priors
            .iter()
            .find(|p| p.label.eq_ignore_ascii_case(label.trim()))
    }
}

/// How many parents are followed before giving up (a loop guard).
const MAX_ANCESTORS: usize = 8;

impl ModelHome {
    /// `<root>/models/<name>.priors.json`.
    pub fn class_priors_path(&self, name: &str) -> std::path::PathBuf {
        self.models_dir().join(format!("{name}.priors.json"))
    }

    /// The class priors of installed model `name`: its own file, else its
    /// fine-tuning parent's or its quantization source's, and so on. `None`
    /// when no ancestor has any (MobileNetV2's classifier is not ImageNet's)
    /// or `name` is not an installed model.
    pub fn class_priors(&self, name: &str) -> Result<Option<ClassPriors>, ModelError> {
        let mut current = name.to_string();
        for _ in 0..MAX_ANCESTORS {
            let path = self.class_priors_path(&current);
            if path.is_file() {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ModelError::io("cannot read class priors", &path, e))?;
                let mut priors: ClassPriors =
                    serde_json::from_str(&text).map_err(|e| ModelError::Manifest {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                if let Some(bad) = priors
                    .priors
                    .iter()
                    .find(|p| p.row.len() != priors.feature_width)
                {
                    return Err(ModelError::Manifest {
                        path,
                        reason: format!(
                            "the row of `{}` has {} values, expected {}",
                            bad.label,
                            bad.row.len(),
                            priors.feature_width
                        ),
                    });
                }
                priors.from_model = current;
                return Ok(Some(priors));
            }
            if !self.manifest_path(&current).is_file() {
                return Ok(None);
            }
            let manifest = self.read_manifest(&current)?;
            let parent = manifest
                .fine_tuning
                .map(|t| t.parent_model)
                .or(manifest.quantization.map(|q| q.from_model));
            match parent {
                Some(parent) => current = parent,
                None => {
                    if crate::preset::preset_source(&current).is_some_and(|s| s.class_priors) {
                        tracing::warn!(
                            "{current} was installed before Orchard kept its class priors; \
                             `orchard model fetch {current}` adds them (the model is unchanged)"
                        );
                    }
                    return Ok(None);
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::{ConverterInfo, ModelManifest, ModelSource};
    use crate::tuning_info::FineTuningInfo;

    /// A model home holding model `m`'s priors (one row of `width` values
    /// for banana; the features are 2 wide).
    fn home_with_priors(dir: &std::path::Path, width: usize) -> ModelHome {
        let home = ModelHome::new(dir);
        std::fs::create_dir_all(home.models_dir()).unwrap();
        let json = serde_json::json!({
            "source": "test",
            "feature_width": 2,
            "priors": [{"label": "banana", "imagenet_class": 954,
                        "imagenet_name": "banana", "row": vec![0.5f32; width]}],
        });
        std::fs::write(home.class_priors_path("m"), json.to_string()).unwrap();
        home
    }

    /// Installs the manifest of `child`, a model fine-tuned from `parent`.
    fn install_child(home: &ModelHome, child: &str, parent: &str) {
        let manifest = ModelManifest {
            spec: crate::preset::preset(crate::preset::EFFICIENTNET_LITE2).unwrap(),
            sha256: "0".repeat(64),
            source: ModelSource {
                package: None,
                version: None,
                wheel_sha256: None,
                h5_member: String::new(),
                h5_sha256: String::new(),
            },
            converter: ConverterInfo {
                script: String::new(),
                sha256: String::new(),
                python: String::new(),
            },
            created_at: String::new(),
            quantization: None,
            fine_tuning: Some(FineTuningInfo {
                parent_model: parent.into(),
                parent_sha256: "0".repeat(64),
                training_fingerprint: String::new(),
                training_photos: 0,
                blocks: 3,
                kept_epoch: 3,
                mix: 1.0,
                export_check_cosine: 1.0,
                labels: Vec::new(),
            }),
        };
        let json = serde_json::to_string(&manifest).unwrap();
        std::fs::write(home.manifest_path(child), json).unwrap();
    }

    #[test]
    fn a_models_own_priors_are_read_and_matched_by_label() {
        let dir = tempfile::tempdir().unwrap();
        let home = home_with_priors(dir.path(), 2);
        let priors = home.class_priors("m").unwrap().unwrap();
        assert_eq!(priors.from_model, "m");
        assert_eq!(priors.for_label(" Banana").unwrap().imagenet_class, 954);
        assert!(priors.for_label("lemon").is_none());
        assert!(home.class_priors("absent").unwrap().is_none());
    }

    #[test]
    fn a_fine_tuned_model_uses_its_parents_priors() {
        let dir = tempfile::tempdir().unwrap();
        let home = home_with_priors(dir.path(), 2);
        install_child(&home, "child", "m");
        install_child(&home, "grandchild", "child");
        install_child(&home, "orphan", "gone");
        let priors = home.class_priors("grandchild").unwrap().unwrap();
        assert_eq!(priors.from_model, "m");
        assert!(home.class_priors("orphan").unwrap().is_none());
    }

    #[test]
    fn a_row_of_the_wrong_width_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let home = home_with_priors(dir.path(), 3);
        let err = home.class_priors("m").unwrap_err().to_string();
        assert!(
            err.contains("banana") && err.contains("expected 2"),
            "{err}"
        );
    }
}
