//! A k×k (odd k: MobileNetV2's 3×3, EfficientNet's 3×3 and 5×5), stride-1,
//! zero-padded ("same") depthwise convolution over NHWC tensors as a candle
//! custom op with its own backward pass. Written with k² shifted slices of a
//! padded tensor, candle's generic autodiff allocates a full gradient per
//! slice and took most of a training step; these loops do the same
//! arithmetic in one pass each. The gradients are checked against finite
//! differences (tests/tiny_network.rs) like the rest of the tail.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, WithDType};

/// `y = depthwise(x, w)`: `x` `[N, H, W, C]`, `w` `[k*k, C]` (tap
/// `ky*k+kx`, k odd, padding k/2 on every side), same-size output, no bias.
pub fn depthwise(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let k = kernel_side(w.dim(0)?)?;
    x.contiguous()?.apply_op2(&w.contiguous()?, Forward(k))
}

/// The side `k` of a kernel of `taps` taps (`k*k`, k odd).
fn kernel_side(taps: usize) -> Result<usize> {
    let k = (taps as f64).sqrt().round() as usize;
    if k * k != taps || k.is_multiple_of(2) {
        candle_core::bail!("a depthwise kernel has {taps} taps, not k*k with k odd");
    }
    Ok(k)
}

/// Which computation a [`Kernel`] runs.
#[derive(Debug, Clone, Copy)]
enum Pass {
    /// `(x, w) → y`.
    Forward,
    /// `(dy, w) → dx`.
    GradInput,
    /// `(dy, x) → dw`.
    GradWeight,
}

/// The forward op of a `k × k` kernel.
struct Forward(usize);
/// A pass of a `k × k` kernel.
struct Kernel(Pass, usize);

fn dims(l: &Layout) -> Result<(usize, usize, usize, usize)> {
    l.shape().dims4()
}

fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    if !l.is_contiguous() {
        candle_core::bail!("depthwise needs contiguous tensors");
    }
    let all = s.as_slice::<T>()?;
    Ok(&all[l.start_offset()..l.start_offset() + l.shape().elem_count()])
}

/// The taps of a `k × k` kernel at output position `(i, j)` that fall
/// inside the map: `(tap, input row, input column)`.
fn taps(
    k: usize,
    i: usize,
    j: usize,
    h: usize,
    w: usize,
) -> impl Iterator<Item = (usize, usize, usize)> {
    let pad = k / 2;
    (0..k).flat_map(move |ky| {
        (0..k).filter_map(move |kx| {
            let (y, x) = ((i + ky).checked_sub(pad)?, (j + kx).checked_sub(pad)?);
            (y < h && x < w).then_some((ky * k + kx, y, x))
        })
    })
}

fn run<T: WithDType>(
    pass: Pass,
    k: usize,
    a: &[T],
    b: &[T],
    (n, h, w, c): (usize, usize, usize, usize),
) -> Vec<T> {
    let mut out = vec![
        T::zero();
        if matches!(pass, Pass::GradWeight) {
            k * k * c
        } else {
            n * h * w * c
        }
    ];
    for batch in 0..n {
        for i in 0..h {
            for j in 0..w {
                let at = ((batch * h + i) * w + j) * c;
                for (tap, y, x) in taps(k, i, j, h, w) {
                    let from = ((batch * h + y) * w + x) * c;
                    match pass {
                        // y[i,j] += x[y,x] · w[tap]
                        Pass::Forward => {
                            let (src, k) = (&a[from..from + c], &b[tap * c..tap * c + c]);
                            for ((o, s), k) in out[at..at + c].iter_mut().zip(src).zip(k) {
                                *o += *s * *k;
                            }
                        }
                        // dx[y,x] += dy[i,j] · w[tap]
                        Pass::GradInput => {
                            let (g, k) = (&a[at..at + c], &b[tap * c..tap * c + c]);
                            for ((o, g), k) in out[from..from + c].iter_mut().zip(g).zip(k) {
                                *o += *g * *k;
                            }
                        }
                        // dw[tap] += dy[i,j] · x[y,x]
                        Pass::GradWeight => {
                            let (g, s) = (&a[at..at + c], &b[from..from + c]);
                            for ((o, g), s) in out[tap * c..tap * c + c].iter_mut().zip(g).zip(s) {
                                *o += *g * *s;
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn cpu(
    pass: Pass,
    k: usize,
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> Result<(CpuStorage, Shape)> {
    // The map's shape: the first operand's, except for the weight gradient,
    // whose second operand is the input map.
    let shape = match pass {
        Pass::GradWeight => dims(l2)?,
        _ => dims(l1)?,
    };
    let out_shape: Shape = match pass {
        Pass::GradWeight => (k * k, shape.3).into(),
        _ => l1.shape().clone(),
    };
    let storage = match (s1, s2) {
        (CpuStorage::F32(_), CpuStorage::F32(_)) => {
            CpuStorage::F32(run::<f32>(pass, k, slice(s1, l1)?, slice(s2, l2)?, shape))
        }
        (CpuStorage::F64(_), CpuStorage::F64(_)) => {
            CpuStorage::F64(run::<f64>(pass, k, slice(s1, l1)?, slice(s2, l2)?, shape))
        }
        _ => candle_core::bail!("depthwise supports f32 and f64 tensors of one dtype"),
    };
    Ok((storage, out_shape))
}

impl CustomOp2 for Kernel {
    fn name(&self) -> &'static str {
        "depthwise-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        cpu(self.0, self.1, s1, l1, s2, l2)
    }
}

impl CustomOp2 for Forward {
    fn name(&self) -> &'static str {
        "depthwise"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, _, _, c) = dims(l1)?;
        let k = self.0;
        if l2.shape().dims() != [k * k, c] {
            candle_core::bail!(
                "depthwise weights are {:?}, expected [{}, {c}]",
                l2.shape().dims(),
                k * k
            );
        }
        cpu(Pass::Forward, k, s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dx = dy.apply_op2_no_bwd(w, &Kernel(Pass::GradInput, self.0))?;
        let dw = dy.apply_op2_no_bwd(x, &Kernel(Pass::GradWeight, self.0))?;
        Ok((Some(dx), Some(dw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    /// The same convolution written with candle's own ops (k² shifted
    /// slices of the zero-padded map), differentiated by candle.
    fn reference(x: &Tensor, w: &Tensor, k: usize) -> Result<Tensor> {
        let (_, h, wd, c) = x.dims4()?;
        let pad = k / 2;
        let padded = x.pad_with_zeros(1, pad, pad)?.pad_with_zeros(2, pad, pad)?;
        let mut acc = Tensor::zeros((1, 1, 1, c), x.dtype(), x.device())?;
        for ky in 0..k {
            for kx in 0..k {
                let tap = w.get(ky * k + kx)?.reshape((1, 1, 1, c))?;
                let shifted = padded.narrow(1, ky, h)?.narrow(2, kx, wd)?;
                acc = shifted.broadcast_mul(&tap)?.broadcast_add(&acc)?;
            }
        }
        Ok(acc)
    }

    #[test]
    fn equals_candles_own_ops_forward_and_backward() -> Result<()> {
        for k in [3, 5] {
            equals_candle(k)?;
        }
        assert!(kernel_side(8).is_err() && kernel_side(16).is_err());
        Ok(())
    }

    fn equals_candle(k: usize) -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::randn(0f64, 1.0, (2, 4, 6, 3), &dev)?;
        let w = Var::randn(0f64, 1.0, (k * k, 3), &dev)?;
        let probe = Tensor::randn(0f64, 1.0, (2, 4, 6, 3), &dev)?;
        let ours = depthwise(x.as_tensor(), w.as_tensor())?;
        let theirs = reference(x.as_tensor(), w.as_tensor(), k)?;
        let diff = (&ours - &theirs)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(diff < 1e-12, "forward differs by {diff}");
        let g_ours = (ours * &probe)?.sum_all()?.backward()?;
        let g_theirs = (theirs * &probe)?.sum_all()?.backward()?;
        for v in [&x, &w] {
            let a = g_ours.get(v.as_tensor()).expect("gradient");
            let b = g_theirs.get(v.as_tensor()).expect("gradient");
            let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert!(diff < 1e-12, "gradient differs by {diff}");
        }
        assert_eq!(ours_dtype(DType::F32)?, DType::F32);
        Ok(())
    }

    fn ours_dtype(dtype: DType) -> Result<DType> {
        let x = Tensor::zeros((1, 3, 3, 2), dtype, &Device::Cpu)?;
        let w = Tensor::ones((9, 2), dtype, &Device::Cpu)?;
        Ok(depthwise(&x, &w)?.dtype())
    }
}
