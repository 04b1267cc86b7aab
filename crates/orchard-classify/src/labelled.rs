//! Labelled feature rows and their evaluation by a classifier: what
//! training fits and what validation sets are measured on.

use crate::classifier::Classifier;
use crate::metrics::{evaluate, Evaluation, Outcome};

/// One labelled feature vector.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingRow {
    /// The photo it came from (augmented variants share their photo's path,
    /// so a photo and its variants fall on the same side of the split).
    pub path: String,
    /// Its label.
    pub label: String,
    /// Whether the photo is a studio shot (plain white background).
    pub studio: bool,
    /// 0 for the photo itself, 1.. for its augmented variants.
    pub variant: u32,
    /// Raw features (normalised by training).
    pub features: Vec<f32>,
}

/// Evaluates `classifier` on labelled rows (every label must be one it
/// knows); also returns each row's distance to the nearest mode.
pub fn evaluate_labelled(classifier: &Classifier, rows: &[&TrainingRow]) -> (Evaluation, Vec<f32>) {
    let dim = classifier.dim();
    let features: Vec<f32> = rows
        .iter()
        .flat_map(|r| r.features.iter().copied())
        .collect();
    let answers = classifier.answer_batch(&features, 3);
    let ranks = classifier.rank_indices(&answers);
    let outcomes: Vec<Outcome> = rows
        .iter()
        .zip(&answers)
        .zip(ranks)
        .map(|((r, a), ranked)| Outcome {
            truth: classifier
                .labels
                .iter()
                .position(|l| *l == r.label)
                .unwrap_or(0),
            ranked,
            sure: a.sure,
        })
        .collect();
    debug_assert_eq!(features.len(), rows.len() * dim);
    (
        evaluate(&classifier.labels, &outcomes),
        answers.iter().map(|a| a.distance).collect(),
    )
}
