//! Receipts: the only key of a kept upload. 128 random bits from the
//! operating system's generator (through `rand`'s thread generator, a CSPRNG
//! seeded from it), written `up_` + 32 lowercase hex digits: URL-safe, and
//! recognisable in file names (`<receipt>.jpg`) wherever an upload travels.

use std::fmt;

use rand::RngCore;

/// The prefix of every receipt.
const PREFIX: &str = "up_";
/// Hex digits after the prefix (128 bits).
const DIGITS: usize = 32;

/// A kept upload's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Receipt(String);

impl Receipt {
    /// A new random receipt.
    pub fn new() -> Receipt {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Receipt(format!("{PREFIX}{}", hex::encode(bytes)))
    }

    /// `text` as a receipt, if it is one (exactly the format [`Receipt::new`] writes).
    pub fn parse(text: &str) -> Option<Receipt> {
        let digits = text.strip_prefix(PREFIX)?;
        let valid = digits.len() == DIGITS
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Receipt(text.to_string()))
    }

    /// The receipt a file is named after (`…/apple/up_….jpg` → `up_…`), if any.
    pub fn of_path(path: &str) -> Option<Receipt> {
        let name = path.rsplit(['/', '\\']).next()?;
        let stem = name.split('.').next()?;
        Receipt::parse(stem)
    }

    /// The receipt as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Receipt {
    fn default() -> Self {
        Receipt::new()
    }
}

impl fmt::Display for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_are_random_url_safe_and_parse_back() {
        let a = Receipt::new();
        let b = Receipt::new();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), PREFIX.len() + DIGITS);
        assert!(a
            .as_str()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_'));
        assert_eq!(Receipt::parse(a.as_str()), Some(a.clone()));
        assert_eq!(
            Receipt::of_path(&format!("s3://b/out/apple/{a}.jpg")),
            Some(a)
        );
    }

    #[test]
    fn anything_else_is_not_a_receipt() {
        for text in [
            "",
            "up_",
            "up_0123",
            "UP_0123456789abcdef0123456789abcdef",
            "up_0123456789ABCDEF0123456789abcdef",
            "up_0123456789abcdef0123456789abcdeg",
            "up_0123456789abcdef0123456789abcdef0",
            "../up_0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(Receipt::parse(text), None, "{text}");
        }
        assert_eq!(Receipt::of_path("apple/0_100.jpg"), None);
    }
}
