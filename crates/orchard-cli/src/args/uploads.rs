//! `orchard uploads …` arguments: training from kept uploads, erasure and
//! retention.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::common::StorageArgs;

/// `orchard uploads …`.
#[derive(Debug, Subcommand)]
pub enum UploadsCommand {
    /// Write the confirmed or corrected uploads of KEPT as labelled photo
    /// folders (OUT/<label>/<receipt>.jpg, plus OUT/_uploads.json), ready for
    /// `orchard train` and `orchard extract`; uploads erased since an earlier
    /// export are removed from OUT.
    Export(ExportArgs),
    /// Erase receipts everywhere: the kept photo and record, their rows in
    /// extraction outputs, their photos in exported folders; report the
    /// classifier bundles trained with them. Audited.
    Forget(ForgetArgs),
    /// Erase the uploads older than the retention period, with the same
    /// reach as `forget`. Audited.
    Expire(ExpireArgs),
}

/// `orchard uploads export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The upload store (`orchard serve --keep-uploads`): a folder or a URL.
    pub kept: String,
    /// The folder to write the labelled photos to (local or a URL).
    pub out: String,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// Where else an erasure must reach.
#[derive(Debug, Clone, Args)]
pub struct ReachArgs {
    /// Extraction outputs and exported folders to erase the receipts from
    /// (part files holding their rows are rewritten; exported photos deleted).
    #[arg(long, value_name = "OUT", num_args = 1..)]
    pub outputs: Vec<String>,
    /// Classifier bundles, or folders holding bundles, to check for training
    /// on the receipts (they are reported, to be retrained).
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub bundles: Vec<PathBuf>,
}

/// `orchard uploads forget`.
#[derive(Debug, Clone, Args)]
pub struct ForgetArgs {
    /// Receipts to erase.
    #[arg(required = true)]
    pub receipts: Vec<String>,
    /// The upload store holding them (its audit log records the erasure).
    #[arg(long)]
    pub kept: Option<String>,
    /// Where the audit log is, when --kept is not given (a folder or a URL).
    #[arg(long)]
    pub audit: Option<String>,
    #[command(flatten)]
    pub reach: ReachArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `orchard uploads expire`.
#[derive(Debug, Clone, Args)]
pub struct ExpireArgs {
    /// The upload store.
    pub kept: String,
    /// Erase uploads received longer ago than this (`30d`, `12h`, `2w`);
    /// default: `retention` in the config file's `[uploads]` table.
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// List what would be erased; erase nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub reach: ReachArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
}
