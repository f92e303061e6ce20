//! Test support for the IdP adapters (feature `testing`): fixed test keys
//! (never use them anywhere else), token builders for every attack the
//! adapters must refuse, and a loopback JWKS/discovery server that can be
//! taken down and counts its hits.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// A test signing key with its public JWK.
#[derive(Debug, Clone, Copy)]
pub struct TestKey {
    /// `kid` of the JWK.
    pub kid: &'static str,
    /// The algorithm it signs with.
    pub alg: Algorithm,
    /// PKCS#8 private key PEM.
    pub private_pem: &'static str,
    /// SPKI public key PEM (what an algorithm-confusion attacker signs with).
    pub public_pem: &'static str,
    /// The public JWK (JSON object).
    pub jwk: &'static str,
}

/// RSA key `rsa-a` (RS256).
pub const RSA_A: TestKey = TestKey {
    kid: "rsa-a",
    alg: Algorithm::RS256,
    private_pem: include_str!("rsa-a.pem"),
    public_pem: include_str!("rsa-a.pub.pem"),
    jwk: include_str!("rsa-a.jwk.json"),
};

/// RSA key `rsa-b` (RS256): the "rotated" key, or the wrong key.
pub const RSA_B: TestKey = TestKey {
    kid: "rsa-b",
    alg: Algorithm::RS256,
    private_pem: include_str!("rsa-b.pem"),
    public_pem: include_str!("rsa-b.pub.pem"),
    jwk: include_str!("rsa-b.jwk.json"),
};

/// EC P-256 key `ec-a` (ES256), as Supabase's asymmetric keys.
pub const EC_A: TestKey = TestKey {
    kid: "ec-a",
    alg: Algorithm::ES256,
    private_pem: include_str!("ec-a.pem"),
    public_pem: include_str!("ec-a.pub.pem"),
    jwk: include_str!("ec-a.jwk.json"),
};

/// A JWKS document of `keys`.
pub fn jwks(keys: &[TestKey]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| serde_json::from_str(k.jwk).expect("test JWK is JSON"))
        .collect();
    json!({ "keys": keys }).to_string()
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Claims valid for an hour: `iss`, `aud`, `sub`, `email`, `iat`, `exp`.
pub fn claims(iss: &str, aud: &str, sub: &str) -> Value {
    let now = now();
    json!({
        "iss": iss,
        "aud": aud,
        "sub": sub,
        "email": format!("{sub}@example.com"),
        "iat": now,
        "exp": now + 3600,
    })
}

/// `claims` with `changes` merged in (a `null` removes the claim).
pub fn with(claims: &Value, changes: &Value) -> Value {
    let mut out = claims.clone();
    if let (Some(o), Some(c)) = (out.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            if v.is_null() {
                o.remove(k);
            } else {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// Signs `claims` with `key` under its own `kid`.
pub fn sign(key: &TestKey, claims: &Value) -> String {
    sign_kid(key, Some(key.kid), claims)
}

/// Signs `claims` with `key` under `kid` (or none).
pub fn sign_kid(key: &TestKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = kid.map(str::to_owned);
    let enc = match key.alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(key.private_pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(key.private_pem.as_bytes()),
    }
    .expect("test key PEM parses");
    jsonwebtoken::encode(&header, claims, &enc).expect("signing a test token")
}

/// An HS256 token with `secret` (as GoTrue signs with the project's JWT secret).
pub fn sign_hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).expect("signing a test token")
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// `alg: none` with an empty signature.
pub fn alg_none(claims: &Value) -> String {
    format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(claims))
}

/// Algorithm confusion: HS256 "signed" with the public key's PEM (and its
/// `kid`), which a verifier that lets the token pick the algorithm accepts.
pub fn alg_confusion(key: &TestKey, claims: &Value) -> String {
    sign_hs256(key.public_pem.as_bytes(), Some(key.kid), claims)
}

/// `token` with its payload replaced by `claims`, keeping the signature.
pub fn tamper(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let (h, _, s) = (parts.next().unwrap_or(""), parts.next(), parts.next().unwrap_or(""));
    format!("{h}.{}.{s}", b64(claims))
}

/// What an adapter must answer for an attack token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// `AuthError::InvalidToken` (401).
    Invalid,
    /// `AuthError::Expired` (401).
    Expired,
}

/// One row of the attack table.
#[derive(Debug, Clone)]
pub struct Attack {
    /// What it tries.
    pub name: &'static str,
    /// The token.
    pub token: String,
    /// The expected refusal.
    pub expect: Expect,
}

/// The attack table against a verifier trusting `key` for issuer `iss` and
/// audience `aud`: alg none, algorithm confusion, expired, not yet valid,
/// issued in the future, wrong `iss`, wrong `aud`, missing `exp`, tampered
/// payload, wrong key under the trusted `kid`, and an unknown `kid`
/// (signed with [`RSA_B`] under kid `unknown-kid`).
pub fn attack_table(key: &TestKey, iss: &str, aud: &str) -> Vec<Attack> {
    let good = claims(iss, aud, "victim");
    let now = now();
    let other = if key.kid == RSA_B.kid { RSA_A } else { RSA_B };
    let wrong_key = {
        // The other key, claiming to be the trusted one.
        let mut k = other;
        k.kid = key.kid;
        k.alg = other.alg;
        sign(&k, &good)
    };
    let valid = sign(key, &good);
    let row = |name, token, expect| Attack { name, token, expect };
    vec![
        row("alg none", alg_none(&good), Expect::Invalid),
        row(
            "alg confusion (HS256 with the public key)",
            alg_confusion(key, &good),
            Expect::Invalid,
        ),
        row(
            "expired",
            sign(key, &with(&good, &json!({"iat": now - 7200, "exp": now - 3600}))),
            Expect::Expired,
        ),
        row(
            "nbf in the future",
            sign(key, &with(&good, &json!({"nbf": now + 3600}))),
            Expect::Invalid,
        ),
        row(
            "iat in the future",
            sign(key, &with(&good, &json!({"iat": now + 3600}))),
            Expect::Invalid,
        ),
        row(
            "wrong iss",
            sign(key, &with(&good, &json!({"iss": "https://evil.example.com/"}))),
            Expect::Invalid,
        ),
        row(
            "wrong aud",
            sign(key, &with(&good, &json!({"aud": "another-service"}))),
            Expect::Invalid,
        ),
        row(
            "no exp",
            sign(key, &with(&good, &json!({"exp": null}))),
            Expect::Invalid,
        ),
        row(
            "tampered payload",
            tamper(&valid, &with(&good, &json!({"sub": "admin"}))),
            Expect::Invalid,
        ),
        row("wrong key under the trusted kid", wrong_key, Expect::Invalid),
        row(
            "unknown kid",
            sign_kid(&other, Some("unknown-kid"), &good),
            Expect::Invalid,
        ),
        row("garbage", "not.a.jwt".into(), Expect::Invalid),
        row("empty", String::new(), Expect::Invalid),
    ]
}

#[derive(Debug, Default)]
struct ServerState {
    docs: HashMap<String, String>,
    up: bool,
    hits: HashMap<String, u64>,
}

/// A loopback HTTP server serving JSON documents by path (a JWKS, a
/// discovery document), which can be taken down (answers 503) and counts
/// hits per path.
#[derive(Debug, Clone)]
pub struct DocServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    state: Arc<Mutex<ServerState>>,
}

impl DocServer {
    /// Starts a server on an ephemeral loopback port.
    pub async fn start() -> Self {
        use axum::extract::{Request, State};
        use axum::http::StatusCode;
        use axum::response::IntoResponse;
        let state = Arc::new(Mutex::new(ServerState {
            up: true,
            ..ServerState::default()
        }));
        async fn serve(State(state): State<Arc<Mutex<ServerState>>>, req: Request) -> axum::response::Response {
            let path = req.uri().path().to_owned();
            let mut s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *s.hits.entry(path.clone()).or_default() += 1;
            if !s.up {
                return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
            }
            match s.docs.get(&path) {
                Some(body) => ([("content-type", "application/json")], body.clone()).into_response(),
                None => (StatusCode::NOT_FOUND, "not found").into_response(),
            }
        }
        let app = axum::Router::new().fallback(serve).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://{addr}"),
            state,
        }
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut ServerState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Serves `body` at `path`.
    pub fn set(&self, path: &str, body: impl Into<String>) {
        let body = body.into();
        self.with_state(|s| s.docs.insert(path.to_owned(), body));
    }

    /// Answers every request with 503 (`false`) or normally (`true`).
    pub fn set_up(&self, up: bool) {
        self.with_state(|s| s.up = up);
    }

    /// Requests seen for `path`.
    pub fn hits(&self, path: &str) -> u64 {
        self.with_state(|s| s.hits.get(path).copied().unwrap_or(0))
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
