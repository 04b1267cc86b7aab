//! Fine-tuning mechanics on a tiny MobileNetV2-shaped tail built as a real
//! ONNX graph: candle's forward pass equals the ONNX graph's (run by
//! tract), gradients equal finite differences, the loss falls, and trained
//! weights written back into the graph give candle's features.

use orchard_tune::{
    cut_tensor, fine_tune, nhwc_batch, tail_features, trainable_blocks, DType, EpochReport,
    FineTuneOptions, Grid, Naming, OnnxGraph, Tail, TuneData, TuneObserver, TunePhoto,
};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, type_proto, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TypeProto, ValueInfoProto,
};
use tract_onnx::prelude::*;

const C: usize = 4;
const EXPAND: usize = 8;
const OUT: usize = 6;
const FEATURES: usize = 5;
const SIDE: usize = 3;

fn tensor(name: &str, dims: &[usize], rng: &mut StdRng, scale: f32) -> TensorProto {
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

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: AttributeType::Ints as i32,
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: v,
        r#type: AttributeType::Int as i32,
        ..Default::default()
    }
}

fn node(
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

fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
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
fn conv(
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
struct Style {
    block: fn(usize) -> String,
    head: &'static str,
    kernel: usize,
}

const MOBILENET: Style = Style {
    block: |i| format!("block_{i}_"),
    head: "Conv_1",
    kernel: 3,
};

const EFFICIENTNET: Style = Style {
    block: |i| format!("block{i}_"),
    head: "head",
    kernel: 5,
};

fn tiny_model(seed: u64) -> Vec<u8> {
    tiny_model_in(seed, MOBILENET)
}

/// A tiny graph: input → Identity (block 14's add) → block 15 (residual) →
/// block 16 → head conv → global average pool → `features`.
fn tiny_model_in(seed: u64, style: Style) -> Vec<u8> {
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

fn run_onnx(bytes: &[u8], map: &[f32]) -> Vec<f32> {
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

fn random_map(rng: &mut StdRng) -> Vec<f32> {
    (0..C * SIDE * SIDE)
        .map(|_| rng.random_range(-1.0..2.0))
        .collect()
}

const GRID: Grid = Grid {
    c: C,
    h: SIDE,
    w: SIDE,
};

#[test]
fn candle_forward_equals_the_onnx_graph() {
    forward_equals_onnx(MOBILENET, Naming::MobileNetV2);
    forward_equals_onnx(EFFICIENTNET, Naming::EfficientNetLite);
}

fn forward_equals_onnx(style: Style, naming: Naming) {
    let bytes = tiny_model_in(1, style);
    let graph = OnnxGraph::from_bytes(&bytes, "tiny").expect("decode");
    assert_eq!(Naming::of(&graph).expect("naming"), naming);
    assert_eq!(trainable_blocks(&graph).expect("blocks"), 2);
    let tail = Tail::from_onnx(&graph, 2, DType::F32).expect("tail");
    assert_eq!((tail.in_channels(), tail.feature_width()), (C, FEATURES));
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..4 {
        let map = random_map(&mut rng);
        let candle = tail_features(&tail, GRID, &[&map]).expect("candle");
        let onnx = run_onnx(&bytes, &map);
        for (a, b) in candle.iter().zip(&onnx) {
            assert!((a - b).abs() < 1e-4, "candle {candle:?} onnx {onnx:?}");
        }
    }
    // The frozen part ends where the tail starts.
    let cut = cut_tensor(&graph, 2).expect("cut");
    assert_eq!(cut, format!("{}add", (style.block)(14)));
    let frozen = graph.frozen_part(&cut).expect("cut");
    let part = OnnxGraph::from_bytes(&frozen, "frozen").expect("decode");
    let first_trained = format!("{}expand", (style.block)(15));
    assert!(part.node(&first_trained).is_none() && part.node(&cut).is_some());
    // One block: the cut is block 15's residual sum.
    assert_eq!(
        cut_tensor(&graph, 1).expect("cut"),
        format!("{}add", (style.block)(15))
    );
    assert!(matches!(
        Tail::from_onnx(&graph, 3, DType::F32),
        Err(orchard_tune::TuneError::UnsupportedModel { .. })
    ));
}

#[test]
fn gradients_match_finite_differences() {
    gradients_match(MOBILENET);
    gradients_match(EFFICIENTNET);
}

fn gradients_match(style: Style) {
    let bytes = tiny_model_in(3, style);
    let graph = OnnxGraph::from_bytes(&bytes, "tiny").expect("decode");
    let tail = Tail::from_onnx(&graph, 2, DType::F64).expect("tail");
    let mut rng = StdRng::seed_from_u64(4);
    let maps: Vec<Vec<f32>> = (0..3).map(|_| random_map(&mut rng)).collect();
    let refs: Vec<&[f32]> = maps.iter().map(Vec::as_slice).collect();
    let x = nhwc_batch(&refs, C, SIDE, SIDE, DType::F64).expect("batch");
    let targets = candle_core::Tensor::new(&[0u32, 3, 1], &candle_core::Device::Cpu).expect("y");
    let loss = |t: &Tail| {
        let f = t.forward(&x).expect("forward");
        orchard_tune::smoothed_cross_entropy(&f, &targets, 0.1).expect("loss")
    };
    let grads = loss(&tail).backward().expect("backward");
    let mut checked = 0;
    for var in tail.vars() {
        let g = grads.get(&var).expect("every weight has a gradient");
        let g: Vec<f64> = g.flatten_all().unwrap().to_vec1().unwrap();
        let w0: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        for i in [0, w0.len() / 2, w0.len() - 1] {
            let eps = 1e-6;
            let at = |delta: f64| {
                let mut w = w0.clone();
                w[i] += delta;
                var.set(
                    &candle_core::Tensor::from_vec(w, var.shape(), &candle_core::Device::Cpu)
                        .unwrap(),
                )
                .unwrap();
                loss(&tail).to_scalar::<f64>().unwrap()
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
            var.set(
                &candle_core::Tensor::from_vec(w0.clone(), var.shape(), &candle_core::Device::Cpu)
                    .unwrap(),
            )
            .unwrap();
            assert!(
                (numeric - g[i]).abs() <= 1e-6 + 1e-4 * numeric.abs(),
                "weight {i} of a {:?} tensor: autograd {} numeric {numeric}",
                var.shape(),
                g[i]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 14 * 3);
}

struct Steps(Vec<f64>, Vec<EpochReport>);
impl TuneObserver for Steps {
    fn on_step(&mut self, _: usize, _: usize, loss: f64) {
        self.0.push(loss);
    }
    fn on_epoch(&mut self, r: &EpochReport) {
        self.1.push(r.clone());
    }
}

/// Photos of three classes whose maps differ by a class pattern hidden in
/// noise, with noisy variants.
fn photos(rng: &mut StdRng, n: usize) -> Vec<TunePhoto> {
    (0..n)
        .map(|i| {
            let label = (i % 3) as u32;
            let variants = (0..3)
                .map(|_| {
                    let mut m = random_map(rng);
                    for (j, v) in m.iter_mut().enumerate() {
                        if j % 3 == label as usize {
                            *v += 0.8;
                        }
                    }
                    m
                })
                .collect();
            TunePhoto {
                label,
                weight: 1.0,
                variants,
            }
        })
        .collect()
}

#[test]
fn loss_falls_and_trained_weights_export() {
    let bytes = tiny_model(5);
    let graph = OnnxGraph::from_bytes(&bytes, "tiny").expect("decode");
    let tail = Tail::from_onnx(&graph, 2, DType::F32).expect("tail");
    let mut rng = StdRng::seed_from_u64(6);
    let train = photos(&mut rng, 90);
    let holdout = photos(&mut rng, 30);
    let data = TuneData {
        grid: GRID,
        classes: 3,
        train: &train,
        holdout: &holdout,
        validation: &[],
    };
    let opts = FineTuneOptions {
        epochs: 6,
        batch: 16,
        probe_steps: 50,
        patience: 6,
        lr_backbone: 3e-3,
        lr_classifier: 3e-3,
        ..Default::default()
    };
    let mut seen = Steps(Vec::new(), Vec::new());
    let report = fine_tune(&tail, &data, &opts, &mut seen).expect("fine-tune");
    assert_eq!(report.epochs.len(), 7, "{report:?}");
    assert_eq!(seen.1.len(), 7);
    let per = seen.0.len() / 6;
    let first: f64 = seen.0[..per].iter().sum::<f64>() / per as f64;
    let last: f64 = seen.0[seen.0.len() - per..].iter().sum::<f64>() / per as f64;
    assert!(
        last < first * 0.9,
        "loss did not fall: first epoch {first}, last {last}"
    );
    let kept = &report.epochs[report.kept_epoch];
    assert!(kept.holdout_loss.unwrap() <= report.epochs[0].holdout_loss.unwrap());
    assert!(kept.holdout_accuracy.unwrap() >= report.epochs[0].holdout_accuracy.unwrap());
    // The trained weights written back into the graph give candle's features.
    let tuned = graph
        .with_weights(
            &tail.onnx_weights().unwrap(),
            &[("parent".into(), "tiny".into())],
        )
        .unwrap();
    assert_ne!(tuned, bytes);
    let map = &holdout[0].variants[0];
    let candle = tail_features(&tail, GRID, &[map]).unwrap();
    let onnx = run_onnx(&tuned, map);
    for (a, b) in candle.iter().zip(&onnx) {
        assert!((a - b).abs() < 1e-4, "candle {candle:?} onnx {onnx:?}");
    }
}
