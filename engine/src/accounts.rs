//! Invites, sign-up, login, API keys and the account view.

use crate::builder::Engine;
use crate::caller::{Caller, UserCtx};
use crate::crypto::{random_hex32, random_token};
use crate::error::EngineError;
use chrono::{DateTime, Utc};
use lettuce_domain::account::{Account, ExternalIdentity, Role, User};
use lettuce_domain::api_key::ApiKey;
use lettuce_domain::invite::{Invite, InviteRejection};
use lettuce_domain::license::LicensedAction;
use lettuce_domain::token::{
    API_KEY_PREFIX, INVITE_PREFIX, check_password_policy, display_prefix, hash_token, normalize_email,
};
use lettuce_domain::{AccountId, ApiKeyId, InviteId, Secret, UserId};
use lettuce_ports::auth::{IdpSignIn, IssuedToken, VerifiedToken};
use lettuce_ports::store::{NewAccount, NewUser, Redemption, StoreError};
use uuid::Uuid;

/// Body of `POST /api/admin/invites`.
#[derive(Debug, Clone, Default)]
pub struct AdminInviteRequest {
    /// Restrict the invite to this email.
    pub email: Option<String>,
    /// Name of the account the first redemption creates.
    pub account_name: Option<String>,
}

/// A freshly minted invite. The code is shown once.
#[derive(Debug, Clone)]
pub struct InviteCreated {
    /// Invite id.
    pub id: InviteId,
    /// The code to redeem.
    pub code: Secret,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Body of `POST /v1/auth/signup`.
#[derive(Debug, Clone)]
pub struct SignupRequest {
    /// Invite code.
    pub invite_code: Secret,
    /// Email.
    pub email: String,
    /// Password (local accounts).
    pub password: Secret,
}

/// Result of a sign-up.
#[derive(Debug, Clone)]
pub struct SignupResult {
    /// A session token for the new user.
    pub token: IssuedToken,
    /// The new user.
    pub user: User,
    /// Their account.
    pub account: Account,
}

/// A new API key; the key is shown once.
#[derive(Debug, Clone)]
pub struct ApiKeyCreated {
    /// Stored metadata.
    pub key: ApiKey,
    /// The secret key.
    pub secret: Secret,
}

/// Per-provider webhook URLs for the manual-webhook card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrls {
    /// GitHub.
    pub github: String,
    /// GitLab.
    pub gitlab: String,
    /// Bitbucket.
    pub bitbucket: String,
}

/// What `GET /v1/account` shows.
#[derive(Debug, Clone)]
pub struct AccountView {
    /// The account.
    pub account: Account,
    /// The caller's role.
    pub role: Role,
    /// Users in the account.
    pub seats_used: u64,
    /// Repos in the account.
    pub repo_count: u64,
    /// Webhook secret and URLs — owners only.
    pub webhook: Option<(Secret, Option<WebhookUrls>)>,
}

const MAX_NAME: usize = 100;

fn clean_name(field: &'static str, raw: Option<String>) -> Result<Option<String>, EngineError> {
    match raw.map(|s| s.trim().to_owned()) {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.chars().count() > MAX_NAME || s.chars().any(char::is_control) => Err(EngineError::validation(
            field,
            format!("must be at most {MAX_NAME} printable characters"),
        )),
        Some(s) => Ok(Some(s)),
    }
}

impl Engine {
    async fn check_seat_available(&self) -> Result<(), EngineError> {
        self.require_license_for(LicensedAction::AddUser).await?;
        if let Some(claims) = self.inner.license.status().await.claims {
            let used = self.inner.store.count_users().await?;
            if used >= u64::from(claims.seats) {
                return Err(EngineError::License {
                    code: "license_limit_reached",
                    message: format!("License limit reached: all {} seats are in use", claims.seats),
                });
            }
        }
        Ok(())
    }

    async fn mint_invite(
        &self,
        account_id: Option<AccountId>,
        account_name: Option<String>,
        email: Option<String>,
        created_by: Option<UserId>,
    ) -> Result<InviteCreated, EngineError> {
        self.require_license_for(LicensedAction::AddUser).await?;
        let email = email
            .filter(|e| !e.trim().is_empty())
            .map(|e| normalize_email(&e))
            .transpose()?;
        let code = random_token(INVITE_PREFIX);
        let now = self.inner.clock.now();
        let invite = Invite {
            id: InviteId(Uuid::now_v7()),
            code_hash: hash_token(&code),
            account_id,
            account_name,
            email,
            created_by,
            expires_at: now + self.inner.settings.invite_ttl,
            redemptions: 0,
            created_at: now,
        };
        self.inner.store.create_invite(&invite).await?;
        tracing::info!(invite = %invite.id, account = ?account_id, "invite minted");
        Ok(InviteCreated {
            id: invite.id,
            code: Secret::new(code),
            expires_at: invite.expires_at,
        })
    }

    /// Mints an admin invite (admin token only). Its first redemption creates
    /// an account; later ones join it.
    pub async fn create_admin_invite(
        &self,
        caller: &Caller,
        req: AdminInviteRequest,
    ) -> Result<InviteCreated, EngineError> {
        caller.admin()?;
        let name = clean_name("account_name", req.account_name)?;
        self.mint_invite(None, name, req.email, None).await
    }

    /// Mints a teammate invite into the owner's account.
    pub async fn create_team_invite(
        &self,
        caller: &Caller,
        email: Option<String>,
    ) -> Result<InviteCreated, EngineError> {
        let owner = caller.owner()?;
        self.mint_invite(Some(owner.account_id), None, email, Some(owner.user_id))
            .await
    }

    /// Invites of the caller's account (owners only).
    pub async fn list_invites(&self, caller: &Caller) -> Result<Vec<Invite>, EngineError> {
        let owner = caller.owner()?;
        self.require_license_for(LicensedAction::Query).await?;
        Ok(self.inner.store.list_invites(owner.account_id).await?)
    }

    async fn redeem(
        &self,
        code: &Secret,
        email: &str,
        password_hash: Option<String>,
        identity: Option<ExternalIdentity>,
    ) -> Result<(Account, User), EngineError> {
        let invalid = || EngineError::InviteInvalid("this invite code is not valid; ask for a new invite".into());
        let code = code.expose().trim();
        if !code.starts_with(INVITE_PREFIX) {
            return Err(invalid());
        }
        let invite = self
            .inner
            .store
            .find_invite(&hash_token(code))
            .await?
            .ok_or_else(invalid)?;
        let now = self.inner.clock.now();
        invite.check_redeemable(email, now).map_err(|r| match r {
            InviteRejection::Expired(_) => EngineError::InviteInvalid(r.to_string()),
            InviteRejection::WrongEmail => EngineError::InviteInvalid(r.to_string()),
        })?;
        self.check_seat_available().await?;
        let account_name = invite.account_name.clone().unwrap_or_else(|| {
            let domain = email.split('@').nth(1).unwrap_or("team");
            format!("{domain} team")
        });
        let redemption = Redemption {
            invite_id: invite.id,
            user: NewUser {
                id: UserId(Uuid::now_v7()),
                email: email.to_owned(),
                password_hash,
                identity,
                created_at: now,
            },
            account_if_unbound: NewAccount {
                id: AccountId(Uuid::now_v7()),
                name: account_name,
                webhook_secret: random_hex32(),
                created_at: now,
            },
        };
        match self.inner.store.redeem_invite(redemption).await {
            Ok(r) => Ok(r),
            Err(StoreError::Conflict { .. }) => Err(EngineError::Conflict {
                code: "email_taken",
                message: format!("{email} already has an account; sign in instead"),
            }),
            Err(StoreError::NotFound { .. }) => Err(invalid()),
            Err(e) => Err(e.into()),
        }
    }

    /// Redeems an invite with email + password (local accounts).
    pub async fn signup(&self, req: SignupRequest) -> Result<SignupResult, EngineError> {
        let email = normalize_email(&req.email)?;
        check_password_policy(req.password.expose())?;
        let hash = self.inner.passwords.hash(&req.password).await?;
        let (account, user) = self.redeem(&req.invite_code, &email, Some(hash), None).await?;
        let token = self
            .inner
            .sessions
            .issue(user.id, account.id, self.inner.settings.session_ttl)
            .await?;
        tracing::info!(user = %user.id, account = %account.id, role = user.role.as_str(), "user signed up");
        Ok(SignupResult { token, user, account })
    }

    /// Redeems an invite for a user of the external IdP: the identity comes
    /// from `idp_token` (verified with the configured external verifier); the
    /// email from the token's claim, else `email`.
    pub async fn signup_with_idp(
        &self,
        invite_code: &Secret,
        idp_token: &Secret,
        email: Option<&str>,
    ) -> Result<SignupResult, EngineError> {
        let ext = self.inner.external_auth.as_ref().ok_or_else(|| {
            EngineError::validation(
                "authorization",
                "this instance has no external identity provider; sign up with a password",
            )
        })?;
        let v = ext.verify(idp_token.expose()).await?;
        let raw_email = v.email.as_deref().or(email).ok_or_else(|| {
            EngineError::validation(
                "email",
                "the identity token carries no email claim; send `email` in the body",
            )
        })?;
        let email = normalize_email(raw_email)?;
        let identity = ExternalIdentity {
            issuer: v.issuer,
            subject: v.subject,
        };
        let (account, user) = self.redeem(invite_code, &email, None, Some(identity)).await?;
        let token = self
            .inner
            .sessions
            .issue(user.id, account.id, self.inner.settings.session_ttl)
            .await?;
        Ok(SignupResult { token, user, account })
    }

    /// The browser sign-in at the external IdP, when one is configured.
    pub fn idp_sign_in(&self) -> Option<std::sync::Arc<dyn IdpSignIn>> {
        self.inner.idp_sign_in.clone()
    }

    /// Signs in an identity the external IdP verified (browser sign-in): the
    /// user linked to it, or — with `invite_code` — a new user linked to it
    /// through the invite (email from the token). Returns a session token.
    pub async fn sign_in_with_identity(
        &self,
        verified: VerifiedToken,
        invite_code: Option<&Secret>,
    ) -> Result<IssuedToken, EngineError> {
        let identity = ExternalIdentity {
            issuer: verified.issuer,
            subject: verified.subject,
        };
        let ttl = self.inner.settings.session_ttl;
        if let Some(user) = self.inner.store.find_user_by_identity(&identity).await? {
            return Ok(self.inner.sessions.issue(user.id, user.account_id, ttl).await?);
        }
        let code = invite_code.ok_or_else(|| {
            EngineError::Unauthenticated(
                "no Lettuce user is linked to this identity yet; open your invite link to join".into(),
            )
        })?;
        let raw_email = verified.email.as_deref().ok_or_else(|| {
            EngineError::validation(
                "email",
                "the identity provider sent no email; allow the `email` scope for Lettuce's client",
            )
        })?;
        let email = normalize_email(raw_email)?;
        let (account, user) = self.redeem(code, &email, None, Some(identity)).await?;
        tracing::info!(user = %user.id, account = %account.id, "user joined through the identity provider");
        Ok(self.inner.sessions.issue(user.id, account.id, ttl).await?)
    }

    /// Checks email + password and issues a session token.
    pub async fn login(&self, email: &str, password: &Secret) -> Result<IssuedToken, EngineError> {
        let email = normalize_email(email).map_err(|_| EngineError::InvalidCredentials)?;
        let user = self.inner.store.find_user_by_email(&email).await?;
        let hash = match user.as_ref().and_then(|u| u.password_hash.clone()) {
            Some(h) => h,
            None => {
                // Spend the same time as a real check so response timing does
                // not reveal which emails exist.
                let dummy = self
                    .inner
                    .dummy_hash
                    .get_or_try_init(|| async {
                        self.inner
                            .passwords
                            .hash(&Secret::new("lettuce-timing-equaliser"))
                            .await
                    })
                    .await?;
                let _ = self.inner.passwords.verify(password, dummy).await;
                return Err(EngineError::InvalidCredentials);
            }
        };
        if !self.inner.passwords.verify(password, &hash).await? {
            return Err(EngineError::InvalidCredentials);
        }
        let user = user.ok_or(EngineError::InvalidCredentials)?;
        Ok(self
            .inner
            .sessions
            .issue(user.id, user.account_id, self.inner.settings.session_ttl)
            .await?)
    }

    /// Creates an API key for the calling user.
    pub async fn create_api_key(&self, caller: &Caller, name: &str) -> Result<ApiKeyCreated, EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::Query).await?;
        let name = clean_name("name", Some(name.to_owned()))?
            .ok_or_else(|| EngineError::validation("name", "give the key a name, e.g. \"laptop agent\""))?;
        let secret = random_token(API_KEY_PREFIX);
        let key = ApiKey {
            id: ApiKeyId(Uuid::now_v7()),
            account_id: u.account_id,
            user_id: u.user_id,
            name,
            prefix: display_prefix(&secret),
            key_hash: hash_token(&secret),
            created_at: self.inner.clock.now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.inner.store.create_api_key(&key).await?;
        Ok(ApiKeyCreated {
            key,
            secret: Secret::new(secret),
        })
    }

    /// The calling user's API keys.
    pub async fn list_api_keys(&self, caller: &Caller) -> Result<Vec<ApiKey>, EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::Query).await?;
        Ok(self.inner.store.list_api_keys(u.user_id).await?)
    }

    /// Revokes one of the calling user's API keys.
    pub async fn revoke_api_key(&self, caller: &Caller, id: ApiKeyId) -> Result<(), EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::Query).await?;
        self.inner
            .store
            .revoke_api_key(u.user_id, id, self.inner.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => EngineError::NotFound("api key"),
                e => e.into(),
            })
    }

    /// Revokes one of the account's invites (owners): it can no longer be
    /// redeemed.
    pub async fn revoke_invite(&self, caller: &Caller, id: InviteId) -> Result<(), EngineError> {
        let owner = caller.owner()?;
        self.require_license_for(LicensedAction::Query).await?;
        self.inner
            .store
            .revoke_invite(owner.account_id, id, self.inner.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => EngineError::NotFound("invite"),
                e => e.into(),
            })?;
        tracing::info!(invite = %id, account = %owner.account_id, "invite revoked");
        Ok(())
    }

    /// The users of the caller's account (any member may see who is in it).
    pub async fn members(&self, caller: &Caller) -> Result<Vec<User>, EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::Query).await?;
        Ok(self.inner.store.list_users(u.account_id).await?)
    }

    /// Whether the instance has no account yet (the web app's first-run
    /// page: mint the first invite with the admin token).
    pub async fn needs_first_run(&self) -> Result<bool, EngineError> {
        Ok(self.inner.store.count_accounts().await? == 0)
    }

    /// The caller's account.
    pub async fn account(&self, caller: &Caller) -> Result<AccountView, EngineError> {
        let u: &UserCtx = caller.user()?;
        self.require_license_for(LicensedAction::Query).await?;
        let account = self.inner.store.get_account(u.account_id).await?;
        let seats_used = self.inner.store.list_users(u.account_id).await?.len() as u64;
        let repo_count = self.inner.store.count_repos(Some(u.account_id)).await?;
        let webhook = (u.role == Role::Owner).then(|| {
            let urls = self.inner.settings.web_url.as_ref().map(|base| {
                let base = base.trim_end_matches('/');
                WebhookUrls {
                    github: format!("{base}/v1/github/webhook/{}", account.id),
                    gitlab: format!("{base}/v1/gitlab/webhook/{}", account.id),
                    bitbucket: format!("{base}/v1/bitbucket/webhook/{}", account.id),
                }
            });
            (Secret::new(account.webhook_secret.clone()), urls)
        });
        Ok(AccountView {
            account,
            role: u.role,
            seats_used,
            repo_count,
            webhook,
        })
    }
}
