//! The engine's error type: what the user can fix apart from what broke.

/// Errors of the engine, with the context a user needs.
///
/// [`EngineError::is_user_error`] tells apart what the user can fix (bad
/// arguments, a refused resume, a region outside the allow-list, an input
/// that is not what the job needs) from internal failures; the errors of the
/// libraries underneath (Parquet, DataFusion, object store, …) are kept as
/// [`std::error::Error::source`]s.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A location, listing, labels or residency problem.
    #[error(transparent)]
    Source(#[from] orchard_source::SourceError),
    /// A model problem.
    #[error(transparent)]
    Model(#[from] orchard_model::ModelError),
    /// A PCA problem.
    #[error("PCA: {0}")]
    Pca(#[from] orchard_pca::PcaError),
    /// A query-engine problem.
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// An Arrow problem.
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// A Parquet problem.
    #[error("{0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    /// A storage problem.
    #[error("storage: {0}")]
    Store(#[from] object_store::Error),
    /// A local file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A metadata file of an output could not be read or written as JSON.
    #[error("{context}: {source}")]
    Json {
        /// Which file.
        context: String,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A location read as an Orchard output is not one, or not a finished
    /// one (the CLI says how to finish or rebuild it).
    #[error("{url} is not a complete Orchard output: it has no {missing}")]
    NotAnOutput {
        /// The location.
        url: String,
        /// What it lacks.
        missing: OutputPart,
    },
    /// Features were asked of an output written without them (the CLI
    /// adds `--keep-features`).
    #[error("{url} has no 'features' column")]
    NoFeatures {
        /// The output.
        url: String,
    },
    /// A column of a table Orchard reads has the wrong type or is missing.
    #[error("column '{column}' of {url} must be {expected}, found {found}")]
    Column {
        /// The table (a folder, a file).
        url: String,
        /// The column.
        column: String,
        /// What it must be.
        expected: &'static str,
        /// What it is (`missing` when absent).
        found: String,
    },
    /// A folder holds none of the files asked for.
    #[error("no *.{extension} files in {url}")]
    NoFiles {
        /// The folder.
        url: String,
        /// The extension looked for.
        extension: String,
    },
    /// `Resume` of an output that is already complete.
    #[error("{url} already holds a complete result (_SUCCESS); nothing to resume")]
    AlreadyComplete {
        /// The output.
        url: String,
    },
    /// Fewer than two photos were featurized: no PCA can be fitted.
    #[error("PCA needs at least 2 featurized photos, got {fitted} of {inputs}")]
    TooFewPhotos {
        /// Photos featurized.
        fitted: u64,
        /// The inputs, described (`N listed`, …).
        inputs: String,
    },
    /// Rows cannot be erased from CSV part files (the CLI says to rebuild).
    #[error("{url} holds CSV part files, which cannot be rewritten row by row")]
    CsvNotRewritable {
        /// The output.
        url: String,
    },
    /// A new run's output already holds objects (the CLI adds its choices:
    /// another output, `--overwrite`, `--resume`).
    #[error("output {url} is not empty ({objects} objects, e.g. {example})")]
    OutputNotEmpty {
        /// The output.
        url: String,
        /// How many objects are there.
        objects: usize,
        /// One of them.
        example: String,
    },
    /// Incremental runs keep what later runs need in Parquet; CSV cannot.
    #[error("incremental runs need Parquet output (CSV cannot hold what later runs need)")]
    IncrementalNeedsParquet,
    /// `Resume` found an interrupted job of other inputs, model or glob.
    #[error(
        "the interrupted job in {url} featurized other inputs ({input} with model {model}, glob {glob})"
    )]
    ResumeOtherJob {
        /// The output.
        url: String,
        /// The interrupted job's input.
        input: String,
        /// The start of its model's sha256.
        model: String,
        /// Its glob.
        glob: String,
    },
    /// A refit needs the features of the earlier rows, and the output was
    /// written without them.
    #[error(
        "refitting the PCA needs the features of earlier rows, but {url} was written without them"
    )]
    RefitWithoutFeatures {
        /// The output.
        url: String,
    },
    /// Where plans run (e.g. a cluster) failed.
    #[error("{runner}: {source}")]
    Runner {
        /// Which runner (`cluster`).
        runner: &'static str,
        /// Its error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A broken invariant: a bug, not something the user did.
    #[error("{0}")]
    Internal(String),
    /// The job ran to the end but more inputs failed than `--max-error-rate`
    /// allows; the output is written without `_SUCCESS`.
    #[error(
        "{failed} of {listed} inputs failed ({rate:.1}%), above --max-error-rate {max:.1}%; \
         the output was written without _SUCCESS (see _errors.parquet)"
    )]
    ErrorRate {
        /// Failed inputs.
        failed: u64,
        /// Listed inputs.
        listed: u64,
        /// Failure rate, percent.
        rate: f64,
        /// Allowed rate, percent.
        max: f64,
    },
}

impl EngineError {
    /// An [`EngineError::Io`] error, `context` naming the file.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        EngineError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether the user can fix this by changing the command (arguments,
    /// inputs, credentials, allow-lists) rather than it being a failure of
    /// Orchard or of the infrastructure.
    pub fn is_user_error(&self) -> bool {
        use orchard_source::SourceError;
        match self {
            EngineError::NotAnOutput { .. }
            | EngineError::NoFeatures { .. }
            | EngineError::Column { .. }
            | EngineError::NoFiles { .. }
            | EngineError::AlreadyComplete { .. }
            | EngineError::TooFewPhotos { .. }
            | EngineError::CsvNotRewritable { .. }
            | EngineError::OutputNotEmpty { .. }
            | EngineError::RefitWithoutFeatures { .. }
            | EngineError::IncrementalNeedsParquet
            | EngineError::ResumeOtherJob { .. }
            | EngineError::ErrorRate { .. } => true,
            EngineError::Source(e) => !matches!(e, SourceError::Store { .. }),
            EngineError::Model(_) | EngineError::Pca(_) => true,
            _ => false,
        }
    }
}

/// A part of an Orchard output that a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputPart {
    /// `_SUCCESS`: the run finished.
    Success,
    /// `_run.json`: the run's report.
    RunReport,
    /// `_inputs/` records of incremental runs.
    InputRecords,
    /// The saved PCA model (`_pca/model.json`).
    PcaModel,
}

impl std::fmt::Display for OutputPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OutputPart::Success => "_SUCCESS",
            OutputPart::RunReport => "_run.json",
            OutputPart::InputRecords => {
                "_inputs/ records (or it is from a version without incremental runs)"
            }
            OutputPart::PcaModel => "PCA model (_pca/model.json, or model.json in the folder)",
        })
    }
}

/// Result type of the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_errors_are_told_apart_from_internal_ones() {
        assert!(EngineError::IncrementalNeedsParquet.is_user_error());
        let not_output = EngineError::NotAnOutput {
            url: "file:///tmp/x".into(),
            missing: OutputPart::Success,
        };
        assert!(not_output.is_user_error());
        assert_eq!(
            not_output.to_string(),
            "file:///tmp/x is not a complete Orchard output: it has no _SUCCESS"
        );
        assert!(
            !EngineError::Internal("wrote 3 rows but 4 photos were featurized".into())
                .is_user_error()
        );
        let io = EngineError::io(
            "cannot read labels file l.json",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(!io.is_user_error());
        assert!(std::error::Error::source(&io).is_some());
        assert!(io
            .to_string()
            .starts_with("cannot read labels file l.json: "));
    }
}
