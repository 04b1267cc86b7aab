//! Multinomial logistic regression (softmax, L2 penalty on the weights, not
//! on the intercepts), fitted with L-BFGS on the full batch.
//!
//! The objective is scikit-learn's `LogisticRegression(C)` divided by the
//! total sample weight: `Σᵢ wᵢ·CEᵢ / Σᵢ wᵢ + ½·λ·‖W‖²`, with
//! `λ = 1 / (C · Σᵢ wᵢ)` when given as `C`. Products run in `f32` through
//! faer on every core; sums and the optimiser in `f64`.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};

use crate::error::ClassifyError;
use crate::lbfgs::{minimize, LbfgsOptions, LbfgsReport};

/// Training data: `n × dim` row-major features, a class per row, and a
/// weight per row.
#[derive(Debug, Clone, Copy)]
pub struct TrainingSet<'a> {
    /// Row-major features.
    pub features: &'a [f32],
    /// Feature width.
    pub dim: usize,
    /// Class index of each row, `< classes`.
    pub targets: &'a [u32],
    /// Weight of each row (class and source weights folded in).
    pub weights: &'a [f64],
    /// Number of classes.
    pub classes: usize,
}

impl TrainingSet<'_> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    fn check(&self) -> Result<(), ClassifyError> {
        let n = self.len();
        if n == 0 {
            return Err(ClassifyError::NoTrainingData);
        }
        if self.features.len() != n * self.dim || self.weights.len() != n {
            return Err(ClassifyError::internal(format!(
                "training set of {n} rows has {} feature values (dim {}) and {} weights",
                self.features.len(),
                self.dim,
                self.weights.len()
            )));
        }
        if let Some(t) = self.targets.iter().find(|&&t| t as usize >= self.classes) {
            return Err(ClassifyError::internal(format!(
                "class index {t} out of range for {} classes",
                self.classes
            )));
        }
        if self.weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(ClassifyError::internal(
                "negative or non-finite sample weight",
            ));
        }
        Ok(())
    }
}

/// A fitted softmax classifier: `logits = x·W + b`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxModel {
    /// Feature width.
    pub dim: usize,
    /// Number of classes.
    pub classes: usize,
    /// `dim × classes`, row-major.
    pub weights: Vec<f32>,
    /// One intercept per class.
    pub bias: Vec<f32>,
}

impl SoftmaxModel {
    /// Logits of a row-major batch (`rows.len() / dim` rows), row-major.
    pub fn logits(&self, rows: &[f32]) -> Vec<f32> {
        let n = rows.len() / self.dim;
        let mut out = vec![0f32; n * self.classes];
        if n == 0 {
            return out;
        }
        matmul(
            MatMut::from_row_major_slice_mut(&mut out, n, self.classes),
            Accum::Replace,
            MatRef::from_row_major_slice(rows, n, self.dim),
            MatRef::from_row_major_slice(&self.weights, self.dim, self.classes),
            1.0f32,
            Par::Seq,
        );
        for row in out.chunks_exact_mut(self.classes) {
            for (v, b) in row.iter_mut().zip(&self.bias) {
                *v += b;
            }
        }
        out
    }
}

/// The softmax of one row of logits, in place.
pub fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    row.iter_mut().for_each(|v| *v /= sum);
}

/// The penalised, weighted cross-entropy and its gradient, with the buffers
/// one evaluation needs. Parameters are `W` (`dim × classes`, row-major)
/// followed by the intercepts. The penalty pulls `W` towards `prior` (zero
/// when there is none).
struct Objective<'a> {
    data: &'a TrainingSet<'a>,
    l2: f64,
    prior: Option<&'a [f64]>,
    total_weight: f64,
    w32: Vec<f32>,
    z: Vec<f32>,
    r: Vec<f32>,
    gw: Vec<f32>,
}

impl<'a> Objective<'a> {
    fn new(data: &'a TrainingSet<'a>, l2: f64, prior: Option<&'a [f64]>) -> Self {
        let (n, d, k) = (data.len(), data.dim, data.classes);
        Objective {
            data,
            l2,
            prior,
            total_weight: data.weights.iter().sum(),
            w32: vec![0f32; d * k],
            z: vec![0f32; n * k],
            r: vec![0f32; n * k],
            gw: vec![0f32; d * k],
        }
    }

    fn evaluate(&mut self, params: &[f64], grad: &mut [f64]) -> f64 {
        let data = self.data;
        let (n, d, k) = (data.len(), data.dim, data.classes);
        let x = MatRef::from_row_major_slice(data.features, n, d);
        let (w, b) = params.split_at(d * k);
        self.w32.iter_mut().zip(w).for_each(|(o, v)| *o = *v as f32);
        matmul(
            MatMut::from_row_major_slice_mut(&mut self.z, n, k),
            Accum::Replace,
            x,
            MatRef::from_row_major_slice(&self.w32, d, k),
            1.0f32,
            Par::rayon(0),
        );
        let mut loss = 0.0f64;
        let mut gb = vec![0.0f64; k];
        for i in 0..n {
            let zi = &mut self.z[i * k..(i + 1) * k];
            for (v, bias) in zi.iter_mut().zip(b) {
                *v += *bias as f32;
            }
            let max = zi.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let sum: f64 = zi.iter().map(|&v| (v as f64 - max).exp()).sum();
            let log_sum = max + sum.ln();
            let t = data.targets[i] as usize;
            let wi = data.weights[i] / self.total_weight;
            loss += wi * (log_sum - zi[t] as f64);
            let ri = &mut self.r[i * k..(i + 1) * k];
            for c in 0..k {
                let p = (zi[c] as f64 - log_sum).exp();
                let g = wi * (p - if c == t { 1.0 } else { 0.0 });
                ri[c] = g as f32;
                gb[c] += g;
            }
        }
        matmul(
            MatMut::from_row_major_slice_mut(&mut self.gw, d, k),
            Accum::Replace,
            x.transpose(),
            MatRef::from_row_major_slice(&self.r, n, k),
            1.0f32,
            Par::rayon(0),
        );
        let (grad_w, grad_b) = grad.split_at_mut(d * k);
        let mut penalty = 0.0;
        for (i, ((g, &gv), &wv)) in grad_w.iter_mut().zip(&self.gw).zip(w).enumerate() {
            let off = wv - self.prior.map_or(0.0, |p| p[i]);
            *g = gv as f64 + self.l2 * off;
            penalty += off * off;
        }
        grad_b.copy_from_slice(&gb);
        loss + 0.5 * self.l2 * penalty
    }
}

/// Fits the model by minimising the penalised, weighted cross-entropy with
/// L-BFGS, the weights pulled towards `prior` (`dim × classes`, row-major;
/// zero when `None`) and started from it (the problem is convex, so the
/// start does not matter and the result is deterministic).
pub fn fit_softmax(
    data: &TrainingSet<'_>,
    l2: f64,
    prior: Option<&[f64]>,
    options: &LbfgsOptions,
) -> Result<(SoftmaxModel, LbfgsReport), ClassifyError> {
    data.check()?;
    let (d, k) = (data.dim, data.classes);
    if data.weights.iter().sum::<f64>() <= 0.0 {
        return Err(ClassifyError::NoTrainingData);
    }
    if prior.is_some_and(|p| p.len() != d * k) {
        return Err(ClassifyError::internal(
            "the prior weights do not match the features and classes",
        ));
    }
    let mut objective = Objective::new(data, l2, prior);
    let mut params = vec![0.0f64; d * k + k];
    if let Some(p) = prior {
        params[..d * k].copy_from_slice(p);
    }
    let report = minimize(|p, g| objective.evaluate(p, g), &mut params, options);
    if !report.value.is_finite() {
        return Err(ClassifyError::internal(
            "training diverged (non-finite loss); are the features finite?",
        ));
    }
    let (w, b) = params.split_at(d * k);
    Ok((
        SoftmaxModel {
            dim: d,
            classes: k,
            weights: w.iter().map(|&v| v as f32).collect(),
            bias: b.iter().map(|&v| v as f32).collect(),
        },
        report,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated Gaussian blobs in 2-D.
    fn blobs() -> (Vec<f32>, Vec<u32>) {
        let centres = [(0.0, 3.0), (3.0, -2.0), (-3.0, -2.0)];
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..300u32 {
            let c = i % 3;
            // Deterministic jitter.
            let a = ((i * 37 % 101) as f32 / 101.0 - 0.5) * 1.5;
            let b = ((i * 53 % 97) as f32 / 97.0 - 0.5) * 1.5;
            x.extend([centres[c as usize].0 + a, centres[c as usize].1 + b]);
            y.push(c);
        }
        (x, y)
    }

    /// The blobs as a training set with weights `w`.
    fn training_set<'a>(
        features: &'a [f32],
        dim: usize,
        targets: &'a [u32],
        weights: &'a [f64],
        classes: usize,
    ) -> TrainingSet<'a> {
        TrainingSet {
            features,
            dim,
            targets,
            weights,
            classes,
        }
    }

    fn blob_set<'a>(x: &'a [f32], y: &'a [u32], w: &'a [f64]) -> TrainingSet<'a> {
        training_set(x, 2, y, w, 3)
    }

    #[test]
    fn separates_blobs() {
        let (x, y) = blobs();
        let w = vec![1.0; y.len()];
        let data = blob_set(&x, &y, &w);
        let (model, report) = fit_softmax(&data, 1e-2, None, &LbfgsOptions::default()).unwrap();
        assert!(report.converged, "{report:?}");
        let logits = model.logits(&x);
        let correct = logits
            .chunks(3)
            .zip(&y)
            .filter(|(l, &t)| {
                let best = (0..3).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap();
                best == t as usize
            })
            .count();
        assert_eq!(correct, y.len());
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let (x, y) = blobs();
        let w: Vec<f64> = (0..y.len()).map(|i| 1.0 + (i % 4) as f64).collect();
        let data = blob_set(&x, &y, &w);
        // With and without prior weights pulling W away from zero.
        let prior: Vec<f64> = (0..6).map(|i| (i as f64 * 0.71).cos()).collect();
        for prior in [None, Some(prior.as_slice())] {
            let mut objective = Objective::new(&data, 0.05, prior);
            let params: Vec<f64> = (0..9).map(|i| (i as f64 * 0.37).sin() * 0.3).collect();
            let mut grad = vec![0.0; 9];
            objective.evaluate(&params, &mut grad);
            let mut scratch = vec![0.0; 9];
            for i in 0..9 {
                let h = 1e-3;
                let mut p = params.clone();
                p[i] += h;
                let up = objective.evaluate(&p, &mut scratch);
                p[i] -= 2.0 * h;
                let down = objective.evaluate(&p, &mut scratch);
                let numeric = (up - down) / (2.0 * h);
                assert!(
                    (numeric - grad[i]).abs() < 1e-3,
                    "param {i}: {numeric} vs {}",
                    grad[i]
                );
            }
        }
        // At zero every class is equally likely: the loss is ln 3.
        let mut objective = Objective::new(&data, 0.05, None);
        let zero = objective.evaluate(&[0.0; 9], &mut [0.0; 9]);
        assert!((zero - 3f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn a_prior_holds_the_weights_where_the_data_is_silent() {
        // Class 0 and 1 are told apart along x; nothing varies along y, so
        // the weights on y stay at the prior's, and a strong penalty keeps
        // the x weights near it too.
        let x = vec![1.0f32, 0.0, -1.0, 0.0];
        let y = vec![0u32, 1];
        let w = vec![1.0, 1.0];
        let data = training_set(&x, 2, &y, &w, 2);
        let prior = vec![0.0, 0.0, 2.0, -2.0];
        let (model, _) = fit_softmax(&data, 1e-2, Some(&prior), &LbfgsOptions::default()).unwrap();
        assert!((model.weights[2] - 2.0).abs() < 1e-4, "{:?}", model.weights);
        assert!((model.weights[3] + 2.0).abs() < 1e-4, "{:?}", model.weights);
        assert!(model.weights[0] > model.weights[1], "{:?}", model.weights);
        let (plain, _) = fit_softmax(&data, 1e-2, None, &LbfgsOptions::default()).unwrap();
        assert!(plain.weights[2].abs() < 1e-4 && plain.weights[3].abs() < 1e-4);
        let (held, _) = fit_softmax(&data, 1e4, Some(&prior), &LbfgsOptions::default()).unwrap();
        for (got, want) in held.weights.iter().zip(&prior) {
            assert!((f64::from(*got) - want).abs() < 1e-3, "{:?}", held.weights);
        }
    }

    #[test]
    fn weights_shift_the_decision() {
        // Two identical points with different labels: the heavier label wins.
        let x = vec![1.0f32, 1.0];
        let y = vec![0u32, 1];
        let w = vec![3.0, 1.0];
        let data = training_set(&x, 1, &y, &w, 2);
        let (model, _) = fit_softmax(&data, 1e-3, None, &LbfgsOptions::default()).unwrap();
        let mut p = model.logits(&[1.0]);
        softmax_in_place(&mut p);
        assert!((p[0] - 0.75).abs() < 1e-3, "{p:?}");
    }

    #[test]
    fn refuses_empty_and_bad_targets() {
        let data = TrainingSet {
            features: &[],
            dim: 2,
            targets: &[],
            weights: &[],
            classes: 2,
        };
        assert!(matches!(
            fit_softmax(&data, 1.0, None, &LbfgsOptions::default()),
            Err(ClassifyError::NoTrainingData)
        ));
        let data = TrainingSet {
            features: &[0.0],
            dim: 1,
            targets: &[5],
            weights: &[1.0],
            classes: 2,
        };
        assert!(fit_softmax(&data, 1.0, None, &LbfgsOptions::default()).is_err());
    }
}
