//! Who is calling: turning a bearer token into a [`Caller`].

use crate::builder::Engine;
use crate::error::EngineError;
use lettuce_domain::account::{ExternalIdentity, Role};
use lettuce_domain::token::{API_KEY_PREFIX, constant_time_eq, hash_token};
use lettuce_domain::{AccountId, ApiKeyId, Secret, UserId};
use lettuce_ports::auth::{AuthError, LOCAL_ISSUER};

/// How a user authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A session token Lettuce issued.
    Session,
    /// An API key.
    ApiKey(ApiKeyId),
    /// A token from the configured external IdP.
    External,
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCtx {
    /// The user.
    pub user_id: UserId,
    /// Their account: every query is scoped to it.
    pub account_id: AccountId,
    /// Their role.
    pub role: Role,
    /// How they authenticated.
    pub method: AuthMethod,
}

/// The party behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The instance operator, holding `CODEWAZE_ADMIN_TOKEN`.
    Admin,
    /// A user of an account.
    User(UserCtx),
}

impl Caller {
    /// The user context, or `Unauthenticated` for the admin token.
    pub fn user(&self) -> Result<&UserCtx, EngineError> {
        match self {
            Caller::User(u) => Ok(u),
            Caller::Admin => Err(EngineError::Forbidden(
                "the admin token only works on /api/admin endpoints; sign in as a user".into(),
            )),
        }
    }

    /// The user context if the user owns their account.
    pub fn owner(&self) -> Result<&UserCtx, EngineError> {
        let u = self.user()?;
        if u.role == Role::Owner {
            Ok(u)
        } else {
            Err(EngineError::Forbidden("only account owners can do this".into()))
        }
    }

    /// Ok for the admin token, `Forbidden` otherwise.
    pub fn admin(&self) -> Result<(), EngineError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::User(_) => Err(EngineError::Forbidden("this endpoint requires the admin token".into())),
        }
    }
}

/// Whether `token` has the shape of a JWT (three base64url parts, a JSON
/// header): session and IdP tokens, which are never the admin token.
fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

impl Engine {
    /// Whether `token` is the admin token. With a store-backed admin token,
    /// API keys, operator sessions and JWTs are never compared (so they need
    /// no secret read). During a store outage only a token equal to the last
    /// admin token known (which needs a fresh read to be confirmed) gets
    /// `secret_store_unavailable`; any other token goes on to the other
    /// methods, so user requests never depend on the store.
    async fn is_admin_token(&self, token: &str) -> Result<bool, EngineError> {
        let settings = &self.inner.settings;
        let Some(handle) = &settings.admin_token_handle else {
            return Ok(constant_time_eq(token, settings.admin_token.expose()));
        };
        if token.starts_with(API_KEY_PREFIX)
            || token.starts_with(crate::session::ADMIN_SESSION_PREFIX)
            || looks_like_jwt(token)
        {
            return Ok(false);
        }
        match handle.get().await {
            Ok(current) => Ok(constant_time_eq(token, current.expose())),
            Err(lettuce_ports::secrets::SecretError::NotFound { .. }) => {
                tracing::warn!(
                    secret = handle.name(),
                    backend = handle.backend(),
                    "the admin token was removed from the secret store: admin-token requests are refused until it is back"
                );
                Ok(false)
            }
            Err(e) => {
                let known = handle.last_known().unwrap_or_else(|| settings.admin_token.clone());
                if constant_time_eq(token, known.expose()) {
                    Err(EngineError::secret_unavailable(handle.name(), &e))
                } else {
                    Ok(false)
                }
            }
        }
    }

    /// Authenticates a bearer token: the admin token, an operator session
    /// minted from it (`las_…`, see [`Engine::admin_session`]), an API key
    /// (`lk_…`), a Lettuce session token, or a token from the configured IdP.
    pub async fn authenticate(&self, bearer: &Secret) -> Result<Caller, EngineError> {
        let token = bearer.expose().trim();
        if token.is_empty() {
            return Err(EngineError::Unauthenticated("missing bearer token".into()));
        }
        if self.is_admin_token(token).await? {
            return Ok(Caller::Admin);
        }
        if token.starts_with(API_KEY_PREFIX) {
            return self.authenticate_api_key(token).await;
        }
        if token.starts_with(crate::session::ADMIN_SESSION_PREFIX) {
            return self.verify_admin_session(token);
        }
        match self.inner.session_verifier.verify(token).await {
            Ok(v) if v.issuer == LOCAL_ISSUER => {
                let user_id: UserId = v
                    .subject
                    .parse()
                    .map_err(|_| EngineError::Unauthenticated("invalid bearer token".into()))?;
                let user = match self.inner.store.get_user(user_id).await {
                    Ok(u) => u,
                    Err(lettuce_ports::store::StoreError::NotFound { .. }) => {
                        return Err(EngineError::Unauthenticated("this user no longer exists".into()));
                    }
                    Err(e) => return Err(e.into()),
                };
                Ok(Caller::User(UserCtx {
                    user_id,
                    account_id: user.account_id,
                    role: user.role,
                    method: AuthMethod::Session,
                }))
            }
            Ok(_) => Err(EngineError::Unauthenticated("invalid bearer token".into())),
            Err(AuthError::Expired) => Err(AuthError::Expired.into()),
            Err(local_err) => match &self.inner.external_auth {
                Some(ext) => {
                    let v = ext.verify(token).await?;
                    let identity = ExternalIdentity {
                        issuer: v.issuer,
                        subject: v.subject,
                    };
                    let user = self.inner.store.find_user_by_identity(&identity).await?.ok_or_else(|| {
                        EngineError::Unauthenticated(
                            "no Lettuce user is linked to this identity yet; redeem an invite with this token first".into(),
                        )
                    })?;
                    Ok(Caller::User(UserCtx {
                        user_id: user.id,
                        account_id: user.account_id,
                        role: user.role,
                        method: AuthMethod::External,
                    }))
                }
                None => Err(local_err.into()),
            },
        }
    }

    async fn authenticate_api_key(&self, token: &str) -> Result<Caller, EngineError> {
        let key = self
            .inner
            .store
            .find_api_key(&hash_token(token))
            .await?
            .ok_or_else(|| EngineError::Unauthenticated("unknown API key".into()))?;
        if key.revoked_at.is_some() {
            return Err(EngineError::Unauthenticated("this API key was revoked".into()));
        }
        let user = match self.inner.store.get_user(key.user_id).await {
            Ok(u) => u,
            Err(lettuce_ports::store::StoreError::NotFound { .. }) => {
                return Err(EngineError::Unauthenticated(
                    "the user of this API key no longer exists".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let now = self.inner.clock.now();
        // Record use at most once a minute per key to keep reads cheap.
        if key.last_used_at.is_none_or(|t| now - t > chrono::Duration::minutes(1))
            && let Err(e) = self.inner.store.touch_api_key(key.id, now).await
        {
            tracing::warn!(error = %e, "could not record API key use");
        }
        Ok(Caller::User(UserCtx {
            user_id: user.id,
            account_id: user.account_id,
            role: user.role,
            method: AuthMethod::ApiKey(key.id),
        }))
    }
}
