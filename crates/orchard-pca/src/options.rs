//! Fit options: how many components to keep and how to standardise.

use serde::{Deserialize, Serialize};

use crate::PcaError;

/// How many principal components a fit keeps.
///
/// Whatever is asked for, the result is capped by the numerical rank of the
/// covariance, by `n_samples - 1` and by the dimension (see [`crate::PcaModel::fit`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Components {
    /// Keep the `k` leading components (`k >= 1`).
    Count(usize),
    /// Keep the smallest number of leading components whose cumulative
    /// explained-variance ratio is at least `F`, with `0 < F <= 1`.
    ///
    /// The comparison allows a relative slack of `1e-12` so that a fraction
    /// reached exactly in exact arithmetic is not missed because of rounding.
    VarianceFraction(f64),
}

impl Components {
    /// Checks the request is meaningful (`k >= 1`, `0 < F <= 1`).
    pub fn validate(&self) -> Result<(), PcaError> {
        match *self {
            Components::Count(0) => Err(PcaError::ZeroComponents),
            Components::Count(_) => Ok(()),
            Components::VarianceFraction(f) if f.is_finite() && f > 0.0 && f <= 1.0 => Ok(()),
            Components::VarianceFraction(f) => Err(PcaError::InvalidVarianceFraction(f)),
        }
    }
}

/// Per-feature standardisation applied before the eigen-decomposition,
/// mirroring Spark ML's `StandardScaler`.
///
/// The scaling is derived from the same [`crate::PcaStats`] as the covariance
/// (the covariance of the scaled data is `D C D` with `D = diag(scale)`), so no
/// second pass over the data is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Standardize {
    /// Scale every feature by `1 / std`, where `std` is the *sample* standard
    /// deviation (`n - 1` denominator, as Spark). Features whose standard
    /// deviation is exactly zero get a scale of `0.0` (as Spark), so they
    /// contribute nothing.
    pub with_std: bool,
    /// Centre features on their mean (Spark's `withMean`).
    ///
    /// Recorded for fidelity with Spark pipelines, but it changes nothing here:
    /// the covariance does not depend on a translation of the data, and
    /// [`crate::PcaModel`] always centres before projecting.
    pub with_mean: bool,
}

impl Default for Standardize {
    /// Spark's defaults: `with_std = true`, `with_mean = false`.
    fn default() -> Self {
        Standardize {
            with_std: true,
            with_mean: false,
        }
    }
}

/// Less common knobs of [`crate::PcaModel::fit_with_options`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct FitOptions {
    /// Relative rank tolerance: eigenvalues `<= rank_tolerance * max_eigenvalue`
    /// are treated as zero (rank-deficient directions) and never returned as
    /// components. Defaults to [`FitOptions::DEFAULT_RANK_TOLERANCE`].
    pub rank_tolerance: f64,
}

impl FitOptions {
    /// Default relative rank tolerance, `1e-10`.
    ///
    /// Input rows are `f32` (relative precision ~6e-8), so directions whose
    /// variance is below ~1e-14 of the leading one are indistinguishable from
    /// rounding noise; `1e-10` leaves a comfortable margin above that and above
    /// the eigen solver's own error (~`dim * f64::EPSILON`).
    pub const DEFAULT_RANK_TOLERANCE: f64 = 1e-10;

    /// Returns the options with a different relative rank tolerance.
    pub fn with_rank_tolerance(mut self, rank_tolerance: f64) -> Self {
        self.rank_tolerance = rank_tolerance;
        self
    }
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            rank_tolerance: Self::DEFAULT_RANK_TOLERANCE,
        }
    }
}
