//! The cosine classifier trained with the tail: its linear probe on the
//! frozen features, its loss, and its scores on held-out photos.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use crate::data::{Grid, TuneData, TunePhoto};
use crate::error::TuneError;
use crate::tail::{nhwc_batch, Tail};

/// The cosine classifier trained with the tail: `scale · (f/|f|) W + b`.
pub(crate) struct Linear {
    pub(crate) w: Var,
    pub(crate) b: Var,
    scale: f64,
}

impl Linear {
    pub(crate) fn new(
        features: usize,
        classes: usize,
        scale: f64,
        dtype: DType,
    ) -> Result<Linear, TuneError> {
        let w = Tensor::zeros((features, classes), dtype, &Device::Cpu)?;
        let b = Tensor::zeros(classes, dtype, &Device::Cpu)?;
        Ok(Linear {
            w: Var::from_tensor(&w)?,
            b: Var::from_tensor(&b)?,
            scale,
        })
    }

    pub(crate) fn logits(&self, features: &Tensor) -> candle_core::Result<Tensor> {
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
pub(crate) fn scores(
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
pub(crate) fn probe(
    tail: &Tail,
    linear: &Linear,
    data: &TuneData,
    lr: f64,
    steps: usize,
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
            lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let mut last = f64::NAN;
    for _ in 0..steps {
        let log_p = candle_nn::ops::log_softmax(&linear.logits(&f)?, D::Minus1)?;
        let picked = log_p.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
        let loss = (picked * &row_w)?.sum_all()?.neg()?;
        last = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        opt.backward_step(&loss)?;
    }
    tracing::info!(
        "linear probe: {} steps in {:.1} s, loss {last:.4}",
        steps,
        started.elapsed().as_secs_f64()
    );
    Ok(last)
}

/// Per-photo sampling weights: each class gets the same total weight,
/// shared among its photos by their own weights.
pub(crate) fn class_balanced(photos: &[TunePhoto], classes: usize) -> Vec<f64> {
    let mut sums = vec![0f64; classes];
    for p in photos {
        sums[p.label as usize] += p.weight as f64;
    }
    photos
        .iter()
        .map(|p| p.weight as f64 / sums[p.label as usize].max(f64::MIN_POSITIVE))
        .collect()
}
