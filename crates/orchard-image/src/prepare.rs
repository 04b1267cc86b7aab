//! Bytes → model input in one call: decode, resize (PIL bicubic), normalise.

use crate::decode::{decode_into, fast_decode_side, DecodeOptions, DecodeScratch, ImageInfo};
use crate::error::ImageError;
use crate::preprocess::{preprocess_slice, Lut};
use crate::resize::Resizer;
use crate::spec::PreprocessSpec;

/// Decode buffers up to this size are kept between calls (a 12-megapixel
/// photo is 36 MB of RGB); larger ones are freed after each image.
const RETAIN_BYTES: usize = 48 << 20;

/// Turns image bytes into one model input tensor, reusing its buffers,
/// resize weights and normalisation table across calls.
///
/// One per worker thread; after the first image of a given size, preparing
/// another of the same size allocates only inside the JPEG/PNG decoder.
#[derive(Debug)]
pub struct Preparer {
    spec: PreprocessSpec,
    opts: DecodeOptions,
    resizer: Resizer,
    scratch: DecodeScratch,
    resized: Vec<u8>,
    lut: Lut,
}

impl Preparer {
    /// A preparer for `spec` decoding with `opts`.
    pub fn new(spec: PreprocessSpec, opts: DecodeOptions) -> Preparer {
        Preparer {
            spec,
            lut: Lut::new(spec.normalization),
            opts,
            resizer: Resizer::new(),
            scratch: DecodeScratch::default(),
            resized: Vec::new(),
        }
    }

    /// The spec this preparer produces.
    pub fn spec(&self) -> &PreprocessSpec {
        &self.spec
    }

    /// The decode options in use.
    pub fn options(&self) -> &DecodeOptions {
        &self.opts
    }

    /// Decode `bytes`, resize to the spec size (skipped when already there)
    /// and write `spec.tensor_len()` floats into `out`.
    pub fn prepare(&mut self, bytes: &[u8], out: &mut [f32]) -> Result<ImageInfo, ImageError> {
        let spec = self.spec;
        if spec.width == 0 || spec.height == 0 {
            return Err(ImageError::InvalidSpec(format!(
                "target size {}×{} is empty",
                spec.width, spec.height
            )));
        }
        if out.len() != spec.tensor_len() {
            return Err(ImageError::OutputLength {
                expected: spec.tensor_len(),
                actual: out.len(),
            });
        }
        let result = self.run(bytes, out);
        self.scratch.trim(RETAIN_BYTES);
        result
    }

    fn run(&mut self, bytes: &[u8], out: &mut [f32]) -> Result<ImageInfo, ImageError> {
        let spec = self.spec;
        let min_side = fast_decode_side(&self.opts, spec.width, spec.height);
        let decoded = decode_into(bytes, &self.opts, &mut self.scratch, min_side)?;
        let mut info = decoded.info;
        let pixels: &[u8] = if (decoded.width, decoded.height) == (spec.width, spec.height) {
            &self.scratch.rgb
        } else {
            self.resized.resize(spec.tensor_len(), 0);
            self.resizer.resize_into(
                &self.scratch.rgb,
                decoded.width,
                decoded.height,
                &mut self.resized,
                spec.width,
                spec.height,
            )?;
            info.resized = true;
            &self.resized
        };
        preprocess_slice(pixels, spec.width, spec.height, &spec, &self.lut, out)?;
        Ok(info)
    }
}

/// One-shot [`Preparer::prepare`]: decode → resize (if needed) → preprocess.
/// For a stream of images keep a [`Preparer`] instead.
pub fn prepare(
    bytes: &[u8],
    opts: &DecodeOptions,
    spec: &PreprocessSpec,
    out: &mut [f32],
) -> Result<ImageInfo, ImageError> {
    Preparer::new(*spec, opts.clone()).prepare(bytes, out)
}
