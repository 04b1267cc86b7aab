//! The inference interface shared by the ONNX Runtime and tract backends, and
//! choosing between them.

use std::fmt;
use std::str::FromStr;

use orchard_image::Layout;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::spec::ModelSpec;

/// A loaded model that turns preprocessed images into feature vectors.
///
/// Implementations are loaded once per process (see [`cached`](crate::cached))
/// and shared by every task: `infer` takes `&self` and may be called from
/// several threads at once.
///
/// Output reduction: a 2-D `[N, F]` output is returned as is; a 4-D output whose
/// non-batch dimensions multiply to `feature_width` (`[N, C, 1, 1]`,
/// `[N, 1, 1, C]`) is flattened; a spatial map `[N, H, W, C]` / `[N, C, H, W]`
/// with `H, W > 1` is global-average-pooled over `H × W` (the channel axis is the
/// one equal to `feature_width`, the spec's layout deciding ties).
pub trait InferenceBackend: Send + Sync {
    /// Short backend name: `"ort"` or `"tract"`.
    fn name(&self) -> &'static str;

    /// The model this backend runs.
    fn spec(&self) -> &ModelSpec;

    /// Number of images per `infer` call that gives this backend its best throughput.
    fn preferred_batch(&self) -> usize;

    /// Runs `batch` preprocessed images, laid out one after another in
    /// [`ModelSpec::layout`] (`input.len() == batch * spec().image_len()`), and
    /// returns `batch × feature_width` values, row-major (one row per image).
    fn infer(&self, input: &[f32], batch: usize) -> Result<Vec<f32>, ModelError>;

    /// Batches this backend runs at once (ONNX Runtime's sessions); 1 unless
    /// it says otherwise.
    fn lanes(&self) -> usize {
        1
    }
}

impl fmt::Debug for dyn InferenceBackend {
    /// Shows the backend name, model name and preferred batch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InferenceBackend")
            .field("name", &self.name())
            .field("model", &self.spec().name)
            .field("preferred_batch", &self.preferred_batch())
            .finish()
    }
}

/// Which inference engine to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// ONNX Runtime when its shared library can be found and loaded, tract otherwise.
    #[default]
    Auto,
    /// ONNX Runtime only (fails when the library is unavailable).
    Ort,
    /// tract only (pure Rust, slower).
    Tract,
}

impl BackendKind {
    /// The lowercase name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Auto => "auto",
            BackendKind::Ort => "ort",
            BackendKind::Tract => "tract",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = ModelError;

    /// Parses `auto`, `ort` (alias `onnxruntime`) or `tract`, ignoring case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendKind::Auto),
            "ort" | "onnxruntime" => Ok(BackendKind::Ort),
            "tract" => Ok(BackendKind::Tract),
            _ => Err(ModelError::UnknownBackend(s.to_string())),
        }
    }
}

/// Number of threads meaning "all cores": `threads` itself when non-zero,
/// otherwise the available parallelism.
pub fn effective_threads(threads: usize) -> usize {
    if threads > 0 {
        threads
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Number of ONNX Runtime sessions meaning "one per thread": `lanes` itself
/// when non-zero, otherwise `threads`.
pub fn effective_lanes(lanes: usize, threads: usize) -> usize {
    if lanes > 0 {
        lanes.min(threads.max(1))
    } else {
        threads.max(1)
    }
}

/// Checks that `input` holds exactly `batch` images of `spec`.
pub(crate) fn check_input(spec: &ModelSpec, input: &[f32], batch: usize) -> Result<(), ModelError> {
    let per_image = spec.image_len();
    if batch.checked_mul(per_image) != Some(input.len()) {
        return Err(ModelError::InputSize {
            batch,
            per_image,
            actual: input.len(),
        });
    }
    Ok(())
}

/// Turns one raw model output (`shape`, row-major `data`) for `batch` images into
/// `batch × spec.feature_width` features, flattening or pooling as documented on
/// [`InferenceBackend`]. Appends to `out`.
pub(crate) fn collect_features(
    spec: &ModelSpec,
    shape: &[usize],
    data: &[f32],
    batch: usize,
    out: &mut Vec<f32>,
) -> Result<(), ModelError> {
    let fw = spec.feature_width;
    let numel: usize = shape.iter().product();
    if shape.first() != Some(&batch) || numel != data.len() {
        return Err(ModelError::Output(format!(
            "output shape {shape:?} ({} values) does not match a batch of {batch}",
            data.len()
        )));
    }
    let per_image: usize = shape[1..].iter().product();
    if per_image == fw {
        out.extend_from_slice(data);
        return Ok(());
    }
    if shape.len() == 4 {
        let (d1, d2, d3) = (shape[1], shape[2], shape[3]);
        let nhwc = match (d1 == fw, d3 == fw) {
            (true, false) => false,
            (false, true) => true,
            (true, true) => spec.layout == Layout::Nhwc,
            (false, false) => {
                return Err(ModelError::Output(format!(
                    "spatial output {shape:?} has no axis of width {fw}"
                )))
            }
        };
        out.reserve(batch * fw);
        for img in data.chunks_exact(per_image) {
            if nhwc {
                let spatial = d1 * d2;
                let start = out.len();
                out.resize(start + fw, 0.0);
                let row = &mut out[start..];
                for px in img.chunks_exact(fw) {
                    for (acc, v) in row.iter_mut().zip(px) {
                        *acc += v;
                    }
                }
                let inv = 1.0 / spatial as f32;
                row.iter_mut().for_each(|v| *v *= inv);
            } else {
                let spatial = d2 * d3;
                let inv = 1.0 / spatial as f32;
                out.extend(
                    img.chunks_exact(spatial)
                        .map(|plane| plane.iter().sum::<f32>() * inv),
                );
            }
        }
        return Ok(());
    }
    Err(ModelError::Output(format!(
        "output shape {shape:?} cannot be reduced to {fw} features per image"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchard_image::Normalization;

    fn spec(layout: Layout, fw: usize) -> ModelSpec {
        ModelSpec {
            name: "t".into(),
            width: 2,
            height: 2,
            layout,
            normalization: Normalization::None,
            input_name: None,
            output_name: None,
            feature_width: fw,
        }
    }

    #[test]
    fn kind_round_trip() {
        for k in [BackendKind::Auto, BackendKind::Ort, BackendKind::Tract] {
            assert_eq!(k.to_string().parse::<BackendKind>().ok(), Some(k));
        }
        assert_eq!("ORT".parse::<BackendKind>().ok(), Some(BackendKind::Ort));
        assert!("cuda".parse::<BackendKind>().is_err());
    }

    #[test]
    fn flatten_and_pool() {
        let mut out = Vec::new();
        // [2, 3, 1, 1] flattened.
        collect_features(
            &spec(Layout::Nchw, 3),
            &[2, 3, 1, 1],
            &[1., 2., 3., 4., 5., 6.],
            2,
            &mut out,
        )
        .expect("flatten");
        assert_eq!(out, [1., 2., 3., 4., 5., 6.]);

        // NHWC [1, 2, 2, 2] pooled per channel.
        out.clear();
        let data = [1., 10., 2., 20., 3., 30., 4., 40.];
        collect_features(&spec(Layout::Nhwc, 2), &[1, 2, 2, 2], &data, 1, &mut out).expect("pool");
        assert_eq!(out, [2.5, 25.]);

        // NCHW [1, 3, 2, 2] pooled per channel.
        out.clear();
        let data = [1., 2., 3., 4., 0., 0., 0., 4., 8., 8., 8., 8.];
        collect_features(&spec(Layout::Nchw, 3), &[1, 3, 2, 2], &data, 1, &mut out).expect("pool");
        assert_eq!(out, [2.5, 1., 8.]);

        assert!(
            collect_features(&spec(Layout::Nchw, 5), &[1, 3, 2, 2], &data, 1, &mut out).is_err()
        );
        assert!(
            collect_features(&spec(Layout::Nchw, 12), &[2, 3, 2, 2], &data, 2, &mut out).is_err()
        );
    }

    #[test]
    fn input_length_is_checked() {
        let s = spec(Layout::Nhwc, 1);
        assert!(check_input(&s, &[0.0; 24], 2).is_ok());
        assert!(matches!(
            check_input(&s, &[0.0; 23], 2),
            Err(ModelError::InputSize { .. })
        ));
    }
}
