//! The fit stage: PCA statistics over the featurized rows (partial states
//! merged across partitions, wherever they run), fitted here; or the saved
//! model of an incremental run.

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use orchard_pca::{Components, PcaModel};

use crate::job::options::FitOptions;
use crate::job::queries;
use crate::pca_udf::PcaStatsUdaf;
use crate::{EngineError, Result};

/// Where the model comes from.
pub(crate) enum FitSource<'a> {
    /// The saved model of the output being added to.
    Saved(&'a PcaModel),
    /// Fitted on this run's features, and with `with_old` the earlier rows'
    /// (the `old` table) too.
    Fit {
        /// Include the earlier rows.
        with_old: bool,
    },
}

/// The PCA model of the run. `describe` names what was listed and failed,
/// for the error when there are fewer than 2 featurized photos.
pub(crate) async fn fit(
    ctx: &SessionContext,
    source: FitSource<'_>,
    options: &FitOptions,
    width: usize,
    describe: impl FnOnce() -> String,
) -> Result<Arc<PcaModel>> {
    let with_old = match source {
        FitSource::Saved(model) => return Ok(Arc::new(model.clone())),
        FitSource::Fit { with_old } => with_old,
    };
    ctx.register_udaf(PcaStatsUdaf::new(width).into_udaf());
    let stats = queries::pca_stats(ctx, &queries::fit_features(with_old)).await?;
    let fitted_on = stats.count();
    if fitted_on < 2 {
        return Err(EngineError::TooFewPhotos {
            fitted: fitted_on,
            inputs: describe(),
        });
    }
    let pca = PcaModel::fit(&stats, options.components, options.standardize)?;
    if let Components::Count(k) = options.components {
        if pca.k() < k {
            tracing::warn!(
                requested = k,
                kept = pca.k(),
                "PCA k capped by the rank of the data"
            );
        }
    }
    Ok(Arc::new(pca))
}
