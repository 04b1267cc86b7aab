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

/// SplitMix64's finalizer: FNV-1a's high bits barely depend on the last
/// characters, and group keys differ mostly there (`…#3`, `…#4`), so they
/// are mixed before being ordered.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// The held-out side of `train`'s split, **stratified by label**: within
/// each label, `round(share × groups)` of its groups ([`group_key`]) are
/// held out, at least one and never all of them when the label has two
/// groups or more (a label with a single group is only trained on). Which
/// groups is decided by a seeded hash of the group key, so every photo of a
/// group falls on the same side, and the split is the same on every
/// platform and wherever the collection lives (only `label/name` counts).
///
/// Without the stratification a small collection (three groups a label)
/// could hold out nothing of some labels, and their accuracy would go
/// unmeasured.
#[derive(Debug, Clone, Default)]
pub struct HoldOut {
    groups: std::collections::BTreeSet<String>,
    group_block: u32,
}

impl HoldOut {
    /// Splits the photos at `paths` (with their labels) holding out a
    /// `share` of each label's groups, with `seed`. `group_block` 0 makes
    /// every file a group of its own (the split by file).
    pub fn new<'a>(
        photos: impl IntoIterator<Item = (&'a str, &'a str)>,
        share: f64,
        seed: u64,
        group_block: u32,
    ) -> HoldOut {
        use std::collections::{BTreeMap, BTreeSet};
        let mut by_label: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (path, label) in photos {
            by_label
                .entry(label)
                .or_default()
                .insert(group_key(path, group_block));
        }
        let mut groups = BTreeSet::new();
        for keys in by_label.into_values() {
            let n = keys.len();
            let wanted = (share.clamp(0.0, 1.0) * n as f64).round() as usize;
            let held = if share <= 0.0 || n == 0 {
                0
            } else if share >= 1.0 {
                n
            } else if n < 2 {
                0
            } else {
                wanted.clamp(1, n - 1)
            };
            let mut ordered: Vec<(u64, String)> = keys
                .into_iter()
                .map(|k| (mix(fnv1a(seed, &k)), k))
                .collect();
            ordered.sort();
            groups.extend(ordered.into_iter().take(held).map(|(_, k)| k));
        }
        HoldOut {
            groups,
            group_block,
        }
    }

    /// Whether the photo at `path` is held out.
    pub fn holds_out(&self, path: &str) -> bool {
        !self.groups.is_empty() && self.groups.contains(&group_key(path, self.group_block))
    }

    /// How many groups are held out.
    pub fn held_groups(&self) -> usize {
        self.groups.len()
    }
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
pub(crate) fn file_key(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rmatch_indices('/').nth(1) {
        Some((at, _)) => &trimmed[at + 1..],
        None => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split<'a>(
        paths: &'a [String],
        label_of: impl Fn(&str) -> &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        paths.iter().map(|p| (p.as_str(), label_of(p))).collect()
    }

    #[test]
    fn file_split_is_deterministic_and_exactly_the_share() {
        let paths: Vec<String> = (0..10_000).map(|i| format!("p/apple/{i}.jpg")).collect();
        let photos = split(&paths, |_| "apple");
        let hold = HoldOut::new(photos.iter().copied(), 0.2, 7, 0);
        let held = paths.iter().filter(|p| hold.holds_out(p)).count();
        assert_eq!(held, 2000);
        let again = HoldOut::new(photos.iter().copied(), 0.2, 7, 0);
        assert!(paths
            .iter()
            .all(|p| hold.holds_out(p) == again.holds_out(p)));
        let other_seed = HoldOut::new(photos.iter().copied(), 0.2, 8, 0);
        assert!(paths
            .iter()
            .any(|p| hold.holds_out(p) != other_seed.holds_out(p)));
        let none = HoldOut::new(photos.iter().copied(), 0.0, 7, 0);
        assert!(paths.iter().all(|p| !none.holds_out(p)));
        let all = HoldOut::new(photos.iter().copied(), 1.0, 7, 0);
        assert!(paths.iter().all(|p| all.holds_out(p)));
        assert_eq!(file_key("s3://b/p/apple/1.jpg"), "apple/1.jpg");
        assert_eq!(file_key("1.jpg"), "1.jpg");
    }

    #[test]
    fn every_label_with_two_groups_is_measured_and_trained_on() {
        // A small collection: 30, 30, 20, 20 and 5 photos, blocks of ten.
        let mut paths = Vec::new();
        for (label, n) in [
            ("apple", 30),
            ("lemon", 30),
            ("mango", 20),
            ("kiwi", 20),
            ("fig", 5),
        ] {
            paths.extend((0..n).map(|i| format!("d/{label}/{label}_{i:03}.jpg")));
        }
        fn label_of(p: &str) -> &str {
            p.split('/').nth(1).unwrap()
        }
        for seed in 0..50 {
            let hold = HoldOut::new(
                paths.iter().map(|p| (p.as_str(), label_of(p))),
                0.2,
                seed,
                10,
            );
            for label in ["apple", "lemon", "mango", "kiwi"] {
                let mine: Vec<&String> = paths.iter().filter(|p| label_of(p) == label).collect();
                let held = mine.iter().filter(|p| hold.holds_out(p)).count();
                assert_eq!(held, 10, "{label} seed {seed}: one block of ten held out");
            }
            // One group only: trained on, never held out.
            assert!(paths
                .iter()
                .filter(|p| label_of(p) == "fig")
                .all(|p| !hold.holds_out(p)));
            assert_eq!(hold.held_groups(), 4);
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
        let names: Vec<String> = (0..100)
            .map(|shot| format!("apple/Golden-Delicious_{shot:03}.jpg"))
            .chain((0..50).map(|shot| format!("kiwi/Kiwi_{shot:03}.jpg")))
            .collect();
        let here: Vec<String> = names
            .iter()
            .map(|n| format!("/tmp/a1/photos/{n}"))
            .collect();
        let there: Vec<String> = names.iter().map(|n| format!("s3://bucket/x/{n}")).collect();
        fn label_of(p: &str) -> &str {
            p.rsplit('/').nth(1).unwrap()
        }
        for seed in 0..20 {
            let a = HoldOut::new(
                here.iter().map(|p| (p.as_str(), label_of(p))),
                0.2,
                seed,
                10,
            );
            let b = HoldOut::new(
                there.iter().map(|p| (p.as_str(), label_of(p))),
                0.2,
                seed,
                10,
            );
            for (i, (h, t)) in here.iter().zip(&there).enumerate() {
                assert_eq!(a.holds_out(h), b.holds_out(t));
                // Every shot of a block of ten goes where its first goes.
                let first = i / 10 * 10;
                assert_eq!(a.holds_out(h), a.holds_out(&here[first]), "{h} {seed}");
            }
            assert_eq!(a.held_groups(), 2 + 1);
        }
    }

    #[test]
    fn series_blocks_never_split_and_the_share_is_the_target() {
        let mut paths = Vec::new();
        for series in 0..400 {
            for shot in 0..50 {
                paths.push(format!(
                    "root/label{}/Series-{series}_r_{shot}_100.jpg",
                    series % 7
                ));
            }
        }
        fn label_of(p: &str) -> &str {
            p.split('/').nth(1).unwrap()
        }
        let hold = HoldOut::new(paths.iter().map(|p| (p.as_str(), label_of(p))), 0.2, 42, 10);
        for block in paths.chunks(10) {
            let sides: Vec<bool> = block.iter().map(|p| hold.holds_out(p)).collect();
            assert!(
                sides.iter().all(|&s| s == sides[0]),
                "{block:?} split: {sides:?}"
            );
        }
        let groups = paths.len() / 10;
        let share = hold.held_groups() as f64 / groups as f64;
        assert!((0.19..0.21).contains(&share), "{share}");
        let held_photos = paths.iter().filter(|p| hold.holds_out(p)).count();
        assert_eq!(held_photos, hold.held_groups() * 10);
    }
}
