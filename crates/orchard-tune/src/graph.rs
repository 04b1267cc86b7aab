//! The ONNX side of fine-tuning: the parent model read as a protobuf, cut
//! into its frozen part (photo → activations where the trainable tail
//! starts), its weights read, and trained weights written back into a copy
//! of it. The copy keeps the parent's input, output, nodes and every other
//! weight, so whatever runs the parent runs the fine-tuned model.

use std::collections::{BTreeSet, HashMap};

use prost::Message;
use tract_onnx::pb::{
    tensor_proto::DataType, type_proto, GraphProto, ModelProto, NodeProto, StringStringEntryProto,
    TensorProto, TypeProto, ValueInfoProto,
};

use crate::error::TuneError;

/// A named weight: its ONNX shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    /// Initializer name in the ONNX graph.
    pub name: String,
    /// ONNX shape (e.g. `[Cout, Cin, kh, kw]` for a Conv kernel).
    pub dims: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// An ONNX model held as its protobuf.
#[derive(Debug, Clone)]
pub struct OnnxGraph {
    proto: ModelProto,
    origin: String,
}

impl OnnxGraph {
    /// Decodes an ONNX model; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<OnnxGraph, TuneError> {
        let proto = ModelProto::decode(bytes).map_err(|source| TuneError::NotOnnx {
            origin: origin.to_string(),
            source,
        })?;
        if proto.graph.is_none() {
            return Err(TuneError::UnsupportedModel {
                origin: origin.to_string(),
                reason: "it has no graph".into(),
            });
        }
        Ok(OnnxGraph {
            proto,
            origin: origin.to_string(),
        })
    }

    /// Where the model came from (file or name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn graph(&self) -> &GraphProto {
        self.proto.graph.as_ref().expect("checked in from_bytes")
    }

    pub(crate) fn unsupported(&self, reason: impl Into<String>) -> TuneError {
        TuneError::UnsupportedModel {
            origin: self.origin.clone(),
            reason: reason.into(),
        }
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeProto> {
        self.graph().node.iter().find(|n| n.name == name)
    }

    /// An integer-list attribute of node `name` (empty when absent).
    pub fn ints(&self, node: &str, attribute: &str) -> Vec<i64> {
        self.node(node)
            .and_then(|n| n.attribute.iter().find(|a| a.name == attribute))
            .map(|a| a.ints.clone())
            .unwrap_or_default()
    }

    /// The float initializer `name`.
    pub fn weight(&self, name: &str) -> Result<Weight, TuneError> {
        let t = self
            .graph()
            .initializer
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| self.unsupported(format!("it has no weight `{name}`")))?;
        if t.data_type != DataType::Float as i32 {
            return Err(self.unsupported(format!("weight `{name}` is not float32")));
        }
        let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        let count: usize = dims.iter().product();
        let values: Vec<f32> = if !t.raw_data.is_empty() {
            t.raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        } else {
            t.float_data.clone()
        };
        if values.len() != count {
            return Err(self.unsupported(format!(
                "weight `{name}` holds {} values for shape {dims:?}",
                values.len()
            )));
        }
        Ok(Weight {
            name: name.to_string(),
            dims,
            values,
        })
    }

    /// The part of the model that computes tensor `cut` from the input: the
    /// nodes it depends on, the weights they read, `cut` as the only output.
    pub fn frozen_part(&self, cut: &str) -> Result<Vec<u8>, TuneError> {
        let graph = self.graph();
        let producer: HashMap<&str, usize> = graph
            .node
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i)))
            .collect();
        if !producer.contains_key(cut) {
            return Err(self.unsupported(format!("no node computes `{cut}`")));
        }
        let mut needed = BTreeSet::new();
        let mut stack = vec![cut];
        while let Some(tensor) = stack.pop() {
            if let Some(&i) = producer.get(tensor) {
                if needed.insert(i) {
                    stack.extend(graph.node[i].input.iter().map(String::as_str));
                }
            }
        }
        let nodes: Vec<NodeProto> = needed.iter().map(|&i| graph.node[i].clone()).collect();
        let used: BTreeSet<String> = nodes.iter().flat_map(|n| n.input.iter().cloned()).collect();
        let output = ValueInfoProto {
            name: cut.to_string(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: DataType::Float as i32,
                    shape: None,
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let part = GraphProto {
            node: nodes,
            initializer: graph
                .initializer
                .iter()
                .filter(|t| used.contains(&t.name))
                .cloned()
                .collect(),
            output: vec![output],
            value_info: Vec::new(),
            ..graph.clone()
        };
        let model = ModelProto {
            graph: Some(part),
            ..self.proto.clone()
        };
        Ok(model.encode_to_vec())
    }

    /// A copy of the model with `weights` replacing the initializers of the
    /// same names (same shapes) and `metadata` added to its properties.
    pub fn with_weights(
        &self,
        weights: &[Weight],
        metadata: &[(String, String)],
    ) -> Result<Vec<u8>, TuneError> {
        let mut model = self.proto.clone();
        let graph = model.graph.as_mut().expect("checked in from_bytes");
        for w in weights {
            let t: &mut TensorProto = graph
                .initializer
                .iter_mut()
                .find(|t| t.name == w.name)
                .ok_or_else(|| self.unsupported(format!("it has no weight `{}`", w.name)))?;
            let dims: Vec<i64> = w.dims.iter().map(|&d| d as i64).collect();
            if t.dims != dims || w.values.len() != w.dims.iter().product::<usize>() {
                return Err(TuneError::Shape(format!(
                    "weight `{}` is {:?} in the model, {:?} trained",
                    w.name, t.dims, w.dims
                )));
            }
            t.float_data.clear();
            t.raw_data = w.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        }
        for (key, value) in metadata {
            model.metadata_props.retain(|p| &p.key != key);
            model.metadata_props.push(StringStringEntryProto {
                key: key.clone(),
                value: value.clone(),
            });
        }
        Ok(model.encode_to_vec())
    }
}
