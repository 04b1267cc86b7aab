//! Shared helpers for the integration tests.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Seeded RNG.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Standard normal sample (Box–Muller).
pub fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `n × dim` row-major rows `x = offset + z · A + noise · e`, where `z` has
/// `latent` standard-normal factors and `A` is random with decaying scales,
/// so the spectrum is well separated.
pub fn correlated_rows(
    rng: &mut StdRng,
    n: usize,
    dim: usize,
    latent: usize,
    noise: f64,
    offset: f64,
) -> Vec<f32> {
    let a: Vec<f64> = (0..latent * dim)
        .map(|idx| normal(rng) * 3.0 / (1.0 + (idx / dim) as f64))
        .collect();
    let offsets: Vec<f64> = (0..dim).map(|_| offset * (1.0 + normal(rng))).collect();
    let mut rows = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let z: Vec<f64> = (0..latent).map(|_| normal(rng)).collect();
        for j in 0..dim {
            let mut x = offsets[j];
            for (l, zl) in z.iter().enumerate() {
                x += zl * a[l * dim + j];
            }
            if noise > 0.0 {
                x += noise * normal(rng);
            }
            rows.push(x as f32);
        }
    }
    rows
}

/// Two-pass mean and sample covariance (row-major `dim × dim`) in f64.
pub fn reference_cov(rows: &[f32], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len() / dim;
    let mut mean = vec![0.0; dim];
    for r in rows.chunks_exact(dim) {
        for (m, &x) in mean.iter_mut().zip(r) {
            *m += f64::from(x);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0.0; dim * dim];
    for r in rows.chunks_exact(dim) {
        for i in 0..dim {
            let di = f64::from(r[i]) - mean[i];
            for j in 0..dim {
                cov[i * dim + j] += di * (f64::from(r[j]) - mean[j]);
            }
        }
    }
    cov.iter_mut().for_each(|c| *c /= (n - 1) as f64);
    (mean, cov)
}

/// max |a - b| / max(1, max |b|).
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}
