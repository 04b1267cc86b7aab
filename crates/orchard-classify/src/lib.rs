//! Identifying a fruit from a photo's features: the classification step on
//! top of Orchard's feature extraction. Knows nothing of DataFusion or HTTP.
//!
//! * [`train`]: labelled feature rows → a [`Classifier`]: multinomial
//!   logistic regression (softmax, L2, L-BFGS) on L2-normalised features,
//!   class-balanced, studio shots down-weighted, with a deterministic
//!   held-out split by group of near-identical shots ([`group_key`]) that
//!   calibrates the "not sure" thresholds and reports accuracy
//!   ([`TrainReport`]). With [`train_with_priors`], the weights of the
//!   species the backbone's ImageNet classifier names are pulled towards
//!   its rows instead of towards zero ([`ClassPriorReport`]).
//! * [`evaluate_set`]: accuracy on one named set of photos (a validation
//!   set), photos of species it was never taught counted apart.
//! * "Not sure" ([`Unsure`]): the Mahalanobis distance to the nearest
//!   species ([`Mahalanobis`]) for photos of things it was never taught,
//!   and the top probability for ambiguous ones.
//! * [`Bundle`]: one directory with the feature model's name and sha256,
//!   preprocessing, labels, weights, thresholds and training report.
//! * [`evaluate`]: Spark-style multiclass metrics plus the not-sure rate.
//! * [`facts_for`]: bundled facts per species, nutrition with its source.
//! * [`Featurizer`]: photo bytes → features (and augmented variants), the
//!   same preprocessing as `orchard extract`; with test-time augmentation
//!   ([`Featurizer::with_tta`]) the mean over fixed views ([`tta`]).
//!
//! ```
//! use orchard_classify::{train, TrainOptions, TrainingRow};
//! let rows: Vec<TrainingRow> = (0..60)
//!     .map(|i| TrainingRow {
//!         path: format!("{i}.jpg"),
//!         label: if i % 2 == 0 { "apple".into() } else { "kiwi".into() },
//!         studio: false,
//!         variant: 0,
//!         features: if i % 2 == 0 { vec![1.0, 0.1 * (i % 5) as f32] } else { vec![0.1 * (i % 5) as f32, 1.0] },
//!     })
//!     .collect();
//! let (classifier, report) = train(&rows, 2, &TrainOptions::default()).unwrap();
//! let answer = &classifier.answer_batch(&[0.9, 0.1], 2)[0];
//! assert_eq!(answer.label(), "apple");
//! # let _ = report;
//! ```

mod bundle;
mod classifier;
mod error;
mod facts;
mod featurize;
mod labelled;
mod lbfgs;
mod metrics;
mod ood;
mod prior;
mod softmax;
mod split;
mod train;
pub mod tta;
mod validation;

pub use bundle::{Bundle, FeatureModel, BUNDLE_META, BUNDLE_VERSION, BUNDLE_WEIGHTS};
pub use classifier::{l2_normalize, Answer, Classifier, Ranked, Thresholds, Unsure};
pub use error::ClassifyError;
pub use facts::{all_facts, facts_for, Facts, Nutrition, FACTS_JSON};
pub use featurize::{Augmentation, FeaturizeError, Featurizer, PhotoFeatures};
pub use labelled::{evaluate_labelled, TrainingRow};
pub use lbfgs::{minimize, LbfgsOptions, LbfgsReport};
pub use metrics::{evaluate, ClassMetrics, Evaluation, Outcome};
pub use ood::{quantile, Mahalanobis, DEFAULT_RIDGE};
pub use prior::ClassPriorReport;
pub use softmax::{fit_softmax, softmax_in_place, SoftmaxModel, TrainingSet};
pub use split::{fnv1a, group_key, series, HoldOut, DEFAULT_GROUP_BLOCK};
pub use train::{train, train_with_priors, TrainOptions, TrainReport};
pub use tta::{mean_views, tta_view, tta_views, MAX_TTA};
pub use validation::{evaluate_set, SetEvaluation, UnknownSpecies};
