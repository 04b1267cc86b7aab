//! What an extraction run is asked to do, grouped by the stage that reads it.

use std::sync::Arc;

use orchard_image::DecodeOptions;
use orchard_pca::{Components, Standardize};
use orchard_source::StorageOptions;
use serde::{Deserialize, Serialize};

use crate::checkpoint::DEFAULT_CHECKPOINT_EVERY;
use crate::featurize::{CachedModels, ModelLoader, ModelRef};
use crate::photos::ScanOptions;
use crate::sink::PartFormat;

/// Everything an extraction run needs.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Where the photos are (local path or URL).
    pub input: String,
    /// Where the result goes.
    pub output: String,
    /// Which files are photos (`*.jpg,*.jpeg,*.png,*.webp`).
    pub glob: String,
    /// An existing `_labels.json` to reuse (new labels are appended).
    pub labels: Option<String>,
    /// How remote stores are reached (region, endpoint, allow-list, retries).
    pub storage: StorageOptions,
    /// How the run uses the output folder.
    pub mode: WriteMode,
    /// Parallel partitions (0 = number of cores).
    pub partitions: usize,
    /// The featurize stage.
    pub featurize: FeaturizeOptions,
    /// The fit stage.
    pub fit: FitOptions,
    /// The write stage.
    pub write: WriteOptions,
    /// The command line to record in `_run.json` (the caller removes any
    /// secret from it first); may be empty.
    pub command_line: Vec<String>,
}

/// How a run uses its output folder. One value, so that contradictory
/// combinations (resume *and* overwrite) cannot be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// A new output: the folder must be empty or absent.
    #[default]
    New,
    /// Replace whatever the folder holds.
    Overwrite,
    /// Continue the interrupted run found there, reusing its checkpointed
    /// chunks (the same arguments are required).
    Resume,
    /// Add to an existing output: only new or changed photos are processed
    /// and projected with the saved PCA model, or, with `refit`, PCA is
    /// fitted again on all features and every row re-projected (the output
    /// must have been written with `keep_features`).
    Incremental {
        /// Fit PCA again on old and new features.
        refit: bool,
    },
}

impl WriteMode {
    /// Whether this run adds to an existing output.
    pub fn is_incremental(self) -> bool {
        matches!(self, WriteMode::Incremental { .. })
    }

    /// Whether PCA is fitted again on an existing output's features.
    pub fn refits(self) -> bool {
        matches!(self, WriteMode::Incremental { refit: true })
    }
}

/// Options of the featurize stage: which model, how photos are read and
/// decoded, and how often progress is checkpointed.
#[derive(Debug, Clone)]
pub struct FeaturizeOptions {
    /// The model.
    pub model: ModelRef,
    /// Where the model's backend comes from (default: the process cache).
    pub loader: Arc<dyn ModelLoader>,
    /// Decode limits.
    pub decode: DecodeOptions,
    /// Read batching and concurrency.
    pub scan: ScanOptions,
    /// Photos per checkpointed chunk (0 = [`DEFAULT_CHECKPOINT_EVERY`]).
    pub checkpoint_every: usize,
}

impl FeaturizeOptions {
    /// `model` with the default loader, decoding, reads and checkpoints.
    pub fn new(model: ModelRef) -> Self {
        FeaturizeOptions {
            model,
            loader: Arc::new(CachedModels),
            decode: DecodeOptions::default(),
            scan: ScanOptions::default(),
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
        }
    }

    /// Photos per chunk, the default in place of 0.
    pub(crate) fn chunk_size(&self) -> usize {
        if self.checkpoint_every == 0 {
            DEFAULT_CHECKPOINT_EVERY
        } else {
            self.checkpoint_every
        }
    }
}

/// Options of the fit stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// How many PCA components (default: 100, the seeds' k).
    pub components: Components,
    /// Standardise features before PCA (Spark's StandardScaler); default off.
    pub standardize: Option<Standardize>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            components: Components::Count(100),
            standardize: None,
        }
    }
}

/// Options of the write stage.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WriteOptions {
    /// Output format (default Parquet).
    pub format: OutputFormat,
    /// Also write the raw features in the output (default off).
    pub keep_features: bool,
    /// Fail (no `_SUCCESS`, an error) when more than this fraction of the
    /// inputs fails (default: never).
    pub max_error_rate: Option<f64>,
}

/// The output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Parquet part files (the default).
    #[default]
    Parquet,
    /// The seed's CSV: `label_index`, `pca` as a JSON array, `path`.
    Csv,
}

impl OutputFormat {
    /// The name in `_run.json`.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "parquet",
            OutputFormat::Csv => "csv",
        }
    }
}

impl From<OutputFormat> for PartFormat {
    fn from(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Parquet => PartFormat::Parquet,
            OutputFormat::Csv => PartFormat::Csv,
        }
    }
}
