//! Criterion-free micro benchmark:
//! `cargo run --release -p orchard-pca --example pca_bench [rows] [dim]`.

use std::time::Instant;

use orchard_pca::{Components, PcaModel, PcaStats};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(2000), |a| a.parse())?;
    let dim: usize = args.next().map_or(Ok(1280), |a| a.parse())?;

    // Cheap deterministic pseudo-random data (xorshift), ReLU6-like range.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 * 6.0
    };
    let rows: Vec<f32> = (0..n * dim).map(|_| next()).collect();

    let mut stats = PcaStats::new(dim)?;
    let t = Instant::now();
    stats.update(&rows)?;
    println!("update, one batch of {n}x{dim}: {:?}", t.elapsed());

    let mut batched = PcaStats::new(dim)?;
    let t = Instant::now();
    for chunk in rows.chunks(400 * dim) {
        batched.update(chunk)?;
    }
    println!("update, batches of 400 rows: {:?}", t.elapsed());

    let t = Instant::now();
    batched.merge(&stats)?;
    println!("merge: {:?}", t.elapsed());

    let t = Instant::now();
    let bytes = stats.to_bytes();
    let enc = t.elapsed();
    let t = Instant::now();
    let back = PcaStats::from_bytes(&bytes)?;
    println!(
        "to_bytes: {enc:?}, from_bytes: {:?} ({} bytes)",
        t.elapsed(),
        bytes.len()
    );
    assert_eq!(back, stats);

    let t = Instant::now();
    let model = PcaModel::fit(&batched, Components::Count(64), None)?;
    println!("fit (dim {dim}, k {}): {:?}", model.k(), t.elapsed());

    let mut out = vec![0.0f32; n * model.k()];
    let t = Instant::now();
    model.project_batch(&rows, &mut out)?;
    println!(
        "project_batch {n} rows -> k {}: {:?}",
        model.k(),
        t.elapsed()
    );

    let t = Instant::now();
    let json = model.to_json()?;
    let loaded = PcaModel::from_json(&json)?;
    println!("json round trip ({} bytes): {:?}", json.len(), t.elapsed());
    assert_eq!(loaded, model);
    Ok(())
}
