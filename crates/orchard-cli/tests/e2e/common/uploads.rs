//! Helpers of the kept-uploads tests: `orchard serve` keeping uploads, the
//! phone form's requests, EXIF fixtures and receipts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::serve::{small_model, Reply, Server};
use super::*;

/// `orchard serve` with the small model, `extra` arguments and `env`.
pub fn serve_uploads(extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchard"));
    cmd.envs(env.iter().copied());
    Server::spawn(cmd, small_model(), extra)
}

impl Server {
    /// Identifies `photo` as a phone's form sends it, with or without consent.
    pub fn identify_form(&self, photo: &[u8], consent: bool) -> serde_json::Value {
        let (ct, body) = multipart(photo, consent);
        let reply = self.post("/v1/identify", &ct, &body);
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()
    }

    /// Sends feedback: `label` is the right answer for `receipt`.
    pub fn feedback(&self, receipt: &str, label: &str) -> Reply {
        let body = serde_json::json!({ "receipt": receipt, "label": label }).to_string();
        self.post("/v1/feedback", "application/json", body.as_bytes())
    }
}

/// A phone form's multipart body with `photo`, with or without consent.
pub fn multipart(photo: &[u8], consent: bool) -> (String, Vec<u8>) {
    let boundary = "orchard-upload-boundary";
    let mut body = Vec::new();
    if consent {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"consent\"\r\n\r\ntraining\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"IMG_0042.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(photo);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A sample photo re-saved with EXIF (GPS, make, model, artist) as
/// `format`: `jpg` or `webp`.
pub fn photo_with_gps(dir: &Path, sample: &str, format: &str) -> Vec<u8> {
    std::fs::read(exif_fixture(dir, sample, format, None)).unwrap()
}

/// A phone-sized JPEG with the same EXIF: the sample stretched to `size`
/// ("WxH", upright), stored on its side with Orientation 6.
pub fn phone_photo_with_gps(dir: &Path, sample: &str, size: &str) -> PathBuf {
    exif_fixture(dir, sample, "jpg", Some(size))
}

fn exif_fixture(dir: &Path, sample: &str, format: &str, size: Option<&str>) -> PathBuf {
    let stem = sample.replace('/', "-");
    let stem = stem.rsplit_once('.').map_or(stem.as_str(), |(s, _)| s);
    let out = dir.join(format!("gps-{stem}{}.{format}", size.unwrap_or("")));
    let src = sample_dir().join(sample);
    let mut args = vec!["add", src.to_str().unwrap(), out.to_str().unwrap()];
    args.extend(size);
    run_python_script("exif_fixture.py", &args, &[]);
    out
}

/// The EXIF tags of `file` (Pillow), as JSON.
pub fn exif_of(file: &Path) -> serde_json::Value {
    let out = run_python_script("exif_fixture.py", &["inspect", file.to_str().unwrap()], &[]);
    serde_json::from_str(out.trim()).unwrap()
}

/// Whether `bytes` hold a JPEG, PNG or WebP signature anywhere.
pub fn holds_image_bytes(bytes: &[u8]) -> bool {
    contains(bytes, &[0xFF, 0xD8, 0xFF])
        || contains(bytes, b"\x89PNG")
        || contains(bytes, b"WEBPVP8")
}

/// The receipt of an answer given with consent.
pub fn receipt_of(answer: &serde_json::Value) -> String {
    answer["receipt"]
        .as_str()
        .unwrap_or_else(|| panic!("no receipt in {answer}"))
        .to_string()
}

/// Sends each photo with consent and feedback (its true label); returns
/// receipt → (label, path of the sample photo).
pub fn give(server: &Server, photos: &[&str]) -> HashMap<String, String> {
    let mut given = HashMap::new();
    for rel in photos {
        let bytes = std::fs::read(sample_dir().join(rel)).unwrap();
        let receipt = receipt_of(&server.identify_form(&bytes, true));
        let label = rel.split('/').next().unwrap();
        let reply = server.feedback(&receipt, label);
        assert_eq!(reply.status, 200, "{reply:?}");
        given.insert(receipt, label.to_string());
    }
    given
}
