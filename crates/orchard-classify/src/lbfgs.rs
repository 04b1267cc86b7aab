//! Limited-memory BFGS (Nocedal & Wright, algorithm 7.4/7.5) with a
//! backtracking line search that enforces the Armijo condition and skips
//! curvature pairs that break `sᵀy > 0`, so the inverse-Hessian estimate
//! stays positive definite.

use std::collections::VecDeque;

/// Stopping rules and memory of the optimiser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsOptions {
    /// Most iterations (each one gradient evaluation plus line-search steps).
    pub max_iterations: usize,
    /// Number of curvature pairs kept.
    pub memory: usize,
    /// Stop once the largest gradient component is below this.
    pub gradient_tolerance: f64,
    /// Stop once an iteration improves the objective by less than this,
    /// relative to `max(|f|, 1)`.
    pub relative_tolerance: f64,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        LbfgsOptions {
            max_iterations: 500,
            memory: 10,
            gradient_tolerance: 1e-5,
            relative_tolerance: 1e-9,
        }
    }
}

/// How a minimisation ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsReport {
    /// Objective at the returned point.
    pub value: f64,
    /// Iterations run.
    pub iterations: usize,
    /// Largest absolute gradient component at the returned point.
    pub gradient_max: f64,
    /// Whether a tolerance was met (as opposed to running out of iterations
    /// or of line-search steps).
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Minimises `f` from `x` (updated in place). `f(x, grad)` returns the
/// objective and writes its gradient.
pub fn minimize<F>(mut f: F, x: &mut [f64], options: &LbfgsOptions) -> LbfgsReport
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let n = x.len();
    let mut grad = vec![0.0; n];
    let mut value = f(x, &mut grad);
    let mut pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::new();
    let mut direction = vec![0.0; n];
    let mut trial = vec![0.0; n];
    let mut trial_grad = vec![0.0; n];
    let mut alphas = vec![0.0; options.memory.max(1)];
    let mut iterations = 0;
    let mut converged = max_abs(&grad) <= options.gradient_tolerance;
    while !converged && iterations < options.max_iterations {
        iterations += 1;
        // Two-loop recursion: direction = −H·grad.
        direction.copy_from_slice(&grad);
        for (i, (s, y, rho)) in pairs.iter().enumerate().rev() {
            let a = rho * dot(s, &direction);
            alphas[i] = a;
            for (d, yv) in direction.iter_mut().zip(y) {
                *d -= a * yv;
            }
        }
        let gamma = pairs
            .back()
            .map(|(s, y, _)| dot(s, y) / dot(y, y))
            .unwrap_or_else(|| 1.0 / max_abs(&grad).max(1.0));
        direction.iter_mut().for_each(|d| *d *= gamma);
        for (i, (s, y, rho)) in pairs.iter().enumerate() {
            let b = rho * dot(y, &direction);
            for (d, sv) in direction.iter_mut().zip(s) {
                *d += (alphas[i] - b) * sv;
            }
        }
        direction.iter_mut().for_each(|d| *d = -*d);
        let mut slope = dot(&grad, &direction);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from −grad.
            pairs.clear();
            for (d, g) in direction.iter_mut().zip(&grad) {
                *d = -g;
            }
            slope = dot(&grad, &direction);
        }
        // Backtracking line search (Armijo, c1 = 1e-4).
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..40 {
            for ((t, xv), d) in trial.iter_mut().zip(x.iter()).zip(&direction) {
                *t = xv + step * d;
            }
            let v = f(&trial, &mut trial_grad);
            if v.is_finite() && v <= value + 1e-4 * step * slope {
                accepted = Some(v);
                break;
            }
            step *= 0.5;
        }
        let Some(new_value) = accepted else { break };
        let s: Vec<f64> = trial.iter().zip(x.iter()).map(|(t, xv)| t - xv).collect();
        let y: Vec<f64> = trial_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if pairs.len() == options.memory.max(1) {
                pairs.pop_front();
            }
            pairs.push_back((s, y, 1.0 / sy));
        }
        x.copy_from_slice(&trial);
        grad.copy_from_slice(&trial_grad);
        let improvement = value - new_value;
        value = new_value;
        converged = max_abs(&grad) <= options.gradient_tolerance
            || improvement <= options.relative_tolerance * value.abs().max(1.0);
    }
    LbfgsReport {
        value,
        iterations,
        gradient_max: max_abs(&grad),
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_rosenbrock() {
        let mut x = vec![-1.2, 1.0];
        let report = minimize(
            |x, g| {
                let (a, b) = (x[0], x[1]);
                g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
                g[1] = 200.0 * (b - a * a);
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
            },
            &mut x,
            &LbfgsOptions {
                max_iterations: 1000,
                relative_tolerance: 0.0,
                gradient_tolerance: 1e-8,
                ..LbfgsOptions::default()
            },
        );
        assert!(report.converged, "{report:?}");
        assert!(
            (x[0] - 1.0).abs() < 1e-5 && (x[1] - 1.0).abs() < 1e-5,
            "{x:?}"
        );
    }

    #[test]
    fn solves_a_quadratic_in_few_iterations() {
        // f(x) = ½ Σ (i+1)·(x_i − i)², minimum at x_i = i.
        let n = 50;
        let mut x = vec![0.0; n];
        let report = minimize(
            |x, g| {
                let mut v = 0.0;
                for i in 0..x.len() {
                    let d = x[i] - i as f64;
                    g[i] = (i as f64 + 1.0) * d;
                    v += 0.5 * (i as f64 + 1.0) * d * d;
                }
                v
            },
            &mut x,
            &LbfgsOptions {
                relative_tolerance: 0.0,
                gradient_tolerance: 1e-9,
                ..LbfgsOptions::default()
            },
        );
        assert!(report.converged);
        assert!(report.iterations < 200, "{report:?}");
        for (i, v) in x.iter().enumerate() {
            assert!((v - i as f64).abs() < 1e-6);
        }
    }
}
