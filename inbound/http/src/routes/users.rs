//! Invites, sign-up, login, API keys, account.

use crate::AppState;
use crate::dto::*;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Auth, MaybeBearer, OptionalJson};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lettuce_domain::{ApiKeyId, InviteId, Secret};
use lettuce_engine::{AdminInviteRequest, SignupRequest, SignupResult};
use uuid::Uuid;

/// Mint an invite with the admin token. The first redemption creates an
/// account; later redemptions join it.
#[utoipa::path(post, path = "/api/admin/invites", tag = "admin", security(("bearer" = [])),
    request_body(content = AdminInviteBody, description = "optional"),
    responses((status = 201, body = InviteCreatedDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn admin_invite(
    State(s): State<AppState>,
    Auth(caller): Auth,
    OptionalJson(b): OptionalJson<AdminInviteBody>,
) -> Result<(StatusCode, Json<InviteCreatedDto>), ApiError> {
    let inv = s
        .engine
        .create_admin_invite(
            &caller,
            AdminInviteRequest {
                email: b.email,
                account_name: b.account_name,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(InviteCreatedDto {
            id: inv.id.0,
            code: inv.code.expose().to_owned(),
            expires_at: inv.expires_at,
        }),
    ))
}

/// Mint a teammate invite (account owners).
#[utoipa::path(post, path = "/v1/invites", tag = "team", security(("bearer" = [])),
    request_body(content = TeamInviteBody, description = "optional"),
    responses((status = 201, body = InviteCreatedDto), (status = 403, body = ErrorBody)))]
pub(crate) async fn team_invite(
    State(s): State<AppState>,
    Auth(caller): Auth,
    OptionalJson(b): OptionalJson<TeamInviteBody>,
) -> Result<(StatusCode, Json<InviteCreatedDto>), ApiError> {
    let inv = s.engine.create_team_invite(&caller, b.email).await?;
    Ok((
        StatusCode::CREATED,
        Json(InviteCreatedDto {
            id: inv.id.0,
            code: inv.code.expose().to_owned(),
            expires_at: inv.expires_at,
        }),
    ))
}

/// The account's invites (owners).
#[utoipa::path(get, path = "/v1/invites", tag = "team", security(("bearer" = [])),
    responses((status = 200, body = InviteList), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_invites(State(s): State<AppState>, Auth(caller): Auth) -> Result<Json<InviteList>, ApiError> {
    let invites = s.engine.list_invites(&caller).await?;
    Ok(Json(InviteList {
        invites: invites.into_iter().map(Into::into).collect(),
    }))
}

/// Revoke one of the account's invites (owners): its link stops working at
/// once; accounts already created with it stay.
#[utoipa::path(delete, path = "/v1/invites/{id}", tag = "team", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "invite id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke_invite(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    s.engine.revoke_invite(&caller, InviteId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn signup_dto(r: SignupResult) -> SignupDto {
    SignupDto {
        token: r.token.token.expose().to_owned(),
        expires_at: r.token.expires_at,
        user: UserDto::from(&r.user),
        account: AccountBrief::from(&r.account),
    }
}

/// Redeem an invite. With a password: a local account. With an IdP bearer
/// token and no password: an account linked to that identity.
#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth", request_body = SignupBody,
    responses((status = 201, body = SignupDto), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many sign-in attempts from this IP or for this email; see `Retry-After`")))]
pub(crate) async fn signup(
    State(s): State<AppState>,
    MaybeBearer(bearer): MaybeBearer,
    ApiJson(b): ApiJson<SignupBody>,
) -> Result<(StatusCode, Json<SignupDto>), ApiError> {
    let code = Secret::new(b.invite_code);
    let result = match (b.password, bearer) {
        (Some(password), _) => {
            let email = b
                .email
                .ok_or_else(|| ApiError::invalid_field("email", "email: an email address is required"))?;
            s.engine
                .signup(SignupRequest {
                    invite_code: code,
                    email,
                    password: Secret::new(password),
                })
                .await?
        }
        (None, Some(idp)) => s.engine.signup_with_idp(&code, &idp, b.email.as_deref()).await?,
        (None, None) => {
            return Err(ApiError::invalid_field(
                "password",
                "password: a password is required (or sign up with an identity-provider bearer token)",
            ));
        }
    };
    Ok((StatusCode::CREATED, Json(signup_dto(result))))
}

/// Sign in with email and password (local accounts).
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenDto), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many sign-in attempts from this IP or for this email; see `Retry-After`")))]
pub(crate) async fn login(
    State(s): State<AppState>,
    ApiJson(b): ApiJson<LoginBody>,
) -> Result<Json<TokenDto>, ApiError> {
    let t = s.engine.login(&b.email, &Secret::new(b.password)).await?;
    Ok(Json(TokenDto {
        token: t.token.expose().to_owned(),
        expires_at: t.expires_at,
    }))
}

/// Create an API key (shown once).
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])), request_body = ApiKeyBody,
    responses((status = 201, body = ApiKeyCreatedDto), (status = 400, body = ErrorBody)))]
pub(crate) async fn create_api_key(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(b): ApiJson<ApiKeyBody>,
) -> Result<(StatusCode, Json<ApiKeyCreatedDto>), ApiError> {
    let k = s.engine.create_api_key(&caller, &b.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreatedDto {
            id: k.key.id.0,
            key: k.secret.expose().to_owned(),
            name: k.key.name,
            prefix: k.key.prefix,
            created_at: k.key.created_at,
        }),
    ))
}

/// The caller's API keys.
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList)))]
pub(crate) async fn list_api_keys(State(s): State<AppState>, Auth(caller): Auth) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = s.engine.list_api_keys(&caller).await?;
    Ok(Json(ApiKeyList {
        api_keys: keys.iter().map(ApiKeyDto::from).collect(),
    }))
}

/// Revoke one of the caller's API keys.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "API key id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke_api_key(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    s.engine.revoke_api_key(&caller, ApiKeyId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account. Owners also see the webhook secret and URLs.
#[utoipa::path(get, path = "/v1/account", tag = "team", security(("bearer" = [])),
    responses((status = 200, body = AccountDto), (status = 401, body = ErrorBody)))]
pub(crate) async fn account(State(s): State<AppState>, Auth(caller): Auth) -> Result<Json<AccountDto>, ApiError> {
    let v = s.engine.account(&caller).await?;
    let (webhook_secret, webhook_urls) = match v.webhook {
        Some((secret, urls)) => (
            Some(secret.expose().to_owned()),
            urls.map(|u| WebhookUrlsDto {
                github: u.github,
                gitlab: u.gitlab,
                bitbucket: u.bitbucket,
            }),
        ),
        None => (None, None),
    };
    Ok(Json(AccountDto {
        id: v.account.id.0,
        name: v.account.name,
        role: v.role.as_str().into(),
        seats_used: v.seats_used,
        repo_count: v.repo_count,
        created_at: v.account.created_at,
        webhook_secret,
        webhook_urls,
    }))
}
