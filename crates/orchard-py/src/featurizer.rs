//! `orchard.Featurizer`: Arrow batches of photo bytes (`content`) or paths
//! (`path`, local or object storage, read here) → the batch with
//! `features: list<float32>` and `error: string` (null when fine) added. A
//! bad photo gets an error, never an exception. The work is the engine's
//! `featurize` UDF (the same decoding, preprocessing and model as `orchard
//! extract`), run on batches of 32 rows by `threads` threads without the GIL.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, FixedSizeListArray, Float32Builder, ListBuilder,
    RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::config::ConfigOptions;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};
use orchard_engine::schema::{ERROR_MESSAGE, ERROR_STAGE, FEATURES};
use orchard_engine::FeaturizeUdf;
use orchard_image::DecodeOptions;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::{PyRecordBatch, PyTable};

use crate::errors::{self, OrchardError, UsageError};
use crate::interrupt::{self, Cancel};
use crate::process::{self, ProcessModels};
use crate::reads::Reader;

/// Rows featurized per model call (the engine's default batch).
const CHUNK: usize = 32;
/// The column of errors added to the batch.
const ERROR: &str = "error";

/// Featurizes photos in Arrow batches with one of Orchard's models.
#[pyclass(module = "orchard._core", name = "Featurizer", frozen)]
pub struct Featurizer {
    udf: FeaturizeUdf,
    threads: usize,
    reader: Reader,
}

/// Which column holds the photos.
enum Source {
    Content(usize),
    Path(usize),
}

/// One chunk's result: features (null where failed) and errors.
struct Chunk {
    features: FixedSizeListArray,
    errors: Vec<Option<String>>,
}

#[pymethods]
impl Featurizer {
    /// A featurizer running `model` (a name installed in `$ORCHARD_HOME` or
    /// an `.onnx` path) on `threads` threads (default `OMP_NUM_THREADS`, else
    /// every core); `storage` is a JSON object of storage options for paths
    /// in object stores. The model is loaded on first use, once per process.
    #[new]
    #[pyo3(signature = (model = "mobilenet_v2", threads = None, fast_decode = false, storage = None))]
    fn new(
        model: &str,
        threads: Option<usize>,
        fast_decode: bool,
        storage: Option<&str>,
    ) -> PyResult<Self> {
        let threads = process::threads(threads);
        let model = process::resolve(model, threads)?;
        let decode = DecodeOptions {
            fast_decode,
            ..DecodeOptions::default()
        };
        Ok(Featurizer {
            udf: FeaturizeUdf::with_loader(model, decode, Arc::new(ProcessModels)),
            threads: orchard_model::effective_threads(threads),
            reader: Reader::new(crate::storage::parse(storage)?),
        })
    }

    /// The model's name.
    #[getter]
    fn model(&self) -> String {
        self.udf.model().spec.name.clone()
    }

    /// Floats per photo.
    #[getter]
    fn feature_width(&self) -> usize {
        self.udf.model().spec.feature_width
    }

    /// Threads used.
    #[getter]
    fn threads(&self) -> usize {
        self.threads
    }

    /// The batch (a `pyarrow.RecordBatch`, `Table` or any Arrow stream) with
    /// `features` and `error` added; a record batch gives a record batch, a
    /// stream a table.
    #[pyo3(signature = (batch, content_col = None, path_col = None))]
    fn featurize<'py>(
        &self,
        py: Python<'py>,
        batch: AnyRecordBatch,
        content_col: Option<&str>,
        path_col: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let single = matches!(batch, AnyRecordBatch::RecordBatch(_));
        let schema = batch.schema()?;
        let source = source(&schema, content_col, path_col)?;
        let batches = batch
            .into_reader()?
            .collect::<Result<Vec<_>, _>>()
            .map_err(errors::arrow)?;
        let out = py.detach(|| self.featurize_batches(&batches, &source))?;
        let out_schema = match out.first() {
            Some(b) => b.schema(),
            None => Arc::new(output_schema(&schema)),
        };
        if single {
            let batch = out
                .into_iter()
                .next()
                .unwrap_or_else(|| RecordBatch::new_empty(out_schema));
            PyRecordBatch::new(batch).into_pyarrow(py)
        } else {
            PyTable::try_new(out, out_schema)?.into_pyarrow(py)
        }
    }
}

impl Featurizer {
    /// Every batch's chunks on the worker threads; the calling thread
    /// watches for Ctrl-C.
    fn featurize_batches(
        &self,
        batches: &[RecordBatch],
        source: &Source,
    ) -> PyResult<Vec<RecordBatch>> {
        let chunks: Vec<(usize, usize, usize)> = batches
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| {
                (0..batch.num_rows())
                    .step_by(CHUNK)
                    .map(move |o| (b, o, CHUNK.min(batch.num_rows() - o)))
            })
            .collect();
        let mut results: Vec<Option<Chunk>> = (0..chunks.len()).map(|_| None).collect();
        let next = AtomicUsize::new(0);
        let cancel = Cancel::default();
        let workers = self.threads.clamp(1, chunks.len().max(1));
        let mut failure = None;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<(usize, PyResult<Chunk>)>();
            for _ in 0..workers {
                let tx = tx.clone();
                let (next, cancel, chunks) = (&next, &cancel, &chunks);
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= chunks.len() || cancel.is_set() {
                        break;
                    }
                    let (b, offset, len) = chunks[i];
                    let result = self.featurize_chunk(&batches[b], source, offset, len);
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            let mut done = 0;
            while done < chunks.len() {
                match rx.recv_timeout(interrupt::TICK) {
                    Ok((i, Ok(chunk))) => {
                        results[i] = Some(chunk);
                        done += 1;
                    }
                    Ok((_, Err(e))) => {
                        failure.get_or_insert(e);
                        break;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if let Some(e) = interrupt::check(&cancel) {
                            failure = Some(e);
                            break;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            if failure.is_some() {
                // Stops the workers at their next chunk.
                cancel.set();
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let mut results = results.into_iter();
        let mut out = Vec::with_capacity(batches.len());
        for (b, batch) in batches.iter().enumerate() {
            let n = chunks.iter().filter(|c| c.0 == b).count();
            let parts: Vec<Chunk> = results.by_ref().take(n).flatten().collect();
            if parts.len() != n {
                return Err(OrchardError::new_err("a featurizer thread stopped early"));
            }
            out.push(self.assemble(batch, parts)?);
        }
        Ok(out)
    }

    /// Rows `offset..offset + len` of `batch`.
    fn featurize_chunk(
        &self,
        batch: &RecordBatch,
        source: &Source,
        offset: usize,
        len: usize,
    ) -> PyResult<Chunk> {
        let (content, read_errors): (ArrayRef, Vec<Option<String>>) = match source {
            Source::Content(c) => {
                let column = batch.column(*c).slice(offset, len);
                let binary = cast(&column, &DataType::Binary).map_err(errors::arrow)?;
                let errors = (0..len)
                    .map(|i| {
                        binary
                            .is_null(i)
                            .then(|| "read: no content (null)".to_string())
                    })
                    .collect();
                (binary, errors)
            }
            Source::Path(c) => {
                let column = cast(&batch.column(*c).slice(offset, len), &DataType::Utf8)
                    .map_err(errors::arrow)?;
                let paths: Vec<Option<&str>> = column.as_string::<i32>().iter().collect();
                let read = self.reader.read(&paths);
                let errors = read
                    .iter()
                    .map(|r| r.as_ref().err().map(|e| format!("read: {e}")))
                    .collect();
                let bytes: BinaryArray = read.iter().map(|r| r.as_ref().ok()).collect();
                (Arc::new(bytes), errors)
            }
        };
        let result = self.run_udf(content, len)?;
        let result = result.as_struct();
        let features = result
            .column_by_name(FEATURES)
            .map(|a| a.as_fixed_size_list().clone())
            .ok_or_else(|| OrchardError::new_err("featurize returned no features"))?;
        let stage = result
            .column_by_name(ERROR_STAGE)
            .map(|a| a.as_string::<i32>().clone());
        let message = result
            .column_by_name(ERROR_MESSAGE)
            .map(|a| a.as_string::<i32>().clone());
        let errors = read_errors
            .into_iter()
            .enumerate()
            .map(|(i, read)| {
                read.or_else(|| match (&stage, &message) {
                    (Some(s), Some(m)) if m.is_valid(i) => {
                        Some(format!("{}: {}", s.value(i), m.value(i)))
                    }
                    _ => None,
                })
            })
            .collect();
        Ok(Chunk { features, errors })
    }

    /// The engine's `featurize` UDF on `content` (binary, `rows` rows): a
    /// struct of features, error stage and message per row.
    fn run_udf(&self, content: ArrayRef, rows: usize) -> PyResult<ArrayRef> {
        let failed = |e: DataFusionError| OrchardError::new_err(format!("featurize: {e}"));
        let return_type = self.udf.return_type(&[DataType::Binary]).map_err(failed)?;
        let args = ScalarFunctionArgs {
            args: vec![ColumnarValue::Array(content)],
            arg_fields: vec![Arc::new(Field::new("content", DataType::Binary, true))],
            number_rows: rows,
            return_field: Arc::new(Field::new("result", return_type, true)),
            config_options: Arc::new(ConfigOptions::default()),
        };
        match self.udf.invoke_with_args(args).map_err(failed)? {
            ColumnarValue::Array(a) => Ok(a),
            ColumnarValue::Scalar(s) => s.to_array_of_size(rows).map_err(failed),
        }
    }

    /// `batch` with the features (`list<float32>`) and errors of its chunks.
    fn assemble(&self, batch: &RecordBatch, parts: Vec<Chunk>) -> PyResult<RecordBatch> {
        let width = self.udf.model().spec.feature_width;
        let mut features = ListBuilder::with_capacity(Float32Builder::new(), batch.num_rows())
            .with_field(Arc::new(Field::new("item", DataType::Float32, true)));
        let mut errors = Vec::with_capacity(batch.num_rows());
        for part in parts {
            let values = part
                .features
                .values()
                .as_primitive::<datafusion::arrow::datatypes::Float32Type>();
            for (row, error) in part.errors.into_iter().enumerate() {
                if error.is_none() && part.features.is_valid(row) {
                    let start = row * width;
                    features
                        .values()
                        .append_slice(&values.values()[start..start + width]);
                    features.append(true);
                } else {
                    features.append(false);
                }
                errors.push(error);
            }
        }
        let schema = Arc::new(output_schema(&batch.schema()));
        let mut columns: Vec<ArrayRef> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .filter(|(f, _)| f.name() != FEATURES && f.name() != ERROR)
            .map(|(_, c)| Arc::clone(c))
            .collect();
        columns.push(Arc::new(features.finish()));
        columns.push(Arc::new(StringArray::from(errors)));
        RecordBatch::try_new(schema, columns).map_err(errors::arrow)
    }
}

/// The input's columns (but an earlier `features` or `error`), then
/// `features: list<float32>` and `error: string`.
fn output_schema(input: &Schema) -> Schema {
    let mut fields: Vec<Field> = input
        .fields()
        .iter()
        .filter(|f| f.name() != FEATURES && f.name() != ERROR)
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(
        FEATURES,
        DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
        true,
    ));
    fields.push(Field::new(ERROR, DataType::Utf8, true));
    Schema::new_with_metadata(fields, input.metadata().clone())
}

/// The photos' column: `content_col` or `path_col` when named, else
/// `content`, else `path`.
fn source(schema: &Schema, content_col: Option<&str>, path_col: Option<&str>) -> PyResult<Source> {
    let find = |name: &str| schema.index_of(name).ok();
    let binary = |i: usize| {
        matches!(
            schema.field(i).data_type(),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView
        )
    };
    let string = |i: usize| {
        matches!(
            schema.field(i).data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
    };
    let columns = || {
        schema
            .fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), f.data_type()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pick = |name: &str, is_path: bool| -> PyResult<Source> {
        let i = find(name).ok_or_else(|| {
            UsageError::new_err(format!(
                "the batch has no column `{name}` (columns: {})",
                columns()
            ))
        })?;
        match (is_path, binary(i), string(i)) {
            (false, true, _) => Ok(Source::Content(i)),
            (true, _, true) => Ok(Source::Path(i)),
            (false, ..) => Err(UsageError::new_err(format!(
                "column `{name}` must be binary (the photos' bytes), found {}",
                schema.field(i).data_type()
            ))),
            (true, ..) => Err(UsageError::new_err(format!(
                "column `{name}` must be a string (the photos' paths), found {}",
                schema.field(i).data_type()
            ))),
        }
    };
    match (content_col, path_col) {
        (Some(_), Some(_)) => Err(UsageError::new_err(
            "pass content_col or path_col, not both",
        )),
        (Some(c), None) => pick(c, false),
        (None, Some(p)) => pick(p, true),
        (None, None) if find("content").is_some() => pick("content", false),
        (None, None) if find("path").is_some() => pick("path", true),
        (None, None) => Err(UsageError::new_err(format!(
            "the batch needs a binary `content` column or a string `path` column (columns: {})",
            columns()
        ))),
    }
}
