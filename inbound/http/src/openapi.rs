//! The OpenAPI document served at `/openapi.json`.

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{health, license, repos, users};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Lettuce API", description = "Codebase navigation for AI coding agents. Errors are `{\"error\": {\"code\", \"message\"}}`."),
    paths(
        health::healthz, health::readyz,
        users::admin_invite, users::signup, users::login,
        users::create_api_key, users::list_api_keys, users::revoke_api_key,
        users::team_invite, users::list_invites, users::account,
        repos::list, repos::add, repos::get, repos::delete, repos::reindex,
        license::get,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "health"), (name = "admin", description = "operator endpoints (admin token)"),
        (name = "auth"), (name = "api-keys"), (name = "team"), (name = "repos"), (name = "license"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "a session token, an API key (`lk_…`) or, on /api/admin, the admin token",
                    ))
                    .build(),
            ),
        );
    }
}
