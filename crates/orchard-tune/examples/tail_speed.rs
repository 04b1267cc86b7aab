//! Times the tail's forward and backward passes at MobileNetV2's real
//! sizes (one block of 160 → 960 → 320 channels, Conv_1 320 → 1280, 7×7).
//!   cargo run --release -p orchard-tune --example tail_speed

use std::time::Instant;

use candle_core::{DType, Device, Tensor};

fn main() -> candle_core::Result<()> {
    pieces()?;
    let dev = Device::Cpu;
    let n = 64;
    let x = Tensor::randn(0f32, 1.0, (n * 49, 160), &dev)?;
    let w1 = candle_core::Var::randn(0f32, 0.05, (160, 960), &dev)?;
    let w2 = candle_core::Var::randn(0f32, 0.05, (960, 320), &dev)?;
    let w3 = candle_core::Var::randn(0f32, 0.05, (320, 1280), &dev)?;
    let dw = candle_core::Var::randn(0f32, 0.05, (9, 960), &dev)?;
    for round in 0..3 {
        let t = Instant::now();
        let a = x.matmul(w1.as_tensor())?.relu()?;
        let t1 = t.elapsed();
        let a4 = a.reshape((n, 7, 7, 960))?;
        let p = a4.pad_with_zeros(1, 1, 1)?.pad_with_zeros(2, 1, 1)?;
        let mut acc = Tensor::zeros((1, 1, 1, 960), DType::F32, &dev)?;
        for ky in 0..3 {
            let row = p.narrow(1, ky, 7)?;
            for kx in 0..3 {
                let tap = dw.as_tensor().get(ky * 3 + kx)?.reshape((1, 1, 1, 960))?;
                acc = row
                    .narrow(2, kx, 7)?
                    .broadcast_mul(&tap)?
                    .broadcast_add(&acc)?;
            }
        }
        let t2 = t.elapsed();
        let b = acc.reshape((n * 49, 960))?.matmul(w2.as_tensor())?;
        let c = b.matmul(w3.as_tensor())?.relu()?;
        let loss = c.mean_all()?;
        let t3 = t.elapsed();
        let g = loss.backward()?;
        let t4 = t.elapsed();
        println!(
            "round {round}: expand {:?}, depthwise {:?}, rest {:?}, backward {:?} ({} grads)",
            t1,
            t2 - t1,
            t3 - t2,
            t4 - t3,
            [&w1, &w2, &w3, &dw]
                .iter()
                .filter(|v| g.get(v.as_tensor()).is_some())
                .count()
        );
    }
    Ok(())
}

/// Times pieces of the backward pass.
#[allow(dead_code)]
fn pieces() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let n = 64 * 49;
    let x = Tensor::randn(0f32, 1.0, (n, 960), &dev)?;
    let w2 = candle_core::Var::randn(0f32, 0.05, (960, 320), &dev)?;
    let t = Instant::now();
    let g = x.matmul(w2.as_tensor())?.mean_all()?.backward()?;
    println!(
        "matmul backward {:?} {}",
        t.elapsed(),
        g.get(w2.as_tensor()).is_some()
    );
    let a4 = x.reshape((64, 7, 7, 960))?;
    let v = candle_core::Var::from_tensor(&a4)?;
    let t = Instant::now();
    let p = v
        .as_tensor()
        .pad_with_zeros(1, 1, 1)?
        .pad_with_zeros(2, 1, 1)?;
    let s = p.narrow(1, 0, 7)?.narrow(2, 1, 7)?.mean_all()?;
    let _ = s.backward()?;
    println!("pad+narrow backward {:?}", t.elapsed());
    let tap = candle_core::Var::randn(0f32, 0.05, (1, 1, 1, 960), &dev)?;
    let t = Instant::now();
    let _ = a4.broadcast_mul(tap.as_tensor())?.mean_all()?.backward()?;
    println!("broadcast_mul backward {:?}", t.elapsed());
    let t = Instant::now();
    let r = v.as_tensor().relu()?;
    let _ = (r.clone() - (v.as_tensor() - 6.0)?.relu()?)?
        .mean_all()?
        .backward()?;
    println!("relu6 backward {:?}", t.elapsed());
    let f = Tensor::randn(0f32, 1.0, (26000, 1280), &dev)?;
    let w = candle_core::Var::randn(0f32, 0.05, (1280, 46), &dev)?;
    let t = Instant::now();
    let norm = (f.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?;
    let logits = f.broadcast_div(&norm)?.matmul(w.as_tensor())?;
    let y = Tensor::zeros(26000, DType::U32, &dev)?;
    let l = candle_nn::ops::log_softmax(&logits, 1)?
        .gather(&y.unsqueeze(1)?, 1)?
        .mean_all()?;
    println!("probe forward {:?}", t.elapsed());
    let _ = l.backward()?;
    println!("probe step {:?}", t.elapsed());
    Ok(())
}
