//! Fitting: closed-form cases, reference comparisons, k selection, errors.

mod common;

use common::{correlated_rows, reference_cov, rel_err, rng};
use orchard_pca::{Components, FitOptions, PcaError, PcaModel, PcaStats, Standardize};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

/// ±2·(3,4) and ±1·(−4,3) around (10, −5): eigenvectors (3,4)/5 and
/// (4,−3)/5 with eigenvalues 200/3 and 50/3.
fn closed_form_2d() -> Vec<f32> {
    let (cx, cy) = (10.0f32, -5.0f32);
    [(6.0, 8.0), (-6.0, -8.0), (-4.0, 3.0), (4.0, -3.0)]
        .iter()
        .flat_map(|&(x, y): &(f32, f32)| [cx + x, cy + y])
        .collect()
}

#[test]
fn closed_form_2d_exact() {
    let stats = PcaStats::from_rows(2, &closed_form_2d()).unwrap();
    let cov = stats.covariance().unwrap();
    let expected_cov = [104.0 / 3.0, 72.0 / 3.0, 72.0 / 3.0, 146.0 / 3.0];
    assert!(rel_err(&cov, &expected_cov) < 1e-14);

    let m = PcaModel::fit(&stats, Components::Count(2), None).unwrap();
    assert_eq!((m.dim(), m.k(), m.rank(), m.n_samples()), (2, 2, 2, 4));
    assert!(rel_err(m.mean(), &[10.0, -5.0]) < 1e-15);
    assert!(rel_err(m.explained_variance(), &[200.0 / 3.0, 50.0 / 3.0]) < 1e-13);
    assert!(close(m.total_variance(), 250.0 / 3.0, 1e-14));
    assert!(rel_err(m.explained_variance_ratio(), &[0.8, 0.2]) < 1e-13);
    // Sign convention: largest-magnitude entry positive.
    assert!(rel_err(m.components(), &[0.6, 0.8, 0.8, -0.6]) < 1e-13);
    assert!(m.scale().is_none());

    let mut out = [0.0f32; 2];
    m.project(&[16.0, 3.0], &mut out).unwrap();
    assert!(
        (out[0] - 10.0).abs() < 1e-5 && out[1].abs() < 1e-5,
        "{out:?}"
    );
    m.project(&[6.0, -2.0], &mut out).unwrap(); // centre + (−4, 3)
    assert!(
        out[0].abs() < 1e-5 && (out[1] + 5.0).abs() < 1e-5,
        "{out:?}"
    );

    // Fractions: exactly 0.8 picks one component (boundary), more needs two.
    let k_for = |f| {
        PcaModel::fit(&stats, Components::VarianceFraction(f), None)
            .unwrap()
            .k()
    };
    assert_eq!(k_for(0.5), 1);
    assert_eq!(k_for(0.8), 1);
    assert_eq!(k_for(0.81), 2);
    assert_eq!(k_for(1.0), 2);
    // Count beyond dim is capped.
    assert_eq!(
        PcaModel::fit(&stats, Components::Count(10), None)
            .unwrap()
            .k(),
        2
    );
}

#[test]
fn standardize_hand_computed_with_zero_variance_feature() {
    // f0 = [1,3,1,3]: mean 2, var 4/3. f1 = [0,2,10,12]: mean 6, var 104/3.
    // cov(f0,f1) = 4/3. f2 constant → scale 0. ρ = 4 / sqrt(4·104).
    let rows: Vec<f32> = [
        [1.0, 0.0, 7.0],
        [3.0, 2.0, 7.0],
        [1.0, 10.0, 7.0],
        [3.0, 12.0, 7.0],
    ]
    .concat();
    let stats = PcaStats::from_rows(3, &rows).unwrap();
    let rho = 4.0 / (4.0f64 * 104.0).sqrt();
    for with_mean in [false, true] {
        let std = Standardize {
            with_std: true,
            with_mean,
        };
        let m = PcaModel::fit(&stats, Components::Count(3), Some(std)).unwrap();
        let scale = m.scale().unwrap();
        let expected_scale = [(3.0f64 / 4.0).sqrt(), (3.0f64 / 104.0).sqrt(), 0.0];
        assert!(rel_err(scale, &expected_scale) < 1e-15, "{scale:?}");
        assert_eq!(scale[2], 0.0);
        assert_eq!(m.standardize(), Some(std));
        // Scaled covariance [[1, ρ, 0], [ρ, 1, 0], [0, 0, 0]]: rank 2.
        assert!(close(m.total_variance(), 2.0, 1e-14));
        assert_eq!((m.rank(), m.k()), (2, 2));
        assert!(rel_err(m.explained_variance(), &[1.0 + rho, 1.0 - rho]) < 1e-14);
        assert!(
            rel_err(
                m.explained_variance_ratio(),
                &[(1.0 + rho) / 2.0, (1.0 - rho) / 2.0]
            ) < 1e-14
        );
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let c = m.components();
        assert!(rel_err(&c[..3], &[h, h, 0.0]) < 1e-13);
        // (1, −1, 0)/√2 has tied magnitudes, so only check up to sign.
        let dot = c[3] * h - c[4] * h;
        assert!(close(dot.abs(), 1.0, 1e-13) && c[5] == 0.0);

        // Projection of a training row: ((x − μ)·s)·v.
        let mut out = [0.0f32; 2];
        m.project(&rows[3..6], &mut out).unwrap();
        let z = [expected_scale[0], -4.0 * expected_scale[1]]; // row 1 centred & scaled
        let p0 = (z[0] + z[1]) * h;
        assert!((f64::from(out[0]) - p0).abs() < 1e-6, "{out:?} vs {p0}");
    }

    // with_std = false is the same as no standardisation.
    let plain = PcaModel::fit(&stats, Components::Count(3), None).unwrap();
    let no_std = PcaModel::fit(
        &stats,
        Components::Count(3),
        Some(Standardize {
            with_std: false,
            with_mean: true,
        }),
    )
    .unwrap();
    assert!(no_std.scale().is_none());
    assert_eq!(no_std.components(), plain.components());
    assert_eq!(no_std.explained_variance(), plain.explained_variance());
}

#[test]
fn standardize_equals_fit_on_prescaled_data() {
    let mut r = rng(11);
    let dim = 6;
    let mut rows = correlated_rows(&mut r, 400, dim, dim, 0.3, 5.0);
    // Very different feature scales.
    for row in rows.chunks_exact_mut(dim) {
        for (j, x) in row.iter_mut().enumerate() {
            *x *= [1.0, 100.0, 0.01, 3.0, 0.5, 20.0][j];
        }
    }
    let stats = PcaStats::from_rows(dim, &rows).unwrap();
    let m = PcaModel::fit(&stats, Components::Count(dim), Some(Standardize::default())).unwrap();
    let scale = m.scale().unwrap().to_vec();
    let scaled: Vec<f32> = rows
        .chunks_exact(dim)
        .flat_map(|row| {
            row.iter()
                .zip(&scale)
                .map(|(&x, &s)| (f64::from(x) * s) as f32)
        })
        .collect();
    let (_, cov) = reference_cov(&scaled, dim);
    for j in 0..dim {
        assert!(close(cov[j * dim + j], 1.0, 1e-5));
    }
    let reference = PcaModel::fit(
        &PcaStats::from_rows(dim, &scaled).unwrap(),
        Components::Count(dim),
        None,
    )
    .unwrap();
    assert!(close(m.total_variance(), dim as f64, 1e-12));
    assert!(rel_err(m.explained_variance(), reference.explained_variance()) < 1e-5);
    assert!(rel_err(m.components(), reference.components()) < 1e-4);
}

/// Checks C·v = λ·v, orthonormality, ordering, ratios and sign convention.
fn check_against_reference(m: &PcaModel, cov: &[f64]) {
    let d = m.dim();
    let k = m.k();
    let lmax = m.explained_variance()[0];
    for i in 0..k {
        let v = m.component(i).unwrap();
        let l = m.explained_variance()[i];
        for r in 0..d {
            let cv: f64 = (0..d).map(|c| cov[r * d + c] * v[c]).sum();
            assert!((cv - l * v[r]).abs() < 1e-10 * lmax, "C v != λ v");
        }
        for j in 0..k {
            let w = m.component(j).unwrap();
            let dot: f64 = v.iter().zip(w).map(|(a, b)| a * b).sum();
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((dot - want).abs() < 1e-12, "not orthonormal");
        }
        let pivot = v
            .iter()
            .enumerate()
            .fold(
                (0, -1.0f64),
                |b, (i, x)| if x.abs() > b.1 { (i, x.abs()) } else { b },
            )
            .0;
        assert!(v[pivot] > 0.0, "sign convention");
    }
    let trace: f64 = (0..d).map(|j| cov[j * d + j]).sum();
    assert!(close(m.total_variance(), trace, 1e-12));
    let ratios = m.explained_variance_ratio();
    assert!(ratios.iter().sum::<f64>() <= 1.0 + 1e-12);
    assert!(ratios.windows(2).all(|w| w[1] <= w[0]));
    assert!(m.explained_variance().windows(2).all(|w| w[1] <= w[0]));
    for (r, l) in ratios.iter().zip(m.explained_variance()) {
        assert!(close(*r, l / trace, 1e-12));
    }
}

#[test]
fn random_data_against_two_pass_reference() {
    let mut r = rng(5);
    for &(n, dim, k) in &[
        (500usize, 10usize, 10usize),
        (300, 24, 5),
        (50, 3, 2),
        (400, 150, 20),
    ] {
        let rows = correlated_rows(&mut r, n, dim, dim, 0.2, 2.0);
        let (ref_mean, cov) = reference_cov(&rows, dim);
        let stats = PcaStats::from_rows(dim, &rows).unwrap();
        let m = PcaModel::fit(&stats, Components::Count(k), None).unwrap();
        assert_eq!(m.k(), k);
        assert_eq!(m.rank(), dim);
        assert!(rel_err(m.mean(), &ref_mean) < 1e-12);
        check_against_reference(&m, &cov);
    }
}

#[test]
fn variance_fraction_selects_smallest_k() {
    let mut r = rng(6);
    let dim = 12;
    let rows = correlated_rows(&mut r, 400, dim, dim, 0.1, 0.0);
    let stats = PcaStats::from_rows(dim, &rows).unwrap();
    let full = PcaModel::fit(&stats, Components::Count(dim), None).unwrap();
    let ratios = full.explained_variance_ratio().to_vec();
    for f in [0.1, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0] {
        let m = PcaModel::fit(&stats, Components::VarianceFraction(f), None).unwrap();
        let mut cum = 0.0;
        let mut expect = dim;
        for (i, r) in ratios.iter().enumerate() {
            cum += r;
            if cum >= f * (1.0 - 1e-12) {
                expect = i + 1;
                break;
            }
        }
        assert_eq!(m.k(), expect, "fraction {f}");
        let got: f64 = m.explained_variance_ratio().iter().sum();
        assert!(got >= f - 1e-12 || m.k() == m.rank());
        if m.k() > 1 {
            assert!(got - m.explained_variance_ratio()[m.k() - 1] < f);
        }
        assert_eq!(m.components(), &full.components()[..m.k() * dim]);
    }
}

#[test]
fn k_is_capped_by_rank_and_sample_count() {
    let mut r = rng(7);
    // Exactly rank 3 in exact arithmetic (f32 rounding adds ~1e-14 noise).
    let dim = 8;
    let rows = correlated_rows(&mut r, 200, dim, 3, 0.0, 4.0);
    let stats = PcaStats::from_rows(dim, &rows).unwrap();
    let m = PcaModel::fit(&stats, Components::Count(dim), None).unwrap();
    assert_eq!((m.rank(), m.k()), (3, 3));
    let (_, cov) = reference_cov(&rows, dim);
    check_against_reference(&m, &cov);
    assert!(m.explained_variance_ratio().iter().sum::<f64>() > 1.0 - 1e-9);
    let f = PcaModel::fit(&stats, Components::VarianceFraction(1.0), None).unwrap();
    assert_eq!(f.k(), 3);
    // A zero tolerance keeps the noise directions.
    let loose = PcaModel::fit_with_options(
        &stats,
        Components::Count(dim),
        None,
        FitOptions::default().with_rank_tolerance(0.0),
    )
    .unwrap();
    assert!(loose.k() > 3);

    // Duplicated feature → rank deficiency.
    let dup: Vec<f32> = rows
        .chunks_exact(dim)
        .flat_map(|row| [row[0], row[1], row[0]])
        .collect();
    let m = PcaModel::fit(
        &PcaStats::from_rows(3, &dup).unwrap(),
        Components::Count(3),
        None,
    )
    .unwrap();
    assert_eq!(m.k(), 2);

    // n = 3 rows in 5-D: at most n − 1 = 2 components.
    let few = correlated_rows(&mut r, 3, 5, 5, 1.0, 0.0);
    let m = PcaModel::fit(
        &PcaStats::from_rows(5, &few).unwrap(),
        Components::Count(5),
        None,
    )
    .unwrap();
    assert_eq!(m.k(), 2);
}

#[test]
fn fit_errors() {
    let one = PcaStats::from_rows(2, &[1.0, 2.0]).unwrap();
    assert!(matches!(
        PcaModel::fit(&one, Components::Count(1), None),
        Err(PcaError::NotEnoughRows { count: 1 })
    ));
    assert!(matches!(
        PcaModel::fit(&PcaStats::new(2).unwrap(), Components::Count(1), None),
        Err(PcaError::NotEnoughRows { count: 0 })
    ));
    let stats = PcaStats::from_rows(2, &closed_form_2d()).unwrap();
    assert!(matches!(
        PcaModel::fit(&stats, Components::Count(0), None),
        Err(PcaError::ZeroComponents)
    ));
    for f in [0.0, -0.5, 1.0 + 1e-9, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            PcaModel::fit(&stats, Components::VarianceFraction(f), None),
            Err(PcaError::InvalidVarianceFraction(_))
        ));
    }
    assert!(matches!(
        PcaModel::fit_with_options(
            &stats,
            Components::Count(1),
            None,
            FitOptions::default().with_rank_tolerance(-1.0)
        ),
        Err(PcaError::InvalidTolerance(_))
    ));
    let constant = PcaStats::from_rows(3, &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0]).unwrap();
    for s in [None, Some(Standardize::default())] {
        assert!(matches!(
            PcaModel::fit(&constant, Components::Count(1), s),
            Err(PcaError::ZeroVariance)
        ));
    }
    // Overflowing values give non-finite statistics rather than garbage.
    let huge = PcaStats::from_rows(1, &[f32::MAX, -f32::MAX, f32::MAX]).unwrap();
    let err = PcaModel::fit(&huge, Components::Count(1), None);
    assert!(err.is_ok() || matches!(err, Err(PcaError::NonFiniteStatistics)));
    // Messages are readable.
    assert_eq!(
        PcaError::InvalidVarianceFraction(1.5).to_string(),
        "explained-variance fraction must be in (0, 1], got 1.5"
    );
}

#[test]
fn projection_of_training_rows_has_zero_mean_and_eigenvalue_variance() {
    let mut r = rng(8);
    let dim = 16;
    let n = 2000;
    let rows = correlated_rows(&mut r, n, dim, dim, 0.2, 50.0);
    let stats = PcaStats::from_rows(dim, &rows).unwrap();
    for standardize in [None, Some(Standardize::default())] {
        let m = PcaModel::fit(&stats, Components::Count(6), standardize).unwrap();
        let k = m.k();
        let out = m.project_to_vec(&rows).unwrap();
        assert_eq!(out.len(), n * k);
        let (mean, cov) = reference_cov(&out, k);
        for i in 0..k {
            let l = m.explained_variance()[i];
            assert!(mean[i].abs() < 1e-4 * l.sqrt(), "mean {}", mean[i]);
            assert!(close(cov[i * k + i], l, 1e-5), "{} vs {l}", cov[i * k + i]);
            for j in 0..k {
                if i != j {
                    assert!(cov[i * k + j].abs() < 1e-5 * m.explained_variance()[0]);
                }
            }
        }
        // Row-by-row equals batch, and odd batch sizes work.
        let mut one = vec![0.0f32; k];
        for (row, expect) in rows.chunks_exact(dim).zip(out.chunks_exact(k)).take(50) {
            m.project(row, &mut one).unwrap();
            assert_eq!(&one[..], expect);
        }
        let mut part = vec![0.0f32; 3 * k];
        m.project_batch(&rows[dim * 7..dim * 10], &mut part)
            .unwrap();
        assert_eq!(&part[..], &out[7 * k..10 * k]);
    }
}

#[test]
fn projection_shape_errors() {
    let stats = PcaStats::from_rows(2, &closed_form_2d()).unwrap();
    let m = PcaModel::fit(&stats, Components::Count(1), None).unwrap();
    let mut out = [0.0f32; 2];
    assert!(matches!(
        m.project(&[1.0, 2.0, 3.0], &mut out[..1]),
        Err(PcaError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        m.project(&[1.0, 2.0], &mut out),
        Err(PcaError::OutputLength {
            expected: 1,
            found: 2
        })
    ));
    assert!(matches!(
        m.project_batch(&[1.0, 2.0, 3.0], &mut out),
        Err(PcaError::RaggedBatch { .. })
    ));
    m.project_batch(&[], &mut []).unwrap();
}
