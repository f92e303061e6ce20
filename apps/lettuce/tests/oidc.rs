//! The real binary with `LETTUCE_AUTH_PROVIDER=oidc` against a real,
//! certified OpenID provider (oidc-provider 9, scripts/oidc-provider/server.mjs):
//!
//! * the provider is down at first: an IdP-looking token gets 503 in the API
//!   error format (fail closed), never an acceptance;
//! * discovery; a client-credentials JWT access token verifies and, after
//!   redeeming an admin invite, owns an account;
//! * a user signed in through the authorization-code + PKCE flow (the
//!   provider's dev interactions, scripted over HTTP) redeems a team invite
//!   with the IdP access token and calls the API and MCP with it;
//! * forged (tampered, alg none, algorithm confusion) and expired tokens get
//!   401 in the API error format;
//! * tenancy: the member gets 404 for the other account's API key and 403
//!   for an owner's action;
//! * key rotation: the provider switches to a new signing key and tokens with
//!   the new `kid` verify without restarting Lettuce; the old key's tokens
//!   are then refused.
//!
//! Needs `LETTUCE_TEST_OIDC_DIR` (node_modules with oidc-provider + the
//! server script, from `scripts/test-peers`): the test runs a provider of its
//! own so it can start it late and rotate its keys.

mod support;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{Server, free_port};

const RESOURCE: &str = "https://lettuce.test/api";
const FORM: &str = "application/x-www-form-urlencoded";

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn oidc_dir() -> Option<String> {
    match std::env::var("LETTUCE_TEST_OIDC_DIR") {
        Ok(d) if !d.is_empty() && std::path::Path::new(&d).join("node_modules/oidc-provider").exists() => Some(d),
        _ => {
            let why = "LETTUCE_TEST_OIDC_DIR (oidc-provider install dir) is not set (source scripts/test-peers)";
            assert!(
                std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "LETTUCE_REQUIRE_PEERS=1 but {why}"
            );
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// The provider, killed on drop.
struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    async fn start(dir: &str, port: u16, redirect_uri: &str) -> Provider {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oidc-provider/server.mjs");
        std::fs::copy(&script, std::path::Path::new(dir).join("server.mjs")).expect("copy server.mjs");
        let child = Command::new("node")
            .arg("server.mjs")
            .current_dir(dir)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_REDIRECT_URIS", redirect_uri)
            .env("OIDC_RESOURCE", RESOURCE)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node");
        // Owned at once, so that a failed start still kills and reaps it.
        let provider = Provider {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(format!("{}/.well-known/openid-configuration", provider.issuer))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return provider;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("oidc-provider did not start on {}", provider.issuer);
    }

    async fn client_credentials(&self, client: &str, secret: &str) -> String {
        let r: Value = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some(secret))
            .header(reqwest::header::CONTENT_TYPE, FORM)
            .body(form(&[
                ("grant_type", "client_credentials"),
                ("scope", "api"),
                ("resource", RESOURCE),
            ]))
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token json");
        r["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {r}"))
            .to_owned()
    }

    async fn rotate(&self) {
        let r = reqwest::Client::new()
            .post(format!("{}/__rotate", self.issuer))
            .send()
            .await
            .expect("rotate");
        assert_eq!(r.status().as_u16(), 204);
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser-ish HTTP client: no automatic redirects, a cookie jar.
struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, String>,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jar: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all(reqwest::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or_default();
            if let Some((k, val)) = pair.split_once('=') {
                let expired = v.to_ascii_lowercase().contains("max-age=0") || val.is_empty();
                if expired {
                    self.jar.remove(k.trim());
                } else {
                    self.jar.insert(k.trim().to_owned(), val.trim().to_owned());
                }
            }
        }
    }

    /// GET; returns (status, Location, body).
    async fn get(&mut self, url: &str) -> (u16, Option<String>, String) {
        let r = self
            .http
            .get(url)
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        self.finish(r).await
    }

    /// POST a form; returns (status, Location, body).
    async fn post_form(&mut self, url: &str, fields: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let form_body = form;
        let r = self
            .http
            .post(url)
            .header(reqwest::header::COOKIE, self.cookie_header())
            .header(reqwest::header::CONTENT_TYPE, FORM)
            .body(form_body(fields))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        self.finish(r).await
    }

    async fn finish(&mut self, r: reqwest::Response) -> (u16, Option<String>, String) {
        self.keep(&r);
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, location, r.text().await.unwrap_or_default())
    }

    /// Follows redirects from `url` through the provider's dev interactions
    /// (login as `login`, then consent) until a redirect leaves the
    /// provider; returns that final Location.
    async fn sign_in_at_provider(&mut self, issuer: &str, url: &str, login: &str) -> String {
        let mut next = url.to_owned();
        for _ in 0..12 {
            if !next.starts_with(issuer) {
                return next;
            }
            let (status, location, body) = self.get(&next).await;
            let location = match location {
                Some(l) => l,
                None if status == 200 && body.contains("name=\"prompt\" value=\"login\"") => {
                    let (_, l, b) = self
                        .post_form(&next, &[("prompt", "login"), ("login", login), ("password", "any")])
                        .await;
                    l.unwrap_or_else(|| panic!("login form: no redirect: {b}"))
                }
                None if status == 200 && body.contains("name=\"prompt\" value=\"consent\"") => {
                    let (_, l, b) = self.post_form(&next, &[("prompt", "consent")]).await;
                    l.unwrap_or_else(|| panic!("consent form: no redirect: {b}"))
                }
                None => panic!("unexpected provider page {status} at {next}: {body}"),
            };
            next = if location.starts_with('/') {
                format!("{issuer}{location}")
            } else {
                location
            };
        }
        panic!("too many redirects at the provider");
    }
}

/// Authorization code + PKCE for `lettuce-web` straight against the
/// provider (no Lettuce involved); returns the JWT access token for
/// [`RESOURCE`].
async fn user_access_token(p: &Provider, redirect_uri: &str, login: &str) -> String {
    let verifier = "e2e-pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz";
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let mut auth = url::Url::parse(&format!("{}/auth", p.issuer)).expect("url");
    auth.query_pairs_mut()
        .append_pair("client_id", "lettuce-web")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", "e2e-state")
        .append_pair("nonce", "e2e-nonce")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", RESOURCE);
    let mut b = Browser::new();
    let back = b.sign_in_at_provider(&p.issuer, auth.as_str(), login).await;
    let back = url::Url::parse(&back).expect("callback url");
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {back}"));
    let r: Value = reqwest::Client::new()
        .post(format!("{}/token", p.issuer))
        .basic_auth("lettuce-web", Some("web-secret"))
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .body(form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ]))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    r["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {r}"))
        .to_owned()
}

fn b64(v: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn payload(token: &str) -> Value {
    use base64::Engine as _;
    let p = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).expect("b64")).expect("json")
}

#[tokio::test]
async fn oidc_provider_end_to_end() {
    let Some(dir) = oidc_dir() else { return };
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let data = tempfile::tempdir().expect("tempdir");
    let env = [
        ("LETTUCE_AUTH_PROVIDER", "oidc"),
        ("LETTUCE_OIDC_ISSUER", issuer.as_str()),
        ("LETTUCE_OIDC_AUDIENCE", RESOURCE),
        ("LETTUCE_JWKS_REFETCH_SECS", "1"),
        ("LETTUCE_JWT_LEEWAY_SECS", "0"),
        ("LETTUCE_OIDC_CLIENT_ID", "lettuce-web"),
        ("LETTUCE_OIDC_CLIENT_SECRET", "web-secret"),
    ];
    let server = Server::start(data.path(), &env).await;
    let api = server.api();
    let admin = server.admin_token();

    // 1. Provider down: fail closed with 503 in the API error format.
    let fake_rs256 = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "RS256", "kid": "k1", "typ": "JWT"})),
        b64(&json!({"iss": issuer, "aud": RESOURCE, "sub": "x", "exp": 4_102_444_800u64})),
        "c2lnbmF0dXJl"
    );
    let r = api.get("/v1/account", Some(&fake_rs256)).await;
    r.expect_error(503, "service_unavailable");

    // 2. Discovery + client credentials.
    let redirect = "http://127.0.0.1:9/cb";
    let callback = format!("{}/v1/auth/oidc/callback", server.base);
    let provider = Provider::start(&dir, port, &format!("{redirect},{callback}")).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the failure back-off
    let cc = provider.client_credentials("lettuce-cc", "cc-secret").await;
    let r = api.get("/v1/account", Some(&cc)).await;
    let msg = r.expect_error(401, "unauthenticated");
    assert!(
        msg.contains("redeem an invite"),
        "a verified but unlinked identity: {msg}"
    );
    // Redeem an admin invite with the IdP token: account B, owned by the client.
    let code_b = api.admin_invite(&admin).await;
    let b = api
        .post(
            "/v1/auth/signup",
            Some(&cc),
            &json!({"invite_code": code_b, "email": "robot@example.com"}),
        )
        .await
        .expect(201);
    assert_eq!(b["user"]["role"], "owner", "{b}");
    let acct_b = api.get("/v1/account", Some(&cc)).await.expect(200);
    let key_b = api
        .post("/v1/api-keys", Some(&cc), &json!({"name": "b-key"}))
        .await
        .expect(201);
    let key_b_id = key_b["id"].as_str().expect("key id").to_owned();

    // 3. A person signs in at the provider (auth code + PKCE) and joins
    //    account A (owned by a local user) with the IdP access token.
    let owner_a = api.first_user(&admin).await;
    let team = api.post_empty("/v1/invites", Some(&owner_a)).await.expect(201);
    let alice = user_access_token(&provider, redirect, "alice").await;
    assert_eq!(payload(&alice)["sub"], "alice");
    api.post(
        "/v1/auth/signup",
        Some(&alice),
        &json!({"invite_code": team["code"], "email": "alice@example.com"}),
    )
    .await
    .expect(201);
    let me = api.get("/v1/account", Some(&alice)).await.expect(200);
    assert_ne!(me["id"], acct_b["id"], "alice is in account A");
    let acct_a = api.get("/v1/account", Some(&owner_a)).await.expect(200);
    assert_eq!(me["id"], acct_a["id"]);
    api.get("/v1/repos", Some(&alice)).await.expect(200);
    // Tenancy: B's key is not found for A's member; owner actions are 403.
    api.delete(&format!("/v1/api-keys/{key_b_id}"), Some(&alice))
        .await
        .expect_error(404, "not_found");
    let r = api.post_empty("/v1/invites", Some(&alice)).await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.text);

    // The same IdP token opens an MCP session (a forged one is refused
    // before MCP, below).
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let mcp = |token: String| {
        let url = format!("{}/mcp", api.base);
        let init = init.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .header("Accept", "application/json, text/event-stream")
                .header("Authorization", format!("Bearer {token}"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(init.to_string())
                .send()
                .await
                .expect("post /mcp")
                .status()
                .as_u16()
        }
    };
    assert_eq!(mcp(alice.clone()).await, 200, "MCP initialize with the IdP token");

    // 4. Forged and expired tokens: 401 in the API error format.
    let mut claims = payload(&alice);
    claims["sub"] = json!("admin");
    let parts: Vec<&str> = alice.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), parts[1]);
    for (what, t) in [("tampered", tampered.as_str()), ("alg none", alg_none.as_str())] {
        let r = api.get("/v1/repos", Some(t)).await;
        assert_eq!(r.status.as_u16(), 401, "{what}: {}", r.text);
        support::assert_error_format(&r);
    }
    assert_eq!(mcp(tampered.clone()).await, 401, "MCP with a tampered IdP token");
    let mut expired = payload(&cc);
    expired["exp"] = json!(1_000_000_000u64);
    let expired = format!("{}.{}.{}", parts[0], b64(&expired), parts[2]);
    api.get("/v1/repos", Some(&expired))
        .await
        .expect_error(401, "unauthenticated");

    // 5. Key rotation: a new kid verifies without restarting Lettuce.
    let old_kid = {
        use base64::Engine as _;
        let h = cc.split('.').next().expect("header");
        let h: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h).expect("b64"))
                .expect("json");
        h["kid"].as_str().expect("kid").to_owned()
    };
    provider.rotate().await;
    let cc2 = provider.client_credentials("lettuce-cc", "cc-secret").await;
    assert!(!cc2.contains(&old_kid));
    tokio::time::sleep(Duration::from_millis(1100)).await; // the refetch interval
    let again = api.get("/v1/account", Some(&cc2)).await.expect(200);
    assert_eq!(
        again["id"], acct_b["id"],
        "the rotated key's token is the same identity"
    );
    // The provider no longer publishes the old key: its tokens are refused.
    api.get("/v1/account", Some(&cc))
        .await
        .expect_error(401, "unauthenticated");

    // 6. Browser sign-in (authorization code + PKCE through Lettuce): a new
    //    IdP user follows an invite link into account A.
    let invite = api.post_empty("/v1/invites", Some(&owner_a)).await.expect(201);
    let mut browser = Browser::new();
    let start = format!(
        "{}/v1/auth/oidc/login?invite={}",
        server.base,
        invite["code"].as_str().expect("code")
    );
    let (status, to_idp, body) = browser.get(&start).await;
    assert_eq!(status, 303, "{body}");
    let to_idp = to_idp.expect("redirect to the provider");
    for part in [
        "code_challenge=",
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "client_id=lettuce-web",
    ] {
        assert!(to_idp.starts_with(&issuer) && to_idp.contains(part), "{part}: {to_idp}");
    }
    let back = browser.sign_in_at_provider(&issuer, &to_idp, "carol").await;
    assert!(back.starts_with(&callback), "{back}");
    // A response for another sign-in (wrong state) is refused.
    let forged = back.replace("state=", "state=forged");
    let (status, _, body) = browser.get(&forged).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_state"), "{body}");
    let (status, home, body) = browser.get(&back).await;
    assert_eq!(status, 303, "callback: {body}");
    assert_eq!(home.as_deref(), Some(format!("{}/", server.base).as_str()));
    let cookie = browser.jar.get("lettuce_session").cloned().expect("session cookie set");
    assert!(
        !browser.jar.contains_key("lettuce_oidc"),
        "the pending sign-in cookie is cleared"
    );
    // Replaying the callback does not sign in again.
    let (status, _, body) = browser.get(&back).await;
    assert_eq!(status, 400, "{body}");
    // The cookie authenticates API calls as carol, a member of account A.
    let me: Value = reqwest::Client::new()
        .get(format!("{}/v1/account", server.base))
        .header(reqwest::header::COOKIE, format!("lettuce_session={cookie}"))
        .send()
        .await
        .expect("account")
        .json()
        .await
        .expect("json");
    assert_eq!(me["id"], acct_a["id"], "{me}");
    // The next sign-in needs no invite: the identity is linked.
    let mut again = Browser::new();
    let (_, to_idp, _) = again.get(&format!("{}/v1/auth/oidc/login", server.base)).await;
    let back = again
        .sign_in_at_provider(&issuer, &to_idp.expect("redirect"), "carol")
        .await;
    let (status, _, body) = again.get(&back).await;
    assert_eq!(status, 303, "{body}");
    assert!(again.jar.contains_key("lettuce_session"));
    // Someone the provider knows but Lettuce does not, without an invite: 401.
    let mut stranger = Browser::new();
    let (_, to_idp, _) = stranger.get(&format!("{}/v1/auth/oidc/login", server.base)).await;
    let back = stranger
        .sign_in_at_provider(&issuer, &to_idp.expect("redirect"), "mallory")
        .await;
    let (status, _, body) = stranger.get(&back).await;
    assert_eq!(status, 401, "{body}");
    assert!(!stranger.jar.contains_key("lettuce_session"));
    // Logout clears the cookie and continues at the provider's end-session endpoint.
    let (status, to, _) = browser.get(&format!("{}/v1/auth/logout", server.base)).await;
    assert_eq!(status, 303);
    let to = to.expect("logout redirect");
    assert!(to.starts_with(&format!("{issuer}/session/end")), "{to}");
    assert!(
        !browser.jar.contains_key("lettuce_session"),
        "logout clears the session cookie"
    );

    // No token in the logs.
    let logs = server.logs();
    for t in [&cc, &cc2, &alice] {
        let sig = t.rsplit('.').next().unwrap_or_default();
        assert!(!logs.contains(sig), "a token signature appears in the server log");
    }
}
