//! Finding the client's model on an executor.
//!
//! A `ModelRef` carries the client's path and the file's sha256. An executor
//! uses, in order:
//!
//! 1. the same path, when that file exists here and has the expected sha256
//!    (a shared file system, or the same install layout everywhere);
//! 2. `$ORCHARD_HOME/models/<spec.name>.onnx` of this process, when its sha256
//!    matches (presets fetched with `orchard model fetch`, custom models copied
//!    under their file stem);
//! 3. any other installed model whose manifest records the expected sha256
//!    (and whose file has it).
//!
//! The spec (input size, layout, normalisation, width) always stays the
//! client's, so preprocessing is the same everywhere. The sha256 of a file is
//! computed once per process for a given (path, size, modification time).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use crate::error::ClusterError;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use orchard_model::ModelHome;

use orchard_engine::featurize::FEATURIZE;
use orchard_engine::schema::result_fields;
use orchard_model::ModelRef;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileKey {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

static DIGESTS: OnceLock<Mutex<HashMap<FileKey, String>>> = OnceLock::new();

/// Lowercase hex sha256 of `path`, cached per (canonical path, size, mtime).
fn file_sha256(path: &Path) -> std::result::Result<String, String> {
    let canonical = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = std::fs::metadata(&canonical).map_err(|e| format!("{}: {e}", path.display()))?;
    let key = FileKey {
        path: canonical.clone(),
        len: meta.len(),
        modified: meta.modified().ok(),
    };
    let cache = DIGESTS.get_or_init(Default::default);
    if let Some(sha) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(sha.clone());
    }
    let sha = orchard_model::sha256_file(&canonical).map_err(|e| e.to_string())?;
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, sha.clone());
    Ok(sha)
}

/// A model name that is safe to use as a file name under `models/`.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != ".."
}

/// The `ModelRef` this process should load for the client's `model`: the same
/// reference, or one whose `path` points at a local file with the same sha256.
/// The error says what was tried.
pub fn resolve_model(model: &ModelRef) -> std::result::Result<ModelRef, ClusterError> {
    let want = model.sha256.to_ascii_lowercase();
    let mut tried = Vec::new();
    let check = |path: &Path, tried: &mut Vec<String>| -> bool {
        if !path.is_file() {
            tried.push(format!("{} (absent)", path.display()));
            return false;
        }
        match file_sha256(path) {
            Ok(sha) if sha.eq_ignore_ascii_case(&want) => true,
            Ok(sha) => {
                tried.push(format!(
                    "{} (sha256 {})",
                    path.display(),
                    &sha[..sha.len().min(12)]
                ));
                false
            }
            Err(e) => {
                tried.push(e);
                false
            }
        }
    };

    // 1. The client's path.
    let client_path = Path::new(&model.path);
    if check(client_path, &mut tried) {
        return Ok(model.clone());
    }

    // 2. and 3. This process's model home.
    let home = ModelHome::from_env();
    let mut names = Vec::new();
    if plain_name(&model.spec.name) {
        names.push(model.spec.name.clone());
    }
    for name in home.installed() {
        if names.contains(&name) {
            continue;
        }
        if let Ok(manifest) = home.read_manifest(&name) {
            if manifest.sha256.eq_ignore_ascii_case(&want) {
                names.push(name);
            }
        }
    }
    for name in names {
        let path = home.model_path(&name);
        if check(&path, &mut tried) {
            return Ok(ModelRef {
                path: path.to_string_lossy().into_owned(),
                ..model.clone()
            });
        }
    }
    Err(ClusterError::ModelNotFound {
        name: model.spec.name.clone(),
        sha256: want[..want.len().min(12)].to_string(),
        tried: if tried.is_empty() {
            "nothing".to_string()
        } else {
            tried.join(", ")
        },
        home: home.root().display().to_string(),
    })
}

/// Stands in for `featurize` on an executor that cannot find the model: same
/// name, signature and return type, and every call fails the task with the
/// reason, so the job fails with a message that says what to install (a
/// decoding error would only surface as "task could not be prepared").
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MissingModelUdf {
    model: ModelRef,
    reason: String,
    signature: Signature,
}

impl MissingModelUdf {
    /// The stand-in for `model`, failing with `reason`.
    pub fn new(model: ModelRef, reason: String) -> Self {
        Self {
            model,
            reason,
            signature: Signature::exact(vec![DataType::Binary], Volatility::Immutable),
        }
    }

    /// Wraps it as a DataFusion UDF.
    pub fn into_udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }
}

impl ScalarUDFImpl for MissingModelUdf {
    fn name(&self) -> &str {
        FEATURIZE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields(
            self.model.spec.feature_width,
        )))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!("{}", self.reason)
    }
}
