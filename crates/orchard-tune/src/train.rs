//! The fine-tuning loop: a linear probe first (so the new classifier does
//! not send random gradients into pretrained weights), then the tail and the
//! classifier trained together with AdamW, warm-up and cosine decay,
//! class-balanced sampling over cached augmented variants. It keeps the last
//! epoch ([`KeepEpoch::Last`]) or stops early on held-out groups
//! ([`KeepEpoch::LowestHoldoutLoss`]: their cross-entropy, smoother than the
//! accuracy of a few hundred photos).

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::TuneError;
use crate::tail::{nhwc_batch, Tail};

/// One labelled photo: the frozen part's activations of the photo itself
/// (`variants[0]`) and of its augmented variants, NCHW.
#[derive(Debug, Clone, PartialEq)]
pub struct TunePhoto {
    /// Class index.
    pub label: u32,
    /// Sampling weight relative to other photos of its class (e.g. lower
    /// for studio shots).
    pub weight: f32,
    /// Activation maps, the photo first.
    pub variants: Vec<Vec<f32>>,
}

/// The activations' grid: channels, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

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

/// The labelled photos of a fine-tuning run.
#[derive(Debug, Clone, Copy)]
pub struct TuneData<'a> {
    /// The activations' grid.
    pub grid: Grid,
    /// Number of classes.
    pub classes: usize,
    /// Photos trained on.
    pub train: &'a [TunePhoto],
    /// Held-out groups: reported after each epoch, and early stopping with
    /// [`KeepEpoch::LowestHoldoutLoss`].
    pub holdout: &'a [TunePhoto],
    /// Named validation sets: reported after each epoch.
    pub validation: &'a [(String, Vec<TunePhoto>)],
}

/// The cosine classifier trained with the tail: `scale · (f/|f|) W + b`.
struct Linear {
    w: Var,
    b: Var,
    scale: f64,
}

impl Linear {
    fn new(features: usize, classes: usize, scale: f64, dtype: DType) -> Result<Linear, TuneError> {
        let w = Tensor::zeros((features, classes), dtype, &Device::Cpu)?;
        let b = Tensor::zeros(classes, dtype, &Device::Cpu)?;
        Ok(Linear {
            w: Var::from_tensor(&w)?,
            b: Var::from_tensor(&b)?,
            scale,
        })
    }

    fn logits(&self, features: &Tensor) -> candle_core::Result<Tensor> {
        let norm = (features.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?;
        (features.broadcast_div(&norm)? * self.scale)?
            .matmul(self.w.as_tensor())?
            .broadcast_add(self.b.as_tensor())
    }
}

/// Cross-entropy of `logits` against `targets` with label smoothing `eps`.
pub fn smoothed_cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    eps: f64,
) -> candle_core::Result<Tensor> {
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = log_p.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
    let nll = picked.mean_all()?.neg()?;
    if eps == 0.0 {
        return Ok(nll);
    }
    let uniform = log_p.mean_all()?.neg()?;
    (nll * (1.0 - eps))? + (uniform * eps)?
}

/// Pooled features of the first variant of each photo, computed by `tail`
/// in batches: `photos.len() × F`, row-major.
pub fn tail_features(tail: &Tail, grid: Grid, maps: &[&[f32]]) -> Result<Vec<f32>, TuneError> {
    let mut out = Vec::with_capacity(maps.len() * tail.feature_width());
    for chunk in maps.chunks(128) {
        let x = nhwc_batch(chunk, grid.c, grid.h, grid.w, tail.dtype())?;
        let f = tail.forward(&x)?.to_dtype(DType::F32)?;
        out.extend(f.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}

/// Top-1 accuracy and mean cross-entropy of the photos themselves.
fn scores(
    tail: &Tail,
    linear: &Linear,
    grid: Grid,
    photos: &[TunePhoto],
) -> Result<(f64, f64), TuneError> {
    if photos.is_empty() {
        return Ok((0.0, 0.0));
    }
    let maps: Vec<&[f32]> = photos.iter().map(|p| p.variants[0].as_slice()).collect();
    let f = tail_features(tail, grid, &maps)?;
    let f = Tensor::from_vec(f, (photos.len(), tail.feature_width()), &Device::Cpu)?
        .to_dtype(tail.dtype())?;
    let logits = linear.logits(&f)?;
    let predicted = logits.argmax(1)?.to_vec1::<u32>()?;
    let right = predicted
        .iter()
        .zip(photos)
        .filter(|(p, ph)| **p == ph.label)
        .count();
    let targets = Tensor::from_vec(
        photos.iter().map(|p| p.label).collect::<Vec<u32>>(),
        photos.len(),
        &Device::Cpu,
    )?;
    let loss = smoothed_cross_entropy(&logits, &targets, 0.0)?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?;
    Ok((right as f64 / photos.len() as f64, loss))
}

/// Fits the linear classifier alone on the frozen tail's features of the
/// photos (all variants); returns the final loss.
fn probe(
    tail: &Tail,
    linear: &Linear,
    data: &TuneData,
    opts: &FineTuneOptions,
) -> Result<f64, TuneError> {
    // The photos themselves (not their variants): cheap, and enough to
    // start the classifier where the frozen features put it.
    let maps: Vec<&[f32]> = data
        .train
        .iter()
        .map(|p| p.variants[0].as_slice())
        .collect();
    let targets: Vec<u32> = data.train.iter().map(|p| p.label).collect();
    let per_row: Vec<f32> = class_balanced(data.train, data.classes)
        .iter()
        .map(|&w| w as f32)
        .collect();
    let total: f32 = per_row.iter().sum();
    let dtype = tail.dtype();
    let started = Instant::now();
    let f = tail_features(tail, data.grid, &maps)?;
    tracing::info!(
        "linear probe: features of {} photos in {:.1} s",
        maps.len(),
        started.elapsed().as_secs_f64()
    );
    let f =
        Tensor::from_vec(f, (maps.len(), tail.feature_width()), &Device::Cpu)?.to_dtype(dtype)?;
    let y = Tensor::from_vec(targets, maps.len(), &Device::Cpu)?;
    let row_w =
        (Tensor::from_vec(per_row, maps.len(), &Device::Cpu)? / total as f64)?.to_dtype(dtype)?;
    let mut opt = AdamW::new(
        vec![linear.w.clone(), linear.b.clone()],
        ParamsAdamW {
            lr: opts.lr_classifier * 3.0,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let mut last = f64::NAN;
    for _ in 0..opts.probe_steps {
        let log_p = candle_nn::ops::log_softmax(&linear.logits(&f)?, D::Minus1)?;
        let picked = log_p.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
        let loss = (picked * &row_w)?.sum_all()?.neg()?;
        last = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        opt.backward_step(&loss)?;
    }
    tracing::info!(
        "linear probe: {} steps in {:.1} s, loss {last:.4}",
        opts.probe_steps,
        started.elapsed().as_secs_f64()
    );
    Ok(last)
}

/// Per-photo sampling weights: each class gets the same total weight,
/// shared among its photos by their own weights.
fn class_balanced(photos: &[TunePhoto], classes: usize) -> Vec<f64> {
    let mut sums = vec![0f64; classes];
    for p in photos {
        sums[p.label as usize] += p.weight as f64;
    }
    photos
        .iter()
        .map(|p| p.weight as f64 / sums[p.label as usize].max(f64::MIN_POSITIVE))
        .collect()
}

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
/// On return `tail` holds the kept epoch's weights.
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
    let dtype = tail.dtype();
    let linear = Linear::new(tail.feature_width(), data.classes, opts.logit_scale, dtype)?;
    let started = Instant::now();
    let probe_loss = probe(tail, &linear, data, opts)?;
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
    Ok(TuneReport {
        options: *opts,
        epochs,
        kept_epoch: best.1,
    })
}
