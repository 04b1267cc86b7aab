//! `featurize(content)`: photo bytes → model features, as a scalar UDF over
//! small batches.
//!
//! Each call decodes, orients, resizes and normalises every photo of the batch
//! into one input tensor, runs the model once on it, and returns a struct per
//! row: the features, or the stage and reason of the failure. A bad photo never
//! fails the batch. The model comes from a [`ModelLoader`]: by default
//! [`CachedModels`], loaded once per process ([`orchard_model::cached`]); tests
//! put a small deterministic backend in its place.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, StringBuilder, StructArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{exec_err, DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use orchard_image::{DecodeOptions, Preparer};
pub use orchard_model::ModelRef;
use orchard_model::{infer_batch, InferenceBackend};

use crate::metrics::process_metrics;
use crate::schema::result_fields;

/// The name of the UDF in plans.
pub const FEATURIZE: &str = "featurize";

/// Where a [`ModelRef`]'s inference backend comes from.
pub trait ModelLoader: Send + Sync + std::fmt::Debug {
    /// The backend for `model`.
    fn load(
        &self,
        model: &ModelRef,
    ) -> std::result::Result<Arc<dyn InferenceBackend>, orchard_model::ModelError>;
}

/// The process-wide model cache ([`ModelRef::load`]): what every real run uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct CachedModels;

impl ModelLoader for CachedModels {
    fn load(
        &self,
        model: &ModelRef,
    ) -> std::result::Result<Arc<dyn InferenceBackend>, orchard_model::ModelError> {
        model.load()
    }
}

/// Per-job counters of the featurisation work done in this process.
#[derive(Debug, Default)]
pub struct FeaturizeStats {
    /// Photos seen.
    pub photos: AtomicU64,
    /// Photos that failed.
    pub failed: AtomicU64,
    /// Nanoseconds spent decoding, resizing and normalising (summed over threads).
    pub prepare_nanos: AtomicU64,
    /// Nanoseconds spent in model inference (summed over calls).
    pub infer_nanos: AtomicU64,
    /// Bytes this process received for the spill: the names and row counts
    /// of the files written where the chunks ran (no features).
    pub spill_answer_bytes: AtomicU64,
}

impl FeaturizeStats {
    fn add(counter: &AtomicU64, since: Instant) {
        counter.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    /// Seconds of a nanosecond counter.
    pub fn seconds(counter: &AtomicU64) -> f64 {
        counter.load(Ordering::Relaxed) as f64 / 1e9
    }
}

/// The `featurize` UDF; see the module docs.
#[derive(Debug)]
pub struct FeaturizeUdf {
    model: ModelRef,
    loader: Arc<dyn ModelLoader>,
    decode: DecodeOptions,
    signature: Signature,
    stats: Arc<FeaturizeStats>,
}

impl FeaturizeUdf {
    /// A UDF running `model` (from the process cache) on photos decoded
    /// with `decode`.
    pub fn new(model: ModelRef, decode: DecodeOptions) -> Self {
        Self::with_loader(model, decode, Arc::new(CachedModels))
    }

    /// The same, with the backend from `loader`.
    pub fn with_loader(
        model: ModelRef,
        decode: DecodeOptions,
        loader: Arc<dyn ModelLoader>,
    ) -> Self {
        Self {
            model,
            loader,
            decode,
            signature: Signature::exact(vec![DataType::Binary], Volatility::Immutable),
            stats: Arc::default(),
        }
    }

    /// The model it runs.
    pub fn model(&self) -> &ModelRef {
        &self.model
    }

    /// The decode options.
    pub fn decode_options(&self) -> &DecodeOptions {
        &self.decode
    }

    /// The counters of work done through this instance.
    pub fn stats(&self) -> Arc<FeaturizeStats> {
        self.stats.clone()
    }

    /// Wraps it as a DataFusion UDF.
    pub fn into_udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }

    fn featurize(&self, content: &dyn Array) -> Result<ArrayRef> {
        let content = content.as_binary_opt::<i32>().ok_or_else(|| {
            DataFusionError::Execution(format!(
                "{FEATURIZE} expects binary content, got {}",
                content.data_type()
            ))
        })?;
        let width = self.model.spec.feature_width;
        let rows = content.len();
        let mut stage = StringBuilder::new();
        let mut message = StringBuilder::new();
        let mut ok = vec![false; rows];
        let mut failures: Vec<Option<(String, String)>> = vec![None; rows];

        // Prepare every readable photo into one contiguous input tensor.
        let start = Instant::now();
        let spec = self.model.spec.preprocess();
        let image_len = spec.tensor_len();
        let mut preparer = Preparer::new(spec, self.decode.clone());
        let mut input = vec![0f32; rows * image_len];
        let mut slots = Vec::with_capacity(rows);
        for row in 0..rows {
            if content.is_null(row) {
                continue; // a read error, reported by the caller
            }
            let slot = slots.len();
            let out = &mut input[slot * image_len..(slot + 1) * image_len];
            match preparer.prepare(content.value(row), out) {
                Ok(_) => {
                    ok[row] = true;
                    slots.push(row);
                }
                Err(e) => failures[row] = Some((e.stage().to_string(), e.to_string())),
            }
        }
        FeaturizeStats::add(&self.stats.prepare_nanos, start);

        // One model call for the batch.
        let mut values = vec![0f32; rows * width];
        if !slots.is_empty() {
            let start = Instant::now();
            let result = self.loader.load(&self.model).and_then(|m| {
                infer_batch(m.as_ref(), &input[..slots.len() * image_len], slots.len())
            });
            FeaturizeStats::add(&self.stats.infer_nanos, start);
            let m = process_metrics();
            m.model_seconds.observe(start.elapsed().as_secs_f64());
            m.model_batch_photos.observe(slots.len() as f64);
            match result {
                Ok(features) => {
                    for (&row, vector) in slots.iter().zip(features.rows()) {
                        match vector {
                            Ok(v) => values[row * width..(row + 1) * width].copy_from_slice(v),
                            Err(e) => {
                                ok[row] = false;
                                failures[row] = Some((e.stage().to_string(), e.to_string()));
                            }
                        }
                    }
                }
                Err(e @ orchard_model::ModelError::OutputSize { .. }) => return exec_err!("{e}"),
                Err(e) => {
                    for &row in &slots {
                        ok[row] = false;
                        failures[row] = Some(("inference".to_string(), e.to_string()));
                    }
                }
            }
        }

        for failure in &failures {
            match failure {
                Some((s, m)) => {
                    stage.append_value(s);
                    message.append_value(m);
                }
                None => {
                    stage.append_null();
                    message.append_null();
                }
            }
        }
        let failed = failures.iter().filter(|f| f.is_some()).count();
        self.stats.photos.fetch_add(rows as u64, Ordering::Relaxed);
        let m = process_metrics();
        m.photos.inc_by(rows as u64);
        for (s, _) in failures.iter().flatten() {
            m.photo_failed(s);
        }
        self.stats
            .failed
            .fetch_add(failed as u64, Ordering::Relaxed);

        let features = FixedSizeListArray::try_new(
            Arc::new(Field::new("item", DataType::Float32, false)),
            width as i32,
            Arc::new(Float32Array::from(values)),
            Some(NullBuffer::from(ok)),
        )?;
        let result = StructArray::try_new(
            result_fields(width),
            vec![
                Arc::new(features),
                Arc::new(stage.finish()),
                Arc::new(message.finish()),
            ],
            None,
        )?;
        Ok(Arc::new(result))
    }
}

/// Two instances are the same function when they run the same model with
/// the same decoding (whatever loads the model).
impl PartialEq for FeaturizeUdf {
    fn eq(&self, other: &Self) -> bool {
        self.model == other.model && self.decode == other.decode
    }
}

impl Eq for FeaturizeUdf {}

impl Hash for FeaturizeUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.model.hash(state);
        self.decode.max_pixels.hash(state);
        self.decode.apply_exif_orientation.hash(state);
    }
}

impl ScalarUDFImpl for FeaturizeUdf {
    fn name(&self) -> &str {
        FEATURIZE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields(
            self.model.spec.feature_width,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [content] = args.args.as_slice() else {
            return exec_err!("{FEATURIZE} takes one argument");
        };
        let content = content.to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(self.featurize(content.as_ref())?))
    }
}
