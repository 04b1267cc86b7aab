//! A tiny MobileNetV2- or EfficientNet-shaped tail built as a real ONNX
//! graph, run by tract, and random activation maps for it.

use orchard_tune::Grid;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, type_proto, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TypeProto, ValueInfoProto,
};
use tract_onnx::prelude::*;

pub const C: usize = 4;
pub const EXPAND: usize = 8;
pub const OUT: usize = 6;
pub const FEATURES: usize = 5;
pub const SIDE: usize = 3;

pub fn tensor(name: &str, dims: &[usize], rng: &mut StdRng, scale: f32) -> TensorProto {
    let n: usize = dims.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-scale..scale)).collect();
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: AttributeType::Ints as i32,
        ..Default::default()
    }
}

pub fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: v,
        r#type: AttributeType::Int as i32,
        ..Default::default()
    }
}

pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

pub fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
    use tract_onnx::pb::tensor_shape_proto::{dimension::Value, Dimension};
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(tract_onnx::pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Conv (+ Clip) nodes and weights of one layer, as Orchard's converter
/// names them. Returns the output tensor.
pub fn conv(
    g: &mut GraphProto,
    rng: &mut StdRng,
    name: &str,
    input: &str,
    (cin, cout): (usize, usize),
    depthwise: Option<usize>,
    relu6: bool,
) -> String {
    let (dims, attrs) = if let Some(k) = depthwise {
        let half = (k / 2) as i64;
        (
            vec![cout, 1, k, k],
            vec![
                ints("kernel_shape", &[k as i64, k as i64]),
                ints("strides", &[1, 1]),
                ints("pads", &[half; 4]),
                int("group", cout as i64),
            ],
        )
    } else {
        (
            vec![cout, cin, 1, 1],
            vec![
                ints("kernel_shape", &[1, 1]),
                ints("strides", &[1, 1]),
                ints("pads", &[0, 0, 0, 0]),
                int("group", 1),
            ],
        )
    };
    g.initializer
        .push(tensor(&format!("{name}.weight"), &dims, rng, 0.6));
    g.initializer
        .push(tensor(&format!("{name}.bias"), &[cout], rng, 0.3));
    let out = format!("{name}_bn");
    g.node.push(node(
        "Conv",
        name,
        &[input, &format!("{name}.weight"), &format!("{name}.bias")],
        &out,
        attrs,
    ));
    if !relu6 {
        return out;
    }
    let act = format!("{name}_relu6");
    g.node.push(node(
        "Clip",
        &act,
        &[&out, "clip_min", "clip_max"],
        &act,
        vec![],
    ));
    act
}

/// How the tiny graph names its layers and how wide its depthwise kernels
/// are: Keras' MobileNetV2 (3×3) or Orchard's EfficientNet-Lite converter
/// (5×5 here).
#[derive(Clone, Copy)]
pub struct Style {
    pub block: fn(usize) -> String,
    pub head: &'static str,
    pub kernel: usize,
}

pub const MOBILENET: Style = Style {
    block: |i| format!("block_{i}_"),
    head: "Conv_1",
    kernel: 3,
};

pub const EFFICIENTNET: Style = Style {
    block: |i| format!("block{i}_"),
    head: "head",
    kernel: 5,
};

pub fn tiny_model(seed: u64) -> Vec<u8> {
    tiny_model_in(seed, MOBILENET)
}

/// A tiny graph: input → Identity (block 14's add) → block 15 (residual) →
/// block 16 → head conv → global average pool → `features`.
pub fn tiny_model_in(seed: u64, style: Style) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut g = GraphProto {
        name: "tiny".into(),
        ..Default::default()
    };
    g.initializer.push(TensorProto {
        name: "clip_min".into(),
        data_type: DataType::Float as i32,
        float_data: vec![0.0],
        ..Default::default()
    });
    g.initializer.push(TensorProto {
        name: "clip_max".into(),
        data_type: DataType::Float as i32,
        float_data: vec![6.0],
        ..Default::default()
    });
    let cut = format!("{}add", (style.block)(14));
    g.node.push(node("Identity", &cut, &["x"], &cut, vec![]));
    let mut x = cut;
    for (i, out) in [(15, C), (16, OUT)] {
        let p = (style.block)(i);
        let e = conv(
            &mut g,
            &mut rng,
            &format!("{p}expand"),
            &x,
            (C, EXPAND),
            None,
            true,
        );
        let d = conv(
            &mut g,
            &mut rng,
            &format!("{p}depthwise"),
            &e,
            (EXPAND, EXPAND),
            Some(style.kernel),
            true,
        );
        let projected = conv(
            &mut g,
            &mut rng,
            &format!("{p}project"),
            &d,
            (EXPAND, out),
            None,
            false,
        );
        x = if out == C {
            let add = format!("{p}add");
            g.node
                .push(node("Add", &add, &[&x, &projected], &add, vec![]));
            add
        } else {
            projected
        };
    }
    let h = conv(
        &mut g,
        &mut rng,
        style.head,
        &x,
        (OUT, FEATURES),
        None,
        true,
    );
    g.node.push(node(
        "GlobalAveragePool",
        "avg_pool",
        &[&h],
        "pooled",
        vec![],
    ));
    g.node.push(node(
        "Flatten",
        "flatten",
        &["pooled"],
        "features",
        vec![int("axis", 1)],
    ));
    g.input
        .push(value("x", &[1, C as i64, SIDE as i64, SIDE as i64]));
    g.output.push(value("features", &[1, FEATURES as i64]));
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(g),
        ..Default::default()
    }
    .encode_to_vec()
}

pub fn run_onnx(bytes: &[u8], map: &[f32]) -> Vec<f32> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .expect("parse")
        .into_optimized()
        .expect("optimise")
        .into_runnable()
        .expect("plan");
    let input =
        tract_ndarray::Array4::from_shape_vec((1, C, SIDE, SIDE), map.to_vec()).expect("shape");
    let out = model.run(tvec!(Tensor::from(input).into())).expect("run");
    out[0]
        .to_plain_array_view::<f32>()
        .expect("f32")
        .iter()
        .copied()
        .collect()
}

pub fn random_map(rng: &mut StdRng) -> Vec<f32> {
    (0..C * SIDE * SIDE)
        .map(|_| rng.random_range(-1.0..2.0))
        .collect()
}

pub const GRID: Grid = Grid {
    c: C,
    h: SIDE,
    w: SIDE,
};
