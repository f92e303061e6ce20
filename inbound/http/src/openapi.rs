//! The OpenAPI document served at `/openapi.json`.

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{code, eval, health, integrations, license, locate, oidc, repos, telemetry, users};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Lettuce API", description = "Codebase navigation for AI coding agents. Errors are `{\"error\": {\"code\", \"message\"}}`."),
    paths(
        health::healthz, health::readyz, crate::observe::metrics,
        users::admin_invite, users::signup, users::login,
        oidc::login, oidc::callback, oidc::logout,
        users::create_api_key, users::list_api_keys, users::revoke_api_key,
        users::team_invite, users::list_invites, users::revoke_invite, users::account,
        repos::list, repos::add, repos::get, repos::delete, repos::reindex, eval::start, eval::get,
        code::search, code::symbols, code::outline, code::file, code::usage, locate::get, locate::post,
        license::get, license::put,
        telemetry::get, telemetry::put,
        integrations::list, integrations::install, integrations::callback, integrations::picker,
        integrations::add, integrations::connect_token, integrations::disconnect, integrations::retry_webhook, integrations::webhook,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "health"), (name = "admin", description = "operator endpoints (admin token)"),
        (name = "auth"), (name = "api-keys"), (name = "team"), (name = "repos"), (name = "code", description = "navigation: search, symbols, outlines, files, locate, usage"), (name = "license"),
        (name = "telemetry", description = "the daily heartbeat and the admin opt-out"),
        (name = "integrations", description = "code hosts: connect, pick repos, webhooks"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        // Every operation that takes a bearer token can answer 401.
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) && !op.responses.responses.contains_key("401") {
                    let body = ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build();
                    let resp = ResponseBuilder::new()
                        .description("missing, invalid or expired bearer token (`unauthenticated`)")
                        .content("application/json", body)
                        .build();
                    op.responses.responses.insert("401".into(), resp.into());
                }
            }
        }
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
