//! Training: labelled feature rows → a [`Classifier`] with calibrated
//! thresholds and a report of how it did on held-out photos.

use std::collections::BTreeMap;

use orchard_model::ClassPriors;
use serde::{Deserialize, Serialize};

use crate::classifier::{l2_normalize, Classifier, Thresholds};
use crate::error::ClassifyError;
use crate::labelled::evaluate_labelled;
use crate::labelled::TrainingRow;
use crate::lbfgs::{LbfgsOptions, LbfgsReport};
use crate::metrics::Evaluation;
use crate::ood::{quantile, Mahalanobis, DEFAULT_RIDGE};
use crate::prior::{prior_weights, ClassPriorReport};
use crate::softmax::{fit_softmax, TrainingSet};
use crate::split::{group_key, HoldOut, DEFAULT_GROUP_BLOCK};
use crate::validation::SetEvaluation;

/// How to train. The defaults are the best configuration measured on
/// held-out real grocery photos (BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Inverse L2 strength, as scikit-learn's `C` (larger: weaker penalty).
    pub c: f64,
    /// Weight of a studio shot relative to a real photo.
    pub studio_weight: f64,
    /// Weight classes inversely to their frequency ("balanced").
    pub balance_classes: bool,
    /// Share of photos held out to calibrate and evaluate (0 = none).
    pub holdout: f64,
    /// Seed of the held-out split.
    pub seed: u64,
    /// Block of consecutive shot numbers held out together: photos are
    /// held out by group (label, series, number ÷ block; see
    /// [`group_key`](crate::group_key)). 0 splits by file (as bundles made
    /// before groups did, hence the serde default).
    #[serde(default)]
    pub group_block: u32,
    /// Share of held-out known photos the distance threshold lets through.
    pub distance_quantile: f64,
    /// Answers whose top probability is below this are "not sure".
    pub min_probability: f32,
    /// Ridge of the shared covariance.
    pub ridge: f64,
    /// After calibrating, refit on every row (held-out ones included).
    pub refit_all: bool,
    /// Most optimiser iterations.
    pub max_iterations: usize,
    /// Strength of the backbone's class priors ([`crate::prior`]; 0: none,
    /// as bundles made before them were trained, hence the serde default).
    #[serde(default)]
    pub class_prior_strength: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            c: 100.0,
            studio_weight: 0.3,
            balance_classes: true,
            holdout: 0.2,
            seed: 42,
            group_block: DEFAULT_GROUP_BLOCK,
            distance_quantile: 0.95,
            min_probability: 0.5,
            ridge: DEFAULT_RIDGE,
            refit_all: true,
            max_iterations: 500,
            class_prior_strength: 2.0,
        }
    }
}

/// What training saw and measured; saved in the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The options used.
    pub options: TrainOptions,
    /// Photos (originals) per label.
    pub photos_per_label: BTreeMap<String, u64>,
    /// Studio shots among the photos.
    pub studio_photos: u64,
    /// Rows fitted (photos and augmented variants) in the final fit.
    pub rows: u64,
    /// Held-out photos (0 when `holdout` is 0).
    pub holdout_photos: u64,
    /// Groups of photos the split drew from ([`group_key`](crate::group_key);
    /// one per photo when splitting by file).
    #[serde(default)]
    pub groups: u64,
    /// Of those, the groups held out.
    #[serde(default)]
    pub holdout_groups: u64,
    /// Evaluation on the held-out photos that are not studio shots, with
    /// the model fitted without them.
    pub holdout_real: Option<Evaluation>,
    /// Evaluation on the held-out studio shots.
    pub holdout_studio: Option<Evaluation>,
    /// Where the distance threshold came from.
    pub calibrated_on: String,
    /// Optimiser iterations and final loss of the final fit.
    pub iterations: usize,
    /// Final objective value.
    pub loss: f64,
    /// Whether the optimiser converged.
    pub converged: bool,
    /// The final classifier evaluated on each validation set (photos never
    /// trained on; filled by the caller, e.g. `orchard train --validate`).
    #[serde(default)]
    pub validation: Vec<SetEvaluation>,
    /// The species whose weights were pulled towards the backbone's class
    /// priors (none when the model has none or the strength is 0).
    #[serde(default)]
    pub class_priors: Option<ClassPriorReport>,
}

struct Fitted {
    classifier: Classifier,
    report: LbfgsReport,
    priors: Option<ClassPriorReport>,
}

fn fit(
    rows: &[&TrainingRow],
    labels: &[String],
    dim: usize,
    (opts, priors): (&TrainOptions, Option<&ClassPriors>),
    thresholds: Thresholds,
) -> Result<Fitted, ClassifyError> {
    let index: BTreeMap<&str, u32> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect();
    let mut features = Vec::with_capacity(rows.len() * dim);
    let mut targets = Vec::with_capacity(rows.len());
    for r in rows {
        if r.features.len() != dim {
            return Err(ClassifyError::WidthMismatch {
                expected: dim,
                found: r.features.len(),
                origin: r.path.clone(),
            });
        }
        features.extend_from_slice(&r.features);
        targets.push(index[r.label.as_str()]);
    }
    let prior = match priors {
        Some(p) => prior_weights(p, labels, &features, dim, opts.class_prior_strength)?,
        None => None,
    };
    l2_normalize(&mut features, dim);
    let k = labels.len();
    let mut counts = vec![0u64; k];
    targets.iter().for_each(|&t| counts[t as usize] += 1);
    let present = counts.iter().filter(|&&c| c > 0).count() as f64;
    let weights: Vec<f64> = rows
        .iter()
        .zip(&targets)
        .map(|(r, &t)| {
            let class = if opts.balance_classes {
                rows.len() as f64 / (present * counts[t as usize] as f64)
            } else {
                1.0
            };
            class * if r.studio { opts.studio_weight } else { 1.0 }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let data = TrainingSet {
        features: &features,
        dim,
        targets: &targets,
        weights: &weights,
        classes: k,
    };
    let lbfgs = LbfgsOptions {
        max_iterations: opts.max_iterations,
        ..LbfgsOptions::default()
    };
    let (softmax, report) = fit_softmax(
        &data,
        1.0 / (opts.c * total),
        prior.as_ref().map(|(w, _)| w.as_slice()),
        &lbfgs,
    )?;
    // One mode per species and kind of photo (studio shot or real).
    let modes: Vec<u32> = rows
        .iter()
        .zip(&targets)
        .map(|(r, &t)| t * 2 + r.studio as u32)
        .collect();
    let distance = Mahalanobis::fit(&features, dim, &modes, 2 * k, opts.ridge)?;
    Ok(Fitted {
        classifier: Classifier {
            labels: labels.to_vec(),
            softmax,
            distance,
            thresholds,
        },
        report,
        priors: prior.map(|(_, r)| r),
    })
}

/// How many groups ([`group_key`]) the photos of `rows` fall in.
fn count_groups<'a>(rows: impl Iterator<Item = &'a TrainingRow>, block: u32) -> u64 {
    rows.map(|r| group_key(&r.path, block))
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64
}

/// Trains a classifier on `rows` (all of width `dim`).
///
/// 1. Photos are split by group of near-identical shots into training and
///    held-out parts, stratified by label ([`HoldOut`]); augmented variants follow
///    their photo, and only original photos are evaluated.
/// 2. The model fitted on the training part is evaluated on the held-out
///    real photos and studio shots separately, and the distance threshold
///    is the `distance_quantile` of the held-out real photos' distances
///    (of all held-out photos when fewer than 20 are real; of the training
///    photos when nothing is held out).
/// 3. With `refit_all`, the final model is fitted again on every row, with
///    the calibrated thresholds.
pub fn train(
    rows: &[TrainingRow],
    dim: usize,
    opts: &TrainOptions,
) -> Result<(Classifier, TrainReport), ClassifyError> {
    train_with_priors(rows, dim, opts, None)
}

/// [`train`], the weights of the species `priors` name pulled towards
/// their rows ([`crate::prior`]) with `opts.class_prior_strength`.
pub fn train_with_priors(
    rows: &[TrainingRow],
    dim: usize,
    opts: &TrainOptions,
    priors: Option<&ClassPriors>,
) -> Result<(Classifier, TrainReport), ClassifyError> {
    if rows.is_empty() {
        return Err(ClassifyError::NoTrainingData);
    }
    if let Some(r) = rows.iter().find(|r| r.features.len() != dim) {
        return Err(ClassifyError::WidthMismatch {
            expected: dim,
            found: r.features.len(),
            origin: r.path.clone(),
        });
    }
    let labels: Vec<String> = rows
        .iter()
        .map(|r| r.label.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if labels.len() < 2 {
        return Err(ClassifyError::TooFewClasses {
            found: labels.len(),
            labels: labels.join(", "),
        });
    }
    let mut photos_per_label = BTreeMap::new();
    let mut studio_photos = 0;
    for r in rows.iter().filter(|r| r.variant == 0) {
        *photos_per_label.entry(r.label.clone()).or_insert(0u64) += 1;
        studio_photos += r.studio as u64;
    }
    let hold_out = HoldOut::new(
        rows.iter()
            .filter(|r| r.variant == 0)
            .map(|r| (r.path.as_str(), r.label.as_str())),
        opts.holdout,
        opts.seed,
        opts.group_block,
    );
    let (held, kept): (Vec<&TrainingRow>, Vec<&TrainingRow>) =
        rows.iter().partition(|r| hold_out.holds_out(&r.path));
    let mut thresholds = Thresholds {
        max_distance: f32::INFINITY,
        distance_quantile: opts.distance_quantile,
        min_probability: opts.min_probability,
    };
    let held_originals: Vec<&TrainingRow> = held.into_iter().filter(|r| r.variant == 0).collect();
    let groups = count_groups(rows.iter().filter(|r| r.variant == 0), opts.group_block);
    let holdout_groups = count_groups(held_originals.iter().copied(), opts.group_block);
    let all: Vec<&TrainingRow> = rows.iter().collect();
    let split = !held_originals.is_empty() && !kept.is_empty();
    // Fit without the held-out photos (or on everything when nothing is
    // held out), and calibrate the distance threshold.
    let first = fit(
        if split { &kept } else { &all },
        &labels,
        dim,
        (opts, priors),
        thresholds,
    )?;
    let (real, studio): (Vec<&TrainingRow>, Vec<&TrainingRow>) =
        held_originals.iter().copied().partition(|r| !r.studio);
    let originals: Vec<&TrainingRow> = rows.iter().filter(|r| r.variant == 0).collect();
    let (calibration, calibrated_on): (&[&TrainingRow], String) = if !split {
        (
            &originals,
            format!(
                "{} training photos (nothing held out: optimistic)",
                originals.len()
            ),
        )
    } else if real.len() >= 20 {
        (&real, format!("{} held-out real photos", real.len()))
    } else {
        (
            &held_originals,
            format!("{} held-out photos", held_originals.len()),
        )
    };
    let (_, distances) = evaluate_labelled(&first.classifier, calibration);
    thresholds.max_distance = quantile(&distances, opts.distance_quantile).unwrap_or(f32::INFINITY);
    let mut calibrated = first.classifier;
    calibrated.thresholds = thresholds;
    let holdout_real = (split && !real.is_empty()).then(|| evaluate_labelled(&calibrated, &real).0);
    let holdout_studio =
        (split && !studio.is_empty()).then(|| evaluate_labelled(&calibrated, &studio).0);
    // The final model: refitted on every row, or the first fit as it is.
    let (classifier, fit_report, fitted_rows, class_priors) = if split && opts.refit_all {
        let refit = fit(&all, &labels, dim, (opts, priors), thresholds)?;
        (refit.classifier, refit.report, all.len(), refit.priors)
    } else {
        (
            calibrated,
            first.report,
            if split { kept.len() } else { all.len() },
            first.priors,
        )
    };
    Ok((
        classifier,
        TrainReport {
            options: *opts,
            photos_per_label,
            studio_photos,
            rows: fitted_rows as u64,
            holdout_photos: held_originals.len() as u64,
            groups,
            holdout_groups,
            holdout_real,
            holdout_studio,
            calibrated_on,
            iterations: fit_report.iterations,
            loss: fit_report.value,
            converged: fit_report.converged,
            validation: Vec::new(),
            class_priors,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<TrainingRow> {
        // Three labels, clusters along three axes, with deterministic noise.
        (0..300u32)
            .map(|i| {
                let c = (i % 3) as usize;
                let mut f = vec![0.05f32; 4];
                f[c] = 1.0;
                f[3] = ((i * 7919 % 101) as f32 / 101.0) * 0.3;
                TrainingRow {
                    path: format!("photos/{c}/{i}.jpg"),
                    label: ["apple", "kiwi", "lemon"][c].to_string(),
                    studio: i % 2 == 0,
                    variant: 0,
                    features: f,
                }
            })
            .collect()
    }

    #[test]
    fn learns_separable_labels_and_calibrates() {
        let (classifier, report) = train(&rows(), 4, &TrainOptions::default()).unwrap();
        assert_eq!(classifier.labels, vec!["apple", "kiwi", "lemon"]);
        let real = report.holdout_real.unwrap();
        assert_eq!(real.accuracy, 1.0);
        assert!(report.holdout_photos > 30 && report.holdout_photos < 100);
        assert!(classifier.thresholds.max_distance.is_finite());
        // A point far from every cluster is unfamiliar.
        let answers = classifier.answer_batch(&[1.0, 1.0, 1.0, 5.0, 0.05, 0.05, 1.0, 0.1], 2);
        assert!(!answers[0].sure);
        assert!(
            answers[1].sure && answers[1].label() == "lemon",
            "{:?}",
            answers[1]
        );
        assert_eq!(answers[1].top.len(), 2);
    }

    #[test]
    fn holds_out_whole_groups() {
        let by_group = train(&rows(), 4, &TrainOptions::default()).unwrap().1;
        // `photos/{c}/{i}.jpg`: per label folder, blocks of ten numbers.
        assert_eq!(by_group.groups, 3 * 30);
        assert!(by_group.holdout_groups > 5 && by_group.holdout_groups < 35);
        assert!(by_group.validation.is_empty());
        let by_file = TrainOptions {
            group_block: 0,
            ..TrainOptions::default()
        };
        let report = train(&rows(), 4, &by_file).unwrap().1;
        assert_eq!(report.groups, 300);
        assert_eq!(report.holdout_groups, report.holdout_photos);
        // Reports of bundles made before groups load, as split by file.
        let mut json = serde_json::to_value(&report).unwrap();
        for field in ["groups", "holdout_groups", "validation"] {
            json.as_object_mut().unwrap().remove(field);
        }
        json["options"]
            .as_object_mut()
            .unwrap()
            .remove("group_block");
        let old: TrainReport = serde_json::from_value(json).unwrap();
        assert_eq!(old.options.group_block, 0);
        assert_eq!(old.groups, 0);
        assert!(old.validation.is_empty());
    }

    #[test]
    fn refuses_one_label_and_mixed_widths() {
        let mut one = rows();
        one.iter_mut().for_each(|r| r.label = "apple".into());
        assert!(matches!(
            train(&one, 4, &TrainOptions::default()),
            Err(ClassifyError::TooFewClasses { .. })
        ));
        let mut ragged = rows();
        ragged[5].features.push(1.0);
        assert!(matches!(
            train(&ragged, 4, &TrainOptions::default()),
            Err(ClassifyError::WidthMismatch { .. })
        ));
    }
}
