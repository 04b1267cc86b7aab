//! Class priors in the classifier: the weights of a species that the
//! backbone's own ImageNet classifier names (an apple, a banana, an orange,
//! …; [`orchard_model::ClassPriors`]) are pulled towards that class's row
//! instead of towards zero. Where the training photos say nothing (a lemon
//! shot on a wooden table, when every training lemon lay on white paper),
//! the classifier falls back on what ImageNet's 1.2 million photos taught
//! the backbone, rather than on nothing.
//!
//! The regression runs on L2-normalised features, and the ImageNet rows
//! apply to raw ones, so a row is scaled by the training features' mean norm:
//! with strength 1, a species' prior logit is ImageNet's logit for its class
//! relative to the average class.

use orchard_model::{ClassPrior, ClassPriors};
use serde::{Deserialize, Serialize};

use crate::error::ClassifyError;

/// Which species had a prior, and from where; saved in the training report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassPriorReport {
    /// The model whose ImageNet classifier gave the rows.
    pub from_model: String,
    /// The strength they were applied with.
    pub strength: f64,
    /// `label (ImageNet class name)` of each species that had one.
    pub species: Vec<String>,
}

/// The prior weights, `dim × labels.len()` row-major as the regression's
/// weights, for raw `features` (row-major, width `dim`; their mean norm
/// scales the rows), or `None` when `strength` is 0 or no label has a prior.
pub(crate) fn prior_weights(
    priors: &ClassPriors,
    labels: &[String],
    features: &[f32],
    dim: usize,
    strength: f64,
) -> Result<Option<(Vec<f64>, ClassPriorReport)>, ClassifyError> {
    if priors.feature_width != dim {
        return Err(ClassifyError::WidthMismatch {
            expected: dim,
            found: priors.feature_width,
            origin: format!("the class priors of model `{}`", priors.from_model),
        });
    }
    let named: Vec<(usize, &ClassPrior)> = labels
        .iter()
        .enumerate()
        .filter_map(|(j, label)| Some((j, priors.for_label(label)?)))
        .collect();
    if named.is_empty() || strength == 0.0 {
        return Ok(None);
    }
    let scale = strength * mean_norm(features, dim);
    let k = labels.len();
    let mut weights = vec![0f64; dim * k];
    for (j, prior) in &named {
        for (i, v) in prior.row.iter().enumerate() {
            weights[i * k + j] = scale * f64::from(*v);
        }
    }
    let species = named
        .iter()
        .map(|(j, prior)| format!("{} ({})", labels[*j], prior.imagenet_name))
        .collect();
    Ok(Some((
        weights,
        ClassPriorReport {
            from_model: priors.from_model.clone(),
            strength,
            species,
        },
    )))
}

/// The mean L2 norm of `rows` (row-major, width `dim`).
fn mean_norm(rows: &[f32], dim: usize) -> f64 {
    let n = rows.len() / dim.max(1);
    if n == 0 {
        return 0.0;
    }
    rows.chunks_exact(dim)
        .map(|r| r.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt())
        .sum::<f64>()
        / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn priors() -> ClassPriors {
        ClassPriors {
            source: "test".into(),
            feature_width: 2,
            priors: vec![ClassPrior {
                label: "banana".into(),
                imagenet_class: 954,
                imagenet_name: "banana".into(),
                row: vec![1.0, -2.0],
            }],
            from_model: "m".into(),
        }
    }

    #[test]
    fn a_named_species_gets_its_row_scaled_and_the_others_zero() {
        let labels = vec!["apple".to_string(), "Banana".to_string()];
        // One photo's features, of norm 3.
        let features = [3.0f32, 0.0];
        let (w, report) = prior_weights(&priors(), &labels, &features, 2, 0.5)
            .unwrap()
            .unwrap();
        // dim × k row-major: feature i, label j at i * 2 + j.
        assert_eq!(w, vec![0.0, 1.5, 0.0, -3.0]);
        assert_eq!(report.species, vec!["Banana (banana)"]);
        assert!(prior_weights(&priors(), &labels, &features, 2, 0.0)
            .unwrap()
            .is_none());
        let none = vec!["apple".to_string(), "lemon".to_string()];
        assert!(prior_weights(&priors(), &none, &features, 2, 1.0)
            .unwrap()
            .is_none());
        let err = prior_weights(&priors(), &labels, &[1.0, 0.0, 0.0], 3, 1.0).unwrap_err();
        assert!(
            err.to_string().contains("class priors of model `m`"),
            "{err}"
        );
    }

    #[test]
    fn the_mean_norm_is_of_rows() {
        assert!((mean_norm(&[3.0, 4.0, 0.0, 1.0], 2) - 3.0).abs() < 1e-12);
        assert_eq!(mean_norm(&[], 2), 0.0);
    }
}
