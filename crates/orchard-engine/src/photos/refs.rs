//! What a scan reads: photo references and read options, and how photos are
//! split into partitions (the same split for every planner).

use orchard_source::PhotoEntry;

/// One photo to read: what the scan needs of a [`PhotoEntry`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PhotoRef {
    /// Object key in the store.
    pub key: String,
    /// Path as the user refers to it.
    pub path: String,
    /// Label (parent folder), if any.
    pub label: Option<String>,
    /// Size in bytes, from the listing.
    pub size: u64,
    /// Modification time, microseconds since the epoch (UTC).
    pub modified_micros: i64,
}

impl From<&PhotoEntry> for PhotoRef {
    fn from(e: &PhotoEntry) -> Self {
        Self {
            key: e.key.to_string(),
            path: e.path.clone(),
            label: e.label.clone(),
            size: e.size,
            modified_micros: e.modified.timestamp_micros(),
        }
    }
}

/// How the scan reads objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScanOptions {
    /// Photos per record batch (keep small: a phone photo can be several MB).
    pub batch_rows: usize,
    /// Concurrent GET requests per partition.
    pub concurrency: usize,
    /// Photos larger than this are not read; they get a `read` error.
    pub max_bytes: u64,
    /// Bytes being downloaded at once per partition (by listed size), so that
    /// a run of large photos does not flood memory; a photo larger than the
    /// bound is read alone.
    #[serde(default = "default_in_flight")]
    pub max_bytes_in_flight: u64,
}

fn default_in_flight() -> u64 {
    64 * 1024 * 1024
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            batch_rows: 32,
            concurrency: 16,
            max_bytes: 256 * 1024 * 1024,
            max_bytes_in_flight: default_in_flight(),
        }
    }
}

/// The number of scan partitions for `photos` photos: the session's target
/// partitions, but no partition smaller than one batch, and at least one.
/// Embedded and cluster scans both use it, so that both group photos into
/// the same batches.
pub(crate) fn scan_partitions(
    target_partitions: usize,
    photos: usize,
    options: &ScanOptions,
) -> usize {
    let wanted = target_partitions.max(1);
    let per_partition = options.batch_rows.max(1);
    wanted.min(photos.div_ceil(per_partition)).max(1)
}

/// Splits `items` into `n` contiguous, nearly equal parts (order kept).
pub(crate) fn split_contiguous(items: &[PhotoRef], n: usize) -> Vec<Vec<PhotoRef>> {
    let n = n.max(1);
    let base = items.len() / n;
    let extra = items.len() % n;
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        out.push(items[start..start + len].to_vec());
        start += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(i: usize) -> PhotoRef {
        PhotoRef {
            key: format!("k{i}"),
            path: format!("p{i}"),
            label: None,
            size: 1,
            modified_micros: 0,
        }
    }

    #[test]
    fn contiguous_split_keeps_order_and_balances() {
        let items: Vec<_> = (0..7).map(photo).collect();
        let parts = split_contiguous(&items, 3);
        let lens: Vec<_> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(lens, [3, 2, 2]);
        let flat: Vec<_> = parts.iter().flat_map(|p| p.iter().cloned()).collect();
        assert_eq!(flat, items);
    }
}
