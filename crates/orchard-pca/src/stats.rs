//! Mergeable partial statistics (count, mean, co-moment matrix).

use std::fmt;

use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::{Accum, MatMut, MatRef, Par};

use crate::PcaError;

/// Largest supported dimension (the co-moment matrix has `dim²` entries).
pub const MAX_DIM: usize = 1 << 16;

/// Rows per block when forming the centred batch for the rank-k update.
/// Bounds the scratch memory of [`PcaStats::update`] to
/// `UPDATE_BLOCK_ROWS * dim * 8` bytes whatever the batch size.
const UPDATE_BLOCK_ROWS: usize = 1024;

/// Mergeable partial statistics of a set of `dim`-dimensional rows: the row
/// count `n`, the mean `μ` and the co-moment matrix
/// `M2 = Σ (x - μ)(x - μ)ᵀ`, all accumulated in `f64`.
///
/// States built on disjoint subsets of the rows (partitions, machines) are
/// combined with [`PcaStats::merge`] using the pairwise update of Chan, Golub
/// and LeVeque, which is numerically stable (no `Σx²  - nμ²` cancellation).
/// Merging is associative and commutative up to floating-point rounding, and
/// merging an empty state is the identity.
///
/// Only the lower triangle of `M2` is kept (it is symmetric). An empty state
/// allocates nothing but its (zero) mean, so empty accumulators are cheap.
#[derive(Clone, PartialEq)]
pub struct PcaStats {
    pub(crate) dim: usize,
    pub(crate) count: u64,
    pub(crate) mean: Vec<f64>,
    /// Column-major `dim × dim`; only the lower triangle (i >= j) is
    /// meaningful. Empty while `count == 0`.
    pub(crate) m2: Vec<f64>,
}

impl fmt::Debug for PcaStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcaStats")
            .field("dim", &self.dim)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl PcaStats {
    /// Creates an empty state for rows of dimension `dim`.
    ///
    /// Errors if `dim` is zero or larger than [`MAX_DIM`].
    pub fn new(dim: usize) -> Result<Self, PcaError> {
        check_dim(dim)?;
        Ok(PcaStats {
            dim,
            count: 0,
            mean: vec![0.0; dim],
            m2: Vec::new(),
        })
    }

    /// Convenience: a state holding the statistics of one row-major batch.
    pub fn from_rows(dim: usize, rows: &[f32]) -> Result<Self, PcaError> {
        let mut stats = Self::new(dim)?;
        stats.update(rows)?;
        Ok(stats)
    }

    /// Row dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows accumulated.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// `true` when no row has been accumulated.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Approximate heap memory held by the state, in bytes (for memory
    /// accounting, e.g. a DataFusion accumulator's `size()`).
    pub fn heap_size(&self) -> usize {
        (self.mean.capacity() + self.m2.capacity()) * std::mem::size_of::<f64>()
    }

    /// Mean of the rows (all zeros while empty).
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Sample covariance `M2 / (n - 1)` as a full symmetric `dim × dim`
    /// row-major matrix.
    ///
    /// Errors with [`PcaError::NotEnoughRows`] when fewer than 2 rows were seen.
    pub fn covariance(&self) -> Result<Vec<f64>, PcaError> {
        if self.count < 2 {
            return Err(PcaError::NotEnoughRows { count: self.count });
        }
        let inv = 1.0 / (self.count - 1) as f64;
        let mut cov = self.comoment_full();
        cov.iter_mut().for_each(|c| *c *= inv);
        Ok(cov)
    }

    /// Co-moment matrix `M2 = Σ (x - μ)(x - μ)ᵀ` as a full symmetric
    /// `dim × dim` row-major matrix (all zeros while empty).
    pub fn comoment(&self) -> Vec<f64> {
        self.comoment_full()
    }

    /// Full symmetric copy of M2 (symmetric, so row- and column-major agree).
    pub(crate) fn comoment_full(&self) -> Vec<f64> {
        let d = self.dim;
        let mut full = vec![0.0; d * d];
        if self.count == 0 {
            return full;
        }
        for j in 0..d {
            for i in j..d {
                let v = self.m2[j * d + i];
                full[j * d + i] = v;
                full[i * d + j] = v;
            }
        }
        full
    }

    /// Accumulates a row-major batch of rows (`rows.len()` must be a multiple
    /// of `dim`; an empty batch is a no-op).
    ///
    /// The batch mean and batch co-moment are computed in `f64` (the
    /// co-moment as a symmetric rank-k product `XcᵀXc` of the centred batch
    /// with faer, lower triangle only, in blocks of at most 1024 rows), then
    /// merged into `self` with the Chan/Golub/LeVeque update. Runs on the
    /// calling thread (the caller is expected to parallelise over partitions).
    ///
    /// Errors, leaving `self` unchanged, on a ragged batch or a non-finite value.
    pub fn update(&mut self, rows: &[f32]) -> Result<(), PcaError> {
        let d = self.dim;
        if !rows.len().is_multiple_of(d) {
            return Err(PcaError::RaggedBatch {
                len: rows.len(),
                dim: d,
            });
        }
        let n = rows.len() / d;
        if n == 0 {
            return Ok(());
        }
        if let Some(pos) = rows.iter().position(|v| !v.is_finite()) {
            return Err(PcaError::NonFiniteInput {
                row: pos / d,
                col: pos % d,
            });
        }
        let new_count = self
            .count
            .checked_add(n as u64)
            .ok_or(PcaError::CountOverflow)?;

        // Batch mean. Summing then dividing keeps constant features exact
        // (the f64 sum of up to 2^29 equal f32 values is exact).
        let mut bmean = vec![0.0f64; d];
        for row in rows.chunks_exact(d) {
            for (m, &x) in bmean.iter_mut().zip(row) {
                *m += f64::from(x);
            }
        }
        let nf = n as f64;
        bmean.iter_mut().for_each(|m| *m /= nf);

        // The batch co-moment is added straight into self.m2 (lower triangle).
        let was_empty = self.count == 0;
        if was_empty {
            self.m2 = vec![0.0; d * d];
        }
        if n > 1 {
            let block_rows = n.min(UPDATE_BLOCK_ROWS);
            // Column-major d × block: column r is centred row r.
            let mut centred = vec![0.0f64; d * block_rows];
            for block in rows.chunks(block_rows * d) {
                let b = block.len() / d;
                let buf = &mut centred[..b * d];
                for (dst, src) in buf.chunks_exact_mut(d).zip(block.chunks_exact(d)) {
                    for ((o, &x), &m) in dst.iter_mut().zip(src).zip(&bmean) {
                        *o = f64::from(x) - m;
                    }
                }
                let a = MatRef::from_column_major_slice(buf, d, b);
                let dst = MatMut::from_column_major_slice_mut(&mut self.m2, d, d);
                tri_matmul(
                    dst,
                    BlockStructure::TriangularLower,
                    Accum::Add,
                    a,
                    BlockStructure::Rectangular,
                    a.transpose(),
                    BlockStructure::Rectangular,
                    1.0,
                    Par::Seq,
                );
            }
        }

        if was_empty {
            self.mean = bmean;
        } else {
            combine_means_and_cross(
                d,
                self.count,
                &mut self.mean,
                &mut self.m2,
                n as u64,
                &bmean,
            );
        }
        self.count = new_count;
        Ok(())
    }

    /// Merges the statistics of `other` (disjoint rows) into `self`.
    ///
    /// Errors with [`PcaError::DimensionMismatch`] if the dimensions differ
    /// (even when one side is empty), leaving `self` unchanged.
    pub fn merge(&mut self, other: &PcaStats) -> Result<(), PcaError> {
        if other.dim != self.dim {
            return Err(PcaError::DimensionMismatch {
                expected: self.dim,
                found: other.dim,
            });
        }
        if other.count == 0 {
            return Ok(());
        }
        if self.count == 0 {
            self.clone_from(other);
            return Ok(());
        }
        let new_count = self
            .count
            .checked_add(other.count)
            .ok_or(PcaError::CountOverflow)?;
        let d = self.dim;
        for j in 0..d {
            let range = j * d + j..(j + 1) * d;
            for (a, &b) in self.m2[range.clone()].iter_mut().zip(&other.m2[range]) {
                *a += b;
            }
        }
        combine_means_and_cross(
            d,
            self.count,
            &mut self.mean,
            &mut self.m2,
            other.count,
            &other.mean,
        );
        self.count = new_count;
        Ok(())
    }

    /// Consumes `other` and returns the merged state (see [`PcaStats::merge`]).
    pub fn merged(mut self, other: &PcaStats) -> Result<Self, PcaError> {
        self.merge(other)?;
        Ok(self)
    }
}

/// Chan et al. combination of the means and the cross term of two states
/// whose own co-moments have already been summed into `m2`:
/// `μ = μa + δ nb / n`, `M2 += δ δᵀ na nb / n` with `δ = μb - μa`.
fn combine_means_and_cross(
    d: usize,
    na: u64,
    mean_a: &mut [f64],
    m2: &mut [f64],
    nb: u64,
    mean_b: &[f64],
) {
    let (na, nb) = (na as f64, nb as f64);
    let n = na + nb;
    let delta: Vec<f64> = mean_b
        .iter()
        .zip(mean_a.iter())
        .map(|(b, a)| b - a)
        .collect();
    let w = na * nb / n;
    let fb = nb / n;
    for j in 0..d {
        let dj = w * delta[j];
        if dj != 0.0 {
            let col = &mut m2[j * d + j..(j + 1) * d];
            for (c, &di) in col.iter_mut().zip(&delta[j..]) {
                *c += dj * di;
            }
        }
    }
    for (m, &dl) in mean_a.iter_mut().zip(&delta) {
        *m += dl * fb;
    }
}

/// Validates a row dimension.
pub(crate) fn check_dim(dim: usize) -> Result<(), PcaError> {
    if dim == 0 {
        return Err(PcaError::ZeroDimension);
    }
    if dim > MAX_DIM {
        return Err(PcaError::DimensionTooLarge { dim, max: MAX_DIM });
    }
    Ok(())
}
