//! Fitting: eigen-decomposition of the (optionally standardised) covariance.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::{Mat, Par};

use crate::{Components, FitOptions, PcaError, PcaModel, PcaStats, Standardize};

/// Relative slack when comparing a cumulative explained-variance ratio with
/// the requested fraction.
const FRACTION_SLACK: f64 = 1e-12;

impl PcaModel {
    /// Fits a model from merged statistics with default [`FitOptions`].
    ///
    /// 1. `C = M2 / (n - 1)` (sample covariance). With
    ///    `standardize.with_std`, `C ← D C D` where `D = diag(scale)`,
    ///    `scale_j = 1 / sqrt(C_jj)` (`0.0` when `C_jj == 0`, as Spark).
    /// 2. Self-adjoint eigen-decomposition of `C` (faer, all rayon threads).
    ///    Eigenvalues are sorted in descending order; tiny negative ones
    ///    (rounding) are clamped to 0.
    /// 3. The numerical rank `r` counts eigenvalues above
    ///    `rank_tolerance · λ_max`; `k` is then taken from `components` and
    ///    capped by `r`, `n - 1` and `dim` (the cap is silent: check
    ///    [`PcaModel::k`]).
    /// 4. Each component is signed so its entry of largest absolute value is
    ///    positive, so fits of the same data partitioned differently agree.
    ///
    /// Errors: fewer than 2 rows, `Count(0)`, a fraction outside `(0, 1]`,
    /// non-finite statistics, zero total variance, or no convergence.
    pub fn fit(
        stats: &PcaStats,
        components: Components,
        standardize: Option<Standardize>,
    ) -> Result<PcaModel, PcaError> {
        Self::fit_with_options(stats, components, standardize, FitOptions::default())
    }

    /// [`PcaModel::fit`] with explicit [`FitOptions`].
    pub fn fit_with_options(
        stats: &PcaStats,
        components: Components,
        standardize: Option<Standardize>,
        options: FitOptions,
    ) -> Result<PcaModel, PcaError> {
        components.validate()?;
        let tol = options.rank_tolerance;
        if !(tol.is_finite() && tol >= 0.0) {
            return Err(PcaError::InvalidTolerance(tol));
        }
        let n = stats.count;
        if n < 2 {
            return Err(PcaError::NotEnoughRows { count: n });
        }
        let d = stats.dim;
        if stats.mean.iter().chain(&stats.m2).any(|v| !v.is_finite()) {
            return Err(PcaError::NonFiniteStatistics);
        }

        let inv = 1.0 / (n - 1) as f64;
        let variance = |j: usize| stats.m2[j * d + j] * inv;
        let scale: Option<Vec<f64>> = match standardize {
            Some(s) if s.with_std => Some(
                (0..d)
                    .map(|j| {
                        let std = variance(j).max(0.0).sqrt();
                        if std > 0.0 {
                            1.0 / std
                        } else {
                            0.0
                        }
                    })
                    .collect(),
            ),
            _ => None,
        };
        let s = |j: usize| scale.as_ref().map_or(1.0, |s| s[j]);

        // Lower triangle of the (scaled) covariance; the solver reads only it.
        let cov = Mat::<f64>::from_fn(d, d, |i, j| {
            if i >= j {
                stats.m2[j * d + i] * inv * s(i) * s(j)
            } else {
                0.0
            }
        });
        let trace: f64 = (0..d).map(|j| cov[(j, j)]).sum();
        if !trace.is_finite() {
            return Err(PcaError::NonFiniteStatistics);
        }
        if trace <= 0.0 {
            return Err(PcaError::ZeroVariance);
        }

        let (eigenvalues, eigenvectors) = self_adjoint_eigen(&cov)?;
        // faer returns ascending order; walk it backwards.
        let order: Vec<usize> = (0..d).rev().collect();
        let lambda: Vec<f64> = order.iter().map(|&i| eigenvalues[i].max(0.0)).collect();
        // The trace equals the eigenvalue sum up to rounding; clamping can
        // only raise the latter, so take the larger to keep ratios summing <= 1.
        let total_variance = trace.max(lambda.iter().sum());
        let lambda_max = lambda[0];
        if lambda_max <= 0.0 {
            return Err(PcaError::ZeroVariance);
        }
        let threshold = tol * lambda_max;
        let rank = lambda.iter().take_while(|&&l| l > threshold).count();
        let cap = rank
            .min(usize::try_from(n - 1).unwrap_or(usize::MAX))
            .min(d);
        let k = match components {
            Components::Count(k) => k.min(cap),
            Components::VarianceFraction(f) => {
                let target = f * total_variance * (1.0 - FRACTION_SLACK);
                let mut cum = 0.0;
                let mut chosen = cap;
                for (i, &l) in lambda.iter().take(cap).enumerate() {
                    cum += l;
                    if cum >= target {
                        chosen = i + 1;
                        break;
                    }
                }
                chosen
            }
        };
        if k == 0 {
            return Err(PcaError::ZeroVariance);
        }

        let mut comps = Vec::with_capacity(k * d);
        for &col in order.iter().take(k) {
            let v = eigenvectors.col(col);
            let mut pivot = 0;
            let mut best = -1.0f64;
            for i in 0..d {
                let a = v[i].abs();
                if a > best {
                    best = a;
                    pivot = i;
                }
            }
            let sign = if v[pivot] < 0.0 { -1.0 } else { 1.0 };
            comps.extend((0..d).map(|i| sign * v[i]));
        }
        let explained_variance: Vec<f64> = lambda[..k].to_vec();
        let explained_variance_ratio: Vec<f64> = explained_variance
            .iter()
            .map(|l| l / total_variance)
            .collect();
        let projection = PcaModel::build_projection(d, &comps, scale.as_deref());
        Ok(PcaModel {
            dim: d,
            n_samples: n,
            rank,
            requested: components,
            standardize,
            rank_tolerance: tol,
            total_variance,
            mean: stats.mean.clone(),
            scale,
            components: comps,
            explained_variance,
            explained_variance_ratio,
            projection,
        })
    }
}

/// Eigenvalues (ascending) and eigenvectors (columns) of the symmetric matrix
/// whose lower triangle is stored in `a`.
fn self_adjoint_eigen(a: &Mat<f64>) -> Result<(Vec<f64>, Mat<f64>), PcaError> {
    let d = a.nrows();
    let par = Par::rayon(0);
    let mut s = Diag::<f64>::zeros(d);
    let mut u = Mat::<f64>::zeros(d, d);
    let mut buf = MemBuffer::new(evd::self_adjoint_evd_scratch::<f64>(
        d,
        ComputeEigenvectors::Yes,
        par,
        Default::default(),
    ));
    evd::self_adjoint_evd(
        a.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|_| PcaError::EigenDecomposition)?;
    let values: Vec<f64> = s.column_vector().iter().copied().collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(PcaError::EigenDecomposition);
    }
    Ok((values, u))
}
