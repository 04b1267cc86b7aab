//! What a model expects and produces: [`ModelSpec`]. Reading it from an ONNX
//! file is the `onnx` front-end's job ([`ModelSpec::custom`]).

use orchard_image::{Layout, Normalization, PreprocessSpec};
use serde::{Deserialize, Serialize};

/// Everything the rest of Orchard needs to know about a feature-extraction model:
/// how to preprocess images for it, which tensors to feed and read, and how wide
/// the resulting feature vectors are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Short name (`mobilenet_v2` for the preset, the file stem for custom models).
    pub name: String,
    /// Input width in pixels.
    pub width: u32,
    /// Input height in pixels.
    pub height: u32,
    /// Tensor layout of the image input.
    pub layout: Layout,
    /// Pixel normalisation the model was trained with.
    pub normalization: Normalization,
    /// Name of the image input; `None` = the model's first input.
    #[serde(default)]
    pub input_name: Option<String>,
    /// Name of the feature output; `None` = the model's first output.
    #[serde(default)]
    pub output_name: Option<String>,
    /// Length of one feature vector (after flattening / pooling, see
    /// [`InferenceBackend`](crate::InferenceBackend)).
    pub feature_width: usize,
}

impl ModelSpec {
    /// The image preprocessing this model needs (size, layout, normalisation).
    pub fn preprocess(&self) -> PreprocessSpec {
        PreprocessSpec {
            width: self.width,
            height: self.height,
            layout: self.layout,
            normalization: self.normalization,
        }
    }

    /// Number of `f32` values in one preprocessed image (`width * height * 3`).
    pub fn image_len(&self) -> usize {
        self.preprocess().tensor_len()
    }

    /// Shape of an input tensor holding `batch` images, in [`ModelSpec::layout`].
    pub fn input_shape(&self, batch: usize) -> [usize; 4] {
        let (h, w) = (self.height as usize, self.width as usize);
        match self.layout {
            Layout::Nhwc => [batch, h, w, 3],
            Layout::Nchw => [batch, 3, h, w],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_shapes() {
        let spec = crate::preset::preset(crate::preset::MOBILENET_V2).expect("preset");
        assert_eq!(spec.input_shape(2), [2, 224, 224, 3]);
        assert_eq!(spec.image_len(), 224 * 224 * 3);
        assert_eq!(spec.preprocess().layout, Layout::Nhwc);
        let json = serde_json::to_string(&spec).expect("serialise");
        let back: ModelSpec = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, spec);
    }
}
