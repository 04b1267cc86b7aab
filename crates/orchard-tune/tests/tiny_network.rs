//! Fine-tuning mechanics on a tiny MobileNetV2-shaped tail built as a real
//! ONNX graph: candle's forward pass equals the ONNX graph's (run by
//! tract), gradients equal finite differences, the loss falls, and trained
//! weights written back into the graph give candle's features.

use orchard_tune::{
    cut_tensor, fine_tune, nhwc_batch, tail_features, trainable_blocks, DType, EpochReport,
    FineTuneOptions, KeepEpoch, Naming, OnnxGraph, Tail, TuneData, TuneObserver, TunePhoto,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

mod common;
use common::*;

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

fn three_classes<'a>(train: &'a [TunePhoto], holdout: &'a [TunePhoto]) -> TuneData<'a> {
    TuneData {
        grid: GRID,
        classes: 3,
        train,
        holdout,
        validation: &[],
    }
}

/// Options for a few quick epochs on the tiny network.
fn quick(epochs: usize, probe_steps: usize) -> FineTuneOptions {
    FineTuneOptions {
        epochs,
        batch: 16,
        probe_steps,
        lr_backbone: 3e-3,
        lr_classifier: 3e-3,
        ..Default::default()
    }
}

#[test]
fn loss_falls_and_trained_weights_export() {
    let bytes = tiny_model(5);
    let graph = OnnxGraph::from_bytes(&bytes, "tiny").expect("decode");
    let tail = Tail::from_onnx(&graph, 2, DType::F32).expect("tail");
    let mut rng = StdRng::seed_from_u64(6);
    let train = photos(&mut rng, 90);
    let holdout = photos(&mut rng, 30);
    let data = three_classes(&train, &holdout);
    let opts = FineTuneOptions {
        keep: KeepEpoch::LowestHoldoutLoss,
        patience: 6,
        ..quick(6, 50)
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

#[test]
fn the_last_epoch_is_kept_by_default_and_no_epoch_is_skipped() {
    let bytes = tiny_model(5);
    let graph = OnnxGraph::from_bytes(&bytes, "tiny").expect("decode");
    let mut rng = StdRng::seed_from_u64(8);
    let train = photos(&mut rng, 60);
    let holdout = photos(&mut rng, 20);
    let data = three_classes(&train, &holdout);
    let opts = FineTuneOptions {
        patience: 1,
        ..quick(4, 20)
    };
    assert_eq!(opts.keep, KeepEpoch::Last);
    let tail = Tail::from_onnx(&graph, 2, DType::F32).expect("tail");
    let report = fine_tune(&tail, &data, &opts, &mut ()).expect("fine-tune");
    assert_eq!(report.epochs.len(), 5, "{report:?}");
    assert_eq!(report.kept_epoch, 4);
    let map = &holdout[0].variants[0];
    let frozen = Tail::from_onnx(&graph, 2, DType::F32).expect("tail");
    assert_ne!(
        tail_features(&tail, GRID, &[map]).unwrap(),
        tail_features(&frozen, GRID, &[map]).unwrap()
    );
}

/// Every weight of a tail, flattened.
fn weights_of(tail: &Tail) -> Vec<Vec<f32>> {
    tail.snapshot()
        .unwrap()
        .iter()
        .map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

#[test]
fn the_kept_weights_are_mixed_with_the_parents_and_a_share_out_of_range_is_refused() {
    let bytes = tiny_model(5);
    let graph = OnnxGraph::from_bytes(&bytes, "tiny").expect("decode");
    let mut rng = StdRng::seed_from_u64(9);
    let train = photos(&mut rng, 60);
    let holdout = photos(&mut rng, 20);
    let data = three_classes(&train, &holdout);
    let tuned_with = |mix: f64| {
        let tail = Tail::from_onnx(&graph, 2, DType::F32).expect("tail");
        let opts = FineTuneOptions {
            mix,
            ..quick(2, 10)
        };
        fine_tune(&tail, &data, &opts, &mut ()).expect("fine-tune");
        weights_of(&tail)
    };
    let parent = weights_of(&Tail::from_onnx(&graph, 2, DType::F32).unwrap());
    let tuned = tuned_with(1.0);
    assert_ne!(tuned, parent);
    // Share 0: the parent's weights, to the bit.
    assert_eq!(tuned_with(0.0), parent);
    // Share 0.5: half way, weight by weight.
    let half = tuned_with(0.5);
    for ((h, t), p) in half.iter().zip(&tuned).zip(&parent) {
        for ((h, t), p) in h.iter().zip(t).zip(p) {
            let want = 0.5 * (t + p);
            assert!(
                (h - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "{h} vs {want}"
            );
        }
    }
    assert_eq!(FineTuneOptions::default().mix, 0.7);
    // A snapshot of another tail's weights is refused, not half applied.
    let tail = Tail::from_onnx(&graph, 2, DType::F32).unwrap();
    let fewer = Tail::from_onnx(&graph, 1, DType::F32).unwrap();
    let err = tail.mix_with(&fewer.snapshot().unwrap(), 0.5).unwrap_err();
    assert!(err.to_string().contains("weights to mix with"), "{err}");
    assert_eq!(weights_of(&tail), parent);
    for mix in [1.5, -0.1, f64::NAN] {
        let tail = Tail::from_onnx(&graph, 2, DType::F32).unwrap();
        let opts = FineTuneOptions { mix, ..quick(1, 1) };
        let err = fine_tune(&tail, &data, &opts, &mut ()).unwrap_err();
        assert!(err.to_string().contains("between 0 and 1"), "{mix}: {err}");
    }
}
