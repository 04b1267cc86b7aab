//! `orchard train --fine-tune` arguments.

use clap::{Args, ValueEnum};

/// How `train` fine-tunes the backbone before fitting the classifier.
#[derive(Debug, Clone, Args)]
pub struct FineTuneArgs {
    /// Fine-tune the backbone's last blocks and final 1x1 conv on the
    /// labelled photos first (BatchNorm frozen, augmented, class-balanced),
    /// export it as a new ONNX model in
    /// $ORCHARD_HOME, and fit the classifier on its features.
    #[arg(long)]
    pub fine_tune: bool,
    /// Inverted-residual blocks trained, counted from the last: the
    /// stride-1 blocks at the last resolution (MobileNetV2: 1 to 3,
    /// EfficientNet-Lite2: 1 to 5).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub tune_blocks: u32,
    /// Epochs (with `--tune-keep holdout`, the most: early stopping may end
    /// sooner).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub tune_epochs: u32,
    /// Which epoch's weights are kept.
    #[arg(long, value_enum, default_value_t = TuneKeep::Last)]
    pub tune_keep: TuneKeep,
    /// Share of the fine-tuned weights in the model kept, the rest the
    /// parent's (weight-space ensembling, WiSE-FT): 1 keeps the fine-tuned
    /// weights as they are. Less than 1 trades a little on photos like the
    /// training ones for more on photos from other sources.
    #[arg(long, default_value_t = 0.7, value_parser = share)]
    pub tune_mix: f64,
    /// Augmented variants cached per photo (besides the photo itself).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=32))]
    pub tune_variants: u32,
    /// Peak learning rate of the backbone's blocks (the classifier's is 10x).
    #[arg(long, default_value_t = 5e-5)]
    pub tune_lr: f64,
    /// Samples per optimiser step.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(2..=4096))]
    pub tune_batch: u32,
    /// Name the fine-tuned model is installed under in $ORCHARD_HOME
    /// (default: `<parent>-ft-<first 12 hex digits of its sha256>`).
    #[arg(long)]
    pub tuned_model: Option<String>,
}

/// Which fine-tuned epoch `train --fine-tune` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TuneKeep {
    /// The last, at the end of the learning-rate schedule (as good or better
    /// on photos of other visits, in all runs measured but one, than
    /// stopping on the training photos' own held-out groups).
    Last,
    /// The one with the lowest cross-entropy on the held-out groups,
    /// stopping after 3 epochs without a lower one.
    Holdout,
}

/// A share between 0 and 1.
fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is not between 0 and 1")),
        Err(e) => Err(format!("{text:?} is not a number: {e}")),
    }
}
