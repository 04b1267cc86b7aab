//! Evaluation like Spark's `MulticlassMetrics`: accuracy, per-class
//! precision, recall and F1, the confusion matrix and macro-F1, plus how
//! often the classifier said "not sure" and how accurate the answers it did
//! give were.

use serde::{Deserialize, Serialize};

/// Metrics of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The label.
    pub label: String,
    /// Rows whose true label is this one.
    pub support: u64,
    /// Of the rows predicted as this label, the share that were.
    pub precision: f64,
    /// Of the rows of this label, the share predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
}

/// Evaluation of a classifier on labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Rows evaluated.
    pub rows: u64,
    /// Share of rows whose top label is right (every row, sure or not).
    pub accuracy: f64,
    /// Mean F1 over the classes present in the true labels.
    pub macro_f1: f64,
    /// Support-weighted mean of precision over the classes present.
    pub weighted_precision: f64,
    /// Support-weighted mean of recall (equals accuracy).
    pub weighted_recall: f64,
    /// Share of rows answered "not sure".
    pub unsure_rate: f64,
    /// Accuracy on the rows answered "sure" (`None` when none was).
    pub answered_accuracy: Option<f64>,
    /// Share of rows whose true label is among the top 3.
    pub top3_accuracy: f64,
    /// Per class, in label order; classes never seen nor predicted are left out.
    pub classes: Vec<ClassMetrics>,
    /// The labels indexing the confusion matrix.
    pub confusion_labels: Vec<String>,
    /// `confusion[true][predicted]` counts, over `confusion_labels`.
    pub confusion: Vec<Vec<u64>>,
}

/// One evaluated row: true class, predicted classes best first, and whether
/// the answer was sure.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The true class index.
    pub truth: usize,
    /// Predicted class indices, best first (at least one).
    pub ranked: Vec<usize>,
    /// Whether the classifier was sure.
    pub sure: bool,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Computes the metrics of `outcomes` over the classes named by `labels`.
pub fn evaluate(labels: &[String], outcomes: &[Outcome]) -> Evaluation {
    let k = labels.len();
    let mut confusion = vec![vec![0u64; k]; k];
    let (mut correct, mut sure, mut sure_correct, mut top3) = (0u64, 0u64, 0u64, 0u64);
    for o in outcomes {
        let predicted = o.ranked[0];
        confusion[o.truth][predicted] += 1;
        let hit = predicted == o.truth;
        correct += hit as u64;
        top3 += o.ranked.iter().take(3).any(|&c| c == o.truth) as u64;
        if o.sure {
            sure += 1;
            sure_correct += hit as u64;
        }
    }
    let n = outcomes.len() as u64;
    // Classes that occur as a truth or a prediction.
    let used: Vec<usize> = (0..k)
        .filter(|&c| (0..k).any(|j| confusion[c][j] > 0 || confusion[j][c] > 0))
        .collect();
    let mut classes = Vec::new();
    let (mut f1_sum, mut f1_count, mut wp) = (0.0, 0u64, 0.0);
    for &c in &used {
        let tp = confusion[c][c];
        let support: u64 = confusion[c].iter().sum();
        let predicted: u64 = (0..k).map(|j| confusion[j][c]).sum();
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        if support > 0 {
            f1_sum += f1;
            f1_count += 1;
            wp += precision * support as f64;
        }
        classes.push(ClassMetrics {
            label: labels[c].clone(),
            support,
            precision,
            recall,
            f1,
        });
    }
    Evaluation {
        rows: n,
        accuracy: ratio(correct, n),
        macro_f1: if f1_count == 0 {
            0.0
        } else {
            f1_sum / f1_count as f64
        },
        weighted_precision: if n == 0 { 0.0 } else { wp / n as f64 },
        weighted_recall: ratio(correct, n),
        unsure_rate: ratio(n - sure, n),
        answered_accuracy: (sure > 0).then(|| ratio(sure_correct, sure)),
        top3_accuracy: ratio(top3, n),
        confusion_labels: used.iter().map(|&c| labels[c].clone()).collect(),
        confusion: used
            .iter()
            .map(|&t| used.iter().map(|&p| confusion[t][p]).collect())
            .collect(),
        classes,
    }
}

impl Evaluation {
    /// A plain-text report: the summary, the per-class table and the
    /// confusion matrix.
    pub fn to_table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "rows               {}", self.rows);
        let _ = writeln!(s, "accuracy           {:.4}", self.accuracy);
        let _ = writeln!(s, "top-3 accuracy     {:.4}", self.top3_accuracy);
        let _ = writeln!(s, "macro F1           {:.4}", self.macro_f1);
        let _ = writeln!(s, "weighted precision {:.4}", self.weighted_precision);
        let _ = writeln!(s, "not sure           {:.4}", self.unsure_rate);
        match self.answered_accuracy {
            Some(a) => {
                let _ = writeln!(s, "accuracy when sure {a:.4}");
            }
            None => {
                let _ = writeln!(s, "accuracy when sure -");
            }
        }
        let width = self
            .classes
            .iter()
            .map(|c| c.label.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            s,
            "\n{:<width$}  precision  recall     F1  support",
            "label"
        );
        for c in &self.classes {
            let _ = writeln!(
                s,
                "{:<width$}  {:>9.4}  {:>6.4}  {:>5.3}  {:>7}",
                c.label, c.precision, c.recall, c.f1, c.support
            );
        }
        let _ = writeln!(
            s,
            "\nconfusion (rows: true label, columns: predicted, in this order):"
        );
        for (label, row) in self.confusion_labels.iter().zip(&self.confusion) {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:>4}")).collect();
            let _ = writeln!(s, "{label:<width$} {}", cells.join(""));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(truth: usize, first: usize, sure: bool) -> Outcome {
        Outcome {
            truth,
            ranked: vec![first, (first + 1) % 3, (first + 2) % 3],
            sure,
        }
    }

    #[test]
    fn matches_hand_computed_metrics() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        // a: 3 rows, 2 right, 1 predicted b; b: 2 rows, both right; c: none.
        let outcomes = vec![
            o(0, 0, true),
            o(0, 0, false),
            o(0, 1, true),
            o(1, 1, true),
            o(1, 1, true),
        ];
        let e = evaluate(&labels, &outcomes);
        assert_eq!(e.rows, 5);
        assert!((e.accuracy - 0.8).abs() < 1e-12);
        assert_eq!(e.confusion_labels, vec!["a", "b"]);
        assert_eq!(e.confusion, vec![vec![2, 1], vec![0, 2]]);
        let a = &e.classes[0];
        assert!((a.precision - 1.0).abs() < 1e-12 && (a.recall - 2.0 / 3.0).abs() < 1e-12);
        let b = &e.classes[1];
        assert!((b.precision - 2.0 / 3.0).abs() < 1e-12 && (b.recall - 1.0).abs() < 1e-12);
        assert!((e.macro_f1 - 0.8).abs() < 1e-12, "{}", e.macro_f1);
        assert!((e.unsure_rate - 0.2).abs() < 1e-12);
        assert!((e.answered_accuracy.unwrap() - 0.75).abs() < 1e-12);
        assert!((e.weighted_recall - e.accuracy).abs() < 1e-12);
        let table = e.to_table();
        assert!(table.contains("accuracy           0.8000"), "{table}");
    }

    #[test]
    fn empty_input_gives_zeroes() {
        let e = evaluate(&["a".to_string()], &[]);
        assert_eq!(e.rows, 0);
        assert_eq!(e.accuracy, 0.0);
        assert_eq!(e.answered_accuracy, None);
    }
}
