//! PCA inside plans: `pca_stats(features)`, an aggregate whose partial states
//! merge (on any partition, in any process), and `pca_project(features)`, a
//! scalar UDF carrying a fitted model.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, FixedSizeListArray, Float32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use orchard_pca::{PcaModel, PcaStats};

use crate::schema::vector_type;

/// Name of the statistics aggregate.
pub const PCA_STATS: &str = "pca_stats";
/// Name of the projection UDF.
pub const PCA_PROJECT: &str = "pca_project";

fn pca_err(e: orchard_pca::PcaError) -> DataFusionError {
    DataFusionError::Execution(format!("PCA: {e}"))
}

/// The rows of a `fixed_size_list<float32>` array that are not null, copied
/// into one row-major buffer (or borrowed when none is null).
fn valid_rows(array: &dyn Array, dim: usize) -> Result<std::borrow::Cow<'_, [f32]>> {
    let list: &FixedSizeListArray = array.as_fixed_size_list_opt().ok_or_else(|| {
        DataFusionError::Execution(format!(
            "expected fixed_size_list<float32>[{dim}], got {}",
            array.data_type()
        ))
    })?;
    if list.value_length() as usize != dim {
        return exec_err!(
            "expected vectors of width {dim}, got width {}",
            list.value_length()
        );
    }
    let values: &Float32Array = list.values().as_primitive_opt().ok_or_else(|| {
        DataFusionError::Execution(format!(
            "expected float32 vectors, got {}",
            list.values().data_type()
        ))
    })?;
    let values = values.values();
    let start = list.offset() * dim;
    let all = &values[start.min(values.len())..];
    if list.null_count() == 0 {
        return Ok(std::borrow::Cow::Borrowed(&all[..list.len() * dim]));
    }
    let mut out = Vec::with_capacity((list.len() - list.null_count()) * dim);
    for row in 0..list.len() {
        if list.is_valid(row) {
            out.extend_from_slice(&all[row * dim..(row + 1) * dim]);
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// `pca_stats(features)`: count, mean and co-moment of the non-null vectors,
/// as the binary encoding of [`PcaStats`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PcaStatsUdaf {
    dim: usize,
    signature: Signature,
}

impl PcaStatsUdaf {
    /// The aggregate over vectors of width `dim`.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            signature: Signature::exact(vec![vector_type(dim)], Volatility::Immutable),
        }
    }

    /// Wraps it as a DataFusion aggregate.
    pub fn into_udaf(self) -> AggregateUDF {
        AggregateUDF::new_from_impl(self)
    }

    /// The vector width.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

impl AggregateUDFImpl for PcaStatsUdaf {
    fn name(&self) -> &str {
        PCA_STATS
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(PcaStatsAccumulator {
            stats: PcaStats::new(self.dim).map_err(pca_err)?,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[stats]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

#[derive(Debug)]
struct PcaStatsAccumulator {
    stats: PcaStats,
}

impl Accumulator for PcaStatsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = valid_rows(values[0].as_ref(), self.stats.dim())?;
        if !rows.is_empty() {
            self.stats.update(&rows).map_err(pca_err)?;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Binary(Some(self.stats.to_bytes())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.stats.dim() * (self.stats.dim() + 3) / 2 * 8
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let states: &BinaryArray = states[0].as_binary_opt().ok_or_else(|| {
            DataFusionError::Internal("pca_stats state must be binary".to_string())
        })?;
        for state in states.iter().flatten() {
            let other = PcaStats::from_bytes(state).map_err(pca_err)?;
            self.stats.merge(&other).map_err(pca_err)?;
        }
        Ok(())
    }
}

/// `pca_project(features)`: the centred (and, if fitted so, standardised)
/// projection of each vector on the model's components; null stays null.
#[derive(Debug)]
pub struct PcaProjectUdf {
    model: Arc<PcaModel>,
    fingerprint: u64,
    signature: Signature,
}

impl PcaProjectUdf {
    /// The projection with a fitted `model`.
    pub fn new(model: Arc<PcaModel>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        model.k().hash(&mut hasher);
        model.dim().hash(&mut hasher);
        for v in model.mean().iter().chain(model.components()) {
            v.to_bits().hash(&mut hasher);
        }
        let signature = Signature::exact(vec![vector_type(model.dim())], Volatility::Immutable);
        Self {
            fingerprint: hasher.finish(),
            model,
            signature,
        }
    }

    /// The fitted model.
    pub fn model(&self) -> &Arc<PcaModel> {
        &self.model
    }

    /// Wraps it as a DataFusion UDF.
    pub fn into_udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }
}

impl PartialEq for PcaProjectUdf {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl Eq for PcaProjectUdf {}

impl Hash for PcaProjectUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.fingerprint.hash(state);
    }
}

impl ScalarUDFImpl for PcaProjectUdf {
    fn name(&self) -> &str {
        PCA_PROJECT
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(vector_type(self.model.k()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [features] = args.args.as_slice() else {
            return exec_err!("{PCA_PROJECT} takes one argument");
        };
        let features = features.to_array(args.number_rows)?;
        let (dim, k) = (self.model.dim(), self.model.k());
        let list: &FixedSizeListArray = features
            .as_fixed_size_list_opt()
            .ok_or_else(|| DataFusionError::Execution(format!("{PCA_PROJECT} expects vectors")))?;
        let rows = valid_rows(list, dim)?;
        let n_valid = rows.len() / dim;
        let mut projected = vec![0f32; n_valid * k];
        if n_valid > 0 {
            self.model
                .project_batch(&rows, &mut projected)
                .map_err(pca_err)?;
        }
        // Spread the projected rows back to their positions (nulls stay zero).
        let values = if list.null_count() == 0 {
            projected
        } else {
            let mut values = vec![0f32; list.len() * k];
            let mut next = 0;
            for row in 0..list.len() {
                if list.is_valid(row) {
                    values[row * k..(row + 1) * k]
                        .copy_from_slice(&projected[next * k..(next + 1) * k]);
                    next += 1;
                }
            }
            values
        };
        let out = FixedSizeListArray::try_new(
            Arc::new(Field::new("item", DataType::Float32, false)),
            k as i32,
            Arc::new(Float32Array::from(values)),
            list.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
