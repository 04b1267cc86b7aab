//! Errors of the source crate.

/// What went wrong while resolving a location, listing it, or reading labels.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The location string could not be understood.
    #[error("invalid location '{location}': {reason}")]
    InvalidLocation {
        /// The location as the user gave it.
        location: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The glob pattern could not be compiled.
    #[error("invalid glob pattern '{pattern}': {reason}")]
    InvalidGlob {
        /// The offending pattern.
        pattern: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The storage back end failed.
    #[error("storage error at '{location}': {source}")]
    Store {
        /// The location being accessed.
        location: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },
    /// The credentials in use may not do what the job needs.
    #[error(
        "access denied: cannot {action} {location}: the credentials in use ({credentials}) need \
         the {permission} permission on bucket `{bucket}` (the server said: {reason})"
    )]
    AccessDenied {
        /// What the job tried (`list`, `read`, `write`, `delete`).
        action: &'static str,
        /// The location or object.
        location: String,
        /// The bucket (or container, host).
        bucket: String,
        /// The permission that is missing, e.g. `s3:ListBucket`.
        permission: &'static str,
        /// The server's short reason (an error code such as `AccessDenied`).
        reason: Box<str>,
        /// Where the refused credentials come from (an environment variable,
        /// a file, a role), never their value.
        credentials: Box<str>,
    },
    /// Data residency: the location is in a region outside the allow-list.
    #[error(
        "refused {location}: its region is {region}, allowed regions are [{allowed}] ({reason}); \
         nothing was read or written"
    )]
    Residency {
        /// The location.
        location: String,
        /// Its region, or `unknown`.
        region: String,
        /// The allow-list, comma-separated.
        allowed: String,
        /// Why it was refused.
        reason: String,
    },
    /// A labels file could not be read or parsed.
    #[error("labels file '{path}': {reason}")]
    Labels {
        /// The labels file.
        path: String,
        /// Why it could not be used.
        reason: String,
    },
}

/// What the job was doing with a store, to name the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    /// Listing objects under a prefix.
    List,
    /// Reading an object.
    Read,
    /// Writing an object.
    Write,
    /// Deleting an object.
    Delete,
}

impl StoreAction {
    fn verb(self) -> &'static str {
        match self {
            StoreAction::List => "list",
            StoreAction::Read => "read",
            StoreAction::Write => "write",
            StoreAction::Delete => "delete",
        }
    }

    /// The permission this action needs on `kind`.
    fn permission(self, kind: crate::StoreKind) -> &'static str {
        use crate::StoreKind::*;
        match (kind, self) {
            (S3, StoreAction::List) => "s3:ListBucket",
            (S3, StoreAction::Read) => "s3:GetObject",
            (S3, StoreAction::Write) => "s3:PutObject",
            (S3, StoreAction::Delete) => "s3:DeleteObject",
            (Gcs, StoreAction::List) => "storage.objects.list",
            (Gcs, StoreAction::Read) => "storage.objects.get",
            (Gcs, StoreAction::Write) => "storage.objects.create",
            (Gcs, StoreAction::Delete) => "storage.objects.delete",
            (Azure, StoreAction::List | StoreAction::Read) => "Storage Blob Data Reader",
            (Azure, _) => "Storage Blob Data Contributor",
            (Local | Http, _) => "file-system",
        }
    }
}

impl SourceError {
    /// Wraps a store error met while doing `action` on `what` (a URL or path
    /// under `location`): access errors name the bucket and the permission.
    pub fn store(
        location: &crate::Location,
        action: StoreAction,
        what: impl Into<String>,
        source: object_store::Error,
    ) -> SourceError {
        match denial(&source) {
            Some(reason) => SourceError::AccessDenied {
                action: action.verb(),
                location: what.into(),
                bucket: location.bucket().to_string(),
                permission: action.permission(location.kind()),
                reason: reason.into(),
                credentials: location.credentials().into(),
            },
            None => SourceError::Store {
                location: what.into(),
                source,
            },
        }
    }
}

/// Whether a store error is an authentication or authorisation refusal, and
/// the server's short reason. `object_store` reports some (list requests) as
/// generic errors carrying the HTTP status, so the message is read too.
fn denial(error: &object_store::Error) -> Option<String> {
    let text = error.to_string();
    let code = text
        .split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .map(str::to_string);
    let denied = matches!(
        error,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) || text.contains("403 Forbidden")
        || text.contains("401 Unauthorized");
    denied.then(|| code.unwrap_or_else(|| "HTTP 403/401".to_string()))
}
