//! What a fine-tuning run is given: each photo's cached activations and
//! label, and the grid they lie on.

use serde::{Deserialize, Serialize};

/// One labelled photo: the frozen part's activations of the photo itself
/// (`variants[0]`) and of its augmented variants, NCHW.
#[derive(Debug, Clone, PartialEq)]
pub struct TunePhoto {
    /// Class index.
    pub label: u32,
    /// Sampling weight relative to other photos of its class (e.g. lower
    /// for studio shots).
    pub weight: f32,
    /// Activation maps, the photo first.
    pub variants: Vec<Vec<f32>>,
}

/// The activations' grid: channels, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

/// The labelled photos of a fine-tuning run.
#[derive(Debug, Clone, Copy)]
pub struct TuneData<'a> {
    /// The activations' grid.
    pub grid: Grid,
    /// Number of classes.
    pub classes: usize,
    /// Photos trained on.
    pub train: &'a [TunePhoto],
    /// Held-out groups: reported after each epoch, and early stopping with
    /// [`crate::KeepEpoch::LowestHoldoutLoss`].
    pub holdout: &'a [TunePhoto],
    /// Named validation sets: reported after each epoch.
    pub validation: &'a [(String, Vec<TunePhoto>)],
}
