//! Column names and Arrow schemas of every table Orchard reads or writes.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Path of the photo as the user refers to it (local path or URL).
pub const PATH: &str = "path";
/// Parent folder's name.
pub const LABEL: &str = "label";
/// Dense index of the label (`_labels.json`).
pub const LABEL_INDEX: &str = "label_index";
/// Size in bytes.
pub const SIZE: &str = "size";
/// Last modification time.
pub const MODIFIED: &str = "modification_time";
/// The photo's bytes.
pub const CONTENT: &str = "content";
/// Why the photo could not be read, when it could not.
pub const READ_ERROR: &str = "read_error";
/// The featurisation result (a struct of [`FEATURES`], [`ERROR_STAGE`], [`ERROR_MESSAGE`]).
pub const RESULT: &str = "result";
/// Model features.
pub const FEATURES: &str = "features";
/// PCA projection.
pub const PCA: &str = "pca";
/// The stage where a photo failed (`read`, `decode`, `resize`, `inference`, …).
pub const ERROR_STAGE: &str = "stage";
/// The reason a photo failed.
pub const ERROR_MESSAGE: &str = "message";

/// A `fixed_size_list<float32>[width]` type, the type of feature and PCA vectors.
pub fn vector_type(width: usize) -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new("item", DataType::Float32, false)),
        width as i32,
    )
}

/// The photos table: Spark's `binaryFile` columns plus the label and a read error.
pub fn photos_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(PATH, DataType::Utf8, false),
        Field::new(LABEL, DataType::Utf8, true),
        Field::new(SIZE, DataType::UInt64, false),
        Field::new(
            MODIFIED,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(CONTENT, DataType::Binary, true),
        Field::new(READ_ERROR, DataType::Utf8, true),
    ]))
}

/// The fields of the featurisation result struct.
pub fn result_fields(width: usize) -> Fields {
    Fields::from(vec![
        Field::new(FEATURES, vector_type(width), true),
        Field::new(ERROR_STAGE, DataType::Utf8, true),
        Field::new(ERROR_MESSAGE, DataType::Utf8, true),
    ])
}

/// `_errors.parquet`: one row per input that is not in the output.
pub fn errors_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(PATH, DataType::Utf8, false),
        Field::new(ERROR_STAGE, DataType::Utf8, false),
        Field::new(ERROR_MESSAGE, DataType::Utf8, false),
    ]))
}
