//! Counts as people write them: `10M`, `2.5k`.

use crate::OpsError;

/// Parses a count such as `10M`, `2.5k`, `1e6` or `1200`.
pub fn parse_count(text: &str) -> Result<f64, OpsError> {
    let t = text.trim();
    let (number, scale) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G' | 'b' | 'B') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    match number.trim().replace('_', "").parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v * scale),
        _ => Err(OpsError::Input(format!(
            "not a count of photos: {text:?} (e.g. 10M, 250k, 1200)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_with_suffixes() {
        assert_eq!(parse_count("10M").unwrap(), 10e6);
        assert_eq!(parse_count("2.5k").unwrap(), 2500.0);
        assert_eq!(parse_count("1_200").unwrap(), 1200.0);
        assert!(parse_count("lots").is_err());
        assert!(parse_count("-5").is_err());
    }
}
