//! JSON (serde) persistence of [`PcaModel`], e.g. as `_pca/model.json`.
//!
//! The document is an object with a `format_version` field (currently
//! [`MODEL_FORMAT_VERSION`]), the fit metadata, and the arrays `mean`,
//! `scale` (or `null`), `explained_variance`, `explained_variance_ratio`
//! and `components` (an array of `k` arrays of `dim` numbers). Loading
//! validates versions, shapes and values; the projection matrix is rebuilt.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::stats::check_dim;
use crate::{Components, PcaError, PcaModel, Standardize};

/// Version of the JSON model format written by this build.
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// Tolerance on the Euclidean norm of each stored component when loading.
const NORM_TOLERANCE: f64 = 1e-6;

#[derive(Serialize)]
struct ModelRef<'a> {
    format_version: u32,
    dim: usize,
    k: usize,
    n_samples: u64,
    rank: usize,
    requested_components: Components,
    standardize: Option<Standardize>,
    rank_tolerance: f64,
    total_variance: f64,
    mean: &'a [f64],
    scale: Option<&'a [f64]>,
    explained_variance: &'a [f64],
    explained_variance_ratio: &'a [f64],
    components: Vec<&'a [f64]>,
}

#[derive(Deserialize)]
struct ModelOwned {
    format_version: u32,
    dim: usize,
    k: usize,
    n_samples: u64,
    rank: usize,
    requested_components: Components,
    standardize: Option<Standardize>,
    rank_tolerance: f64,
    total_variance: f64,
    mean: Vec<f64>,
    scale: Option<Vec<f64>>,
    explained_variance: Vec<f64>,
    explained_variance_ratio: Vec<f64>,
    components: Vec<Vec<f64>>,
}

/// Only the version, to give a precise error before shape checks.
#[derive(Deserialize)]
struct VersionProbe {
    format_version: u32,
}

impl Serialize for PcaModel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ModelRef {
            format_version: MODEL_FORMAT_VERSION,
            dim: self.dim,
            k: self.k(),
            n_samples: self.n_samples,
            rank: self.rank,
            requested_components: self.requested,
            standardize: self.standardize,
            rank_tolerance: self.rank_tolerance,
            total_variance: self.total_variance,
            mean: &self.mean,
            scale: self.scale.as_deref(),
            explained_variance: &self.explained_variance,
            explained_variance_ratio: &self.explained_variance_ratio,
            components: self.components.chunks_exact(self.dim).collect(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PcaModel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let owned = ModelOwned::deserialize(deserializer)?;
        PcaModel::try_from(owned).map_err(serde::de::Error::custom)
    }
}

impl PcaModel {
    /// Serialises the model to compact JSON.
    pub fn to_json(&self) -> Result<String, PcaError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Loads a model written by [`PcaModel::to_json`], validating the format
    /// version and the consistency of every shape and value.
    pub fn from_json(json: &str) -> Result<PcaModel, PcaError> {
        let probe: VersionProbe = serde_json::from_str(json)?;
        if probe.format_version != MODEL_FORMAT_VERSION {
            return Err(PcaError::UnsupportedVersion {
                found: probe.format_version,
                supported: MODEL_FORMAT_VERSION,
            });
        }
        let owned: ModelOwned = serde_json::from_str(json)?;
        PcaModel::try_from(owned)
    }
}

impl TryFrom<ModelOwned> for PcaModel {
    type Error = PcaError;

    fn try_from(m: ModelOwned) -> Result<Self, PcaError> {
        let bad = |msg: String| Err(PcaError::InvalidModel(msg));
        if m.format_version != MODEL_FORMAT_VERSION {
            return Err(PcaError::UnsupportedVersion {
                found: m.format_version,
                supported: MODEL_FORMAT_VERSION,
            });
        }
        let d = m.dim;
        check_dim(d).map_err(|e| PcaError::InvalidModel(e.to_string()))?;
        let k = m.k;
        if k == 0 || k > d {
            return bad(format!("k = {k} must be in 1..={d}"));
        }
        if m.rank < k || m.rank > d {
            return bad(format!("rank {} must be in {k}..={d}", m.rank));
        }
        if m.n_samples < 2 {
            return bad(format!("n_samples = {} (at least 2 needed)", m.n_samples));
        }
        m.requested_components
            .validate()
            .map_err(|e| PcaError::InvalidModel(e.to_string()))?;
        if !(m.rank_tolerance.is_finite() && m.rank_tolerance >= 0.0) {
            return bad("invalid rank_tolerance".into());
        }
        if !(m.total_variance.is_finite() && m.total_variance > 0.0) {
            return bad("total_variance must be finite and positive".into());
        }
        let check_len = |name: &str, len: usize, want: usize| -> Result<(), PcaError> {
            if len == want {
                Ok(())
            } else {
                Err(PcaError::InvalidModel(format!(
                    "{name} has {len} values, expected {want}"
                )))
            }
        };
        check_len("mean", m.mean.len(), d)?;
        check_len("explained_variance", m.explained_variance.len(), k)?;
        check_len(
            "explained_variance_ratio",
            m.explained_variance_ratio.len(),
            k,
        )?;
        check_len("components", m.components.len(), k)?;
        for (i, row) in m.components.iter().enumerate() {
            check_len(&format!("components[{i}]"), row.len(), d)?;
        }
        let with_std = m.standardize.is_some_and(|s| s.with_std);
        match &m.scale {
            Some(s) if with_std => check_len("scale", s.len(), d)?,
            None if !with_std => {}
            Some(_) => return bad("scale present but standardize.with_std is not set".into()),
            None => return bad("standardize.with_std is set but scale is missing".into()),
        }
        let all_finite = m
            .mean
            .iter()
            .chain(m.scale.iter().flatten())
            .chain(&m.explained_variance)
            .chain(&m.explained_variance_ratio)
            .chain(m.components.iter().flatten())
            .all(|v| v.is_finite());
        if !all_finite {
            return bad("non-finite value".into());
        }
        if m.scale.iter().flatten().any(|&s| s < 0.0) {
            return bad("negative scale".into());
        }
        if m.explained_variance.iter().any(|&l| l <= 0.0)
            || m.explained_variance.windows(2).any(|w| w[1] > w[0])
        {
            return bad("explained_variance must be positive and non-increasing".into());
        }
        if m.explained_variance_ratio
            .iter()
            .any(|&r| !(0.0..=1.0).contains(&r))
        {
            return bad("explained_variance_ratio values must lie in [0, 1]".into());
        }
        for (i, row) in m.components.iter().enumerate() {
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            if (norm - 1.0).abs() > NORM_TOLERANCE {
                return bad(format!("components[{i}] has norm {norm}, expected 1"));
            }
        }
        let components: Vec<f64> = m.components.into_iter().flatten().collect();
        let projection = PcaModel::build_projection(d, &components, m.scale.as_deref());
        Ok(PcaModel {
            dim: d,
            n_samples: m.n_samples,
            rank: m.rank,
            requested: m.requested_components,
            standardize: m.standardize,
            rank_tolerance: m.rank_tolerance,
            total_variance: m.total_variance,
            mean: m.mean,
            scale: m.scale,
            components,
            explained_variance: m.explained_variance,
            explained_variance_ratio: m.explained_variance_ratio,
            projection,
        })
    }
}
