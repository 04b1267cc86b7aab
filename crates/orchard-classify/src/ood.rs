//! The "not sure" score: the Mahalanobis distance of a photo's (L2-normalised)
//! features to the nearest mode of a species under one shared covariance
//! (Lee et al., NeurIPS 2018, on frozen features). A species has a mode per
//! kind of photo (studio shots, real photos), since their features form two
//! clusters; nearest-mode distances separate unknown species better than
//! nearest-species ones (AUROC 0.916 vs 0.882, BENCHMARKS.md). Photos of
//! things the classifier was never taught lie far from every mode; the
//! threshold is a quantile of the distances of held-out photos of known
//! species.

use faer::linalg::matmul::matmul;
use faer::linalg::solvers::DenseSolveCore;
use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use serde::{Deserialize, Serialize};

use crate::error::ClassifyError;

/// Ridge added to the covariance's diagonal before inverting it. Features
/// are L2-normalised (each of 1,280 components has a variance near 1e-3),
/// so this shrinks the covariance about halfway towards a multiple of the
/// identity; measured AUROCs are flat between 1e-4 and 1e-2 (BENCHMARKS.md).
pub const DEFAULT_RIDGE: f64 = 1e-3;

/// Mode means and the shared precision matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mahalanobis {
    /// Feature width.
    pub dim: usize,
    /// Number of modes (groups of rows with a mean of their own).
    pub modes: usize,
    /// `modes × dim` row-major mode means.
    pub means: Vec<f32>,
    /// `dim × dim` precision matrix (inverse shared covariance), row-major.
    pub precision: Vec<f32>,
}

impl Mahalanobis {
    /// Estimates the mean of each group (`targets`: a group index per row,
    /// `< groups`) and the pooled within-group covariance of `rows`
    /// (`n × dim`), adds `ridge` to its diagonal and inverts it. Groups
    /// without rows are left out.
    pub fn fit(
        rows: &[f32],
        dim: usize,
        targets: &[u32],
        groups: usize,
        ridge: f64,
    ) -> Result<Self, ClassifyError> {
        let n = targets.len();
        if n == 0 || rows.len() != n * dim {
            return Err(ClassifyError::NoTrainingData);
        }
        let mut sums = vec![0f64; groups * dim];
        let mut counts = vec![0u64; groups];
        for (row, &t) in rows.chunks_exact(dim).zip(targets) {
            counts[t as usize] += 1;
            for (s, &v) in sums[t as usize * dim..][..dim].iter_mut().zip(row) {
                *s += v as f64;
            }
        }
        let means: Vec<f64> = sums
            .chunks_exact(dim)
            .zip(&counts)
            .flat_map(|(s, &c)| {
                s.iter()
                    .map(move |v| if c == 0 { 0.0 } else { v / c as f64 })
            })
            .collect();
        // Centred rows, in blocks, accumulated into the covariance.
        let mut cov = Mat::<f64>::zeros(dim, dim);
        let block = 1024;
        let mut centred = vec![0f64; block * dim];
        for (chunk, tchunk) in rows.chunks(block * dim).zip(targets.chunks(block)) {
            let b = tchunk.len();
            for ((dst, src), &t) in centred
                .chunks_exact_mut(dim)
                .zip(chunk.chunks_exact(dim))
                .zip(tchunk)
            {
                let mean = &means[t as usize * dim..][..dim];
                for ((o, &v), &m) in dst.iter_mut().zip(src).zip(mean) {
                    *o = v as f64 - m;
                }
            }
            let c = MatRef::from_row_major_slice(&centred[..b * dim], b, dim);
            matmul(
                cov.as_mut(),
                Accum::Add,
                c.transpose(),
                c,
                1.0,
                Par::rayon(0),
            );
        }
        for i in 0..dim {
            for j in 0..dim {
                cov[(i, j)] /= n as f64;
            }
            cov[(i, i)] += ridge;
        }
        let llt = cov.llt(Side::Lower).map_err(|e| {
            ClassifyError::internal(format!(
                "covariance is not positive definite ({e:?}); raise the ridge"
            ))
        })?;
        let inverse = llt.inverse();
        let mut precision = Vec::with_capacity(dim * dim);
        for i in 0..dim {
            for j in 0..dim {
                precision.push(inverse[(i, j)] as f32);
            }
        }
        let kept: Vec<f32> = means
            .chunks_exact(dim)
            .zip(&counts)
            .filter(|(_, &c)| c > 0)
            .flat_map(|(m, _)| m.iter().map(|&v| v as f32))
            .collect();
        Ok(Mahalanobis {
            dim,
            modes: kept.len() / dim,
            means: kept,
            precision,
        })
    }

    /// The squared distance of each row of `rows` to its nearest class mean.
    pub fn nearest_distances(&self, rows: &[f32]) -> Vec<f32> {
        let (d, k) = (self.dim, self.modes);
        let n = rows.len() / d;
        if n == 0 {
            return Vec::new();
        }
        let p = MatRef::from_row_major_slice(&self.precision, d, d);
        let mu = MatRef::from_row_major_slice(&self.means, k, d);
        // P·μ_c (k × d) and μ_cᵀ·P·μ_c.
        let mut pm = vec![0f32; k * d];
        matmul(
            MatMut::from_row_major_slice_mut(&mut pm, k, d),
            Accum::Replace,
            mu,
            p,
            1.0f32,
            Par::Seq,
        );
        let mean_terms: Vec<f32> = pm
            .chunks_exact(d)
            .zip(self.means.chunks_exact(d))
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum())
            .collect();
        let x = MatRef::from_row_major_slice(rows, n, d);
        let mut px = vec![0f32; n * d];
        matmul(
            MatMut::from_row_major_slice_mut(&mut px, n, d),
            Accum::Replace,
            x,
            p,
            1.0f32,
            Par::Seq,
        );
        let mut cross = vec![0f32; n * k];
        matmul(
            MatMut::from_row_major_slice_mut(&mut cross, n, k),
            Accum::Replace,
            x,
            MatRef::from_row_major_slice(&pm, k, d).transpose(),
            1.0f32,
            Par::Seq,
        );
        (0..n)
            .map(|i| {
                let xpx: f32 = px[i * d..][..d]
                    .iter()
                    .zip(&rows[i * d..][..d])
                    .map(|(a, b)| a * b)
                    .sum();
                let best = cross[i * k..][..k]
                    .iter()
                    .zip(&mean_terms)
                    .map(|(c, m)| xpx - 2.0 * c + m)
                    .fold(f32::INFINITY, f32::min);
                best.max(0.0)
            })
            .collect()
    }
}

/// The value below which a share `quantile` of `values` lies (linear
/// interpolation between order statistics, as numpy's default).
pub fn quantile(values: &[f32], quantile: f64) -> Option<f32> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    let pos = quantile.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = (pos - lo as f64) as f32;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_covariance_gives_euclidean_distance() {
        // Two classes at ±1 on the first axis, spread only along it.
        let rows = vec![0.9f32, 0.0, 1.1, 0.0, -0.9, 0.0, -1.1, 0.0];
        let targets = vec![0, 0, 1, 1];
        let m = Mahalanobis::fit(&rows, 2, &targets, 2, 0.0 + 1.0).unwrap();
        // Covariance 0.01 on axis 0 + ridge 1 → precision ≈ 1/1.01, 1.
        let d = m.nearest_distances(&[1.0, 2.0, -1.0, 0.0]);
        assert!((d[0] - 4.0).abs() < 1e-4, "{d:?}");
        assert!(d[1].abs() < 1e-4, "{d:?}");
    }

    #[test]
    fn far_points_score_higher_than_class_members() {
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for i in 0..200u32 {
            let c = i % 2;
            let jitter = ((i * 31 % 17) as f32 / 17.0 - 0.5) * 0.1;
            rows.extend([c as f32 + jitter, 1.0 - c as f32 - jitter, jitter * 0.5]);
            targets.push(c);
        }
        let m = Mahalanobis::fit(&rows, 3, &targets, 2, 1e-3).unwrap();
        let inside = m.nearest_distances(&rows[..3]);
        let outside = m.nearest_distances(&[0.5, 0.5, 1.0]);
        assert!(
            outside[0] > 100.0 * inside[0].max(1e-3),
            "{inside:?} {outside:?}"
        );
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(&[3.0, 1.0, 2.0, 4.0], 0.5), Some(2.5));
        assert_eq!(quantile(&[5.0], 0.95), Some(5.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[1.0, 2.0], 1.0), Some(2.0));
    }
}
