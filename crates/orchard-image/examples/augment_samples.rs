//! Writes augmented variants of photos, to look at what training sees.
//!   cargo run --release -p orchard-image --example augment_samples -- OUT PARTS PHOTO...
//! (PARTS as `orchard train --augment-parts`, e.g. `all`); OUT/N-K.png is
//! photo N's variant K.
use orchard_image::{AugmentParts, Augmenter};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, parts, photos @ ..] = args.as_slice() else {
        return Err("usage: augment_samples OUT PARTS PHOTO...".into());
    };
    let augmenter = Augmenter::new(AugmentParts::parse(parts)?, Vec::new());
    std::fs::create_dir_all(out)?;
    for (n, photo) in photos.iter().enumerate() {
        let img = image::open(photo)?.to_rgb8();
        for k in 0..8u64 {
            let variant = augmenter.variant(&img, &mut StdRng::seed_from_u64(k));
            variant.save(format!("{out}/{n}-{k}.png"))?;
        }
    }
    Ok(())
}
