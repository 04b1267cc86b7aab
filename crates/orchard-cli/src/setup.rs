//! What several commands set up the same way: the async runtime, the model
//! and the storage options.

use std::path::Path;

use anyhow::{Context, Result};
use orchard_classify::Bundle;
use orchard_engine::OutputFormat;
use orchard_image::Normalization;
use orchard_model::{BackendKind, CustomModelOptions, ModelHome, ModelRef};
use orchard_source::StorageOptions;

use crate::args::{Backend, Format, ModelArgs, Preprocess, RunArgs, StorageArgs};

/// The async runtime: one worker per core.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves `--model` and friends to a verified model reference.
pub fn resolve_model(args: &ModelArgs) -> Result<ModelRef> {
    let custom = CustomModelOptions {
        normalization: args.preprocess.map(|p| match p {
            Preprocess::Keras => Normalization::Keras,
            Preprocess::Torch => Normalization::Torch,
            Preprocess::None => Normalization::None,
        }),
        input_size: args.input_size.map(|s| (s, s)),
    };
    let resolved = ModelHome::from_env().resolve_with(&args.model, &custom)?;
    let backend = match args.backend {
        Backend::Auto => BackendKind::Auto,
        Backend::Ort => BackendKind::Ort,
        Backend::Tract => BackendKind::Tract,
    };
    Ok(resolved.to_ref(backend, args.threads, args.lanes))
}

/// Orchard's config file: the `[storage]` and `[uploads]` tables.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    storage: StorageOptions,
    #[serde(default)]
    uploads: UploadsConfig,
}

/// The `[uploads]` table: kept uploads' retention.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadsConfig {
    /// How long kept uploads are kept (`30d`): `orchard uploads expire`'s default.
    retention: Option<String>,
}

/// The config file (`--config`, `ORCHARD_CONFIG`, or
/// `$ORCHARD_HOME/config.toml` when present), or the defaults.
fn config_file(args: &StorageArgs) -> Result<ConfigFile> {
    let path = args
        .config
        .clone()
        .or_else(|| Some(ModelHome::from_env().root().join("config.toml")).filter(|p| p.is_file()));
    match &path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            toml::from_str::<ConfigFile>(&text)
                .with_context(|| format!("invalid config file {}", path.display()))
        }
        None => Ok(ConfigFile::default()),
    }
}

/// `retention` of the config file's `[uploads]` table, if set.
pub fn uploads_retention(args: &StorageArgs) -> Result<Option<String>> {
    Ok(config_file(args)?.uploads.retention)
}

/// Storage options: the config file (`--config`, `ORCHARD_CONFIG`, or
/// `$ORCHARD_HOME/config.toml` when present), then the command line on top.
/// Allow-lists from both are combined only in the sense that the command line
/// replaces the file's list when given.
pub fn storage_options(args: &StorageArgs) -> Result<StorageOptions> {
    let mut options = config_file(args)?.storage;
    if args.region.is_some() {
        options.region = args.region.clone();
    }
    if args.endpoint.is_some() {
        options.endpoint = args.endpoint.clone();
    }
    let allowed: Vec<String> = args
        .allowed_regions
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    if !allowed.is_empty() {
        options.allowed_regions = allowed;
    }
    options.anonymous |= args.anonymous;
    if let Some(t) = args.request_timeout {
        anyhow::ensure!(t > 0.0, "--request-timeout must be positive");
        options.request_timeout_secs = t;
    }
    if let Some(r) = args.max_retries {
        options.max_retries = r;
    }
    Ok(options)
}

/// The command line as `_run.json` records it: the values of options that
/// name a secret (`--*token*`, `--*secret*`, `--*password*`, `--*key*`) and
/// the credentials or query strings inside URLs (`user:pass@`, `?sig=…`)
/// replaced by `<redacted>`.
pub fn recorded_command_line(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let secret_flag = |a: &str| {
        let name = a.trim_start_matches('-').to_ascii_lowercase();
        a.starts_with("--")
            && ["token", "secret", "password", "key"]
                .iter()
                .any(|w| name.contains(w))
    };
    let mut out = Vec::new();
    let mut redact_next = false;
    for arg in args {
        if redact_next {
            out.push("<redacted>".to_string());
            redact_next = false;
            continue;
        }
        if secret_flag(&arg) {
            match arg.split_once('=') {
                Some((flag, _)) => out.push(format!("{flag}=<redacted>")),
                None => {
                    redact_next = true;
                    out.push(arg);
                }
            }
            continue;
        }
        out.push(redact_url(&arg));
    }
    out
}

/// `arg` without a URL's user information and query string.
fn redact_url(arg: &str) -> String {
    let Some(scheme_end) = arg.find("://") else {
        return arg.to_string();
    };
    let rest = &arg[scheme_end + 3..];
    let mut out = arg[..scheme_end + 3].to_string();
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => {
            out.push_str("<redacted>@");
            out.push_str(&rest[at + 1..]);
        }
        None => out.push_str(rest),
    }
    if let Some(q) = out.find('?') {
        out.truncate(q);
        out.push_str("?<redacted>");
    }
    out
}

/// Loads a bundle and the feature model it names, refusing another model.
pub fn load_bundle(dir: &Path, run: &RunArgs) -> Result<(Bundle, ModelRef)> {
    let mut bundle = Bundle::load(dir)?;
    if let Some(p) = run.unsure_below {
        bundle.classifier.thresholds.min_probability = p;
    }
    let name = run
        .model
        .clone()
        .unwrap_or_else(|| bundle.feature_model.name.clone());
    let resolved = ModelHome::from_env().resolve(&name).with_context(|| {
        format!(
            "cannot find the feature model `{name}` of classifier {} (pass --model FILE.onnx)",
            dir.display()
        )
    })?;
    bundle.check_model(dir, &resolved.spec.name, &resolved.sha256)?;
    let model = ModelRef {
        spec: bundle.feature_model.spec.clone(),
        ..resolved.to_ref(BackendKind::Auto, run.threads, 0)
    };
    Ok((bundle, model))
}

/// The engine's output format for `--format`.
pub fn output_format(format: Format) -> OutputFormat {
    match format {
        Format::Parquet => OutputFormat::Parquet,
        Format::Csv => OutputFormat::Csv,
    }
}

#[cfg(test)]
mod tests {
    use super::recorded_command_line;

    fn record(args: &[&str]) -> Vec<String> {
        recorded_command_line(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn secrets_never_reach_the_recorded_command_line() {
        let line = record(&[
            "orchard",
            "extract",
            "s3://photos/Test/",
            "https://me:hunter2@gateway.example/out?sig=abc",
            "--token-file",
            "/run/secrets/t",
            "--access-key=AKIAEXAMPLE",
            "--pca-k",
            "50",
        ]);
        let joined = line.join(" ");
        for secret in ["hunter2", "sig=abc", "AKIAEXAMPLE", "/run/secrets/t"] {
            assert!(!joined.contains(secret), "{secret} in {joined}");
        }
        assert_eq!(
            line,
            [
                "orchard",
                "extract",
                "s3://photos/Test/",
                "https://<redacted>@gateway.example/out?<redacted>",
                "--token-file",
                "<redacted>",
                "--access-key=<redacted>",
                "--pca-k",
                "50",
            ]
        );
    }
}
