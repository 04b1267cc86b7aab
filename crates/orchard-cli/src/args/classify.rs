//! `orchard train`, `evaluate` and `identify` arguments.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use orchard_image::{DecodeOptions, DEFAULT_MAX_PIXELS};

use super::common::{ModelArgs, StorageArgs};

/// Default photo pattern of the classify commands (as extract's).
pub const GLOB: &str = orchard_source::DEFAULT_GLOB;

/// `orchard train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Labelled photo folders (sub-folders are the labels) and/or extraction
    /// outputs written with --keep-features; local paths or URLs, any mix.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Directory to write the classifier bundle to.
    #[arg(long)]
    pub classifier: PathBuf,
    /// Augmented variants per training photo (0 = none; the default, measured best).
    #[arg(long, default_value_t = 0)]
    pub augment: u32,
    /// Which augmentations: background,crop,flip,color,blur,scale,several or
    /// all. `several` (2–4 copies of a studio shot's fruit on one background)
    /// is off by default: it gained nothing on photos of other visits or
    /// sources (BENCHMARKS.md).
    #[arg(long, default_value = "background,crop,flip,color,blur,scale")]
    pub augment_parts: String,
    /// Folder of background photos for compositing (default: generated backgrounds).
    #[arg(long)]
    pub backgrounds: Option<PathBuf>,
    /// Share of photo groups held out to calibrate "not sure" and evaluate; a
    /// group is a label, a series (the file name without its trailing
    /// numbers) and a block of --group-block consecutive numbers.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Consecutive shot numbers held out together (0: split by file).
    #[arg(long, default_value_t = orchard_classify::DEFAULT_GROUP_BLOCK)]
    pub group_block: u32,
    /// Labelled photo folders or extraction outputs never trained on: the
    /// final classifier is evaluated on each one separately (repeatable).
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub validate: Vec<String>,
    /// Seed of the split and of augmentation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Inverse L2 strength of the logistic regression (scikit-learn's C).
    #[arg(long, default_value_t = 100.0)]
    pub c: f64,
    /// Weight of a studio shot (white background) relative to a real photo.
    #[arg(long, default_value_t = 0.3)]
    pub studio_weight: f64,
    /// Do not weight classes inversely to their frequency.
    #[arg(long)]
    pub no_class_balance: bool,
    /// Pull the weights of species the backbone's own ImageNet classifier
    /// names (apple, banana, orange, lemon, …; EfficientNet-Lite2 and its
    /// fine-tuned children) towards its rows, with this strength (0: off;
    /// 1: ImageNet's logits as they are).
    #[arg(long, default_value_t = 2.0)]
    pub class_prior_strength: f64,
    /// Share of held-out photos of known species the distance threshold lets through.
    #[arg(long, default_value_t = 0.95)]
    pub distance_quantile: f64,
    /// Answers whose top probability is below this are "not sure".
    #[arg(long, default_value_t = 0.5)]
    pub unsure_below: f32,
    /// Keep the model fitted without the held-out photos (default: refit on all).
    #[arg(long)]
    pub no_refit: bool,
    /// Photo file patterns, comma-separated.
    #[arg(long, default_value = GLOB)]
    pub glob: String,
    /// Refuse images with more pixels than this.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Decode large JPEGs fast (DCT scaling, as `extract --fast-decode`).
    #[arg(long)]
    pub fast_decode: bool,
    #[command(flatten)]
    pub fine_tune: super::FineTuneArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// Options shared by `evaluate` and `identify`: where the model runs.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The feature model's ONNX file, when it is not where the bundle names it
    /// (its sha256 must match the bundle's).
    #[arg(long)]
    pub model: Option<String>,
    /// Inference threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Photo file patterns, comma-separated.
    #[arg(long, default_value = GLOB)]
    pub glob: String,
    /// Refuse images with more pixels than this.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Decode every photo at full size (pixel for pixel what PIL decodes)
    /// instead of the default fast decoding of large JPEGs (DCT scaling to
    /// at least twice the model's input, then the exact resize).
    #[arg(long)]
    pub exact_decode: bool,
    /// Override the bundle's probability threshold for "not sure".
    #[arg(long)]
    pub unsure_below: Option<f32>,
    /// Test-time augmentation: answer on the mean of the features of N fixed
    /// views of each photo (the photo, its mirror image, the centre crop
    /// (80 % of each side) and its mirror image, then the four corner
    /// crops). Costs N times the inference (for `serve`, N times the model
    /// time per photo); 1 = off. Extraction outputs are used as they are.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=8))]
    pub tta: usize,
    #[command(flatten)]
    pub storage: StorageArgs,
}

impl RunArgs {
    /// How `evaluate`, `identify` and `serve` decode photos.
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            fast_decode: !self.exact_decode,
            ..DecodeOptions::with_max_pixels(self.max_pixels)
        }
    }
}

impl TrainArgs {
    /// How `train` decodes photos.
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            fast_decode: self.fast_decode,
            ..DecodeOptions::with_max_pixels(self.max_pixels)
        }
    }
}

/// `orchard evaluate`.
#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    /// The classifier bundle (from `orchard train`).
    pub classifier: PathBuf,
    /// Labelled photo folders and/or extraction outputs with --keep-features.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Also write the metrics as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Output of `orchard identify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IdentifyFormat {
    /// A readable block per photo.
    Text,
    /// One JSON object per line.
    Jsonl,
}

/// `orchard identify`.
#[derive(Debug, Clone, Args)]
pub struct IdentifyArgs {
    /// The classifier bundle (from `orchard train`).
    pub classifier: PathBuf,
    /// Photos, folders of photos (read recursively) or prefixes.
    #[arg(required = true)]
    pub photos: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: IdentifyFormat,
    /// Labels listed per photo.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
    #[command(flatten)]
    pub run: RunArgs,
}
