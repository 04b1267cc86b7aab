//! Labels from folder names, and the dense label index saved as `_labels.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::SourceError;

/// The label of a photo: the name of its parent folder, relative to the listed
/// root. Files directly under the root have no label.
///
/// ```
/// use orchard_source::label_of;
/// assert_eq!(label_of("Banana/r_1_100.jpg").as_deref(), Some("Banana"));
/// assert_eq!(label_of("Test/Banana/r_1_100.jpg").as_deref(), Some("Banana"));
/// assert_eq!(label_of("r_1_100.jpg"), None);
/// ```
pub fn label_of(relative: &str) -> Option<String> {
    let mut parts = relative.rsplit('/');
    parts.next()?;
    parts.next().filter(|p| !p.is_empty()).map(str::to_string)
}

/// A dense mapping `label → label_index`.
///
/// Built from the sorted set of label names (so the same labels always get the
/// same indexes), saved in every output as `_labels.json`, and reused with
/// `--labels`: labels already known keep their index, new labels are appended
/// after the highest index in sorted order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelIndex {
    labels: BTreeMap<String, i32>,
}

impl LabelIndex {
    /// The index of the sorted, de-duplicated `labels`.
    pub fn from_labels<I, S>(labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut index = Self::default();
        index.extend(labels);
        index
    }

    /// Adds labels not yet known, in sorted order, after the highest index.
    /// Returns the labels that were added.
    pub fn extend<I, S>(&mut self, labels: I) -> Vec<String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let new: std::collections::BTreeSet<String> = labels
            .into_iter()
            .map(Into::into)
            .filter(|l| !self.labels.contains_key(l))
            .collect();
        let first = self.labels.values().max().map_or(0, |m| m + 1);
        for (label, index) in new.iter().zip(first..) {
            self.labels.insert(label.clone(), index);
        }
        new.into_iter().collect()
    }

    /// The index of `label`, if known.
    pub fn get(&self, label: &str) -> Option<i32> {
        self.labels.get(label).copied()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether no label is known.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `(label, index)` pairs ordered by index.
    pub fn entries(&self) -> Vec<(&str, i32)> {
        let mut v: Vec<_> = self.labels.iter().map(|(l, i)| (l.as_str(), *i)).collect();
        v.sort_by_key(|(_, i)| *i);
        v
    }

    /// The JSON form written as `_labels.json`: `{"apple": 0, "lemon": 1}`.
    pub fn to_json(&self) -> String {
        let mut s =
            serde_json::to_string_pretty(&self.labels).expect("a map of strings serialises");
        s.push('\n');
        s
    }

    /// Parses the JSON form; `origin` names the file in errors. Indexes must be
    /// distinct and non-negative.
    pub fn from_json(json: &[u8], origin: &str) -> Result<Self, SourceError> {
        let labels: BTreeMap<String, i32> =
            serde_json::from_slice(json).map_err(|e| SourceError::Labels {
                path: origin.to_string(),
                reason: format!("not a JSON object of label → index: {e}"),
            })?;
        let mut seen = std::collections::HashSet::new();
        for (label, index) in &labels {
            if *index < 0 || !seen.insert(*index) {
                return Err(SourceError::Labels {
                    path: origin.to_string(),
                    reason: format!("index {index} of label '{label}' is negative or repeated"),
                });
            }
        }
        Ok(Self { labels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_parent_folder() {
        assert_eq!(label_of("a/b/c/x.jpg").as_deref(), Some("c"));
        assert_eq!(label_of("x.jpg"), None);
        assert_eq!(label_of("Red Apple/x y.jpg").as_deref(), Some("Red Apple"));
    }

    #[test]
    fn index_is_dense_over_sorted_names() {
        let idx = LabelIndex::from_labels(["mango", "apple", "lemon", "apple"]);
        assert_eq!(
            idx.entries(),
            vec![("apple", 0), ("lemon", 1), ("mango", 2)]
        );
        assert_eq!(idx.get("lemon"), Some(1));
        assert_eq!(idx.get("kiwi"), None);
    }

    #[test]
    fn extending_keeps_known_indexes() {
        let mut idx = LabelIndex::from_labels(["lemon", "mango"]);
        let added = idx.extend(["apple", "mango", "zucchini"]);
        assert_eq!(added, vec!["apple".to_string(), "zucchini".to_string()]);
        assert_eq!(
            idx.entries(),
            vec![("lemon", 0), ("mango", 1), ("apple", 2), ("zucchini", 3)]
        );
    }

    #[test]
    fn json_round_trips_and_bad_files_are_refused() {
        let idx = LabelIndex::from_labels(["b", "a"]);
        let back = LabelIndex::from_json(idx.to_json().as_bytes(), "x").unwrap();
        assert_eq!(back, idx);
        assert!(LabelIndex::from_json(b"[1,2]", "l.json").is_err());
        let err = LabelIndex::from_json(br#"{"a":0,"b":0}"#, "l.json").unwrap_err();
        assert!(err.to_string().contains("l.json"), "{err}");
    }
}
