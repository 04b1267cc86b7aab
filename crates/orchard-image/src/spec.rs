//! How a model wants its input: size, tensor layout and pixel normalisation.

use serde::{Deserialize, Serialize};

/// Memory layout of one image tensor in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[batch, height, width, channels]` (Keras / TensorFlow).
    Nhwc,
    /// `[batch, channels, height, width]` (PyTorch).
    Nchw,
}

/// Pixel normalisation applied after resizing, on RGB values in `0..=255`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// Keras `mobilenet_v2.preprocess_input`: `x / 127.5 - 1`, range `[-1, 1]`.
    Keras,
    /// torchvision: `(x / 255 - mean) / std` with the ImageNet mean and std.
    Torch,
    /// Raw `0..=255` values as `f32`.
    None,
    /// TensorFlow's EfficientNet-Lite (and other TF-Lite image models):
    /// `(x - 127) / 128`, range `[-0.9921875, 1]`. Serialised as `"centered128"`.
    Centered128,
}

/// Everything needed to turn a decoded RGB image into one model input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PreprocessSpec {
    /// Target width in pixels.
    pub width: u32,
    /// Target height in pixels.
    pub height: u32,
    /// Tensor layout of the output.
    pub layout: Layout,
    /// Pixel normalisation.
    pub normalization: Normalization,
}

impl PreprocessSpec {
    /// Number of `f32` values one image occupies (`width * height * 3`).
    pub fn tensor_len(&self) -> usize {
        self.width as usize * self.height as usize * 3
    }
}
