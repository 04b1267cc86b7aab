//! Decoding, orientation, colour conversion, PIL-compatible resizing and model
//! preprocessing for photos. Knows nothing of storage or models.
//!
//! The pipeline reproduces what a Keras reference did in Python,
//! `img_to_array(Image.open(BytesIO(b)).resize((224, 224)))` followed by
//! `preprocess_input`:
//!
//! 1. [`decode_rgb8`]: JPEG/PNG/WebP sniffed from the content, pixel budget checked
//!    on the header before decoding, EXIF orientation applied, everything
//!    converted to 8-bit RGB (alpha over white);
//! 2. [`resize_rgb8`] / [`Resizer`]: bit-exact port of Pillow's default
//!    `resize` filter (bicubic, a = −0.5, support scaled when downsampling,
//!    22-bit fixed point, horizontal pass first);
//! 3. [`preprocess_into`]: Keras / Torch / raw normalisation in NHWC or NCHW.
//!
//! [`Preparer`] chains the three with reused buffers; it is what a worker
//! thread calls per image.
//!
//! ```no_run
//! use orchard_image::{DecodeOptions, Layout, Normalization, PreprocessSpec, Preparer};
//! let spec = PreprocessSpec { width: 224, height: 224, layout: Layout::Nhwc, normalization: Normalization::Keras };
//! let mut preparer = Preparer::new(spec, DecodeOptions::default());
//! let mut input = vec![0f32; spec.tensor_len()];
//! # let bytes: Vec<u8> = Vec::new();
//! match preparer.prepare(&bytes, &mut input) {
//!     Ok(info) => println!("{}×{} {:?}", info.width, info.height, info.format),
//!     Err(e) => eprintln!("{} failed: {e}", e.stage()),
//! }
//! ```

pub mod augment;
pub mod decode;
pub mod error;
pub mod format;
#[doc(hidden)]
pub mod hostile;
mod libjpeg;
mod orient;
pub mod prepare;
pub mod preprocess;
pub mod resize;
pub mod spec;

pub use augment::{is_studio_shot, AugmentParts, Augmenter};
pub use decode::{
    decode_rgb8, decode_rgb8_for, decode_rgb8_with_info, DecodeOptions, ImageInfo,
    DEFAULT_MAX_PIXELS,
};
pub use error::{ImageError, Stage};
pub use format::{SourceColor, SourceFormat};
pub use image::RgbImage;
pub use prepare::{prepare, Preparer};
pub use preprocess::{preprocess_into, IMAGENET_MEAN, IMAGENET_STD};
pub use resize::{resize_rgb8, Resizer};
pub use spec::{Layout, Normalization, PreprocessSpec};
