//! Times one training step of the tail at MobileNetV2's real sizes (one
//! block: 160 → 960 → 320 channels, then Conv_1 320 → 1280, on 7×7, batch
//! 64): forward and backward, with the depthwise convolution as Orchard's
//! custom op and as nine shifted slices differentiated by candle.
//!   cargo run --release -p orchard-tune --example tail_speed

use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor, Var};
use orchard_tune::depthwise;

fn shifted_slices(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (_, h, wd, c) = x.dims4()?;
    let padded = x.pad_with_zeros(1, 1, 1)?.pad_with_zeros(2, 1, 1)?;
    let mut acc = Tensor::zeros((1, 1, 1, c), DType::F32, x.device())?;
    for ky in 0..3 {
        for kx in 0..3 {
            let tap = w.get(ky * 3 + kx)?.reshape((1, 1, 1, c))?;
            acc = padded
                .narrow(1, ky, h)?
                .narrow(2, kx, wd)?
                .broadcast_mul(&tap)?
                .broadcast_add(&acc)?;
        }
    }
    Ok(acc)
}

fn main() -> Result<()> {
    let dev = Device::Cpu;
    let n = 64;
    let x = Tensor::randn(0f32, 1.0, (n * 49, 160), &dev)?;
    let w1 = Var::randn(0f32, 0.05, (160, 960), &dev)?;
    let dw = Var::randn(0f32, 0.05, (9, 960), &dev)?;
    let w2 = Var::randn(0f32, 0.05, (960, 320), &dev)?;
    let w3 = Var::randn(0f32, 0.05, (320, 1280), &dev)?;
    for (name, custom) in [
        ("custom op", true),
        ("shifted slices", false),
        ("custom op", true),
    ] {
        let t = Instant::now();
        let a = x.matmul(w1.as_tensor())?.relu()?.reshape((n, 7, 7, 960))?;
        let d = if custom {
            depthwise(&a, dw.as_tensor())?
        } else {
            shifted_slices(&a, dw.as_tensor())?
        };
        let b = d.relu()?.reshape((n * 49, 960))?.matmul(w2.as_tensor())?;
        let loss = b.matmul(w3.as_tensor())?.relu()?.mean_all()?;
        let forward = t.elapsed();
        let grads = loss.backward()?;
        assert!(grads.get(dw.as_tensor()).is_some());
        println!(
            "{name}: forward {forward:?}, forward + backward {:?}",
            t.elapsed()
        );
    }
    Ok(())
}
