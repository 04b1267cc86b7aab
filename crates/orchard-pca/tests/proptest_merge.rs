//! Property test: merge order does not matter (within rounding).

use orchard_pca::PcaStats;
use proptest::prelude::*;

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * scale)
}

fn case() -> impl Strategy<Value = (usize, Vec<f32>, Vec<usize>)> {
    (1usize..5).prop_flat_map(|dim| {
        (
            Just(dim),
            prop::collection::vec(-100.0f32..100.0, 0..(30 * dim)),
            prop::collection::vec(0usize..31, 0..6),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn merge_is_order_independent((dim, mut rows, cuts) in case()) {
        rows.truncate(rows.len() / dim * dim);
        let n = rows.len() / dim;
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(n)).collect();
        cuts.push(0);
        cuts.push(n);
        cuts.sort_unstable();
        let parts: Vec<PcaStats> = cuts
            .windows(2)
            .map(|w| PcaStats::from_rows(dim, &rows[w[0] * dim..w[1] * dim]).unwrap())
            .collect();

        let mut forward = PcaStats::new(dim).unwrap();
        for p in &parts {
            forward.merge(p).unwrap();
        }
        let mut backward = PcaStats::new(dim).unwrap();
        for p in parts.iter().rev() {
            backward.merge(p).unwrap();
        }
        // Pairwise tree over alternating halves.
        let (even, odd): (Vec<_>, Vec<_>) = parts.iter().enumerate().partition(|(i, _)| i % 2 == 0);
        let fold = |v: Vec<(usize, &PcaStats)>| {
            v.into_iter().fold(PcaStats::new(dim).unwrap(), |acc, (_, p)| acc.merged(p).unwrap())
        };
        let tree = fold(odd).merged(&fold(even)).unwrap();
        let whole = PcaStats::from_rows(dim, &rows).unwrap();

        for s in [&backward, &tree, &whole] {
            prop_assert_eq!(s.count(), forward.count());
            prop_assert!(close(s.mean(), forward.mean(), 1e-12));
            prop_assert!(close(&s.comoment(), &forward.comoment(), 1e-10));
        }
        // And the byte encoding round-trips whatever the state.
        prop_assert_eq!(PcaStats::from_bytes(&tree.to_bytes()).unwrap(), tree);
    }
}
