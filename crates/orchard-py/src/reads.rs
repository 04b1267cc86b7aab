//! Reading photos named by path: local files with `std::fs`, object-store
//! URLs (`s3://`, `gs://`, `az://`, `http(s)://`) through Orchard's
//! `Location`s on a single-threaded async runtime. The runtime and the store
//! clients are made on first use and belong to the process that made them
//! (a forked child makes its own: the parent's sockets and epoll set are
//! shared with it, so they are left alone, never closed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use object_store::ObjectStoreExt;
use orchard_source::{Location, StorageOptions};
use tokio::runtime::Runtime;

/// Concurrent reads from a store.
const READS: usize = 16;

/// One process's runtime and stores.
struct Remote {
    pid: u32,
    runtime: Runtime,
    /// Locations by parent URL (`s3://bucket/folder/`).
    locations: HashMap<String, Arc<Location>>,
}

/// Reads photos by path; see the module docs.
pub struct Reader {
    storage: StorageOptions,
    remote: Mutex<Option<Remote>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

/// Whether `path` names an object in a store rather than a local file.
pub fn is_remote(path: &str) -> bool {
    path.split_once("://")
        .is_some_and(|(scheme, _)| scheme.len() > 1 && scheme != "file")
}

impl Reader {
    /// A reader reaching stores with `storage`.
    pub fn new(storage: StorageOptions) -> Reader {
        Reader {
            storage,
            remote: Mutex::new(None),
        }
    }

    /// The bytes of each path (in order), or why not.
    pub fn read(&self, paths: &[Option<&str>]) -> Vec<Result<Vec<u8>, String>> {
        let mut out: Vec<Option<Result<Vec<u8>, String>>> = paths
            .iter()
            .map(|p| match p {
                None => Some(Err("no path (null)".to_string())),
                Some(p) if !is_remote(p) => Some(read_local(p)),
                Some(_) => None,
            })
            .collect();
        let remote: Vec<(usize, &str)> = paths
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.filter(|p| is_remote(p)).map(|p| (i, p)))
            .collect();
        if !remote.is_empty() {
            for ((i, _), result) in remote.iter().zip(self.read_remote(&remote)) {
                out[*i] = Some(result);
            }
        }
        out.into_iter()
            .map(|r| r.expect("every path was read"))
            .collect()
    }

    fn read_remote(&self, paths: &[(usize, &str)]) -> Vec<Result<Vec<u8>, String>> {
        let pid = std::process::id();
        let mut guard = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.as_ref().is_some_and(|r| r.pid != pid) {
            if let Some(inherited) = guard.take() {
                std::mem::forget(inherited);
            }
        }
        if guard.is_none() {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => {
                    *guard = Some(Remote {
                        pid,
                        runtime,
                        locations: HashMap::new(),
                    })
                }
                Err(e) => {
                    return paths
                        .iter()
                        .map(|_| Err(format!("cannot start an async runtime: {e}")))
                        .collect()
                }
            }
        }
        let remote = guard.as_mut().expect("made above");
        let mut targets = Vec::with_capacity(paths.len());
        for (_, path) in paths {
            let (parent, name) = match path.rsplit_once('/') {
                Some((parent, name)) if !name.is_empty() => (format!("{parent}/"), name),
                _ => {
                    targets.push(Err(format!("{path} names a folder, not a photo")));
                    continue;
                }
            };
            let location = match remote.locations.get(&parent) {
                Some(l) => Ok(Arc::clone(l)),
                None => Location::parse_with(&parent, &self.storage)
                    .map(Arc::new)
                    .inspect(|l| {
                        remote.locations.insert(parent.clone(), Arc::clone(l));
                    })
                    .map_err(|e| crate::errors::chain(&e)),
            };
            targets.push(location.map(|l| {
                let key = l.child(name);
                (l, key)
            }));
        }
        remote.runtime.block_on(
            futures::stream::iter(targets.into_iter().zip(paths).map(
                |(target, (_, path))| async move {
                    let (location, key) = target?;
                    let got = location.store().get(&key).await;
                    let bytes = match got {
                        Ok(r) => r.bytes().await,
                        Err(e) => Err(e),
                    };
                    bytes
                        .map(|b| b.to_vec())
                        .map_err(|e| format!("cannot read {path}: {e}"))
                },
            ))
            .buffered(READS)
            .collect::<Vec<_>>(),
        )
    }
}

fn read_local(path: &str) -> Result<Vec<u8>, String> {
    let file = path.strip_prefix("file://").unwrap_or(path);
    std::fs::read(file).map_err(|e| format!("cannot read {path}: {e}"))
}
