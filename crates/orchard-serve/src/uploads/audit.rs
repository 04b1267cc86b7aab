//! The audit log of erasures and expiries: who (the API, or a command),
//! what (the receipt), when, and how far the erasure reached. Never the
//! photo, the answer or the label.
//!
//! The log is append-only. On a local folder it is one file,
//! `KEPT/_audit.jsonl`, opened for appending only (one JSON line per event,
//! written in one call); object stores cannot append, so there each event is
//! an object of its own, `KEPT/_audit/<time>-<id>.json`, never rewritten.

use std::io::Write;

use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use orchard_source::Location;
use serde::{Deserialize, Serialize};

use crate::uploads::error::UploadError;
use crate::uploads::record::{now, rfc3339};

/// The audit file of a local store.
pub const AUDIT_FILE: &str = "_audit.jsonl";
/// The audit folder of a remote store.
pub const AUDIT_DIR: &str = "_audit";

/// One audited erasure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// `erase` (the person, through the API), `forget` (a command) or `expire` (retention).
    pub action: String,
    /// The receipt erased.
    pub receipt: String,
    /// Whether the store held it.
    pub found: bool,
    /// What else was reached: outputs and exports rewritten, bundles
    /// reported (locations only).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub reach: serde_json::Value,
}

impl AuditEvent {
    /// An event of now.
    pub fn new(action: &str, receipt: &str, found: bool, reach: serde_json::Value) -> AuditEvent {
        AuditEvent {
            at: rfc3339(now()),
            action: action.to_string(),
            receipt: receipt.to_string(),
            found,
            reach,
        }
    }
}

/// The audit log next to a store's uploads.
#[derive(Debug, Clone)]
pub struct AuditLog {
    location: Location,
}

impl AuditLog {
    /// The log of the store at `location`.
    pub fn new(location: Location) -> AuditLog {
        AuditLog { location }
    }

    /// Appends `event`.
    pub async fn append(&self, event: &AuditEvent) -> Result<(), UploadError> {
        let mut line = serde_json::to_vec(event).expect("an event serializes");
        line.push(b'\n');
        if let Some(dir) = self.location.local_dir() {
            let path = dir.join(AUDIT_FILE);
            let io = |source| UploadError::Io {
                path: path.display().to_string(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(io)?;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .map_err(io)?;
            file.write_all(&line).map_err(io)?;
            file.sync_data().map_err(io)?;
            return Ok(());
        }
        let name = format!(
            "{AUDIT_DIR}/{}-{}.json",
            event.at.replace(':', ""),
            uuid::Uuid::new_v4()
        );
        self.location
            .store()
            .put(&self.location.child(&name), PutPayload::from(line))
            .await
            .map_err(|source| UploadError::Store {
                store: self.location.url().to_string(),
                action: "append to the audit log".into(),
                source,
            })?;
        Ok(())
    }

    /// Every event, in the order written.
    pub async fn events(&self) -> Result<Vec<AuditEvent>, UploadError> {
        let fail = |source| UploadError::Store {
            store: self.location.url().to_string(),
            action: "read the audit log".into(),
            source,
        };
        let mut text = Vec::new();
        if let Some(dir) = self.location.local_dir() {
            match std::fs::read(dir.join(AUDIT_FILE)) {
                Ok(bytes) => text = bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(UploadError::Io {
                        path: dir.join(AUDIT_FILE).display().to_string(),
                        source,
                    })
                }
            }
        } else {
            let store = self.location.store();
            let mut keys: Vec<_> = store
                .list(Some(&self.location.child(AUDIT_DIR)))
                .map_ok(|m| m.location)
                .try_collect()
                .await
                .map_err(fail)?;
            keys.sort();
            for key in keys {
                let got = store.get(&key).await.map_err(fail)?;
                text.extend_from_slice(&got.bytes().await.map_err(fail)?);
            }
        }
        text.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice(l).map_err(|source| UploadError::Damaged {
                    key: format!("{}{AUDIT_FILE}", self.location.url()),
                    source,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_are_appended_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(Location::local(dir.path()).unwrap());
        assert!(log.events().await.unwrap().is_empty());
        let a = AuditEvent::new("erase", "up_1", true, serde_json::Value::Null);
        let b = AuditEvent::new(
            "expire",
            "up_2",
            false,
            serde_json::json!({"outputs": ["x"]}),
        );
        log.append(&a).await.unwrap();
        log.append(&b).await.unwrap();
        assert_eq!(log.events().await.unwrap(), vec![a, b]);
        let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
        assert_eq!(text.lines().count(), 2);
    }
}
