//! The list and plan stages: what the input holds, and which of it this run
//! must featurize (given the previous output and the checkpoint), in chunks.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use orchard_source::{list_photos, LabelIndex, Listing, Location, PhotoGlob};

use crate::photos::PhotoRef;
use crate::{EngineError, Result};

/// The list stage's result.
pub(crate) struct Listed {
    /// The listing (photos, skipped objects, problems).
    pub listing: Listing,
    /// Every listed photo, as the scan reads it.
    pub photos: Vec<PhotoRef>,
    /// The label index: the saved one (incremental), the user's file, or
    /// new; extended with the listing's labels.
    pub labels: LabelIndex,
    /// Seconds spent listing.
    pub seconds: f64,
}

/// Lists `input` and builds the label index (`saved`: an incremental run's).
pub(crate) async fn list(
    input: &Location,
    glob: &PhotoGlob,
    labels_file: Option<&str>,
    saved: Option<&LabelIndex>,
) -> Result<Listed> {
    let t = Instant::now();
    let listing = list_photos(input, glob).await?;
    let seconds = t.elapsed().as_secs_f64();
    tracing::info!(
        photos = listing.photos.len(),
        skipped = listing.skipped,
        problems = listing.problems.len(),
        "listed {}",
        input.url()
    );
    let mut labels = match (saved, labels_file) {
        // Stable across incremental runs: the saved index, extended.
        (Some(saved), _) => saved.clone(),
        (None, Some(file)) => {
            let bytes = std::fs::read(file)
                .map_err(|e| EngineError::io(format!("cannot read labels file {file}"), e))?;
            LabelIndex::from_json(&bytes, file)?
        }
        (None, None) => LabelIndex::default(),
    };
    let added = labels.extend(listing.labels());
    if labels_file.is_some() && !added.is_empty() {
        tracing::warn!(new = ?added, "labels not in the labels file get new indexes");
    }
    let photos = listing.photos.iter().map(PhotoRef::from).collect();
    Ok(Listed {
        listing,
        photos,
        labels,
        seconds,
    })
}

/// What a run featurizes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WorkPlan {
    /// What this job is about: every listed photo, or (incremental) the new
    /// and changed ones.
    pub wanted: Vec<PhotoRef>,
    /// Paths of wanted photos that replace rows of an earlier run.
    pub changed: Vec<String>,
    /// Wanted photos not yet featurized (a resumed job skips its checkpointed
    /// chunks' photos).
    pub todo: Vec<PhotoRef>,
    /// The number of the first chunk to write (after the checkpointed ones).
    pub first_chunk: usize,
    /// Whether no chunk was checkpointed before.
    pub fresh: bool,
    /// Photos per chunk.
    pub chunk_size: usize,
}

/// Plans a run: `listed` photos; `seen`, what an earlier run processed (path
/// → size, modified µs), for an incremental run; `done_paths` and
/// `done_chunks`, what the interrupted job being resumed checkpointed.
pub(crate) fn plan_work(
    listed: &[PhotoRef],
    seen: Option<&HashMap<String, (u64, i64)>>,
    done_paths: &HashSet<String>,
    done_chunks: &[usize],
    chunk_size: usize,
) -> WorkPlan {
    let is_new_or_changed =
        |p: &PhotoRef| seen.is_none_or(|s| s.get(&p.path) != Some(&(p.size, p.modified_micros)));
    let wanted: Vec<PhotoRef> = listed
        .iter()
        .filter(|p| is_new_or_changed(p))
        .cloned()
        .collect();
    let changed = match seen {
        Some(seen) => wanted
            .iter()
            .filter(|p| seen.contains_key(&p.path))
            .map(|p| p.path.clone())
            .collect(),
        None => Vec::new(),
    };
    let todo = wanted
        .iter()
        .filter(|p| !done_paths.contains(&p.path))
        .cloned()
        .collect();
    WorkPlan {
        wanted,
        changed,
        todo,
        first_chunk: done_chunks.last().map_or(0, |n| n + 1),
        fresh: done_chunks.is_empty(),
        chunk_size: chunk_size.max(1),
    }
}

impl WorkPlan {
    /// The chunks to featurize, numbered: at least one (empty) chunk when
    /// nothing was checkpointed, so that the spill exists for an empty input.
    pub fn chunks(&self) -> Vec<(usize, &[PhotoRef])> {
        let chunks: Vec<&[PhotoRef]> = if self.todo.is_empty() && self.fresh {
            vec![&[]]
        } else {
            self.todo.chunks(self.chunk_size).collect()
        };
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| (self.first_chunk + i, c))
            .collect()
    }

    /// The wanted photos' paths.
    pub fn wanted_paths(&self) -> HashSet<&str> {
        self.wanted.iter().map(|p| p.path.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(name: &str, size: u64) -> PhotoRef {
        PhotoRef {
            key: format!("in/{name}"),
            path: format!("/in/{name}"),
            label: Some("apple".into()),
            size,
            modified_micros: 7,
        }
    }

    fn photos(n: usize) -> Vec<PhotoRef> {
        (0..n).map(|i| photo(&format!("{i}.jpg"), 100)).collect()
    }

    fn paths(photos: &[PhotoRef]) -> Vec<&str> {
        photos.iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn a_new_run_does_everything_in_chunks() {
        let listed = photos(5);
        let plan = plan_work(&listed, None, &HashSet::new(), &[], 2);
        assert_eq!(plan.wanted, listed);
        assert_eq!(plan.todo, listed);
        assert!(plan.changed.is_empty());
        let chunks = plan.chunks();
        let numbered: Vec<(usize, usize)> = chunks.iter().map(|(n, c)| (*n, c.len())).collect();
        assert_eq!(numbered, [(0, 2), (1, 2), (2, 1)]);
    }

    #[test]
    fn an_empty_input_still_has_one_empty_chunk() {
        let plan = plan_work(&[], None, &HashSet::new(), &[], 2048);
        let chunks = plan.chunks();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].0, 0);
        assert!(chunks[0].1.is_empty());
    }

    #[test]
    fn a_resumed_run_skips_checkpointed_photos_and_numbers_on() {
        let listed = photos(5);
        let done: HashSet<String> = ["/in/0.jpg", "/in/1.jpg"].map(String::from).into();
        let plan = plan_work(&listed, None, &done, &[0], 2);
        assert_eq!(plan.wanted.len(), 5, "the job is still about everything");
        assert_eq!(paths(&plan.todo), ["/in/2.jpg", "/in/3.jpg", "/in/4.jpg"]);
        let numbers: Vec<usize> = plan.chunks().iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 2]);
    }

    #[test]
    fn a_resumed_run_with_nothing_left_has_no_chunk() {
        let listed = photos(2);
        let done: HashSet<String> = listed.iter().map(|p| p.path.clone()).collect();
        let plan = plan_work(&listed, None, &done, &[0], 2);
        assert!(plan.chunks().is_empty());
    }

    #[test]
    fn an_incremental_run_takes_new_and_changed_photos_only() {
        let mut listed = photos(3);
        listed.push(photo("new.jpg", 5));
        let mut seen: HashMap<String, (u64, i64)> = listed[..3]
            .iter()
            .map(|p| (p.path.clone(), (p.size, p.modified_micros)))
            .collect();
        // 1.jpg changed since (another size), 9.jpg is gone from the input.
        seen.insert("/in/1.jpg".into(), (99, 7));
        seen.insert("/in/9.jpg".into(), (1, 1));
        let plan = plan_work(&listed, Some(&seen), &HashSet::new(), &[], 2048);
        assert_eq!(paths(&plan.wanted), ["/in/1.jpg", "/in/new.jpg"]);
        assert_eq!(plan.changed, ["/in/1.jpg"]);
        assert_eq!(plan.todo, plan.wanted);
        assert_eq!(
            plan.wanted_paths(),
            HashSet::from(["/in/1.jpg", "/in/new.jpg"])
        );
    }
}
