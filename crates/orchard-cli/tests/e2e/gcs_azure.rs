//! `orchard extract` against real Google Cloud Storage and Azure Blob protocol
//! servers on loopback (fake-gcs-server and Azurite): the same job as on local
//! disk, listings past a page, refused credentials, no secret shown, and data
//! residency.
//!
//! fake-gcs-server implements writes only through the JSON API, while
//! object_store writes GCS objects through the XML API (`PUT /bucket/key`,
//! answered `400 invalid uploadType`), so GCS is tested as an input, and
//! writing to it is tested to fail cleanly.

use crate::common::emulators::*;
use crate::common::*;

const LABELS: &[(&str, usize)] = &[("apple", 8), ("lemon", 8), ("raspberry", 8)];

// ---------------------------------------------------------------- GCS

#[test]
fn gcs_input_equals_the_local_run() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), LABELS);
    let server = GcsServer::start("EUROPE-WEST1");
    server.fixture(&["create-bucket", "fruits-eu"]);
    let uploaded = server.fixture(&["upload", "fruits-eu", "Test", photos.to_str().unwrap()]);
    assert_eq!(uploaded.trim(), "24");
    let account = server.service_account(tmp.path());

    let out = tmp.path().join("from-gcs");
    // The bucket's own location (europe-west1) is read and allowed.
    let remote = server.orchard(
        &account,
        &[
            "extract",
            "gs://fruits-eu/Test/",
            out.to_str().unwrap(),
            "--allowed-regions",
            "europe-*",
            "--keep-features",
            "--pca-k",
            "5",
        ],
    );
    assert_ok(&remote);
    let local_out = tmp.path().join("local");
    local_run(&photos, &local_out);

    assert_same_rows(
        &rows_by_relative(&out, "/Test/"),
        &rows_by_relative(&local_out, "/photos/"),
        24,
    );
    let run = run_json(&out);
    assert_eq!(run["counts"]["listed"], 24, "{run}");
    assert_eq!(run["input"], "gs://fruits-eu/Test/");
    assert!(out.join("_SUCCESS").exists());
    // The service-account file's private key appears nowhere but in that file.
    assert_secret_hidden(&remote, &[&out], GCS_TEST_SECRET);
}

#[test]
fn gcs_listing_of_over_1000_keys_filters_while_listing() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 3)]);
    let server = GcsServer::start("US-CENTRAL1");
    server.fixture(&["create-bucket", "many"]);
    // 1,005 non-photos sort before the photos. (fake-gcs-server answers an
    // XML listing in one response whatever max-keys says, so this checks a
    // listing of more than 1,000 keys, not object_store's GCS paging loop;
    // the Azure test below pages for real.)
    server.fixture(&["fill", "many", "in/aaa", "1005"]);
    server.fixture(&["upload", "many", "in", photos.to_str().unwrap()]);
    assert_eq!(server.keys("many", "in/").len(), 1008);
    let out = tmp.path().join("out");
    // The `--endpoint` form: no service-account file, unsigned requests.
    let endpoint = server.endpoint();
    let result = server
        .orchard_command(
            None,
            &[
                "extract",
                "gs://many/in/",
                out.to_str().unwrap(),
                "--endpoint",
                &endpoint,
                "--anonymous",
                "--pca-k",
                "2",
            ],
        )
        .output()
        .unwrap();
    assert_listed_past_a_page(&result, &out, 1005, "gs://many/in/apple/");
}

#[test]
fn an_unusable_gcs_credential_is_named_and_never_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let server = GcsServer::start("EUROPE-WEST1");
    server.fixture(&["create-bucket", "photos"]);
    // A service-account file whose key is no key, with OAuth on: refused
    // before any request is sent.
    let account = tmp.path().join("broken-account.json");
    let json = serde_json::json!({
        "type": "service_account",
        "client_email": "orchard-test@orchard-test.iam.gserviceaccount.com",
        "private_key_id": "orchard-test-key-id",
        "private_key": format!("-----BEGIN PRIVATE KEY-----\n{GCS_TEST_SECRET}\n-----END PRIVATE KEY-----\n"),
        "gcs_base_url": server.endpoint(),
    });
    std::fs::write(&account, serde_json::to_vec(&json).unwrap()).unwrap();
    let out = tmp.path().join("out");
    let result = server.orchard(
        &account,
        &["extract", "gs://photos/Test/", out.to_str().unwrap()],
    );
    assert!(!result.status.success());
    let err = stderr(&result);
    assert!(
        err.contains(account.to_str().unwrap()) && err.contains("GOOGLE_SERVICE_ACCOUNT"),
        "names the credential file: {err}"
    );
    assert!(err.contains("`photos`"), "names the bucket: {err}");
    assert_secret_hidden(&result, &[&out], GCS_TEST_SECRET);
    assert!(!out.join("_SUCCESS").exists());
}

#[test]
fn gcs_buckets_outside_the_allowed_regions_are_refused_before_any_io() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 2), ("lemon", 2)]);
    let server = GcsServer::start("US-CENTRAL1");
    server.fixture(&["create-bucket", "fruits-us"]);
    server.fixture(&["upload", "fruits-us", "Test", photos.to_str().unwrap()]);
    let account = server.service_account(tmp.path());

    // A US input: the bucket's own location wins over a --region that says
    // otherwise.
    let out = tmp.path().join("out");
    let result = server.orchard(
        &account,
        &[
            "extract",
            "gs://fruits-us/Test/",
            out.to_str().unwrap(),
            "--region",
            "europe-west1",
            "--allowed-regions",
            "europe-*",
        ],
    );
    assert!(!result.status.success());
    let err = stderr(&result);
    assert!(
        err.contains("us-central1") && err.contains("europe-*"),
        "{err}"
    );
    assert!(
        files_under(&out).is_empty(),
        "nothing may be written: {err}"
    );

    // A US output, refused by the config file's allow-list before the
    // write (which fake-gcs-server could not take anyway).
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "[storage]\nallowed_regions = [\"europe-*\"]\n").unwrap();
    let result = server.orchard(
        &account,
        &[
            "extract",
            photos.to_str().unwrap(),
            "gs://fruits-us/Results/",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert!(!result.status.success());
    let err = stderr(&result);
    assert!(
        err.contains("us-central1") && err.contains("refused"),
        "{err}"
    );
    assert!(server.keys("fruits-us", "Results/").is_empty());
}

#[test]
fn writing_to_fake_gcs_server_fails_without_a_success_marker() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 2)]);
    let server = GcsServer::start("EUROPE-WEST1");
    server.fixture(&["create-bucket", "results"]);
    let account = server.service_account(tmp.path());
    let result = server.orchard(
        &account,
        &[
            "extract",
            photos.to_str().unwrap(),
            "gs://results/Results/",
            "--max-retries",
            "1",
        ],
    );
    // If this starts passing, fake-gcs-server (or object_store) speaks the
    // other's write API: extend the GCS tests to outputs on the store.
    assert!(!result.status.success(), "{}", stderr(&result));
    let err = stderr(&result);
    assert!(
        err.contains("gs://results/") && err.contains("invalid uploadType"),
        "names the bucket and the server's reason: {err}"
    );
    assert!(!server
        .keys("results", "Results/")
        .contains(&"Results/_SUCCESS".to_string()));
    assert_secret_hidden(&result, &[], GCS_TEST_SECRET);
}

// ---------------------------------------------------------------- Azure

/// The blobs written (PUT) or deleted under `prefix` of `container`, in the
/// order Azurite received the requests.
fn writes_in_order(log: &str, container: &str, prefix: &str) -> Vec<String> {
    let marker = format!("/{AZURE_ACCOUNT}/{container}/{prefix}");
    log.lines()
        .filter_map(|line| {
            let request = line.split('"').nth(1)?;
            let mut parts = request.split(' ');
            let method = parts.next()?;
            let target = parts.next()?;
            let path = target.split('?').next()?;
            let name = path.strip_prefix(&marker)?;
            matches!(method, "PUT" | "DELETE").then(|| format!("{method} {prefix}{name}"))
        })
        .collect()
}

#[test]
fn azure_run_equals_the_local_run() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), LABELS);
    let server = AzureServer::start();
    server.fixture(&["create-container", "photos"]);
    server.fixture(&["create-container", "results"]);
    let uploaded = server.fixture(&["upload", "photos", "Test", photos.to_str().unwrap()]);
    assert_eq!(uploaded.trim(), "24");

    let remote = server
        .orchard_command(&[
            "extract",
            "az://photos/Test/",
            "az://results/Results/",
            "--region",
            "westeurope",
            "--allowed-regions",
            "*europe",
            "--keep-features",
            "--pca-k",
            "5",
        ])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_ok(&remote);
    let local_out = tmp.path().join("local");
    local_run(&photos, &local_out);

    let keys = server.keys("results", "Results/");
    assert_complete_output(&keys, "Results/");
    // `_SUCCESS` is the last write of the run: nothing is written or deleted
    // after it.
    let writes = writes_in_order(&server.access_log(), "results", "Results/");
    assert_eq!(
        writes.last().map(String::as_str),
        Some("PUT Results/_SUCCESS"),
        "{writes:#?}"
    );
    assert_eq!(
        writes.iter().filter(|w| w.ends_with("/_SUCCESS")).count(),
        1
    );

    let downloaded = tmp.path().join("downloaded");
    server.fixture(&[
        "download",
        "results",
        "Results",
        downloaded.to_str().unwrap(),
    ]);
    assert_same_rows(
        &rows_by_relative(&downloaded, "/Test/"),
        &rows_by_relative(&local_out, "/photos/"),
        24,
    );
    let run = run_json(&downloaded);
    assert_eq!(run["counts"]["listed"], 24, "{run}");
    assert_eq!(run["input"], "az://photos/Test/");
    assert_secret_hidden(&remote, &[&downloaded], AZURE_KEY);
}

#[test]
fn azure_listing_pages_beyond_5000_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 3)]);
    let server = AzureServer::start();
    server.fixture(&["create-container", "many"]);
    // 5,003 non-photos sort before the photos: Azure lists 5,000 blobs a
    // page, so only a listing that follows the continuation marker finds
    // the apples.
    server.fixture(&["fill", "many", "in/aaa", "5003"]);
    server.fixture(&["upload", "many", "in", photos.to_str().unwrap()]);
    let out = tmp.path().join("out");
    let before = server.access_log().lines().count();
    let result = server
        .orchard_command(&[
            "extract",
            "az://many/in/",
            out.to_str().unwrap(),
            "--pca-k",
            "2",
        ])
        .output()
        .unwrap();
    assert_listed_past_a_page(&result, &out, 5003, "az://many/in/apple/");
    let log = server.access_log();
    let pages = log
        .lines()
        .skip(before)
        .filter(|l| l.contains("comp=list"))
        .count();
    assert!(pages >= 2, "one listing page only:\n{log}");
}

#[test]
fn a_refused_azure_key_is_named_and_never_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 2)]);
    let server = AzureServer::start();
    server.fixture(&["create-container", "photos"]);
    server.fixture(&["upload", "photos", "Test", photos.to_str().unwrap()]);
    let out = tmp.path().join("out");
    let result = server
        .orchard_endpoint_command(
            AZURE_WRONG_KEY,
            &["extract", "az://photos/Test/", out.to_str().unwrap()],
        )
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(!result.status.success());
    let err = stderr(&result);
    assert!(err.contains("access denied"), "{err}");
    assert!(err.contains("`photos`"), "names the container: {err}");
    assert!(
        err.contains("AZURE_STORAGE_ACCOUNT_KEY") && err.contains(AZURE_ACCOUNT),
        "names the refused credential: {err}"
    );
    assert_secret_hidden(&result, &[tmp.path()], AZURE_WRONG_KEY);
    assert_secret_hidden(&result, &[tmp.path()], AZURE_KEY);
    assert!(!out.join("_SUCCESS").exists());
}

#[test]
fn azure_accounts_outside_the_allowed_regions_are_refused_before_any_io() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 2), ("lemon", 2)]);
    let server = AzureServer::start();
    server.fixture(&["create-container", "photos"]);
    server.fixture(&["create-container", "results"]);
    server.fixture(&["upload", "photos", "Test", photos.to_str().unwrap()]);
    let job = ["extract", "az://photos/Test/", "az://results/Results/"];

    // The account's stated region is outside the allow-list: not one request.
    let before = server.access_log().lines().count();
    let mut args = job.to_vec();
    args.extend(["--region", "eastus", "--allowed-regions", "*europe"]);
    let result = server
        .orchard_endpoint_command(AZURE_KEY, &args)
        .output()
        .unwrap();
    assert!(!result.status.success());
    let err = stderr(&result);
    assert!(err.contains("eastus") && err.contains("*europe"), "{err}");
    // No region stated: refused too, saying how to state it.
    let mut args = job.to_vec();
    args.extend(["--allowed-regions", "*europe"]);
    let result = server
        .orchard_endpoint_command(AZURE_KEY, &args)
        .output()
        .unwrap();
    assert!(!result.status.success());
    assert!(stderr(&result).contains("--region"), "{}", stderr(&result));
    let log = server.access_log();
    assert_eq!(
        log.lines().count(),
        before,
        "requests were sent:\n{}",
        log.lines().skip(before).collect::<Vec<_>>().join("\n")
    );
    assert!(server.keys("results", "Results/").is_empty());

    // Stated inside it, through the custom-endpoint form: accepted.
    let mut args = job.to_vec();
    args.extend([
        "--region",
        "westeurope",
        "--allowed-regions",
        "*europe",
        "--pca-k",
        "2",
    ]);
    let result = server
        .orchard_endpoint_command(AZURE_KEY, &args)
        .output()
        .unwrap();
    assert_ok(&result);
    assert!(server
        .keys("results", "Results/")
        .contains(&"Results/_SUCCESS".to_string()));
}

/// A listing of 3 photos among `skipped` other objects, more than a page of
/// the store's listing: the run found exactly the photos.
fn assert_listed_past_a_page(
    result: &std::process::Output,
    out: &std::path::Path,
    skipped: u64,
    photo_prefix: &str,
) {
    assert_ok(result);
    let run = run_json(out);
    assert_eq!(run["counts"]["listed"], 3, "{run}");
    assert_eq!(run["counts"]["skipped"], skipped, "{run}");
    let rows = rows_by_path(out);
    assert_eq!(rows.len(), 3);
    assert!(rows.keys().all(|p| p.starts_with(photo_prefix)), "{rows:?}");
}
