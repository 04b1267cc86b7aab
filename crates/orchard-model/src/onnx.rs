//! The ONNX front-end: reading a model file's signature ([`inspect_onnx`]),
//! describing a user's model ([`ModelSpec::custom`]) and parsing it for tract
//! with the spec's input and output selected. Backends depend on it and on the
//! spec; nothing here depends on a backend.

use std::path::Path;

use orchard_image::{Layout, Normalization};
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::error::ModelError;
use crate::spec::ModelSpec;

impl ModelSpec {
    /// Describes a user-supplied ONNX model by reading the file ([`inspect_onnx`]):
    /// input/output names, layout (NCHW if the input's dimension 1 is 3, NHWC if
    /// its last dimension is 3) and feature width are taken from the model.
    ///
    /// `input_size` is `(width, height)`; it is required when the model's spatial
    /// input dimensions are dynamic and must agree with them when they are fixed.
    /// The spec's name is the file stem.
    pub fn custom(
        path: &Path,
        normalization: Normalization,
        input_size: Option<(u32, u32)>,
    ) -> Result<ModelSpec, ModelError> {
        let info = inspect_onnx(path)?;
        let layout = info.layout.ok_or_else(|| {
            ModelError::unsupported(
                path,
                format!(
                    "cannot tell the layout of input `{}` with shape {}: expected [N,3,H,W] (NCHW) or [N,H,W,3] (NHWC)",
                    info.input_name,
                    fmt_dims(&info.input_shape)
                ),
            )
        })?;
        let (h_axis, w_axis) = match layout {
            Layout::Nhwc => (1, 2),
            Layout::Nchw => (2, 3),
        };
        let model_h = info.input_shape[h_axis];
        let model_w = info.input_shape[w_axis];
        let (width, height) = match (input_size, model_w, model_h) {
            (Some((w, h)), Some(mw), Some(mh)) if (w as usize, h as usize) != (mw, mh) => {
                return Err(ModelError::unsupported(
                    path,
                    format!(
                        "requested input size {w}x{h} but the model's input is fixed to {mw}x{mh}"
                    ),
                ))
            }
            (Some(size), _, _) => size,
            (None, Some(mw), Some(mh)) => (to_u32(path, mw)?, to_u32(path, mh)?),
            (None, _, _) => {
                return Err(ModelError::unsupported(
                    path,
                    format!(
                    "input `{}` has dynamic spatial size {}; specify the input size (e.g. 224x224)",
                    info.input_name,
                    fmt_dims(&info.input_shape)
                ),
                ))
            }
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "custom".to_string());
        let mut spec = ModelSpec {
            name,
            width,
            height,
            layout,
            normalization,
            input_name: Some(info.input_name.clone()),
            output_name: Some(info.output_name.clone()),
            feature_width: 0,
        };
        spec.feature_width = match info.feature_width {
            Some(fw) => fw,
            None => feature_width_via_tract(path, &spec)?,
        };
        Ok(spec)
    }
}

fn to_u32(path: &Path, v: usize) -> Result<u32, ModelError> {
    u32::try_from(v)
        .map_err(|_| ModelError::unsupported(path, format!("input dimension {v} is too large")))
}

/// What [`inspect_onnx`] learnt from an ONNX file's graph signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnnxInfo {
    /// Names of all graph inputs that are not initializers.
    pub inputs: Vec<String>,
    /// Names of all graph outputs.
    pub outputs: Vec<String>,
    /// The image input (the first one).
    pub input_name: String,
    /// Its shape; `None` for a dynamic (symbolic or unknown) dimension.
    pub input_shape: Vec<Option<usize>>,
    /// Layout guessed from the input shape, `None` if it cannot be told.
    pub layout: Option<Layout>,
    /// The feature output (the first one).
    pub output_name: String,
    /// Its shape; `None` for a dynamic dimension.
    pub output_shape: Vec<Option<usize>>,
    /// Width of one feature vector after flattening / pooling, when the declared
    /// output shape tells it.
    pub feature_width: Option<usize>,
}

/// Reads an ONNX file's graph signature (without building the graph): input and
/// output names and shapes, the input layout (NCHW if dimension 1 is 3, NHWC if
/// the last dimension is 3) and, when the declared output shape allows, the
/// feature width (see [`InferenceBackend`](crate::InferenceBackend) for how 4-D
/// outputs are reduced).
pub fn inspect_onnx(path: &Path) -> Result<OnnxInfo, ModelError> {
    if !path.is_file() {
        return Err(ModelError::io(
            "cannot read model file",
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let proto = tract_onnx::onnx()
        .proto_model_for_path(path)
        .map_err(|e| ModelError::unsupported(path, format!("not a readable ONNX model: {e:#}")))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| ModelError::unsupported(path, "the model has no graph"))?;
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let real_inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .collect();
    let input = real_inputs
        .first()
        .ok_or_else(|| ModelError::unsupported(path, "the model has no input"))?;
    let output = graph
        .output
        .first()
        .ok_or_else(|| ModelError::unsupported(path, "the model has no output"))?;
    let input_shape = value_dims(input).ok_or_else(|| {
        ModelError::unsupported(
            path,
            format!(
                "input `{}` is not a tensor with a declared shape",
                input.name
            ),
        )
    })?;
    if input_shape.len() != 4 {
        return Err(ModelError::unsupported(
            path,
            format!(
                "input `{}` has shape {}; expected a 4-D image batch",
                input.name,
                fmt_dims(&input_shape)
            ),
        ));
    }
    let layout = guess_layout(&input_shape);
    let output_shape = value_dims(output).unwrap_or_default();
    let feature_width = declared_feature_width(&output_shape, layout);
    Ok(OnnxInfo {
        inputs: real_inputs.iter().map(|i| i.name.clone()).collect(),
        outputs: graph.output.iter().map(|o| o.name.clone()).collect(),
        input_name: input.name.clone(),
        input_shape,
        layout,
        output_name: output.name.clone(),
        output_shape,
        feature_width,
    })
}

/// NCHW if dimension 1 is 3, NHWC if the last one is; `None` when neither (or both).
fn guess_layout(shape: &[Option<usize>]) -> Option<Layout> {
    match (
        shape.get(1).copied().flatten(),
        shape.get(3).copied().flatten(),
    ) {
        (Some(3), Some(3)) => None,
        (Some(3), _) => Some(Layout::Nchw),
        (_, Some(3)) => Some(Layout::Nhwc),
        _ => None,
    }
}

/// Feature width implied by a declared output shape: `[N,F]` → F; `[N,C,1,1]` /
/// `[N,1,1,C]` → C; a spatial `[N,H,W,C]` / `[N,C,H,W]` map → C (pooled), with the
/// channel axis following the input layout.
fn declared_feature_width(shape: &[Option<usize>], layout: Option<Layout>) -> Option<usize> {
    match shape.len() {
        2 => shape[1],
        4 => match (shape[1], shape[2], shape[3]) {
            (Some(1), Some(1), c) => c,
            (c, Some(1), Some(1)) => c,
            (c1, _, c3) => match layout? {
                Layout::Nhwc => c3,
                Layout::Nchw => c1,
            },
        },
        _ => None,
    }
}

fn value_dims(v: &pb::ValueInfoProto) -> Option<Vec<Option<usize>>> {
    let ty = v.r#type.as_ref()?;
    let pb::type_proto::Value::TensorType(t) = ty.value.as_ref()?;
    let shape = t.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| match d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => {
                    Some(v as usize)
                }
                _ => None,
            })
            .collect(),
    )
}

/// `[N, 224, 224, 3]`-style rendering, `?` for dynamic dimensions.
pub(crate) fn fmt_dims(dims: &[Option<usize>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or_else(|| "?".to_string(), |v| v.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Asks tract for the output shape with the input fixed to one image, for models
/// whose declared output shape is dynamic.
fn feature_width_via_tract(path: &Path, spec: &ModelSpec) -> Result<usize, ModelError> {
    let model = typed_model(path, spec)?;
    let fact = model
        .output_fact(0)
        .map_err(|e| ModelError::tract("read the output shape", e))?;
    let dims: Vec<Option<usize>> = fact
        .shape
        .iter()
        .map(|d| d.to_i64().ok().and_then(|v| usize::try_from(v).ok()))
        .collect();
    declared_feature_width(&dims, Some(spec.layout)).ok_or_else(|| {
        ModelError::unsupported(
            path,
            format!(
                "cannot derive a feature width from output shape {}",
                fmt_dims(&dims)
            ),
        )
    })
}

/// Parses the ONNX file, selects the spec's input and output and fixes the input
/// to one image of the spec's shape.
pub(crate) fn inference_model(path: &Path, spec: &ModelSpec) -> Result<InferenceModel, ModelError> {
    let mut model = tract_onnx::onnx()
        .model_for_path(path)
        .map_err(|e| ModelError::tract(format!("load `{}`", path.display()), e))?;
    if let Some(name) = &spec.input_name {
        let inputs = model
            .input_outlets()
            .map_err(|e| ModelError::tract("list inputs", e))?
            .to_vec();
        let outlet = inputs
            .iter()
            .find(|o| model.node(o.node).name == *name)
            .copied()
            .ok_or_else(|| {
                ModelError::unsupported(
                    path,
                    format!(
                        "no input named `{name}`; the model's inputs are {:?}",
                        inputs
                            .iter()
                            .map(|o| model.node(o.node).name.as_str())
                            .collect::<Vec<_>>()
                    ),
                )
            })?;
        if inputs != [outlet] {
            model
                .set_input_outlets(&[outlet])
                .map_err(|e| ModelError::tract("select the input", e))?;
        }
    }
    let shape = spec.input_shape(1);
    model
        .set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape))
        .map_err(|e| ModelError::tract("set the input shape", e))?;
    match &spec.output_name {
        Some(name) => model.select_outputs_by_name([name]).map_err(|e| {
            ModelError::unsupported(path, format!("no output named `{name}`: {e:#}"))
        })?,
        None => {
            let outputs = model
                .output_outlets()
                .map_err(|e| ModelError::tract("list outputs", e))?;
            let first = *outputs
                .first()
                .ok_or_else(|| ModelError::unsupported(path, "the model has no output"))?;
            model
                .select_output_outlets(&[first])
                .map_err(|e| ModelError::tract("select the output", e))?;
        }
    }
    Ok(model)
}

/// The model typed (shapes inferred) but not optimised, with the input fixed to
/// one image; used to discover output shapes.
pub(crate) fn typed_model(path: &Path, spec: &ModelSpec) -> Result<TypedModel, ModelError> {
    inference_model(path, spec)?
        .into_typed()
        .map_err(|e| ModelError::tract(format!("analyse `{}`", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_guess() {
        assert_eq!(
            guess_layout(&[None, Some(3), Some(8), Some(8)]),
            Some(Layout::Nchw)
        );
        assert_eq!(
            guess_layout(&[None, Some(8), Some(8), Some(3)]),
            Some(Layout::Nhwc)
        );
        assert_eq!(guess_layout(&[None, None, None, None]), None);
    }

    #[test]
    fn feature_width_from_shapes() {
        let nhwc = Some(Layout::Nhwc);
        assert_eq!(
            declared_feature_width(&[None, Some(1280)], nhwc),
            Some(1280)
        );
        assert_eq!(
            declared_feature_width(&[None, Some(4), Some(1), Some(1)], nhwc),
            Some(4)
        );
        assert_eq!(
            declared_feature_width(&[None, Some(1), Some(1), Some(4)], None),
            Some(4)
        );
        assert_eq!(
            declared_feature_width(&[None, Some(7), Some(7), Some(16)], nhwc),
            Some(16)
        );
        assert_eq!(
            declared_feature_width(&[None, Some(16), Some(7), Some(7)], Some(Layout::Nchw)),
            Some(16)
        );
        assert_eq!(declared_feature_width(&[None, None], nhwc), None);
    }
}
