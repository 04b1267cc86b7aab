//! Kept uploads as their clients meet them: the phone page's consent and
//! feedback in headless Chromium, a WebP saved from the web, and
//! Schemathesis against `/openapi.json`.

use std::path::Path;
use std::process::Command;

use crate::common::uploads::*;
use crate::common::*;

/// The phone page in headless Chromium: the consent box is shown unticked
/// with its sentence; ticked, the photo is kept, and "No, it is …" records
/// the correction on the server. The photo is phone-sized (2250×3000, stored
/// on its side with GPS): the page shrinks it upright to 960×1280 before
/// sending, so the server keeps that JPEG and never saw the metadata.
#[test]
fn the_phone_page_asks_consent_and_takes_feedback_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let server = serve_uploads(&["--keep-uploads", kept.to_str().unwrap()], &[]);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve");
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join("phone-page-feedback.png");
    let url = format!("http://{}/", server.addr);
    let photo = phone_photo_with_gps(tmp.path(), "lemon/0_100.jpg", "2250x3000");
    let out = run_python_script(
        "browser_feedback.py",
        &[
            url.as_str(),
            photo.to_str().unwrap(),
            "mango",
            screenshot.to_str().unwrap(),
        ],
        &[],
    );
    let page: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(page["initially_ticked"], false, "{page}");
    assert!(
        page["consent_sentence"]
            .as_str()
            .unwrap()
            .contains("receipt"),
        "{page}"
    );
    assert!(
        page["answer"].as_str().unwrap().starts_with("lemon"),
        "{page}"
    );
    assert!(page["asked"].as_str().unwrap().contains("Right?"), "{page}");
    assert!(page["thanks"].as_str().unwrap().contains("mango"), "{page}");
    assert!(
        page["status"]
            .as_str()
            .unwrap()
            .ends_with("sent at 960×1280"),
        "{page}"
    );
    let receipt = page["receipt"].as_str().unwrap();
    let stored = exif_of(&kept.join(receipt).join("photo.jpg"));
    assert_eq!(stored["size"], serde_json::json!([960, 1280]), "{stored}");
    assert_eq!(stored["exif_tags"], serde_json::json!([]), "{stored}");
    let record = server
        .request("GET", &format!("/v1/uploads/{receipt}"), &[], b"")
        .json();
    assert_eq!(record["feedback"]["label"], "mango", "{record}");
    assert_eq!(record["feedback"]["confirmed"], false, "{record}");
    assert!(std::fs::read(&screenshot).unwrap().starts_with(b"\x89PNG"));
}

/// A WebP photo saved from the web, with GPS in its EXIF: answered as its
/// JPEG is, and with consent kept as WebP without the metadata.
#[test]
fn a_webp_from_the_web_is_answered_and_kept_without_its_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let server = serve_uploads(&["--keep-uploads", kept.to_str().unwrap()], &[]);
    let jpeg = std::fs::read(sample_dir().join("lemon/0_100.jpg")).unwrap();
    let webp = photo_with_gps(tmp.path(), "lemon/0_100.jpg", "webp");
    assert!(webp.starts_with(b"RIFF") && contains(&webp, b"OrchardTestPhone"));

    let from_jpeg = server.post("/v1/identify", "image/jpeg", &jpeg).json();
    let reply = server.post("/v1/identify", "image/webp", &webp);
    assert_eq!(reply.status, 200, "{reply:?}");
    let answer = reply.json();
    assert_eq!(answer["label"], "lemon", "{answer}");
    let p = |a: &serde_json::Value| a["top"][0]["probability"].as_f64().unwrap();
    assert!(
        (p(&answer) - p(&from_jpeg)).abs() < 0.05,
        "{answer} {from_jpeg}"
    );
    assert!(files_under(&kept).is_empty());

    let receipt = receipt_of(&server.identify_form(&webp, true));
    let stored = kept.join(&receipt).join("photo.webp");
    let exif = exif_of(&stored);
    assert_eq!(exif["format"], "WEBP", "{exif}");
    assert_eq!(exif["gps"], false, "{exif}");
    assert_eq!(exif["exif_tags"], serde_json::json!([]), "{exif}");
    assert_eq!(exif["size"], serde_json::json!([100, 100]));
    let bytes = std::fs::read(&stored).unwrap();
    for secret in [&b"OrchardTestPhone"[..], b"Alice", b"Model-Secret-42"] {
        assert!(!contains(&bytes, secret));
    }
    let got = server.request("GET", &format!("/v1/uploads/{receipt}/photo"), &[], b"");
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("image/webp"), "{got:?}");
    assert_eq!(got.body, bytes);
}

/// Schemathesis (from PyPI, in the project's .venv) against `/openapi.json`
/// of a real server that keeps uploads: no 5xx, no response outside the
/// description (status, content type, headers, schema).
#[test]
fn schemathesis_finds_no_server_error_or_schema_violation() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let server = serve_uploads(&["--keep-uploads", kept.to_str().unwrap()], &[]);
    let schemathesis = python().parent().unwrap().join("schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing: run scripts/setup.sh",
        schemathesis.display()
    );
    let report = tmp.path().join("report.xml");
    let out = Command::new(&schemathesis)
        .args([
            "run",
            &format!("http://{}/openapi.json", server.addr),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            "--phases",
            "examples,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "24",
            "--workers",
            "2",
            "--report",
            "junit",
            "--report-junit-path",
            report.to_str().unwrap(),
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache and reports stay out of the repository.
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis failed:\n{text}");
    // Every operation was exercised (Schemathesis leaves out the
    // description's own route, /openapi.json).
    let junit = std::fs::read_to_string(&report).unwrap();
    for op in [
        "POST /v1/identify",
        "GET /v1/model",
        "POST /v1/feedback",
        "GET /v1/uploads/{receipt}",
        "GET /v1/uploads/{receipt}/photo",
        "DELETE /v1/uploads/{receipt}",
        "GET /",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    ] {
        assert!(
            junit.contains(&format!("testcase name=\"{op}\"")),
            "{op} not tested:\n{text}"
        );
    }
    // And the description itself is served.
    let doc = server.request("GET", "/openapi.json", &[], b"").json();
    assert_eq!(doc["openapi"], "3.1.0");
}
