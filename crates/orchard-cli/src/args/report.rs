//! `orchard report` arguments.

use std::path::PathBuf;

use clap::Args;

use super::StorageArgs;

/// `orchard report`: a run (or a classifier bundle) as one HTML page.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A finished extraction output (folder or URL), or a classifier bundle
    /// folder (one with classifier.json).
    pub location: String,
    /// Add this classifier bundle's evaluation (confusion, per-class F1).
    #[arg(long)]
    pub classifier: Option<PathBuf>,
    /// Write the page here instead of LOCATION/_report.html.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Points of the PCA scatter at most (evenly sampled over the rows).
    #[arg(long, default_value_t = 2000)]
    pub points: usize,
    #[command(flatten)]
    pub storage: StorageArgs,
}
