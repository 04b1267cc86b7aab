//! The held-out split of `train`: by *group* of near-identical photos, not
//! by file.
//!
//! Photos of one store visit, or frames of one fruit turning in front of
//! the camera, are near-duplicates: a hold-out drawn file by file puts their
//! twins on the training side and is far too optimistic. A photo's group is
//!
//! * its label folder,
//! * its **series**: the file stem without its trailing numbers and the
//!   separators before them (`Golden-Delicious_001` → `Golden-Delicious`,
//!   Fruits-360's `Apple-Braeburn_r_32_100` → `Apple-Braeburn_r`),
//! * and a **block** of consecutive numbers: the first of those trailing
//!   numbers divided by the block size (10 by default), so that runs of
//!   consecutive shots fall on one side. Later trailing numbers are
//!   sub-indices (in Fruits-360, `_100` is the image size) and are ignored.
//!
//! A file with no trailing number is a group of its own (`label/stem`). The
//! group key hashes with a stable FNV-1a (then mixed), so the split is the
//! same on every platform, and only the label folder and the name count, so
//! it is the same wherever the collection lives.

/// Default block of consecutive shot numbers kept together.
pub const DEFAULT_GROUP_BLOCK: u32 = 10;

/// A stable 64-bit FNV-1a hash of `text` with a seed: the split and the
/// augmentation seeds must not change between Rust versions or platforms.
pub fn fnv1a(seed: u64, text: &str) -> u64 {
    let mut h = 0xcbf29ce484222325u64 ^ seed.wrapping_mul(0x100000001b3);
    for b in text.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn below(hash: u64, holdout: f64) -> bool {
    holdout > 0.0 && (hash as f64 / u64::MAX as f64) < holdout
}

/// SplitMix64's finalizer: FNV-1a's high bits barely depend on the last
/// characters, and group keys differ mostly there (`…#3`, `…#4`), so they
/// are mixed before being compared with the share.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// Whether the photo at `path` is held out for a share `holdout` with `seed`,
/// split **by file** (the split before groups; `group_block` 0). Only the
/// photo's folder and name (`label/name.jpg`) count, so the split is the
/// same wherever the collection lives.
pub fn is_held_out(path: &str, holdout: f64, seed: u64) -> bool {
    below(fnv1a(seed, file_key(path)), holdout)
}

/// Whether the photo at `path` is held out for a share `holdout` of the
/// groups with `seed`: every photo of a group ([`group_key`]) falls on the
/// same side. `group_block` 0 splits by file ([`is_held_out`]).
pub fn is_group_held_out(path: &str, holdout: f64, seed: u64, group_block: u32) -> bool {
    if group_block == 0 {
        return is_held_out(path, holdout, seed);
    }
    below(mix(fnv1a(seed, &group_key(path, group_block))), holdout)
}

/// The group of the photo at `path`: `label/series#block` (see the module
/// documentation), `label/stem` for a name without a trailing number, and
/// the file itself (`label/name.jpg`) when `group_block` is 0.
pub fn group_key(path: &str, group_block: u32) -> String {
    let key = file_key(path);
    if group_block == 0 {
        return key.to_string();
    }
    let (folder, name) = match key.rsplit_once('/') {
        Some((folder, name)) => (folder, name),
        None => ("", key),
    };
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    };
    match series(stem) {
        (series, Some(number)) => {
            format!("{folder}/{series}#{}", number / group_block as u128)
        }
        (_, None) => format!("{folder}/{stem}"),
    }
}

fn is_separator(c: char) -> bool {
    matches!(c, '_' | '-' | ' ' | '.')
}

/// Splits a file stem into its series and the first of its trailing
/// numbers: `Golden-Delicious_001` → (`Golden-Delicious`, 1),
/// `Cantaloupe-1_45_100` → (`Cantaloupe-1`, 45), `r_32_100` → (`r`, 32),
/// `IMG0042` → (`IMG`, 42), `apple` → (`apple`, None).
///
/// Numbers are peeled off the end while they are separated by `_`, a space
/// or `.`; a `-` (or nothing) separates only the last one, so that a
/// variety's own number (`Cantaloupe-1`) stays in the series.
pub fn series(stem: &str) -> (&str, Option<u128>) {
    let mut end = stem.len();
    let mut first = None;
    let mut peeled = 0;
    loop {
        let rest = &stem[..end];
        let start = rest.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if start == end {
            break;
        }
        let before = rest[..start].chars().next_back();
        let allowed = match before {
            None | Some('_' | ' ' | '.') => true,
            Some(_) => peeled == 0,
        };
        let Ok(number) = rest[start..].parse::<u128>() else {
            break;
        };
        if !allowed {
            break;
        }
        first = Some(number);
        peeled += 1;
        end = start;
        match before {
            Some(c) if is_separator(c) => end -= c.len_utf8(),
            // Glued to the name (`IMG0042`) or the whole stem: no more.
            _ => break,
        }
    }
    if first.is_none() {
        return (stem, None);
    }
    (stem[..end].trim_end_matches(is_separator), first)
}

/// The last two segments of `path`: `label/name.jpg`.
fn file_key(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rmatch_indices('/').nth(1) {
        Some((at, _)) => &trimmed[at + 1..],
        None => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_split_is_deterministic_and_near_the_share() {
        let held = (0..10_000)
            .filter(|i| is_held_out(&format!("p/{i}.jpg"), 0.2, 7))
            .count();
        assert!((1800..2200).contains(&held), "{held}");
        assert_eq!(is_held_out("a.jpg", 0.2, 1), is_held_out("a.jpg", 0.2, 1));
        assert!(!is_held_out("a.jpg", 0.0, 1));
        assert_eq!(file_key("s3://b/p/apple/1.jpg"), "apple/1.jpg");
        assert_eq!(file_key("1.jpg"), "1.jpg");
        // Block 0 is the split by file.
        for i in 0..200 {
            let p = format!("x/apple/Kiwi_{i:03}.jpg");
            assert_eq!(is_group_held_out(&p, 0.2, 3, 0), is_held_out(&p, 0.2, 3));
        }
    }

    #[test]
    fn series_of_real_names() {
        assert_eq!(
            series("Golden-Delicious_001"),
            ("Golden-Delicious", Some(1))
        );
        assert_eq!(
            series("Apple-Braeburn_r_32_100"),
            ("Apple-Braeburn_r", Some(32))
        );
        assert_eq!(series("Banana_12_100"), ("Banana", Some(12)));
        assert_eq!(series("Cantaloupe-1_45_100"), ("Cantaloupe-1", Some(45)));
        assert_eq!(
            series("Apple-Red-Yellow-2_r2_17_100"),
            ("Apple-Red-Yellow-2_r2", Some(17))
        );
        assert_eq!(series("r_32_100"), ("r", Some(32)));
        assert_eq!(series("32_100"), ("", Some(32)));
        assert_eq!(series("apple-07"), ("apple", Some(7)));
        assert_eq!(series("IMG0042"), ("IMG", Some(42)));
        assert_eq!(series("IMG_0042 2"), ("IMG", Some(42)));
        assert_eq!(series("kiwi"), ("kiwi", None));
        assert_eq!(series(""), ("", None));
        assert_eq!(series("Plum-3"), ("Plum", Some(3)));
    }

    #[test]
    fn groups_of_real_names() {
        let g = |p: &str| group_key(p, DEFAULT_GROUP_BLOCK);
        // Grocery photos: runs of ten consecutive shots.
        assert_eq!(
            g("/d/apple/Golden-Delicious_001.jpg"),
            "apple/Golden-Delicious#0"
        );
        assert_eq!(
            g("/d/apple/Golden-Delicious_009.jpg"),
            "apple/Golden-Delicious#0"
        );
        assert_eq!(
            g("/d/apple/Golden-Delicious_010.jpg"),
            "apple/Golden-Delicious#1"
        );
        assert_eq!(g("/d/apple/Granny-Smith_001.jpg"), "apple/Granny-Smith#0");
        // Fruits-360: rotation frames of one fruit, `_100` (the size) ignored.
        assert_eq!(
            g("s/apple/Apple-Braeburn_r_32_100.jpg"),
            "apple/Apple-Braeburn_r#3"
        );
        assert_eq!(
            g("s/apple/Apple-Braeburn_r_38_100.jpg"),
            "apple/Apple-Braeburn_r#3"
        );
        assert_eq!(
            g("s/apple/Apple-Braeburn_r_41_100.jpg"),
            "apple/Apple-Braeburn_r#4"
        );
        assert_eq!(g("s/banana/Banana_12_100.jpg"), "banana/Banana#1");
        assert_eq!(g("s/melon/Cantaloupe-2_12_100.jpg"), "melon/Cantaloupe-2#1");
        assert_eq!(g("s/lemon/r_12_100.jpg"), "lemon/r#1");
        assert_eq!(g("s/lemon/12_100.jpg"), "lemon/#1");
        // No trailing number: the file alone.
        assert_eq!(g("s/kiwi/closeup.jpg"), "kiwi/closeup");
        assert_eq!(g("closeup.jpg"), "/closeup");
        assert_eq!(group_key("s/kiwi/Kiwi_007.jpg", 0), "kiwi/Kiwi_007.jpg");
    }

    #[test]
    fn a_group_is_on_one_side_wherever_the_collection_lives() {
        for seed in 0..20 {
            for shot in 0..100 {
                let name = format!("apple/Golden-Delicious_{shot:03}.jpg");
                let here = is_group_held_out(&format!("/tmp/a1/photos/{name}"), 0.2, seed, 10);
                assert_eq!(
                    here,
                    is_group_held_out(&format!("s3://bucket/x/{name}"), 0.2, seed, 10)
                );
                // Every shot of the block of ten goes where its first goes.
                let first = format!("d/apple/Golden-Delicious_{:03}.jpg", shot / 10 * 10);
                assert_eq!(
                    here,
                    is_group_held_out(&first, 0.2, seed, 10),
                    "{name} {seed}"
                );
            }
        }
    }

    #[test]
    fn series_blocks_never_split_and_the_share_is_near_the_target() {
        let (mut groups, mut held_groups, mut photos, mut held_photos) = (0, 0, 0, 0);
        for series in 0..400 {
            for block in 0..5 {
                let sides: Vec<bool> = (0..10)
                    .map(|i| {
                        let shot = block * 10 + i;
                        let path =
                            format!("root/label{}/Series-{series}_r_{shot}_100.jpg", series % 7);
                        is_group_held_out(&path, 0.2, 42, 10)
                    })
                    .collect();
                assert!(
                    sides.iter().all(|&s| s == sides[0]),
                    "series {series} block {block} split: {sides:?}"
                );
                groups += 1;
                held_groups += sides[0] as u32;
                photos += sides.len();
                held_photos += sides.iter().filter(|&&s| s).count();
            }
        }
        let share = held_groups as f64 / groups as f64;
        assert!((0.18..0.22).contains(&share), "{share}");
        // Over seeds too: the mean share is the target, and keys that differ
        // only in their last characters do not clump.
        let shares: Vec<f64> = (0..40)
            .map(|seed| {
                let held = (0..2000)
                    .filter(|g| {
                        let path = format!("l{}/S-{}_{}.jpg", g % 3, g / 5, g % 5 * 10);
                        is_group_held_out(&path, 0.2, seed, 10)
                    })
                    .count();
                held as f64 / 2000.0
            })
            .collect();
        let mean = shares.iter().sum::<f64>() / 40.0;
        let sd = (shares.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / 40.0).sqrt();
        assert!((mean - 0.2).abs() < 0.005, "{mean}");
        // Binomial: sqrt(0.2 · 0.8 / 2000) = 0.0089.
        assert!(sd < 0.014, "{sd}");
        assert_eq!(held_photos * 10, held_groups as usize * 100);
        assert_eq!(photos, 20_000);
        assert!(!is_group_held_out("a/b_1.jpg", 0.0, 1, 10));
        assert!(is_group_held_out("a/b_1.jpg", 1.0, 1, 10));
    }
}
