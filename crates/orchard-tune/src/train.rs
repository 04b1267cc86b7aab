//! The fine-tuning loop: a linear probe first (so the new classifier does
//! not send random gradients into pretrained weights), then the tail and the
//! classifier trained together with AdamW, warm-up and cosine decay,
//! class-balanced sampling over cached augmented variants. It keeps the last
//! epoch ([`KeepEpoch::Last`]) or stops early on held-out groups
//! ([`KeepEpoch::LowestHoldoutLoss`]: their cross-entropy, smoother than the
//! accuracy of a few hundred photos), then mixes the kept weights with the
//! parent's ([`FineTuneOptions::mix`]).

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::classifier::{class_balanced, probe, scores, smoothed_cross_entropy, Linear};
use crate::data::{TuneData, TunePhoto};
use crate::error::TuneError;
use crate::tail::{nhwc_batch, Tail};

/// Which fine-tuned epoch's weights are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepEpoch {
    /// The last: the end of the cosine schedule. Held-out groups of the
    /// training photos' own visits are no proxy for other visits: on photos
    /// of other visits the last epoch scored as well or better than the one
    /// their cross-entropy picked in all runs measured but one, which it
    /// trailed by one photo (BENCHMARKS.md).
    #[default]
    Last,
    /// The one with the lowest cross-entropy on the held-out groups,
    /// stopping after [`FineTuneOptions::patience`] epochs without a lower
    /// one (the last epoch when there are no held-out groups).
    LowestHoldoutLoss,
}

/// How to fine-tune. The defaults are what `orchard train --fine-tune` uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FineTuneOptions {
    /// Most passes over the training photos.
    pub epochs: usize,
    /// Samples per step.
    pub batch: usize,
    /// Learning rate of the backbone's tail (peak).
    pub lr_backbone: f64,
    /// Learning rate of the classifier (peak).
    pub lr_classifier: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f64,
    /// Which epoch is kept.
    #[serde(default)]
    pub keep: KeepEpoch,
    /// With [`KeepEpoch::LowestHoldoutLoss`], stop after this many epochs
    /// without a lower held-out cross-entropy.
    pub patience: usize,
    /// Full-batch steps of the linear probe before fine-tuning.
    pub probe_steps: usize,
    /// Scale of the cosine classifier's logits.
    pub logit_scale: f64,
    /// Seed of the sampling.
    pub seed: u64,
    /// Share of the fine-tuned weights in the kept ones, the rest the
    /// parent's (weight-space ensembling, WiSE-FT: Wortsman et al., CVPR
    /// 2022): 1 keeps the fine-tuned weights as they are, 0 the parent's.
    /// Photos from other sources than the training photos gained from 0.7
    /// (BENCHMARKS.md); reports written before this option read as 1.
    #[serde(default = "unmixed")]
    pub mix: f64,
}

fn unmixed() -> f64 {
    1.0
}

impl Default for FineTuneOptions {
    fn default() -> Self {
        FineTuneOptions {
            epochs: 8,
            batch: 64,
            lr_backbone: 5e-5,
            lr_classifier: 5e-4,
            weight_decay: 1e-4,
            label_smoothing: 0.1,
            keep: KeepEpoch::Last,
            patience: 3,
            probe_steps: 200,
            logit_scale: 16.0,
            seed: 42,
            mix: 0.7,
        }
    }
}

/// One epoch's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 0 = the frozen backbone after the linear probe; 1.. = fine-tuned.
    pub epoch: usize,
    /// Mean training loss of the epoch (the probe's final loss at 0).
    pub loss: f64,
    /// Top-1 on the held-out groups, if any.
    pub holdout_accuracy: Option<f64>,
    /// Mean cross-entropy on the held-out groups (early stopping: smoother
    /// than the accuracy of a few hundred photos), if any.
    pub holdout_loss: Option<f64>,
    /// Top-1 on each named validation set (reported, never used to choose).
    pub validation: Vec<(String, f64)>,
    /// Seconds the epoch took.
    pub seconds: f64,
}

/// What fine-tuning did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneReport {
    /// The options.
    pub options: FineTuneOptions,
    /// Every epoch, the frozen baseline first.
    pub epochs: Vec<EpochReport>,
    /// The epoch whose weights were kept (1 or later).
    pub kept_epoch: usize,
}

/// Called as training goes.
pub trait TuneObserver {
    /// A step is done (`done` of `total` steps planned), with its loss.
    fn on_step(&mut self, _done: usize, _total: usize, _loss: f64) {}
    /// An epoch is done.
    fn on_epoch(&mut self, _report: &EpochReport) {}
}

impl TuneObserver for () {}

/// Learning-rate factor at `step` of `total`: linear warm-up over the first
/// 5 %, then cosine decay to zero.
pub fn schedule(step: usize, total: usize) -> f64 {
    let warm = (total / 20).max(1);
    if step < warm {
        (step + 1) as f64 / warm as f64
    } else {
        let t = (step - warm) as f64 / (total - warm).max(1) as f64;
        0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

fn epoch_report(
    tail: &Tail,
    linear: &Linear,
    data: &TuneData,
    epoch: usize,
    loss: f64,
    started: Instant,
) -> Result<EpochReport, TuneError> {
    let (holdout_accuracy, holdout_loss) = if data.holdout.is_empty() {
        (None, None)
    } else {
        let (accuracy, loss) = scores(tail, linear, data.grid, data.holdout)?;
        (Some(accuracy), Some(loss))
    };
    let validation = data
        .validation
        .iter()
        .map(|(name, photos)| Ok((name.clone(), scores(tail, linear, data.grid, photos)?.0)))
        .collect::<Result<_, TuneError>>()?;
    Ok(EpochReport {
        epoch,
        loss,
        holdout_accuracy,
        holdout_loss,
        validation,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Fine-tunes `tail` (in place) with a classifier of `data.classes` classes.
/// On return `tail` holds the kept epoch's weights, mixed with its weights
/// on entry (the parent's) by [`FineTuneOptions::mix`].
pub fn fine_tune(
    tail: &Tail,
    data: &TuneData,
    opts: &FineTuneOptions,
    observer: &mut dyn TuneObserver,
) -> Result<TuneReport, TuneError> {
    if data.train.is_empty() {
        return Err(TuneError::NoData("no training photo".into()));
    }
    if data.classes < 2 {
        return Err(TuneError::NoData(format!("{} class", data.classes)));
    }
    if let Some(p) = data
        .train
        .iter()
        .find(|p| p.variants.is_empty() || p.label as usize >= data.classes)
    {
        return Err(TuneError::Shape(format!(
            "a photo of label {} has {} variants",
            p.label,
            p.variants.len()
        )));
    }
    if !(0.0..=1.0).contains(&opts.mix) {
        return Err(TuneError::Options(format!(
            "the fine-tuned weights' share {} is not between 0 and 1",
            opts.mix
        )));
    }
    let parent = tail.snapshot()?;
    let dtype = tail.dtype();
    let linear = Linear::new(tail.feature_width(), data.classes, opts.logit_scale, dtype)?;
    let started = Instant::now();
    let probe_loss = probe(
        tail,
        &linear,
        data,
        opts.lr_classifier * 3.0,
        opts.probe_steps,
    )?;
    let baseline = epoch_report(tail, &linear, data, 0, probe_loss, started)?;
    observer.on_epoch(&baseline);
    // The frozen baseline is reported, not a candidate: its probe fits the
    // training photos' own visits without label smoothing, which flatters
    // it on held-out groups of those visits (BENCHMARKS.md), so only
    // fine-tuned epochs compete. `None`: the tail's current weights.
    let mut best: (f64, usize, Option<_>) = (f64::INFINITY, 0usize, None);
    let mut epochs = vec![baseline];

    let weights = class_balanced(data.train, data.classes);
    let sampler = WeightedIndex::new(&weights).map_err(|e| TuneError::NoData(e.to_string()))?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let steps_per_epoch = data.train.len().div_ceil(opts.batch).max(1);
    let total = steps_per_epoch * opts.epochs;
    let mut tail_opt = AdamW::new(
        tail.vars(),
        ParamsAdamW {
            lr: opts.lr_backbone,
            weight_decay: opts.weight_decay,
            ..Default::default()
        },
    )?;
    let mut head_opt = AdamW::new(
        vec![linear.w.clone(), linear.b.clone()],
        ParamsAdamW {
            lr: opts.lr_classifier,
            weight_decay: opts.weight_decay,
            ..Default::default()
        },
    )?;
    let mut step = 0;
    for epoch in 1..=opts.epochs {
        let started = Instant::now();
        let mut loss_sum = 0.0;
        for _ in 0..steps_per_epoch {
            let picks: Vec<&TunePhoto> = (0..opts.batch)
                .map(|_| &data.train[sampler.sample(&mut rng)])
                .collect();
            let maps: Vec<&[f32]> = picks
                .iter()
                .map(|p| p.variants[rng.random_range(0..p.variants.len())].as_slice())
                .collect();
            let x = nhwc_batch(&maps, data.grid.c, data.grid.h, data.grid.w, dtype)?;
            let y = Tensor::from_vec(
                picks.iter().map(|p| p.label).collect::<Vec<u32>>(),
                picks.len(),
                &Device::Cpu,
            )?;
            let logits = linear.logits(&tail.forward(&x)?)?;
            let loss = smoothed_cross_entropy(&logits, &y, opts.label_smoothing)?;
            let factor = schedule(step, total);
            tail_opt.set_learning_rate(opts.lr_backbone * factor);
            head_opt.set_learning_rate(opts.lr_classifier * factor);
            let grads = loss.backward()?;
            tail_opt.step(&grads)?;
            head_opt.step(&grads)?;
            let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            loss_sum += value;
            step += 1;
            observer.on_step(step, total, value);
        }
        let report = epoch_report(
            tail,
            &linear,
            data,
            epoch,
            loss_sum / steps_per_epoch as f64,
            started,
        )?;
        observer.on_epoch(&report);
        let score = report.holdout_loss.unwrap_or(f64::INFINITY);
        epochs.push(report);
        match opts.keep {
            KeepEpoch::Last => best.1 = epoch,
            KeepEpoch::LowestHoldoutLoss => {
                // Without held-out groups the last epoch is kept.
                let improved = data.holdout.is_empty() || score < best.0;
                if improved || best.1 == 0 {
                    best = (score, epoch, Some(tail.snapshot()?));
                } else if epoch - best.1 >= opts.patience {
                    break;
                }
            }
        }
    }
    if let Some(weights) = &best.2 {
        tail.restore(weights)?;
    }
    if opts.mix < 1.0 {
        tail.mix_with(&parent, opts.mix)?;
    }
    Ok(TuneReport {
        options: *opts,
        epochs,
        kept_epoch: best.1,
    })
}
