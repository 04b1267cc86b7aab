//! `label_index(label)`: the dense index of a label, from `_labels.json`.

use std::hash::{Hash, Hasher};

use datafusion::arrow::array::{AsArray, Int32Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use orchard_source::LabelIndex;

/// Name of the UDF.
pub const LABEL_INDEX_FN: &str = "label_index";

/// Maps labels to their index; a null or unknown label maps to null.
#[derive(Debug)]
pub struct LabelIndexUdf {
    index: LabelIndex,
    signature: Signature,
}

impl LabelIndexUdf {
    /// The UDF over `index`.
    pub fn new(index: LabelIndex) -> Self {
        Self {
            index,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }

    /// Wraps it as a DataFusion UDF.
    pub fn into_udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }

    /// The label index it applies.
    pub fn index(&self) -> &LabelIndex {
        &self.index
    }
}

impl PartialEq for LabelIndexUdf {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
    }
}

impl Eq for LabelIndexUdf {}

impl Hash for LabelIndexUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.index.entries().hash(state);
    }
}

impl ScalarUDFImpl for LabelIndexUdf {
    fn name(&self) -> &str {
        LABEL_INDEX_FN
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [labels] = args.args.as_slice() else {
            return exec_err!("{LABEL_INDEX_FN} takes one argument");
        };
        let labels = labels.to_array(args.number_rows)?;
        let labels = labels.as_string_opt::<i32>().ok_or_else(|| {
            DataFusionError::Execution(format!("{LABEL_INDEX_FN} expects utf8 labels"))
        })?;
        let out: Int32Array = labels
            .iter()
            .map(|l| l.and_then(|l| self.index.get(l)))
            .collect();
        Ok(ColumnarValue::Array(std::sync::Arc::new(out)))
    }
}
