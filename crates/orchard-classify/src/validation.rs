//! Evaluation on one named set of labelled photos (a `--validate` set of
//! `train`, an input of `evaluate`): the photos of species the classifier
//! knows are scored as usual; photos of species it was never taught are
//! counted apart, with how often they were answered as a sure (and so
//! wrong) fruit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classifier::Classifier;
use crate::labelled::{evaluate_labelled, TrainingRow};
use crate::metrics::Evaluation;

/// Photos whose label the classifier does not know.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnknownSpecies {
    /// How many.
    pub photos: u64,
    /// Photos per unknown label.
    pub labels: BTreeMap<String, u64>,
    /// How many were answered as a sure fruit (necessarily a wrong one).
    pub answered_sure: u64,
    /// The species those sure answers named, with their counts.
    pub answered_as: BTreeMap<String, u64>,
}

impl UnknownSpecies {
    /// Share of the unknown-species photos answered as a sure fruit
    /// (`None` when there were none).
    pub fn sure_rate(&self) -> Option<f64> {
        (self.photos > 0).then(|| self.answered_sure as f64 / self.photos as f64)
    }
}

/// How a classifier did on one set of labelled photos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetEvaluation {
    /// The set's name (its path as given).
    pub name: String,
    /// Labelled photos evaluated (known and unknown species).
    pub photos: u64,
    /// Metrics on the photos of species the classifier knows (`None` when
    /// there were none).
    pub known: Option<Evaluation>,
    /// Photos of species the classifier does not know.
    #[serde(default)]
    pub unknown: UnknownSpecies,
    /// Photos of the set that could not be read (not counted).
    #[serde(default)]
    pub unreadable: u64,
}

/// Evaluates `classifier` on the original photos among `rows` (augmented
/// variants are skipped), known and unknown species apart.
pub fn evaluate_set(classifier: &Classifier, name: &str, rows: &[&TrainingRow]) -> SetEvaluation {
    let originals = rows.iter().copied().filter(|r| r.variant == 0);
    let (known, unknown): (Vec<&TrainingRow>, Vec<&TrainingRow>) =
        originals.partition(|r| classifier.labels.contains(&r.label));
    let mut species = UnknownSpecies {
        photos: unknown.len() as u64,
        ..UnknownSpecies::default()
    };
    if !unknown.is_empty() {
        let features: Vec<f32> = unknown
            .iter()
            .flat_map(|r| r.features.iter().copied())
            .collect();
        for (row, answer) in unknown.iter().zip(classifier.answer_batch(&features, 1)) {
            *species.labels.entry(row.label.clone()).or_default() += 1;
            if answer.sure {
                species.answered_sure += 1;
                *species
                    .answered_as
                    .entry(answer.label().to_string())
                    .or_default() += 1;
            }
        }
    }
    SetEvaluation {
        name: name.to_string(),
        photos: (known.len() + unknown.len()) as u64,
        known: (!known.is_empty()).then(|| evaluate_labelled(classifier, &known).0),
        unknown: species,
        unreadable: 0,
    }
}

impl SetEvaluation {
    /// One line: accuracy, not-sure rate and accuracy when sure on the known
    /// species, then the unknown species and how often they were answered
    /// as a sure fruit.
    pub fn summary(&self) -> String {
        let mut s = format!("{}: ", self.name);
        match &self.known {
            Some(e) => s.push_str(&format!(
                "accuracy {:.4} on {} photos, not sure {:.4}, accuracy when sure {}",
                e.accuracy,
                e.rows,
                e.unsure_rate,
                e.answered_accuracy
                    .map_or("-".into(), |a| format!("{a:.4}"))
            )),
            None => s.push_str("no photo of a species the classifier knows"),
        }
        let u = &self.unknown;
        if u.photos > 0 {
            let labels: Vec<&str> = u.labels.keys().map(String::as_str).collect();
            s.push_str(&format!(
                "; unknown species: {} photos ({}), {} answered as a sure fruit ({:.4})",
                u.photos,
                labels.join(", "),
                u.answered_sure,
                u.sure_rate().unwrap_or(0.0)
            ));
        }
        if self.unreadable > 0 {
            s.push_str(&format!("; {} unreadable", self.unreadable));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{train, TrainOptions};

    fn row(path: &str, label: &str, features: Vec<f32>) -> TrainingRow {
        TrainingRow {
            path: path.into(),
            label: label.into(),
            studio: false,
            variant: 0,
            features,
        }
    }

    #[test]
    fn known_and_unknown_species_are_counted_apart() {
        let rows: Vec<TrainingRow> = (0..120)
            .map(|i| {
                let jitter = (i % 7) as f32 * 0.02;
                if i % 2 == 0 {
                    row(
                        &format!("a/apple/A_{i}.jpg"),
                        "apple",
                        vec![1.0, jitter, 0.05],
                    )
                } else {
                    row(
                        &format!("a/kiwi/K_{i}.jpg"),
                        "kiwi",
                        vec![jitter, 1.0, 0.05],
                    )
                }
            })
            .collect();
        let (classifier, _) = train(&rows, 3, &TrainOptions::default()).unwrap();
        let set = [
            row("v/apple/x_1.jpg", "apple", vec![1.0, 0.03, 0.05]),
            row("v/kiwi/x_2.jpg", "kiwi", vec![0.02, 1.0, 0.05]),
            row("v/kiwi/x_3.jpg", "kiwi", vec![1.0, 0.01, 0.05]),
            // Looks exactly like an apple: a sure, wrong answer.
            row("v/pear/x_4.jpg", "pear", vec![1.0, 0.02, 0.05]),
            // Far from everything: not sure.
            row("v/fig/x_5.jpg", "fig", vec![-1.0, -1.0, 9.0]),
        ];
        let refs: Vec<&TrainingRow> = set.iter().collect();
        let e = evaluate_set(&classifier, "v", &refs);
        assert_eq!(e.photos, 5);
        let known = e.known.as_ref().unwrap();
        assert_eq!(known.rows, 3);
        assert!((known.accuracy - 2.0 / 3.0).abs() < 1e-9, "{known:?}");
        assert_eq!(e.unknown.photos, 2);
        assert_eq!(e.unknown.labels.len(), 2);
        assert_eq!(e.unknown.answered_sure, 1);
        assert_eq!(e.unknown.answered_as.get("apple"), Some(&1));
        assert_eq!(e.unknown.sure_rate(), Some(0.5));
        let line = e.summary();
        assert!(line.starts_with("v: accuracy 0.6667 on 3 photos"), "{line}");
        assert!(
            line.contains("unknown species: 2 photos (fig, pear), 1 answered as a sure fruit"),
            "{line}"
        );
        // Old reports without the unknown block still load.
        let mut json = serde_json::to_value(&e).unwrap();
        json.as_object_mut().unwrap().remove("unknown");
        json.as_object_mut().unwrap().remove("unreadable");
        let back: SetEvaluation = serde_json::from_value(json).unwrap();
        assert_eq!(back.unknown, UnknownSpecies::default());
        // Only unknown species: no known metrics.
        let only = evaluate_set(&classifier, "u", &refs[3..]);
        assert!(only.known.is_none());
        assert!(only
            .summary()
            .contains("no photo of a species the classifier knows"));
    }
}
