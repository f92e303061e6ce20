//! Repositories.

use crate::AppState;
use crate::dto::{AddRepoBody, RepoDto, RepoList};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Auth};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lettuce_domain::RepoId;
use lettuce_engine::AddRepoRequest;
use uuid::Uuid;

/// The account's repositories.
#[utoipa::path(get, path = "/v1/repos", tag = "repos", security(("bearer" = [])),
    responses((status = 200, body = RepoList), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(State(s): State<AppState>, Auth(caller): Auth) -> Result<Json<RepoList>, ApiError> {
    let repos = s.engine.list_repos(&caller).await?;
    Ok(Json(RepoList {
        repos: repos.into_iter().map(Into::into).collect(),
    }))
}

/// Add a repository; indexing starts in the background (202, status `pending`).
#[utoipa::path(post, path = "/v1/repos", tag = "repos", security(("bearer" = [])), request_body = AddRepoBody,
    responses(
        (status = 202, body = RepoDto),
        (status = 400, description = "invalid URL or branch", body = ErrorBody),
        (status = 403, description = "license forbids it (`license_expired`, `license_locked`, `license_limit_reached`)", body = ErrorBody),
        (status = 409, description = "`repo_exists`", body = ErrorBody),
        (status = 422, description = "`repo_url_forbidden`: a private-network or file:// target", body = ErrorBody)))]
pub(crate) async fn add(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(b): ApiJson<AddRepoBody>,
) -> Result<(StatusCode, Json<RepoDto>), ApiError> {
    let repo = s
        .engine
        .add_repo(
            &caller,
            AddRepoRequest {
                url: b.url,
                branch: b.branch,
            },
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(repo.into())))
}

/// One repository with its status.
#[utoipa::path(get, path = "/v1/repos/{id}", tag = "repos", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "repo id")),
    responses((status = 200, body = RepoDto), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RepoDto>, ApiError> {
    let repo = s.engine.get_repo(&caller, RepoId(id)).await?;
    let webhook = s.engine.webhook_health(&caller, RepoId(id)).await?;
    let mut dto: RepoDto = repo.into();
    dto.webhook = webhook.map(Into::into);
    Ok(Json(dto))
}

/// Delete a repository and its index.
#[utoipa::path(delete, path = "/v1/repos/{id}", tag = "repos", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "repo id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    s.engine.delete_repo(&caller, RepoId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queue a fresh index (coalesces with a pending one).
#[utoipa::path(post, path = "/v1/repos/{id}/reindex", tag = "repos", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "repo id")),
    responses((status = 202, body = RepoDto), (status = 404, body = ErrorBody)))]
pub(crate) async fn reindex(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<RepoDto>), ApiError> {
    let repo = s.engine.reindex_repo(&caller, RepoId(id)).await?;
    Ok((StatusCode::ACCEPTED, Json(repo.into())))
}
