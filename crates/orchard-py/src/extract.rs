//! `orchard.extract`: the extraction job of `orchard extract` (the engine's
//! `extract`, embedded, with the same options and output folder), its rows
//! and `_errors.parquet` returned as Arrow tables. Without `dst` the job
//! writes to a temporary folder, removed once the rows are read.

use std::sync::Arc;

use orchard_engine::photos::ScanOptions;
use orchard_engine::{
    Embedded, ExtractOptions, FeaturizeOptions, FitOptions, OutputFormat, Quiet, WriteMode,
    WriteOptions,
};
use orchard_image::DecodeOptions;
use orchard_pca::{Components, Standardize};
use pyo3::prelude::*;
use pyo3_arrow::PyTable;

use crate::errors::{self, OrchardError, UsageError};
use crate::interrupt::{self, Cancel};
use crate::process::{self, ProcessModels};

/// Runs the extraction job from `src` (a folder or prefix of labelled
/// photo folders) to `dst` (or a temporary folder) and returns `(rows,
/// errors, run report as JSON)`; the rows' schema metadata holds the report
/// under `orchard.run` too.
#[pyfunction]
#[pyo3(signature = (
    src, dst = None, *, pca_k = 100, pca_variance = None, standardize = false,
    with_mean = false, keep_features = false, model = "mobilenet_v2",
    glob = "*.jpg,*.jpeg,*.png,*.webp", overwrite = false, resume = false, fast_decode = false,
    threads = None, batch_size = 32, storage = None
))]
#[allow(clippy::too_many_arguments)]
pub fn extract<'py>(
    py: Python<'py>,
    src: &str,
    dst: Option<&str>,
    pca_k: usize,
    pca_variance: Option<f64>,
    standardize: bool,
    with_mean: bool,
    keep_features: bool,
    model: &str,
    glob: &str,
    overwrite: bool,
    resume: bool,
    fast_decode: bool,
    threads: Option<usize>,
    batch_size: usize,
    storage: Option<&str>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, String)> {
    let components = match pca_variance {
        Some(f) if !(f > 0.0 && f <= 1.0) => {
            return Err(UsageError::new_err(format!(
                "pca_variance must be in (0, 1], got {f}"
            )))
        }
        Some(f) => Components::VarianceFraction(f),
        None if pca_k == 0 => return Err(UsageError::new_err("pca_k must be at least 1")),
        None => Components::Count(pca_k),
    };
    if batch_size == 0 {
        return Err(UsageError::new_err("batch_size must be at least 1"));
    }
    if overwrite && resume {
        return Err(UsageError::new_err(
            "pass overwrite=True or resume=True, not both",
        ));
    }
    let storage = crate::storage::parse(storage)?;
    let threads = process::threads(threads);
    let temporary = match dst {
        Some(_) => None,
        None => Some(tempfile::tempdir().map_err(|e| {
            OrchardError::new_err(format!(
                "cannot make a temporary output folder in {}: {e} (pass dst, or set TMPDIR)",
                std::env::temp_dir().display()
            ))
        })?),
    };
    let output = match (&temporary, dst) {
        (Some(t), _) => t.path().join("out").display().to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => unreachable!("a temporary folder when there is no dst"),
    };
    let options = ExtractOptions {
        input: src.to_string(),
        output: output.clone(),
        glob: glob.to_string(),
        labels: None,
        storage: storage.clone(),
        mode: if resume {
            WriteMode::Resume
        } else if overwrite {
            WriteMode::Overwrite
        } else {
            WriteMode::New
        },
        partitions: threads,
        featurize: FeaturizeOptions {
            loader: Arc::new(ProcessModels),
            decode: DecodeOptions {
                fast_decode,
                ..DecodeOptions::default()
            },
            scan: ScanOptions {
                batch_rows: batch_size,
                ..ScanOptions::default()
            },
            ..FeaturizeOptions::new(process::resolve(model, threads)?)
        },
        fit: FitOptions {
            components,
            standardize: standardize.then_some(Standardize {
                with_std: true,
                with_mean,
            }),
        },
        write: WriteOptions {
            format: OutputFormat::Parquet,
            keep_features,
            max_error_rate: None,
        },
        command_line: Vec::new(),
    };
    let (report, output_table) = py.detach(|| run(&options, &storage))?;
    let report_json = serde_json::to_string(&report)
        .map_err(|e| OrchardError::new_err(format!("cannot serialise the run report: {e}")))?;
    let rows_schema = Arc::new(
        output_table
            .schema
            .as_ref()
            .clone()
            .with_metadata([("orchard.run".to_string(), report_json.clone())].into()),
    );
    let rows = output_table
        .rows
        .into_iter()
        .map(|b| b.with_schema(rows_schema.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(errors::arrow)?;
    let rows = PyTable::try_new(rows, rows_schema)?.into_pyarrow(py)?;
    let errors = PyTable::try_new(output_table.errors, orchard_engine::schema::errors_schema())?
        .into_pyarrow(py)?;
    drop(temporary);
    Ok((rows, errors, report_json))
}

/// The job on its own runtime, then the output read back; Ctrl-C drops the
/// job (an output folder can then be finished with `resume=True`).
fn run(
    options: &ExtractOptions,
    storage: &orchard_source::StorageOptions,
) -> PyResult<(orchard_engine::RunReport, crate::output::OutputTable)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| OrchardError::new_err(format!("cannot start the async runtime: {e}")))?;
    let cancel = Cancel::default();
    let result = runtime.block_on(async {
        let watch = async {
            loop {
                tokio::time::sleep(interrupt::TICK).await;
                if let Some(e) = interrupt::check(&cancel) {
                    return e;
                }
            }
        };
        let job = async {
            let report = orchard_engine::extract(options, &Embedded, &Quiet)
                .await
                .map_err(errors::engine)?;
            let table = crate::output::read(&options.output, storage).await?;
            Ok((report, table))
        };
        tokio::select! {
            result = job => result,
            interrupted = watch => Err(interrupted),
        }
    });
    runtime.shutdown_background();
    result
}
