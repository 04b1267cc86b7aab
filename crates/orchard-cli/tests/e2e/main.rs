//! Orchard's end-to-end tests in one test binary (as ripgrep's `tests/`):
//! the real `orchard` binary, the real model and ONNX Runtime, real
//! processes (a loopback S3 server, GCS and Azure emulators, a Ballista
//! cluster, `orchard serve`, headless Chromium, Python checks). One module a
//! subject; what they share is in `common/`.
//!
//! `cargo test --release -p orchard-cli --test e2e MODULE::` runs one subject
//! (e.g. `cluster_chaos::`).

mod common;

mod bad_inputs;
mod classify;
mod cluster;
mod cluster_chaos;
mod cost;
mod deploy;
mod extract;
mod fine_tune;
mod gcs_azure;
mod incremental;
mod quantize;
mod report;
mod resume;
mod s3;
mod seed_parity;
mod serve;
mod uploads;
mod uploads_clients;
mod uploads_forget;
