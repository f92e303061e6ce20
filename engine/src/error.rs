//! Engine errors: each has a stable snake_case code and a message a human can
//! act on. Inbound adapters map [`ErrorKind`] to their protocol's status.

use lettuce_domain::ValidationError;
use lettuce_ports::{
    auth::AuthError, blob::BlobError, git::GitError, index::IndexError, license::LicenseError, queue::QueueError,
    secrets::SecretError, store::StoreError,
};

/// Broad class of an error (maps to HTTP status codes in the HTTP adapter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input (400).
    Invalid,
    /// Missing or bad credentials (401).
    Unauthenticated,
    /// Authenticated but not allowed (403).
    Forbidden,
    /// No such thing (404).
    NotFound,
    /// Already exists (409).
    Conflict,
    /// Refused by policy, e.g. a private-network URL (422).
    Unprocessable,
    /// A dependency is down; retry later (503).
    Unavailable,
    /// A bug or unexpected failure (500).
    Internal,
}

/// An error from an engine use case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A field failed validation.
    #[error("{0}")]
    Validation(#[from] ValidationError),
    /// No valid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// Email and password do not match.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing does not exist (or belongs to another account).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Already exists.
    #[error("{message}")]
    Conflict {
        /// Stable code (`email_taken`, `repo_exists`, …).
        code: &'static str,
        /// Human message.
        message: String,
    },
    /// Unknown or already unusable invite code.
    #[error("{0}")]
    InviteInvalid(String),
    /// The repo URL is refused by the network policy.
    #[error("{0}")]
    RepoUrlForbidden(String),
    /// The license forbids the action.
    #[error("{message}")]
    License {
        /// `license_expired`, `license_locked`, `license_limit_reached`.
        code: &'static str,
        /// Human message naming the limit or state.
        message: String,
    },
    /// A license key offered for installation was rejected.
    #[error("{message}")]
    LicenseKeyRejected {
        /// `license_malformed`, `license_signature_invalid`, `license_expired`, `license_missing`.
        code: &'static str,
        /// Human message.
        message: String,
    },
    /// A navigation query could not be answered as asked; the code says why
    /// (`file_not_found`, `symbol_not_found`, `repo_not_indexed`,
    /// `index_rebuilding`, `repo_ambiguous`, …).
    #[error("{message}")]
    Navigation {
        /// Broad class (status).
        kind: ErrorKind,
        /// Stable code.
        code: &'static str,
        /// Human message saying what to do.
        message: String,
    },
    /// A code-host integration refused or failed (`provider_not_configured`,
    /// `install_state_invalid`, `provider_access_denied`, `not_connected`,
    /// `webhook_rejected`, `provider_rate_limited`, …).
    #[error("{message}")]
    Integration {
        /// Broad class (status).
        kind: ErrorKind,
        /// Stable code.
        code: &'static str,
        /// Human message saying what to do.
        message: String,
    },
    /// A dependency failed; retrying may help.
    #[error("{0}")]
    Unavailable(String),
    /// The secret store did not answer a read this request needed (a secret
    /// whose reuse period had passed). Other requests keep working; this
    /// one recovers by itself once the store answers again.
    #[error("{0}")]
    SecretStoreUnavailable(String),
    /// Unexpected failure.
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    /// Stable snake_case code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Validation(_) => "validation_failed",
            EngineError::Unauthenticated(_) => "unauthenticated",
            EngineError::InvalidCredentials => "invalid_credentials",
            EngineError::Forbidden(_) => "forbidden",
            EngineError::NotFound(_) => "not_found",
            EngineError::Conflict { code, .. } => code,
            EngineError::InviteInvalid(_) => "invite_invalid",
            EngineError::RepoUrlForbidden(_) => "repo_url_forbidden",
            EngineError::License { code, .. } | EngineError::LicenseKeyRejected { code, .. } => code,
            EngineError::Navigation { code, .. } | EngineError::Integration { code, .. } => code,
            EngineError::Unavailable(_) => "service_unavailable",
            EngineError::SecretStoreUnavailable(_) => "secret_store_unavailable",
            EngineError::Internal(_) => "internal",
        }
    }

    /// Broad class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Validation(_) | EngineError::InviteInvalid(_) | EngineError::LicenseKeyRejected { .. } => {
                ErrorKind::Invalid
            }
            EngineError::Unauthenticated(_) | EngineError::InvalidCredentials => ErrorKind::Unauthenticated,
            EngineError::Forbidden(_) | EngineError::License { .. } => ErrorKind::Forbidden,
            EngineError::NotFound(_) => ErrorKind::NotFound,
            EngineError::Conflict { .. } => ErrorKind::Conflict,
            EngineError::RepoUrlForbidden(_) => ErrorKind::Unprocessable,
            EngineError::Navigation { kind, .. } | EngineError::Integration { kind, .. } => *kind,
            EngineError::Unavailable(_) | EngineError::SecretStoreUnavailable(_) => ErrorKind::Unavailable,
            EngineError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The field a validation error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            EngineError::Validation(v) => Some(v.field),
            _ => None,
        }
    }

    pub(crate) fn validation(field: &'static str, message: impl Into<String>) -> Self {
        EngineError::Validation(ValidationError::new(field, message))
    }
}

fn backend(what: &str, err: &dyn std::error::Error, retryable: bool) -> EngineError {
    // Full detail goes to the log; the caller gets a stable sentence.
    tracing::error!(error = %err, source = ?err.source().map(ToString::to_string), "{what} failed");
    if retryable {
        EngineError::Unavailable(format!("{what} is temporarily unavailable; try again"))
    } else {
        EngineError::Internal(format!("{what} failed; see the server log"))
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity } => EngineError::NotFound(entity),
            StoreError::Conflict { entity, detail } => EngineError::Conflict {
                code: "conflict",
                message: format!("{entity} already exists ({detail})"),
            },
            other => {
                let r = other.is_retryable();
                backend("the metadata store", &other, r)
            }
        }
    }
}

impl From<QueueError> for EngineError {
    fn from(e: QueueError) -> Self {
        let r = e.is_retryable();
        backend("the job queue", &e, r)
    }
}

impl From<BlobError> for EngineError {
    fn from(e: BlobError) -> Self {
        let r = e.is_retryable();
        backend("the blob store", &e, r)
    }
}

impl From<SecretError> for EngineError {
    fn from(e: SecretError) -> Self {
        if e.is_retryable() {
            tracing::error!(error = %e, "the secret store failed");
            return EngineError::SecretStoreUnavailable(
                "the secret store is temporarily unavailable, so a secret this request needs cannot be read; try again shortly".into(),
            );
        }
        backend("the secret store", &e, false)
    }
}

impl EngineError {
    /// The error for a request that needs `name` while its store is down.
    pub(crate) fn secret_unavailable(name: &str, e: &SecretError) -> Self {
        tracing::error!(secret = name, error = %e, "cannot read a secret this request needs");
        EngineError::SecretStoreUnavailable(format!(
            "the secret store is unavailable, so {name} cannot be read; try again shortly (Lettuce recovers by itself once the store answers)"
        ))
    }
}

impl From<IndexError> for EngineError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::InvalidQuery { field, message } => {
                EngineError::Validation(ValidationError::new(field, message))
            }
            IndexError::FileNotFound { path } => EngineError::Navigation {
                kind: ErrorKind::NotFound,
                code: "file_not_found",
                message: format!("no file {path} in the indexed commit: check the path (see repo_map or search_code)"),
            },
            IndexError::NotIndexed { .. } => EngineError::Navigation {
                kind: ErrorKind::Unavailable,
                code: "index_rebuilding",
                message: "the repository's index is being rebuilt; try again in a minute".into(),
            },
            e => {
                let r = e.is_retryable();
                backend("the code index", &e, r)
            }
        }
    }
}

impl From<LicenseError> for EngineError {
    fn from(e: LicenseError) -> Self {
        match e {
            LicenseError::Malformed { .. } => EngineError::LicenseKeyRejected {
                code: "license_malformed",
                message: e.to_string(),
            },
            LicenseError::SignatureInvalid { .. } => EngineError::LicenseKeyRejected {
                code: "license_signature_invalid",
                message: e.to_string(),
            },
            LicenseError::Expired { .. } => EngineError::LicenseKeyRejected {
                code: "license_expired",
                message: e.to_string(),
            },
            LicenseError::Missing => EngineError::LicenseKeyRejected {
                code: "license_missing",
                message: e.to_string(),
            },
            LicenseError::NotGated => EngineError::Conflict {
                code: "license_not_gated",
                message: e.to_string(),
            },
            other => {
                let r = other.is_retryable();
                backend("the license check", &other, r)
            }
        }
    }
}

impl From<AuthError> for EngineError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Expired => EngineError::Unauthenticated("token expired; sign in again".into()),
            AuthError::InvalidToken { .. } => EngineError::Unauthenticated("invalid bearer token".into()),
            other => {
                let r = other.is_retryable();
                backend("authentication", &other, r)
            }
        }
    }
}

impl From<GitError> for EngineError {
    fn from(e: GitError) -> Self {
        match e {
            GitError::Forbidden { reason } => EngineError::RepoUrlForbidden(reason),
            GitError::Network { .. } => EngineError::Unavailable(e.to_string()),
            GitError::NotConfigured { message } => EngineError::Integration {
                kind: ErrorKind::Unavailable,
                code: "provider_not_configured",
                message,
            },
            GitError::Unauthorized { message } => EngineError::Integration {
                kind: ErrorKind::Forbidden,
                code: "provider_unauthorized",
                message,
            },
            GitError::PermissionDenied { message } => EngineError::Integration {
                kind: ErrorKind::Forbidden,
                code: "provider_permission_denied",
                message,
            },
            GitError::RateLimited { message, .. } => EngineError::Integration {
                kind: ErrorKind::Unavailable,
                code: "provider_rate_limited",
                message,
            },
            GitError::NotFound { .. } | GitError::AuthRequired { .. } => EngineError::Integration {
                kind: ErrorKind::NotFound,
                code: "provider_not_found",
                message: e.to_string(),
            },
            GitError::Unsupported { .. } => EngineError::Integration {
                kind: ErrorKind::NotFound,
                code: "provider_unsupported",
                message: e.to_string(),
            },
            other => {
                let r = other.is_retryable();
                backend("git", &other, r)
            }
        }
    }
}
