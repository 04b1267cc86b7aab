//! What is kept of an upload besides the photo: the answer given, the time,
//! the model, and the person's feedback. Nothing that identifies the person:
//! no address, no user agent, no file name, no metadata of the photo.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// One label of an answer, as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptGuess {
    /// The label.
    pub label: String,
    /// Its probability.
    pub probability: f32,
}

/// The answer the service gave, as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptAnswer {
    /// The top label (also when not sure).
    pub label: String,
    /// Its probability.
    pub probability: f32,
    /// Whether the service was sure.
    pub sure: bool,
    /// Why not, when not sure (`unfamiliar`, `ambiguous`).
    pub unsure_reason: Option<String>,
    /// The top labels.
    pub top: Vec<KeptGuess>,
}

/// The model that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptModel {
    /// The feature model's name.
    pub name: String,
    /// The feature model's sha256.
    pub sha256: String,
}

/// The person's word on the answer (rectification).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// The fruit the photo shows, says the person.
    pub label: String,
    /// Whether it is the answer's label (`true`) or a correction.
    pub confirmed: bool,
    /// When it was given (RFC 3339, UTC).
    pub at: String,
}

/// A kept upload's record (`<receipt>/record.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// The receipt.
    pub receipt: String,
    /// When the photo was received (RFC 3339, UTC, seconds).
    pub received: String,
    /// The photo's object name next to the record (`photo.jpg`, `photo.png`).
    pub photo: String,
    /// The purpose the person consented to.
    pub consent: String,
    /// The answer given.
    pub answer: KeptAnswer,
    /// The model that gave it.
    pub model: KeptModel,
    /// The person's feedback, when given.
    #[serde(default)]
    pub feedback: Option<Feedback>,
}

impl UploadRecord {
    /// The label to train on: the person's, when given (the answer alone is
    /// never trusted for training).
    pub fn training_label(&self) -> Option<&str> {
        self.feedback.as_ref().map(|f| f.label.as_str())
    }

    /// When the photo was received.
    pub fn received_at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.received)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The environment variable that fixes "now" (RFC 3339), for tests of
/// retention; unset in production.
pub const NOW_VARIABLE: &str = "ORCHARD_NOW";

/// The current time, or `ORCHARD_NOW` when set (see [`NOW_VARIABLE`]).
pub fn now() -> DateTime<Utc> {
    std::env::var(NOW_VARIABLE)
        .ok()
        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
}

/// `t` as the records write it.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_trains_on_the_persons_label_only() {
        let mut record = UploadRecord {
            receipt: "up_00".into(),
            received: "2025-01-02T03:04:05Z".into(),
            photo: "photo.jpg".into(),
            consent: "training".into(),
            answer: KeptAnswer {
                label: "apple".into(),
                probability: 0.9,
                sure: true,
                unsure_reason: None,
                top: vec![KeptGuess {
                    label: "apple".into(),
                    probability: 0.9,
                }],
            },
            model: KeptModel {
                name: "m".into(),
                sha256: "ab".into(),
            },
            feedback: None,
        };
        assert_eq!(record.training_label(), None);
        record.feedback = Some(Feedback {
            label: "lemon".into(),
            confirmed: false,
            at: "2025-01-02T03:05:00Z".into(),
        });
        let json = serde_json::to_string(&record).unwrap();
        let back: UploadRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.training_label(), Some("lemon"));
        assert_eq!(rfc3339(back.received_at().unwrap()), record.received);
    }
}
