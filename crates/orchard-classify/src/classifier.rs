//! A trained classifier: feature rows in, ranked species with probabilities
//! and a sure / not-sure verdict out.

use serde::{Deserialize, Serialize};

use crate::ood::Mahalanobis;
use crate::softmax::{softmax_in_place, SoftmaxModel};

/// When an answer is sure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Largest squared Mahalanobis distance to the nearest species that is
    /// still "a species it knows" (calibrated on held-out photos).
    pub max_distance: f32,
    /// The quantile of held-out known photos' distances that `max_distance`
    /// is (e.g. 0.95: 95 % of them are within it).
    pub distance_quantile: f64,
    /// Smallest top probability that is not "too ambiguous".
    pub min_probability: f32,
}

/// Why an answer is not sure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unsure {
    /// The photo is far from every species taught (not a fruit it knows).
    Unfamiliar,
    /// The best species' probability is below the threshold.
    Ambiguous,
}

/// One label with its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// The species, as its training folder names it.
    pub label: String,
    /// Softmax probability.
    pub probability: f32,
}

/// The answer for one photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The best species, best first (at most the `top` asked for).
    pub top: Vec<Ranked>,
    /// Whether the classifier is sure of `top[0]`.
    pub sure: bool,
    /// Why not, when it is not.
    pub unsure: Option<Unsure>,
    /// Squared Mahalanobis distance to the nearest species.
    pub distance: f32,
}

impl Answer {
    /// The best label.
    pub fn label(&self) -> &str {
        &self.top[0].label
    }

    /// The best label's probability.
    pub fn probability(&self) -> f32 {
        self.top[0].probability
    }

    /// The JSON object `identify --format jsonl` prints for the photo at
    /// `path` (and the Python package returns): label, probability, sure,
    /// why not sure, the top labels and the label's facts.
    pub fn to_json(&self, path: &str) -> serde_json::Value {
        serde_json::json!({
            "path": path,
            "label": self.label(),
            "probability": self.probability(),
            "sure": self.sure,
            "unsure_reason": self.unsure,
            "top": self.top,
            "facts": crate::facts::facts_for(self.label()),
        })
    }
}

/// L2-normalises each row of `rows` (width `dim`) in place; an all-zero row
/// stays zero.
pub fn l2_normalize(rows: &mut [f32], dim: usize) {
    for row in rows.chunks_exact_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
}

/// The label set, the softmax model, the distance model and the thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    /// Species names, indexed by class.
    pub labels: Vec<String>,
    /// The softmax regression on L2-normalised features.
    pub softmax: SoftmaxModel,
    /// The "not sure" distance model.
    pub distance: Mahalanobis,
    /// When answers are sure.
    pub thresholds: Thresholds,
}

impl Classifier {
    /// Feature width the classifier expects (before normalisation).
    pub fn dim(&self) -> usize {
        self.softmax.dim
    }

    /// Answers for a row-major batch of raw features (normalised here),
    /// each with its `top` best labels.
    pub fn answer_batch(&self, features: &[f32], top: usize) -> Vec<Answer> {
        let d = self.dim();
        let mut rows = features.to_vec();
        l2_normalize(&mut rows, d);
        let mut logits = self.softmax.logits(&rows);
        let distances = self.distance.nearest_distances(&rows);
        let k = self.labels.len();
        logits
            .chunks_exact_mut(k)
            .zip(distances)
            .map(|(p, distance)| {
                softmax_in_place(p);
                let mut order: Vec<usize> = (0..k).collect();
                order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
                let ranked: Vec<Ranked> = order
                    .iter()
                    .take(top.max(1))
                    .map(|&c| Ranked {
                        label: self.labels[c].clone(),
                        probability: p[c],
                    })
                    .collect();
                // NaN distances (non-finite features) are unfamiliar too.
                let within = distance <= self.thresholds.max_distance;
                let unsure = if !within {
                    Some(Unsure::Unfamiliar)
                } else if ranked[0].probability < self.thresholds.min_probability {
                    Some(Unsure::Ambiguous)
                } else {
                    None
                };
                Answer {
                    top: ranked,
                    sure: unsure.is_none(),
                    unsure,
                    distance,
                }
            })
            .collect()
    }

    /// Class indices of `top` best labels of each row (for evaluation).
    pub fn rank_indices(&self, answers: &[Answer]) -> Vec<Vec<usize>> {
        answers
            .iter()
            .map(|a| {
                a.top
                    .iter()
                    .filter_map(|r| self.labels.iter().position(|l| *l == r.label))
                    .collect()
            })
            .collect()
    }
}
