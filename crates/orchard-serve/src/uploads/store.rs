//! The store of kept uploads, on any `object_store` location (a local
//! folder, `s3://`, `gs://`, `az://`):
//!
//! ```text
//! KEPT/<receipt>/photo.jpg     the photo, metadata stripped (or photo.png)
//! KEPT/<receipt>/record.json   the answer, the time, the model, the feedback
//! KEPT/_audit…                 the audit log of erasures (see `audit`)
//! ```
//!
//! The photo is written before its record, and erased before it: an upload
//! exists when its record does, and an interrupted erasure is finished by the
//! next one.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use orchard_source::Location;

use crate::uploads::error::UploadError;
use crate::uploads::exif::strip_metadata;
use crate::uploads::receipt::Receipt;
use crate::uploads::record::{now, rfc3339, Feedback, KeptAnswer, KeptModel, UploadRecord};

/// The record's object name inside an upload's folder.
const RECORD: &str = "record.json";

/// The consent purpose the service accepts.
pub const CONSENT_TRAINING: &str = "training";

/// Kept uploads at one location.
#[derive(Debug, Clone)]
pub struct UploadStore {
    location: Location,
}

/// A kept photo and its media type.
#[derive(Debug, Clone)]
pub struct KeptPhoto {
    /// The bytes, metadata stripped.
    pub bytes: Vec<u8>,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: &'static str,
}

impl UploadStore {
    /// The store at `location` (created on first write).
    pub fn new(location: Location) -> UploadStore {
        UploadStore { location }
    }

    /// Where the uploads are kept.
    pub fn location(&self) -> &Location {
        &self.location
    }

    fn fail(&self, action: impl Into<String>) -> impl FnOnce(object_store::Error) -> UploadError {
        let store = self.location.url().to_string();
        let action = action.into();
        move |source| UploadError::Store {
            store,
            action,
            source,
        }
    }

    fn key(&self, receipt: &Receipt, name: &str) -> Path {
        self.location.child(&format!("{receipt}/{name}"))
    }

    /// Keeps `photo` (metadata stripped) with the answer it got; returns its record.
    pub async fn keep(
        &self,
        photo: &[u8],
        answer: KeptAnswer,
        model: KeptModel,
    ) -> Result<UploadRecord, UploadError> {
        let stripped = strip_metadata(photo)?;
        let receipt = Receipt::new();
        let name = format!("photo.{}", stripped.extension);
        let record = UploadRecord {
            receipt: receipt.to_string(),
            received: rfc3339(now()),
            photo: name.clone(),
            consent: CONSENT_TRAINING.to_string(),
            answer,
            model,
            feedback: None,
        };
        self.location
            .store()
            .put(&self.key(&receipt, &name), PutPayload::from(stripped.bytes))
            .await
            .map_err(self.fail("write a photo"))?;
        self.put_record(&receipt, &record).await?;
        Ok(record)
    }

    async fn put_record(
        &self,
        receipt: &Receipt,
        record: &UploadRecord,
    ) -> Result<(), UploadError> {
        let json = serde_json::to_vec_pretty(record).expect("a record serializes");
        self.location
            .store()
            .put(&self.key(receipt, RECORD), PutPayload::from(json))
            .await
            .map_err(self.fail("write a record"))?;
        Ok(())
    }

    async fn get(&self, key: &Path, action: &str) -> Result<Option<Vec<u8>>, UploadError> {
        match self.location.store().get(key).await {
            Ok(got) => Ok(Some(got.bytes().await.map_err(self.fail(action))?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail(action)(e)),
        }
    }

    /// The record of `receipt`, if the upload is kept.
    pub async fn record(&self, receipt: &Receipt) -> Result<Option<UploadRecord>, UploadError> {
        let key = self.key(receipt, RECORD);
        let Some(bytes) = self.get(&key, "read a record").await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| UploadError::Damaged {
                key: self.location.display(&key),
                source,
            })
    }

    /// The photo of `receipt`, if kept.
    pub async fn photo(&self, receipt: &Receipt) -> Result<Option<KeptPhoto>, UploadError> {
        let Some(record) = self.record(receipt).await? else {
            return Ok(None);
        };
        let bytes = self
            .get(&self.key(receipt, &record.photo), "read a photo")
            .await?;
        Ok(bytes.map(|bytes| KeptPhoto {
            bytes,
            content_type: match record.photo.rsplit_once('.').map(|(_, ext)| ext) {
                Some("png") => "image/png",
                Some("webp") => "image/webp",
                _ => "image/jpeg",
            },
        }))
    }

    /// Records the person's `label` for `receipt`; `None` when the upload is
    /// not kept.
    pub async fn set_feedback(
        &self,
        receipt: &Receipt,
        label: &str,
    ) -> Result<Option<UploadRecord>, UploadError> {
        let Some(mut record) = self.record(receipt).await? else {
            return Ok(None);
        };
        record.feedback = Some(Feedback {
            label: label.to_string(),
            confirmed: label == record.answer.label,
            at: rfc3339(now()),
        });
        self.put_record(receipt, &record).await?;
        Ok(Some(record))
    }

    /// Erases the photo and the record of `receipt` (idempotent); returns
    /// whether anything was there.
    pub async fn erase(&self, receipt: &Receipt) -> Result<bool, UploadError> {
        let prefix = self.location.child(receipt.as_str());
        let mut keys: Vec<Path> = self
            .location
            .store()
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(self.fail("list an upload"))?;
        // The photo first, the record last.
        keys.sort_by_key(|k| k.filename() == Some(RECORD));
        let found = !keys.is_empty();
        for key in keys {
            match self.location.store().delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.fail("erase an upload")(e)),
            }
        }
        if let Some(dir) = self.location.local_dir() {
            let folder = dir.join(receipt.as_str());
            if folder.is_dir() {
                std::fs::remove_dir_all(&folder).map_err(|source| UploadError::Io {
                    path: folder.display().to_string(),
                    source,
                })?;
            }
        }
        Ok(found)
    }

    /// Every kept upload's record, oldest first.
    pub async fn records(&self) -> Result<Vec<UploadRecord>, UploadError> {
        let keys: Vec<Path> = self
            .location
            .store()
            .list(Some(self.location.prefix()))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(self.fail("list the uploads"))?;
        let mut records = Vec::new();
        for key in keys {
            let Some(relative) = self.location.relative(&key) else {
                continue;
            };
            let Some((folder, RECORD)) = relative.split_once('/') else {
                continue;
            };
            let Some(receipt) = Receipt::parse(folder) else {
                continue;
            };
            if let Some(record) = self.record(&receipt).await? {
                records.push(record);
            }
        }
        records.sort_by(|a, b| (&a.received, &a.receipt).cmp(&(&b.received, &b.receipt)));
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uploads::record::KeptGuess;

    fn answer(label: &str) -> KeptAnswer {
        KeptAnswer {
            label: label.into(),
            probability: 0.8,
            sure: true,
            unsure_reason: None,
            top: vec![KeptGuess {
                label: label.into(),
                probability: 0.8,
            }],
        }
    }

    fn model() -> KeptModel {
        KeptModel {
            name: "mobilenet_v2".into(),
            sha256: "00ff".into(),
        }
    }

    fn jpeg() -> Vec<u8> {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([200, 20, 20]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut out)
            .encode_image(&img)
            .unwrap();
        out
    }

    #[tokio::test]
    async fn keep_read_correct_list_and_erase() {
        let dir = tempfile::tempdir().unwrap();
        let store = UploadStore::new(Location::local(dir.path()).unwrap());
        let photo = jpeg();
        let kept = store.keep(&photo, answer("apple"), model()).await.unwrap();
        let receipt = Receipt::parse(&kept.receipt).unwrap();
        assert_eq!(store.record(&receipt).await.unwrap(), Some(kept.clone()));
        let back = store.photo(&receipt).await.unwrap().unwrap();
        assert_eq!(back.bytes, photo);
        assert_eq!(back.content_type, "image/jpeg");

        let corrected = store
            .set_feedback(&receipt, "lemon")
            .await
            .unwrap()
            .unwrap();
        let feedback = corrected.feedback.clone().unwrap();
        assert!(!feedback.confirmed);
        assert_eq!(corrected.training_label(), Some("lemon"));
        let other = store.keep(&photo, answer("mango"), model()).await.unwrap();
        let all = store.records().await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().any(|r| r.receipt == other.receipt));

        assert!(store.erase(&receipt).await.unwrap());
        assert!(!dir.path().join(receipt.as_str()).exists());
        assert!(!store.erase(&receipt).await.unwrap(), "idempotent");
        assert_eq!(store.record(&receipt).await.unwrap(), None);
        assert!(store.set_feedback(&receipt, "x").await.unwrap().is_none());
        assert_eq!(store.records().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn what_is_not_a_photo_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = UploadStore::new(Location::local(dir.path()).unwrap());
        let err = store
            .keep(b"plain text", answer("apple"), model())
            .await
            .unwrap_err();
        assert!(matches!(err, UploadError::Strip(_)), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
