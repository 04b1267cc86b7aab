//! Decoding, orientation, colour conversion, PIL-compatible resizing and model
//! preprocessing for photos. Knows nothing of storage or models.

pub mod spec;

pub use spec::{Layout, Normalization, PreprocessSpec};
