//! An [`ObjectStoreRegistry`] that builds Orchard's stores on first use, from
//! the store URL alone, in any process (client, scheduler, executor).
//!
//! Plans only carry store URLs (`file:///`, `s3://bucket/`, `gs://bucket/`,
//! `abfs://container@account.dfs.core.windows.net/`, `https://host/`); each
//! process builds the matching store with [`Location::parse_with`] and its own
//! [`StorageOptions`] (region, endpoint, retries — no secrets) and takes the
//! credentials from its own environment, as `orchard-source` does locally.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use orchard_source::{Location, StorageOptions};
use url::Url;

/// Stores by `scheme://[user@]host[:port]`, built lazily; see the module docs.
#[derive(Debug)]
pub struct OrchardObjectStoreRegistry {
    storage: StorageOptions,
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl OrchardObjectStoreRegistry {
    /// A registry building stores with `storage`.
    pub fn new(storage: StorageOptions) -> Self {
        Self {
            storage,
            stores: RwLock::new(HashMap::new()),
        }
    }

    /// The options stores are built with.
    pub fn storage(&self) -> &StorageOptions {
        &self.storage
    }
}

/// The registry key of a URL. Unlike DataFusion's default registry, the user
/// part is kept: for `abfs://container@account…/` it names the container, and
/// two containers of one account are two stores. A password, which Orchard's
/// URLs never carry, is left out.
fn store_key(url: &Url) -> String {
    let user = url.username();
    let host = url.host_str().unwrap_or_default();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    if user.is_empty() {
        format!("{}://{host}{port}", url.scheme())
    } else {
        format!("{}://{user}@{host}{port}", url.scheme())
    }
}

impl ObjectStoreRegistry for OrchardObjectStoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().unwrap_or_else(|p| p.into_inner());
        stores.insert(store_key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().unwrap_or_else(|p| p.into_inner());
        stores.remove(&store_key(url)).ok_or_else(|| {
            DataFusionError::Execution(format!("no object store registered for {url}"))
        })
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(store) = self
            .stores
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(store.clone());
        }
        // `file:///` resolves to a LocalFileSystem rooted at `/`, remote URLs
        // to the matching builder (region, endpoint, retries, credentials chain).
        let location = Location::parse_with(&format!("{key}/"), &self.storage)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let built = location.store().clone();
        let mut stores = self.stores.write().unwrap_or_else(|p| p.into_inner());
        // Another task may have built it meanwhile: keep the first.
        Ok(stores.entry(key).or_insert(built).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_container_and_drop_paths() {
        let k = |s: &str| store_key(&Url::parse(s).unwrap());
        assert_eq!(k("file:///data/x/"), "file://");
        assert_eq!(k("s3://bucket/a/b"), "s3://bucket");
        assert_eq!(
            k("abfs://c1@acct.dfs.core.windows.net/p"),
            "abfs://c1@acct.dfs.core.windows.net"
        );
        assert_eq!(k("http://127.0.0.1:9000/x"), "http://127.0.0.1:9000");
    }

    #[test]
    fn local_store_is_built_on_demand() {
        let registry = OrchardObjectStoreRegistry::new(StorageOptions::default());
        let url = Url::parse("file:///").unwrap();
        let a = registry.get_store(&url).unwrap();
        let b = registry.get_store(&url).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }
}
