//! The fitted model: accessors and projection.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use crate::{Components, PcaError, Standardize};

/// Rows per block in [`PcaModel::project_batch`]; bounds the scratch memory
/// to `PROJECT_BLOCK_ROWS * (dim + k) * 8` bytes.
const PROJECT_BLOCK_ROWS: usize = 512;

/// A fitted PCA model: mean, optional per-feature scale and the `k` leading
/// principal axes of the (scaled) covariance.
///
/// Built by [`PcaModel::fit`](crate::PcaModel::fit) or loaded with
/// [`PcaModel::from_json`]; immutable afterwards.
#[derive(Clone, Debug, PartialEq)]
pub struct PcaModel {
    pub(crate) dim: usize,
    pub(crate) n_samples: u64,
    pub(crate) rank: usize,
    pub(crate) requested: Components,
    pub(crate) standardize: Option<Standardize>,
    pub(crate) rank_tolerance: f64,
    pub(crate) total_variance: f64,
    pub(crate) mean: Vec<f64>,
    pub(crate) scale: Option<Vec<f64>>,
    /// `k × dim`, row-major, orthonormal rows.
    pub(crate) components: Vec<f64>,
    pub(crate) explained_variance: Vec<f64>,
    pub(crate) explained_variance_ratio: Vec<f64>,
    /// Derived: `dim × k` column-major, `W[j, i] = scale[j] · components[i][j]`.
    pub(crate) projection: Vec<f64>,
}

impl PcaModel {
    /// Row dimension of the input.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of components kept (the output dimension of the projection).
    pub fn k(&self) -> usize {
        self.explained_variance.len()
    }

    /// Number of rows the statistics were computed from.
    pub fn n_samples(&self) -> u64 {
        self.n_samples
    }

    /// Numerical rank of the (scaled) covariance: the number of eigenvalues
    /// above `rank_tolerance · λ_max`. `k() <= rank()` always.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The component request the model was fitted with.
    pub fn requested_components(&self) -> Components {
        self.requested
    }

    /// The standardisation options the model was fitted with, if any.
    pub fn standardize(&self) -> Option<Standardize> {
        self.standardize
    }

    /// The relative rank tolerance used by the fit.
    pub fn rank_tolerance(&self) -> f64 {
        self.rank_tolerance
    }

    /// Per-feature mean of the training rows (unscaled).
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Per-feature scale (`1 / sample std`, `0.0` for constant features) when
    /// fitted with `with_std`, else `None`.
    pub fn scale(&self) -> Option<&[f64]> {
        self.scale.as_deref()
    }

    /// Principal axes, `k × dim` row-major; rows are orthonormal, sorted by
    /// descending eigenvalue, and signed so that each row's entry of largest
    /// absolute value (the first one on ties) is positive.
    pub fn components(&self) -> &[f64] {
        &self.components
    }

    /// Principal axis `i` (`dim` values), or `None` if `i >= k`.
    pub fn component(&self, i: usize) -> Option<&[f64]> {
        self.components.chunks_exact(self.dim).nth(i)
    }

    /// Eigenvalues of the (scaled) sample covariance for the kept components,
    /// non-increasing: the variance of the training rows along each axis.
    pub fn explained_variance(&self) -> &[f64] {
        &self.explained_variance
    }

    /// `explained_variance / total_variance`: non-increasing, sums to `<= 1`.
    pub fn explained_variance_ratio(&self) -> &[f64] {
        &self.explained_variance_ratio
    }

    /// Total variance of the (scaled) data: the trace of its sample covariance.
    pub fn total_variance(&self) -> f64 {
        self.total_variance
    }

    /// Projects one row: `out = ((row - mean) ∘ scale) · componentsᵀ`.
    ///
    /// `row.len()` must be `dim()` and `out.len()` must be `k()`. See
    /// [`PcaModel::project_batch`] for precision and non-finite handling.
    pub fn project(&self, row: &[f32], out: &mut [f32]) -> Result<(), PcaError> {
        if row.len() != self.dim {
            return Err(PcaError::DimensionMismatch {
                expected: self.dim,
                found: row.len(),
            });
        }
        self.project_batch(row, out)
    }

    /// Projects a row-major batch: `rows` is `n × dim`, `out` is `n × k`,
    /// both row-major.
    ///
    /// Each row is centred in `f64`, then multiplied by the pre-scaled
    /// `dim × k` projection matrix with a faer matrix product in `f64`
    /// (blocks of 512 rows, on the calling thread); results are rounded to
    /// `f32`. Non-finite inputs are not rejected: they propagate to the
    /// affected output row as NaN/inf.
    pub fn project_batch(&self, rows: &[f32], out: &mut [f32]) -> Result<(), PcaError> {
        let d = self.dim;
        let k = self.k();
        if !rows.len().is_multiple_of(d) {
            return Err(PcaError::RaggedBatch {
                len: rows.len(),
                dim: d,
            });
        }
        let n = rows.len() / d;
        if out.len() != n * k {
            return Err(PcaError::OutputLength {
                expected: n * k,
                found: out.len(),
            });
        }
        if n == 0 {
            return Ok(());
        }
        let block_rows = n.min(PROJECT_BLOCK_ROWS);
        let mut centred = vec![0.0f64; block_rows * d];
        let mut projected = vec![0.0f64; block_rows * k];
        let w = MatRef::from_column_major_slice(&self.projection, d, k);
        for (block, out_block) in rows
            .chunks(block_rows * d)
            .zip(out.chunks_mut(block_rows * k))
        {
            let b = block.len() / d;
            let xs = &mut centred[..b * d];
            for (dst, src) in xs.chunks_exact_mut(d).zip(block.chunks_exact(d)) {
                for ((o, &x), &m) in dst.iter_mut().zip(src).zip(&self.mean) {
                    *o = f64::from(x) - m;
                }
            }
            let ys = &mut projected[..b * k];
            matmul(
                MatMut::from_row_major_slice_mut(ys, b, k),
                Accum::Replace,
                MatRef::from_row_major_slice(xs, b, d),
                w,
                1.0,
                Par::Seq,
            );
            for (o, &y) in out_block.iter_mut().zip(ys.iter()) {
                *o = y as f32;
            }
        }
        Ok(())
    }

    /// Projects a row-major batch into a newly allocated `n × k` row-major vector.
    pub fn project_to_vec(&self, rows: &[f32]) -> Result<Vec<f32>, PcaError> {
        if !rows.len().is_multiple_of(self.dim) {
            return Err(PcaError::RaggedBatch {
                len: rows.len(),
                dim: self.dim,
            });
        }
        let mut out = vec![0.0f32; rows.len() / self.dim * self.k()];
        self.project_batch(rows, &mut out)?;
        Ok(out)
    }

    /// Builds the derived projection matrix from components and scale.
    pub(crate) fn build_projection(
        dim: usize,
        components: &[f64],
        scale: Option<&[f64]>,
    ) -> Vec<f64> {
        match scale {
            None => components.to_vec(),
            Some(s) => components
                .chunks_exact(dim)
                .flat_map(|row| row.iter().zip(s).map(|(v, s)| v * s))
                .collect(),
        }
    }
}
