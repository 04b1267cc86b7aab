//! Principal component analysis over `f32` feature vectors, split into three
//! stages that may run in different places:
//!
//! 1. **Statistics** — [`PcaStats`] accumulates count, mean and the co-moment
//!    matrix of row batches ([`PcaStats::update`]) in `f64`. Partial states
//!    from partitions or machines are combined with [`PcaStats::merge`]
//!    (Chan/Golub/LeVeque pairwise formula) and shipped as bytes with
//!    [`PcaStats::to_bytes`] / [`PcaStats::from_bytes`].
//! 2. **Fit** — [`PcaModel::fit`] eigen-decomposes the sample covariance,
//!    optionally standardised ([`Standardize`], like Spark ML's
//!    `StandardScaler`, derived from the same statistics: no second pass),
//!    keeping a number of components given by [`Components`].
//! 3. **Projection** — [`PcaModel::project`] / [`PcaModel::project_batch`]
//!    map rows to `out = ((x - mean) ∘ scale) · componentsᵀ`. The model is
//!    saved and loaded as JSON ([`PcaModel::to_json`], [`PcaModel::from_json`]).
//!
//! # Differences from Spark ML
//!
//! * The projection **always centres** the rows on the training mean.
//!   Spark's `PCAModel.transform` does not centre (it multiplies raw vectors
//!   by the principal axes), so its outputs differ from ours by the constant
//!   vector `mean · componentsᵀ`. Consequently [`Standardize::with_mean`] only
//!   records the option; it cannot change components or projections.
//! * Explained-variance ratios are relative to the total variance (trace of
//!   the covariance), as Spark.
//! * Components carry a deterministic sign (largest-magnitude entry positive)
//!   and `k` is capped by the numerical rank.
//!
//! # Caveats
//!
//! * When eigenvalues are (nearly) repeated, the individual axes within
//!   their eigenspace are not unique; fits on differently partitioned data
//!   then agree on the subspace but not necessarily on each axis.
//! * All accumulation is in `f64`; inputs and projected outputs are `f32`.
//!
//! # Example
//!
//! ```
//! use orchard_pca::{Components, PcaModel, PcaStats};
//!
//! let dim = 3;
//! let part1 = [1.0f32, 2.0, 0.5, 2.0, 4.1, 0.4, 3.0, 6.0, 0.7];
//! let part2 = [4.0f32, 7.9, 0.5, 5.0, 10.2, 0.6];
//! let mut a = PcaStats::from_rows(dim, &part1)?;
//! let b = PcaStats::from_rows(dim, &part2)?;
//! // Ship `b` across processes as bytes, then merge.
//! a.merge(&PcaStats::from_bytes(&b.to_bytes())?)?;
//! let model = PcaModel::fit(&a, Components::Count(2), None)?;
//! let mut out = [0.0f32; 2];
//! model.project(&[2.5, 5.0, 0.5], &mut out)?;
//! let again = PcaModel::from_json(&model.to_json()?)?;
//! assert_eq!(again.k(), model.k());
//! assert!((again.components()[0] - model.components()[0]).abs() < 1e-15);
//! # Ok::<(), orchard_pca::PcaError>(())
//! ```

pub mod encoding;
mod error;
mod fit;
mod model;
mod options;
pub mod persist;
mod stats;

pub use encoding::STATS_FORMAT_VERSION;
pub use error::PcaError;
pub use model::PcaModel;
pub use options::{Components, FitOptions, Standardize};
pub use persist::MODEL_FORMAT_VERSION;
pub use stats::{PcaStats, MAX_DIM};
