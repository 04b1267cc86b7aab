//! Compact, versioned little-endian binary encoding of [`PcaStats`], meant to
//! travel as an Arrow `Binary` value between processes.
//!
//! Layout of version 1 (all integers and floats little-endian):
//!
//! | offset | size | field |
//! |--------|------|-------|
//! | 0 | 4 | magic `b"OPCS"` |
//! | 4 | 2 | format version (`u16`, = 1) |
//! | 6 | 2 | flags (`u16`, must be 0) |
//! | 8 | 8 | `dim` (`u64`) |
//! | 16 | 8 | `count` (`u64`) |
//! | 24 | `8·dim` | mean (`f64` × dim) — only when `count > 0` |
//! | … | `8·dim(dim+1)/2` | `M2`, packed upper triangle, row-major (row `i` holds columns `i..dim`) — only when `count > 0` |
//! | end − 8 | 8 | checksum (`u64`) of every preceding byte |
//!
//! The checksum is a 64-bit FNV-1a-style hash over 8-byte little-endian words
//! (the tail zero-padded); each step is a bijection of the running state, so
//! any change confined to one word is always detected.

use crate::stats::{check_dim, PcaStats};
use crate::PcaError;

const MAGIC: [u8; 4] = *b"OPCS";
/// Version of the binary statistics encoding written by this build.
pub const STATS_FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 24;
const CHECKSUM_LEN: usize = 8;

impl PcaStats {
    /// Encodes the state (see the module docs of [`crate::encoding`] for the
    /// layout). An empty state is 32 bytes; a non-empty one is
    /// `32 + 8·dim + 4·dim(dim+1)` bytes (≈ 6.6 MB for dim 1280).
    pub fn to_bytes(&self) -> Vec<u8> {
        let d = self.dim;
        let payload = if self.count == 0 {
            0
        } else {
            8 * (d + d * (d + 1) / 2)
        };
        let mut out = Vec::with_capacity(HEADER_LEN + payload + CHECKSUM_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&STATS_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(d as u64).to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        if self.count > 0 {
            for m in &self.mean {
                out.extend_from_slice(&m.to_le_bytes());
            }
            // Lower triangle column-major == upper triangle row-major.
            for j in 0..d {
                for v in &self.m2[j * d + j..(j + 1) * d] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Decodes a state written by [`PcaStats::to_bytes`].
    ///
    /// Rejects (without allocating more than the input's size) wrong magic,
    /// unknown version or flags, zero or oversized dimension, a length that
    /// does not match the header, a checksum mismatch, non-finite numbers and
    /// negative diagonal co-moments.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PcaError> {
        let corrupt = |msg: String| PcaError::CorruptEncoding(msg);
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
            return Err(corrupt(format!(
                "{} bytes is shorter than the {}-byte minimum",
                bytes.len(),
                HEADER_LEN + CHECKSUM_LEN
            )));
        }
        if bytes[0..4] != MAGIC {
            return Err(corrupt("bad magic (not a PcaStats encoding)".into()));
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != STATS_FORMAT_VERSION {
            return Err(PcaError::UnsupportedVersion {
                found: u32::from(version),
                supported: u32::from(STATS_FORMAT_VERSION),
            });
        }
        let flags = u16::from_le_bytes([bytes[6], bytes[7]]);
        if flags != 0 {
            return Err(corrupt(format!("unknown flags {flags:#06x}")));
        }
        let dim = read_u64(bytes, 8);
        let count = read_u64(bytes, 16);
        let dim = usize::try_from(dim)
            .ok()
            .filter(|&d| check_dim(d).is_ok())
            .ok_or_else(|| corrupt(format!("invalid dimension {dim}")))?;
        // MAX_DIM keeps this arithmetic far from overflow.
        let payload = if count == 0 {
            0
        } else {
            8 * (dim + dim * (dim + 1) / 2)
        };
        let expected = HEADER_LEN + payload + CHECKSUM_LEN;
        if bytes.len() != expected {
            return Err(corrupt(format!(
                "length {} does not match {expected} implied by dim {dim} and count {count}",
                bytes.len()
            )));
        }
        let body_end = bytes.len() - CHECKSUM_LEN;
        let stored = read_u64(bytes, body_end);
        if checksum(&bytes[..body_end]) != stored {
            return Err(corrupt("checksum mismatch".into()));
        }

        let mut stats = PcaStats::new(dim)?;
        if count == 0 {
            return Ok(stats);
        }
        let mut floats = bytes[HEADER_LEN..body_end]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        for m in stats.mean.iter_mut() {
            *m = floats.next().unwrap_or(f64::NAN);
        }
        let mut m2 = vec![0.0; dim * dim];
        for j in 0..dim {
            for v in &mut m2[j * dim + j..(j + 1) * dim] {
                *v = floats.next().unwrap_or(f64::NAN);
            }
        }
        if stats.mean.iter().any(|v| !v.is_finite()) {
            return Err(corrupt("non-finite mean".into()));
        }
        for j in 0..dim {
            let col = &m2[j * dim + j..(j + 1) * dim];
            if col.iter().any(|v| !v.is_finite()) {
                return Err(corrupt("non-finite co-moment".into()));
            }
            if col[0] < 0.0 {
                return Err(corrupt(format!("negative variance for feature {j}")));
            }
        }
        stats.m2 = m2;
        stats.count = count;
        Ok(stats)
    }
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// FNV-1a-style 64-bit hash over little-endian 8-byte words.
fn checksum(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET ^ (bytes.len() as u64);
    let mut words = bytes.chunks_exact(8);
    for w in words.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(PRIME);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(PRIME);
    }
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Re-seals a tampered body with a valid checksum.
    fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
        let end = bytes.len() - CHECKSUM_LEN;
        let sum = checksum(&bytes[..end]);
        bytes[end..].copy_from_slice(&sum.to_le_bytes());
        bytes
    }

    #[test]
    fn rejects_non_finite_and_negative_variance_even_with_valid_checksum() {
        let s = PcaStats::from_rows(2, &[1.0, 2.0, 3.0, 5.0, 4.0, 4.0]).unwrap();
        let good = s.to_bytes();
        assert_eq!(PcaStats::from_bytes(&reseal(good.clone())).unwrap(), s);
        // mean[1] := NaN
        let mut b = good.clone();
        b[HEADER_LEN + 8..HEADER_LEN + 16].copy_from_slice(&f64::NAN.to_le_bytes());
        assert!(matches!(
            PcaStats::from_bytes(&reseal(b)),
            Err(PcaError::CorruptEncoding(_))
        ));
        // M2[0][0] := -1
        let mut b = good;
        let at = HEADER_LEN + 16;
        b[at..at + 8].copy_from_slice(&(-1.0f64).to_le_bytes());
        assert!(matches!(
            PcaStats::from_bytes(&reseal(b)),
            Err(PcaError::CorruptEncoding(_))
        ));
    }
}
