//! Accumulation and merging of `PcaStats`.

mod common;

use common::{correlated_rows, reference_cov, rel_err, rng};
use orchard_pca::{Components, PcaError, PcaModel, PcaStats};
use rand::seq::SliceRandom;

#[test]
fn empty_state_and_input_validation() {
    assert!(matches!(PcaStats::new(0), Err(PcaError::ZeroDimension)));
    let mut s = PcaStats::new(3).unwrap();
    assert_eq!((s.dim(), s.count(), s.is_empty()), (3, 0, true));
    assert_eq!(s.mean(), &[0.0; 3]);
    assert!(matches!(
        s.covariance(),
        Err(PcaError::NotEnoughRows { count: 0 })
    ));
    s.update(&[]).unwrap();
    assert_eq!(s.count(), 0);
    assert!(matches!(
        s.update(&[1.0, 2.0]),
        Err(PcaError::RaggedBatch { len: 2, dim: 3 })
    ));
    s.update(&[1.0, 2.0, 3.0]).unwrap();
    let before = s.clone();
    assert!(matches!(
        s.update(&[1.0, 2.0, 3.0, 4.0, f32::NAN, 6.0]),
        Err(PcaError::NonFiniteInput { row: 1, col: 1 })
    ));
    assert!(matches!(
        s.update(&[f32::INFINITY, 2.0, 3.0]),
        Err(PcaError::NonFiniteInput { row: 0, col: 0 })
    ));
    assert_eq!(s, before, "a failed update must leave the state unchanged");
    assert!(matches!(
        s.covariance(),
        Err(PcaError::NotEnoughRows { count: 1 })
    ));
    assert_eq!(s.comoment(), vec![0.0; 9]);
    assert!(PcaStats::new(3).unwrap().heap_size() < s.heap_size());
}

#[test]
fn matches_two_pass_reference_with_large_offset() {
    // Mean ~1e3 with unit-scale spread: a naive Σx² - nμ² would lose ~6 digits.
    let mut r = rng(1);
    let dim = 7;
    let rows = correlated_rows(&mut r, 3000, dim, 4, 0.1, 1000.0);
    let (ref_mean, ref_cov) = reference_cov(&rows, dim);

    // One call (exercises the 1024-row blocking) ...
    let whole = PcaStats::from_rows(dim, &rows).unwrap();
    // ... and many uneven calls, including single rows.
    let mut pieces = PcaStats::new(dim).unwrap();
    let mut start = 0;
    for (i, len) in [1usize, 2, 1, 37, 500, 1, 1300, 3]
        .iter()
        .cycle()
        .enumerate()
    {
        if start >= rows.len() / dim {
            break;
        }
        let end = (start + len + i % 3).min(rows.len() / dim);
        pieces.update(&rows[start * dim..end * dim]).unwrap();
        start = end;
    }
    for s in [&whole, &pieces] {
        assert_eq!(s.count(), 3000);
        assert!(rel_err(s.mean(), &ref_mean) < 1e-12);
        assert!(rel_err(&s.covariance().unwrap(), &ref_cov) < 1e-10);
        let cov = s.covariance().unwrap();
        for i in 0..dim {
            for j in 0..dim {
                assert_eq!(cov[i * dim + j], cov[j * dim + i], "symmetric");
            }
        }
    }
}

#[test]
fn constant_feature_has_exactly_zero_variance() {
    let dim = 3;
    let mut rows = Vec::new();
    for i in 0..50 {
        rows.extend_from_slice(&[0.1f32, i as f32 * 0.3, -7.25]);
    }
    let mut s = PcaStats::new(dim).unwrap();
    for chunk in rows.chunks(dim * 7) {
        s.update(chunk).unwrap();
    }
    let mut other = PcaStats::from_rows(dim, &rows[..dim * 5]).unwrap();
    other.merge(&s).unwrap();
    for st in [&s, &other] {
        let cov = st.covariance().unwrap();
        assert_eq!(cov[0], 0.0);
        assert_eq!(cov[8], 0.0);
        assert_eq!(cov[1], 0.0);
        assert_eq!(st.mean()[0], f64::from(0.1f32));
    }
}

#[test]
fn merge_identity_and_dimension_mismatch() {
    let mut r = rng(2);
    let rows = correlated_rows(&mut r, 40, 4, 2, 0.5, 3.0);
    let full = PcaStats::from_rows(4, &rows).unwrap();

    let mut a = full.clone();
    a.merge(&PcaStats::new(4).unwrap()).unwrap();
    assert_eq!(a, full, "merging an empty state is the identity");

    let mut e = PcaStats::new(4).unwrap();
    e.merge(&full).unwrap();
    assert_eq!(e, full, "merging into an empty state copies");

    let mut b = full.clone();
    assert!(matches!(
        b.merge(&PcaStats::new(5).unwrap()),
        Err(PcaError::DimensionMismatch {
            expected: 4,
            found: 5
        })
    ));
    assert_eq!(b, full);

    // Merging two halves equals updating with everything.
    let mut h = PcaStats::from_rows(4, &rows[..4 * 17]).unwrap();
    h.merge(&PcaStats::from_rows(4, &rows[4 * 17..]).unwrap())
        .unwrap();
    assert_eq!(h.count(), 40);
    assert!(rel_err(h.mean(), full.mean()) < 1e-14);
    assert!(rel_err(&h.comoment(), &full.comoment()) < 1e-13);
}

fn merge_tree(parts: &[PcaStats]) -> PcaStats {
    if parts.len() == 1 {
        return parts[0].clone();
    }
    let mid = parts.len() / 2;
    merge_tree(&parts[..mid])
        .merged(&merge_tree(&parts[mid..]))
        .unwrap()
}

#[test]
fn merge_order_independence_gives_same_fit() {
    let mut r = rng(3);
    let dim = 9;
    let n = 1200;
    let rows = correlated_rows(&mut r, n, dim, dim, 0.05, 20.0);
    // Uneven partitions, some empty, some single rows.
    let cuts = [0usize, 0, 1, 90, 91, 400, 400, 777, 1000, 1199, n];
    let parts: Vec<PcaStats> = cuts
        .windows(2)
        .map(|w| PcaStats::from_rows(dim, &rows[w[0] * dim..w[1] * dim]).unwrap())
        .collect();

    let sequential = |order: &[usize]| {
        let mut acc = PcaStats::new(dim).unwrap();
        for &i in order {
            acc.merge(&parts[i]).unwrap();
        }
        acc
    };
    let forward: Vec<usize> = (0..parts.len()).collect();
    let mut reverse = forward.clone();
    reverse.reverse();
    let mut shuffled = forward.clone();
    shuffled.shuffle(&mut r);
    let mut reordered = parts.clone();
    reordered.shuffle(&mut r);

    let variants = [
        sequential(&forward),
        sequential(&reverse),
        sequential(&shuffled),
        merge_tree(&parts),
        merge_tree(&reordered),
        PcaStats::from_rows(dim, &rows).unwrap(),
    ];
    let fits: Vec<PcaModel> = variants
        .iter()
        .map(|s| PcaModel::fit(s, Components::Count(dim), None).unwrap())
        .collect();
    let base = &fits[0];
    assert_eq!(base.k(), dim);
    for (s, f) in variants.iter().zip(&fits) {
        assert_eq!(s.count(), n as u64);
        assert!(rel_err(s.mean(), variants[0].mean()) < 1e-12);
        assert!(rel_err(&s.comoment(), &variants[0].comoment()) < 1e-12);
        assert_eq!(f.k(), base.k());
        assert!(rel_err(f.explained_variance(), base.explained_variance()) < 1e-9);
        assert!(rel_err(f.components(), base.components()) < 1e-9);
        assert!(rel_err(f.mean(), base.mean()) < 1e-9);
    }
}
