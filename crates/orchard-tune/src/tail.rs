//! The trainable tail of a MobileNetV2-family backbone in candle: the last
//! inverted-residual blocks (1×1 expand, k×k depthwise, 1×1 project,
//! residual add) and the final 1×1 conv, global-average-pooled to the
//! features. Two backbones have this shape: Keras' MobileNetV2 (3×3
//! depthwise) and EfficientNet-Lite (3×3 and 5×5 depthwise, no
//! squeeze-excitation), each as its Orchard converter names its layers
//! ([`Naming`]). BatchNorm is already folded into the convolutions by the
//! converters, so it stays frozen by construction (its statistics are
//! constants inside the weights), which is what fine-tuning with little data
//! wants.
//!
//! Activations are NHWC (`[N, H, W, C]`): a 1×1 conv is one matmul and the
//! depthwise conv k² shifted multiply-adds, all differentiable by candle.

use candle_core::{DType, Device, Tensor, Var};

use crate::depthwise::depthwise;
use crate::error::TuneError;
use crate::graph::{OnnxGraph, Weight};

/// How a converter named the backbone's layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Keras' MobileNetV2 (`block_16_expand`, …, `Conv_1`).
    MobileNetV2,
    /// Orchard's EfficientNet-Lite converter (`block16_expand`, …, `head`).
    EfficientNetLite,
}

impl Naming {
    /// The naming of `graph`'s layers, from its final 1×1 conv.
    pub fn of(graph: &OnnxGraph) -> Result<Naming, TuneError> {
        if graph.node("Conv_1").is_some() {
            Ok(Naming::MobileNetV2)
        } else if graph.node("head").is_some() {
            Ok(Naming::EfficientNetLite)
        } else {
            Err(graph.unsupported(
                "it is neither Keras' MobileNetV2 (`Conv_1`) nor Orchard's EfficientNet-Lite (`head`); only these backbones can be fine-tuned",
            ))
        }
    }

    /// Prefix of block `i`'s layers.
    fn block(self, i: usize) -> String {
        match self {
            Naming::MobileNetV2 => format!("block_{i}_"),
            Naming::EfficientNetLite => format!("block{i}_"),
        }
    }

    /// The final 1×1 conv.
    fn head(self) -> &'static str {
        match self {
            Naming::MobileNetV2 => "Conv_1",
            Naming::EfficientNetLite => "head",
        }
    }

    /// Index of the last inverted-residual block of `graph`.
    fn last_block(self, graph: &OnnxGraph) -> Result<usize, TuneError> {
        (0..1000)
            .rev()
            .find(|&i| graph.node(&format!("{}project", self.block(i))).is_some())
            .ok_or_else(|| graph.unsupported("it has no inverted-residual blocks"))
    }
}

/// Blocks of `graph` that can be trained: the stride-1 blocks with an
/// expansion at the last resolution, counted from the last.
pub fn trainable_blocks(graph: &OnnxGraph) -> Result<usize, TuneError> {
    let naming = Naming::of(graph)?;
    let last = naming.last_block(graph)?;
    Ok((0..=last)
        .rev()
        .take_while(|&i| {
            let p = naming.block(i);
            graph.node(&format!("{p}expand")).is_some()
                && graph
                    .ints(&format!("{p}depthwise"), "strides")
                    .iter()
                    .all(|&s| s == 1)
        })
        .count())
}

/// A 1×1 convolution as a matmul: `w` is `[Cin, Cout]`.
#[derive(Debug)]
struct Pointwise {
    name: String,
    w: Var,
    b: Var,
}

/// A k×k stride-1 depthwise convolution, `w` `[k*k, C]` (tap `ky*k+kx`).
#[derive(Debug)]
struct Depthwise {
    name: String,
    w: Var,
    b: Var,
}

#[derive(Debug)]
struct Block {
    expand: Pointwise,
    depthwise: Depthwise,
    project: Pointwise,
    residual: bool,
}

/// The trainable tail: blocks, then the final 1×1 conv and ReLU6.
#[derive(Debug)]
pub struct Tail {
    blocks: Vec<Block>,
    head: Pointwise,
    /// Channels of the tail's input.
    in_channels: usize,
    dtype: DType,
}

fn relu6(x: &Tensor) -> candle_core::Result<Tensor> {
    // min(max(x, 0), 6) written with ReLUs, whose gradient candle knows.
    x.relu()? - (x - 6.0)?.relu()?
}

impl Pointwise {
    fn from_onnx(graph: &OnnxGraph, name: &str, dtype: DType) -> Result<Pointwise, TuneError> {
        let w = graph.weight(&format!("{name}.weight"))?;
        let b = graph.weight(&format!("{name}.bias"))?;
        let [cout, cin, 1, 1] = w.dims[..] else {
            return Err(graph.unsupported(format!("`{name}` is not a 1x1 conv ({:?})", w.dims)));
        };
        // ONNX [Cout, Cin, 1, 1] → [Cin, Cout].
        let mut t = vec![0f32; cin * cout];
        for o in 0..cout {
            for i in 0..cin {
                t[i * cout + o] = w.values[o * cin + i];
            }
        }
        Ok(Pointwise {
            name: name.to_string(),
            w: var(t, &[cin, cout], dtype)?,
            b: var(b.values, &[cout], dtype)?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (n, h, w, c) = x.dims4()?;
        let cout = self.w.dims()[1];
        x.reshape((n * h * w, c))?
            .matmul(self.w.as_tensor())?
            .broadcast_add(self.b.as_tensor())?
            .reshape((n, h, w, cout))
    }

    fn to_onnx(&self) -> Result<[Weight; 2], TuneError> {
        let (cin, cout) = self.w.dims2()?;
        let t = values(self.w.as_tensor())?;
        let mut w = vec![0f32; cin * cout];
        for o in 0..cout {
            for i in 0..cin {
                w[o * cin + i] = t[i * cout + o];
            }
        }
        Ok([
            Weight {
                name: format!("{}.weight", self.name),
                dims: vec![cout, cin, 1, 1],
                values: w,
            },
            Weight {
                name: format!("{}.bias", self.name),
                dims: vec![cout],
                values: values(self.b.as_tensor())?,
            },
        ])
    }
}

impl Depthwise {
    fn from_onnx(graph: &OnnxGraph, name: &str, dtype: DType) -> Result<Depthwise, TuneError> {
        let w = graph.weight(&format!("{name}.weight"))?;
        let b = graph.weight(&format!("{name}.bias"))?;
        let [c, 1, k, kw] = w.dims[..] else {
            return Err(graph.unsupported(format!("`{name}` is not a depthwise conv")));
        };
        let strides = graph.ints(name, "strides");
        let pads = graph.ints(name, "pads");
        let half = (k / 2) as i64;
        if k != kw || k.is_multiple_of(2) || strides.iter().any(|&s| s != 1) || pads != [half; 4] {
            return Err(graph.unsupported(format!(
                "`{name}` is {k}x{kw} with strides {strides:?} and pads {pads:?}; only square, odd, stride-1 kernels padded k/2 can be trained"
            )));
        }
        let taps = k * k;
        // ONNX [C, 1, k, k] → [k*k, C].
        let mut t = vec![0f32; taps * c];
        for ch in 0..c {
            for tap in 0..taps {
                t[tap * c + ch] = w.values[ch * taps + tap];
            }
        }
        Ok(Depthwise {
            name: name.to_string(),
            w: var(t, &[taps, c], dtype)?,
            b: var(b.values, &[c], dtype)?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let c = x.dim(3)?;
        depthwise(x, self.w.as_tensor())?.broadcast_add(&self.b.as_tensor().reshape((1, 1, 1, c))?)
    }

    fn to_onnx(&self) -> Result<[Weight; 2], TuneError> {
        let (taps, c) = self.w.dims2()?;
        let k = (taps as f64).sqrt().round() as usize;
        let t = values(self.w.as_tensor())?;
        let mut w = vec![0f32; taps * c];
        for ch in 0..c {
            for tap in 0..taps {
                w[ch * taps + tap] = t[tap * c + ch];
            }
        }
        Ok([
            Weight {
                name: format!("{}.weight", self.name),
                dims: vec![c, 1, k, k],
                values: w,
            },
            Weight {
                name: format!("{}.bias", self.name),
                dims: vec![c],
                values: values(self.b.as_tensor())?,
            },
        ])
    }
}

fn var(values: Vec<f32>, dims: &[usize], dtype: DType) -> Result<Var, TuneError> {
    let t = Tensor::from_vec(values, dims, &Device::Cpu)?.to_dtype(dtype)?;
    Ok(Var::from_tensor(&t)?)
}

fn values(t: &Tensor) -> Result<Vec<f32>, TuneError> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

/// The tensor where a tail of `blocks` blocks starts (the frozen part's
/// output): the previous block's residual sum, or its projection when it
/// has none.
pub fn cut_tensor(graph: &OnnxGraph, blocks: usize) -> Result<String, TuneError> {
    let most = trainable_blocks(graph)?;
    if blocks == 0 || blocks > most {
        return Err(graph.unsupported(format!(
            "{blocks} blocks asked; 1 to {most} can be trained (the stride-1 blocks at the last resolution)"
        )));
    }
    let naming = Naming::of(graph)?;
    let before = naming.block(naming.last_block(graph)? - blocks);
    let add = format!("{before}add");
    if graph.node(&add).is_some() {
        Ok(add)
    } else {
        Ok(format!("{before}project_bn"))
    }
}

impl Tail {
    /// The last `blocks` blocks and the final conv of `graph`, in `dtype`
    /// (`F32` to train; `F64` for gradient checks).
    pub fn from_onnx(graph: &OnnxGraph, blocks: usize, dtype: DType) -> Result<Tail, TuneError> {
        cut_tensor(graph, blocks)?;
        let naming = Naming::of(graph)?;
        let last = naming.last_block(graph)?;
        let mut out = Vec::new();
        for i in last + 1 - blocks..=last {
            let p = naming.block(i);
            out.push(Block {
                expand: Pointwise::from_onnx(graph, &format!("{p}expand"), dtype)?,
                depthwise: Depthwise::from_onnx(graph, &format!("{p}depthwise"), dtype)?,
                project: Pointwise::from_onnx(graph, &format!("{p}project"), dtype)?,
                residual: graph.node(&format!("{p}add")).is_some(),
            });
        }
        let head = Pointwise::from_onnx(graph, naming.head(), dtype)?;
        let in_channels = out[0].expand.w.dims()[0];
        Ok(Tail {
            blocks: out,
            head,
            in_channels,
            dtype,
        })
    }

    /// Channels of the tail's input (the frozen part's output).
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Width of the features (the final conv's channels).
    pub fn feature_width(&self) -> usize {
        self.head.w.dims()[1]
    }

    /// The dtype the weights are held in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Every trainable weight.
    pub fn vars(&self) -> Vec<Var> {
        let mut v = Vec::new();
        for b in &self.blocks {
            v.extend([
                b.expand.w.clone(),
                b.expand.b.clone(),
                b.depthwise.w.clone(),
                b.depthwise.b.clone(),
                b.project.w.clone(),
                b.project.b.clone(),
            ]);
        }
        v.extend([self.head.w.clone(), self.head.b.clone()]);
        v
    }

    /// Pooled features `[N, F]` of NHWC activations `[N, H, W, C]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for b in &self.blocks {
            let y = relu6(&b.expand.forward(&x)?)?;
            let y = relu6(&b.depthwise.forward(&y)?)?;
            let y = b.project.forward(&y)?;
            x = if b.residual { (x + y)? } else { y };
        }
        let y = relu6(&self.head.forward(&x)?)?;
        y.mean(2)?.mean(1)
    }

    /// The current weights as ONNX initializers (names and layouts of the
    /// parent model).
    pub fn onnx_weights(&self) -> Result<Vec<Weight>, TuneError> {
        let mut out = Vec::new();
        for b in &self.blocks {
            out.extend(b.expand.to_onnx()?);
            out.extend(b.depthwise.to_onnx()?);
            out.extend(b.project.to_onnx()?);
        }
        out.extend(self.head.to_onnx()?);
        Ok(out)
    }

    /// A copy of the current weights (for keeping the best epoch).
    pub fn snapshot(&self) -> Result<Vec<Tensor>, TuneError> {
        Ok(self
            .vars()
            .iter()
            .map(|v| v.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?)
    }

    /// Sets the weights back to a [`Tail::snapshot`].
    pub fn restore(&self, snapshot: &[Tensor]) -> Result<(), TuneError> {
        for (v, t) in self.vars().iter().zip(snapshot) {
            v.set(t)?;
        }
        Ok(())
    }

    /// Moves the weights part of the way back to `origin` (a
    /// [`Tail::snapshot`], e.g. the parent model's): each becomes
    /// `share · current + (1 − share) · origin`. `share` 1 keeps the
    /// current weights, 0 restores `origin`.
    pub fn mix_with(&self, origin: &[Tensor], share: f64) -> Result<(), TuneError> {
        let vars = self.vars();
        if origin.len() != vars.len() {
            return Err(TuneError::Shape(format!(
                "{} weights to mix with, the tail has {}",
                origin.len(),
                vars.len()
            )));
        }
        for (v, o) in vars.iter().zip(origin) {
            let mixed = (v.as_tensor().affine(share, 0.0)? + o.affine(1.0 - share, 0.0)?)?;
            v.set(&mixed)?;
        }
        Ok(())
    }
}

/// NCHW activations (as ONNX Runtime returns them) of `n` samples with
/// `c` channels on an `h × w` grid, as one NHWC tensor.
pub fn nhwc_batch(
    samples: &[&[f32]],
    c: usize,
    h: usize,
    w: usize,
    dtype: DType,
) -> Result<Tensor, TuneError> {
    let per = c * h * w;
    let mut data = vec![0f32; samples.len() * per];
    for (s, out) in samples.iter().zip(data.chunks_exact_mut(per)) {
        if s.len() != per {
            return Err(TuneError::Shape(format!(
                "an activation map has {} values, not {c}x{h}x{w}",
                s.len()
            )));
        }
        for ch in 0..c {
            for p in 0..h * w {
                out[p * c + ch] = s[ch * h * w + p];
            }
        }
    }
    Ok(Tensor::from_vec(data, (samples.len(), h, w, c), &Device::Cpu)?.to_dtype(dtype)?)
}
