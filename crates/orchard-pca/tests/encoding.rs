//! Binary encoding of `PcaStats`.

mod common;

use common::{correlated_rows, rng};
use orchard_pca::{PcaError, PcaStats};

fn sample() -> PcaStats {
    let mut r = rng(9);
    PcaStats::from_rows(5, &correlated_rows(&mut r, 30, 5, 3, 0.1, 7.0)).unwrap()
}

#[test]
fn round_trip_is_exact() {
    let one = PcaStats::from_rows(4, &[1.0, -2.0, 3.5, 0.0]).unwrap();
    for s in [PcaStats::new(3).unwrap(), one, sample()] {
        let bytes = s.to_bytes();
        let d = s.dim();
        let expected_len = if s.is_empty() {
            32
        } else {
            32 + 8 * d + 4 * d * (d + 1)
        };
        assert_eq!(bytes.len(), expected_len);
        let back = PcaStats::from_bytes(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.to_bytes(), bytes);
    }
    // Decoded states keep merging correctly.
    let s = sample();
    let mut a = PcaStats::from_bytes(&s.to_bytes()).unwrap();
    a.merge(&s).unwrap();
    assert_eq!(a.count(), 2 * s.count());
}

#[test]
fn corrupt_input_is_rejected() {
    let good = sample().to_bytes();
    let corrupt = |b: &[u8]| PcaStats::from_bytes(b);

    assert!(matches!(corrupt(&[]), Err(PcaError::CorruptEncoding(_))));
    assert!(matches!(
        corrupt(&good[..good.len() - 1]),
        Err(PcaError::CorruptEncoding(_))
    ));
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        corrupt(&longer),
        Err(PcaError::CorruptEncoding(_))
    ));

    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    assert!(matches!(
        corrupt(&bad_magic),
        Err(PcaError::CorruptEncoding(_))
    ));

    let mut bad_version = good.clone();
    bad_version[4] = 9;
    assert!(matches!(
        corrupt(&bad_version),
        Err(PcaError::UnsupportedVersion {
            found: 9,
            supported: 1
        })
    ));

    let mut bad_flags = good.clone();
    bad_flags[6] = 1;
    assert!(matches!(
        corrupt(&bad_flags),
        Err(PcaError::CorruptEncoding(_))
    ));

    // A huge dimension in the header must not allocate or overflow.
    for dim in [0u64, u64::MAX, 1 << 40, 70_000] {
        let mut b = good.clone();
        b[8..16].copy_from_slice(&dim.to_le_bytes());
        assert!(matches!(corrupt(&b), Err(PcaError::CorruptEncoding(_))));
    }
    // Count 0 with a payload: length mismatch.
    let mut b = good.clone();
    b[16..24].copy_from_slice(&0u64.to_le_bytes());
    assert!(matches!(corrupt(&b), Err(PcaError::CorruptEncoding(_))));

    // Any single flipped byte after the header is caught by the checksum.
    for at in 16..good.len() {
        let mut b = good.clone();
        b[at] ^= 0x20;
        assert!(corrupt(&b).is_err(), "flip at byte {at} went unnoticed");
    }
}
