//! The OpenAPI document matches the router: every routed path and method is
//! documented (and every documented one is routed), the `bearer` scheme is
//! declared and used by exactly the authenticated operations, and every
//! documented error response is an `ErrorBody`.

use crate::support::{App, Req};
use axum::http::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;

/// (method, path, needs a bearer token). `/openapi.json` itself is routed
/// but deliberately not part of the document.
const ROUTES: &[(&str, &str, bool)] = &[
    ("get", "/healthz", false),
    ("get", "/readyz", false),
    ("get", "/metrics", false),
    ("post", "/api/admin/invites", true),
    ("post", "/v1/auth/signup", false),
    ("post", "/v1/auth/login", false),
    ("get", "/v1/auth/oidc/login", false),
    ("get", "/v1/auth/oidc/callback", false),
    ("get", "/v1/auth/logout", false),
    ("post", "/v1/api-keys", true),
    ("get", "/v1/api-keys", true),
    ("delete", "/v1/api-keys/{id}", true),
    ("post", "/v1/invites", true),
    ("get", "/v1/invites", true),
    ("delete", "/v1/invites/{id}", true),
    ("get", "/v1/account", true),
    ("get", "/v1/repos", true),
    ("post", "/v1/repos", true),
    ("get", "/v1/repos/{id}", true),
    ("delete", "/v1/repos/{id}", true),
    ("post", "/v1/repos/{id}/reindex", true),
    ("post", "/v1/repos/{id}/eval", true),
    ("get", "/v1/repos/{id}/eval", true),
    ("get", "/v1/repos/{id}/outline", true),
    ("get", "/v1/repos/{id}/file", true),
    ("get", "/v1/search", true),
    ("get", "/v1/symbols", true),
    ("get", "/v1/locate", true),
    ("post", "/v1/locate", true),
    ("get", "/v1/usage", true),
    ("get", "/v1/license", true),
    ("put", "/v1/admin/license", true),
    ("get", "/v1/admin/telemetry", true),
    ("put", "/v1/admin/telemetry", true),
    ("post", "/v1/repos/{id}/webhook", true),
    ("get", "/v1/integrations", true),
    ("delete", "/v1/integrations/{provider}", true),
    ("get", "/v1/integrations/{provider}/install", true),
    ("get", "/v1/integrations/{provider}/callback", false),
    ("post", "/v1/integrations/{provider}/token", true),
    ("get", "/v1/integrations/{provider}/repos", true),
    ("post", "/v1/integrations/{provider}/repos", true),
    ("post", "/v1/{provider}/webhook/{account_id}", false),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const ERROR_BODY_REF: &str = "#/components/schemas/ErrorBody";

async fn doc() -> Value {
    let app = App::new();
    let r = app.send(Req::get("/openapi.json")).await;
    r.expect(StatusCode::OK);
    r.json.clone()
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn documents_exactly_the_routed_paths_and_methods() {
    let doc = doc().await;
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let expected: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p, _)| ((*m).into(), (*p).into())).collect();
    let missing: Vec<_> = expected.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&expected).collect();
    assert!(missing.is_empty(), "routed but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not in the route list: {extra:?}");
}

#[tokio::test]
async fn every_listed_route_is_really_routed() {
    // Guards the list above against the router: each (method, path) reaches a
    // handler, i.e. is neither the 404 fallback nor a 405.
    let app = App::new();
    let id = uuid::Uuid::new_v4().to_string();
    for (method, path, needs_auth) in ROUTES {
        let path = path.replace("{id}", &id);
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = app.send(Req::new(method.clone(), path.as_str())).await;
        assert_ne!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is not routed"
        );
        let fallback = r.status == StatusCode::NOT_FOUND && r.text.contains("no route for");
        assert!(!fallback, "{method} {path} is not routed");
        if *needs_auth {
            r.error(StatusCode::UNAUTHORIZED, "unauthenticated");
        } else {
            assert_ne!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} needs no token: {}",
                r.text
            );
        }
    }
}

#[tokio::test]
async fn declares_the_bearer_scheme_on_authenticated_operations() {
    let doc = doc().await;
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(
        scheme["scheme"].as_str().map(str::to_ascii_lowercase).as_deref(),
        Some("bearer")
    );
    for (method, path, op) in operations(&doc) {
        let needs_auth = ROUTES
            .iter()
            .find(|(m, p, _)| *m == method && *p == path)
            .map(|(_, _, a)| *a)
            .unwrap_or_else(|| panic!("{method} {path} not in the route list"));
        let uses_bearer = op["security"]
            .as_array()
            .is_some_and(|reqs| reqs.iter().any(|r| r.get("bearer").is_some()));
        assert_eq!(uses_bearer, needs_auth, "{method} {path}: security {}", op["security"]);
    }
}

#[tokio::test]
async fn every_documented_error_response_is_an_error_body() {
    let doc = doc().await;
    for name in ["ErrorBody", "ErrorDetail"] {
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "schema {name} is declared"
        );
    }
    let detail = &doc["components"]["schemas"]["ErrorDetail"];
    let required: BTreeSet<&str> = detail["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, BTreeSet::from(["code", "message"]), "{detail}");
    let mut error_responses = 0;
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: no responses"));
        // Browser redirects (sign-in, logout) succeed with a 303.
        assert!(
            responses.keys().any(|s| s.starts_with('2') || s == "303"),
            "{method} {path}: no success response documented"
        );
        for (status, resp) in responses {
            let code: u16 = status
                .parse()
                .unwrap_or_else(|_| panic!("{method} {path}: status {status}"));
            if code < 400 {
                continue;
            }
            error_responses += 1;
            let schema = &resp["content"]["application/json"]["schema"];
            assert_eq!(
                schema["$ref"], ERROR_BODY_REF,
                "{method} {path} {status}: error responses must reference ErrorBody: {resp}"
            );
        }
    }
    assert!(
        error_responses >= 20,
        "only {error_responses} documented error responses"
    );
}

#[tokio::test]
async fn every_reference_resolves() {
    let doc = doc().await;
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "$ref" {
                        if let Some(s) = v.as_str() {
                            out.push(s);
                        }
                    } else {
                        walk(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "$ref {r} does not resolve"
        );
    }
}

/// Known gap (see the report): several authenticated operations do not
/// document their 401 (and some not their 403/400) although the router
/// returns them.
#[tokio::test]

async fn authenticated_operations_document_401() {
    let doc = doc().await;
    let mut missing = Vec::new();
    for (method, path, op) in operations(&doc) {
        if op["security"].is_array() && op["responses"].get("401").is_none() {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(missing.is_empty(), "no documented 401: {missing:?}");
}
