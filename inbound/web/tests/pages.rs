//! Router tests of the web app: the pages over an engine on the in-memory
//! fakes, driven like a browser (a cookie jar, CSRF tokens read from the
//! forms), without sockets.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use lettuce_domain::Secret;
use lettuce_domain::license::LicenseState;
use lettuce_engine::{Engine, EngineSettings, Worker};
use lettuce_ports::git::{GitError, InstallCallback, ProviderKind, RemoteRepo};
use lettuce_ports::license::LicenseStatus;
use lettuce_ports::testing::auth::FakeAuth;
use lettuce_ports::testing::blob::MemoryBlobStore;
use lettuce_ports::testing::clock::ManualClock;
use lettuce_ports::testing::git::MemoryGitMirror;
use lettuce_ports::testing::index::MemoryIndexer;
use lettuce_ports::testing::license::{FakeLicenseOracle, VALID_TEST_KEY, sample_claims};
use lettuce_ports::testing::provider::MemoryGitProvider;
use lettuce_ports::testing::queue::MemoryQueue;
use lettuce_ports::testing::secrets::MemorySecretStore;
use lettuce_ports::testing::store::MemoryStore;
use lettuce_web::{WebConfig, WebOptions, WebState};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const ADMIN: &str = "admin-token-for-web-tests-0123456789";
const PASSWORD: &str = "correct horse battery staple";
const REPO_URL: &str = "https://github.com/acme/widgets.git";

struct App {
    router: Router,
    engine: Engine,
    mirror: Arc<MemoryGitMirror>,
    license: Arc<FakeLicenseOracle>,
    store: Arc<MemoryStore>,
    github: Arc<MemoryGitProvider>,
    /// A second host connected by pasted tokens (Bitbucket Data Center), when asked for.
    token_host: Option<Arc<MemoryGitProvider>>,
}

impl App {
    fn new() -> Self {
        Self::with_license(LicenseStatus::ungated())
    }

    /// With a Bitbucket Data Center fake that accepts pasted tokens.
    fn with_token_host() -> Self {
        let host = Arc::new(MemoryGitProvider::new(ProviderKind::BitbucketDc, "bitbucket.example"));
        host.set_accepts_token(true);
        Self::build(LicenseStatus::ungated(), Some(host))
    }

    fn with_license(status: LicenseStatus) -> Self {
        Self::build(status, None)
    }

    fn build(status: LicenseStatus, token_host: Option<Arc<MemoryGitProvider>>) -> Self {
        let auth = Arc::new(FakeAuth::new());
        let mirror = Arc::new(MemoryGitMirror::new(false));
        let license = Arc::new(FakeLicenseOracle::with_status(status));
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let store = Arc::new(MemoryStore::new());
        let github = Arc::new(MemoryGitProvider::new(ProviderKind::GitHub, "github.example"));
        let mut builder = Engine::builder();
        if let Some(h) = &token_host {
            builder = builder.provider(h.clone());
        }
        let engine = builder
            .telemetry(Arc::new(
                lettuce_ports::testing::telemetry::FakeTelemetrySink::accepting(),
            ))
            .store(store.clone())
            .queue(Arc::new(MemoryQueue::with_clock(clock.clone())))
            .blobs(Arc::new(MemoryBlobStore::new()))
            .secrets(Arc::new(MemorySecretStore::new()))
            .session_verifier(auth.clone())
            .sessions(auth.clone())
            .passwords(auth)
            .mirror(mirror.clone())
            .provider(github.clone())
            .indexer(Arc::new(MemoryIndexer::new()))
            .license(license.clone())
            .clock(clock)
            .settings({
                let mut s = EngineSettings::new(Secret::new(ADMIN), [5u8; 32]);
                s.web_url = Some("http://lettuce.test".into());
                s
            })
            .build()
            .expect("engine builds over the fakes");
        let options = WebOptions {
            config: WebConfig::default(),
            web_url: "http://lettuce.test".into(),
            mcp_url: "http://lettuce.test/mcp".into(),
            admin_token_location: "/var/lib/lettuce/admin_token".into(),
        };
        Self {
            router: lettuce_web::router(WebState::new(engine.clone(), options)),
            engine,
            mirror,
            license,
            store,
            github,
            token_host,
        }
    }

    fn browser(&self) -> Browser<'_> {
        Browser {
            app: self,
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    async fn work(&self) {
        Worker::new(self.engine.clone())
            .run_until_idle()
            .await
            .expect("worker runs");
    }

    /// A browser signed in as the owner of a new account.
    async fn owner(&self, email: &str) -> Browser<'_> {
        let admin = self.engine.authenticate(&Secret::new(ADMIN)).await.unwrap();
        let inv = self
            .engine
            .create_admin_invite(&admin, Default::default())
            .await
            .unwrap();
        let b = self.browser();
        b.signup(inv.code.expose(), email).await;
        b
    }
}

#[derive(Debug)]
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn expect(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "unexpected status; page:\n{}", self.html);
        self
    }

    fn redirects_to(&self, to: &str) {
        assert!(
            self.status.is_redirection(),
            "{} is not a redirect:\n{}",
            self.status,
            self.html
        );
        assert_eq!(self.location(), to);
    }

    /// The value of the first `csrf_token` field.
    fn csrf(&self) -> String {
        self.attr_after("name=\"csrf_token\" value=\"")
    }

    fn attr_after(&self, marker: &str) -> String {
        let start = self
            .html
            .find(marker)
            .unwrap_or_else(|| panic!("{marker} not in page:\n{}", self.html))
            + marker.len();
        self.html[start..].split('"').next().unwrap_or("").to_owned()
    }
}

struct Browser<'a> {
    app: &'a App,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Browser<'_> {
    async fn send(&self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Page {
        let mut b = Request::builder().method(method).uri(path);
        let jar = self.cookies.lock().unwrap().clone();
        if !jar.is_empty() {
            let cookie = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            b = b.header(header::COOKIE, cookie);
        }
        let body = match form {
            Some(fields) => {
                b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                fields
                    .iter()
                    .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                    .collect::<Vec<_>>()
                    .join("&")
            }
            None => String::new(),
        };
        let resp = self
            .app
            .router
            .clone()
            .oneshot(b.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        for set in parts.headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            if attrs.contains("Max-Age=0") || value.is_empty() {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let page = Page {
            status: parts.status,
            headers: parts.headers,
            // minijinja escapes `/` as `&#x2f;` (a browser reads it back as `/`).
            html: String::from_utf8_lossy(&bytes).replace("&#x2f;", "/"),
        };
        // Every response carries the security headers.
        let csp = page
            .headers
            .get(header::CONTENT_SECURITY_POLICY)
            .expect("CSP on every response");
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(page.headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
        // No inline script anywhere.
        assert!(!page.html.contains("<script>"), "inline script in {path}");
        page
    }

    async fn get(&self, path: &str) -> Page {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, Some(form)).await
    }

    /// Posts `form` plus the CSRF token of the page at `from`.
    async fn submit(&self, from: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.get(from).await.csrf();
        let mut fields = form.to_vec();
        fields.push(("csrf_token", &csrf));
        self.post(path, &fields).await
    }

    async fn signup(&self, code: &str, email: &str) {
        let path = format!("/invite/{code}");
        self.submit(
            &path,
            "/signup",
            &[
                ("invite_code", code),
                ("email", email),
                ("password", PASSWORD),
                ("from_link", "1"),
            ],
        )
        .await
        .redirects_to("/repos");
    }

    fn has_session(&self) -> bool {
        self.cookies.lock().unwrap().contains_key("lettuce_session")
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[tokio::test]
async fn first_run_then_invite_then_sign_up() {
    let app = App::new();
    let b = app.browser();
    b.get("/").await.redirects_to("/setup");
    b.get("/signin").await.redirects_to("/setup");
    let setup = b.get("/setup").await;
    setup.expect(StatusCode::OK);
    assert!(
        setup.html.contains("/var/lib/lettuce/admin_token"),
        "says where the token is"
    );
    assert!(!setup.html.contains(ADMIN));

    // A wrong token, a missing pre-session: refused.
    let csrf = setup.csrf();
    let wrong = b
        .post(
            "/operator",
            &[
                ("token", "not-the-token-at-all"),
                ("csrf_token", &csrf),
                ("next", "setup"),
            ],
        )
        .await;
    wrong.expect(StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("not the admin token"));
    let stranger = app.browser();
    stranger
        .post(
            "/operator",
            &[("token", ADMIN), ("csrf_token", &csrf), ("next", "setup")],
        )
        .await
        .expect(StatusCode::FORBIDDEN);
    assert!(!stranger.has_session());

    // The right token: an operator session (never the token) in the cookie.
    b.post(
        "/operator",
        &[("token", ADMIN), ("csrf_token", &csrf), ("next", "setup")],
    )
    .await
    .redirects_to("/setup");
    let cookie = b.cookies.lock().unwrap().get("lettuce_session").cloned().unwrap();
    assert!(cookie.starts_with("las_") && !cookie.contains(ADMIN));
    let page = b
        .submit(
            "/setup",
            "/setup/invite",
            &[("account_name", "<script>x</script> Acme"), ("email", "")],
        )
        .await;
    page.expect(StatusCode::OK);
    let link = page.attr_after("id=\"invite-link\" readonly value=\"");
    let code = link
        .strip_prefix("http://lettuce.test/invite/")
        .expect("absolute invite link");

    // Someone else opens the link and signs up; they own the new account.
    let ada = app.browser();
    ada.signup(code, "ada@example.com").await;
    let repos = ada.get("/repos").await;
    repos.expect(StatusCode::OK);
    assert!(repos.html.contains("No repositories yet"));
    assert!(
        repos.html.contains("&lt;script&gt;x&lt;/script&gt; Acme"),
        "account name escaped"
    );
    assert!(repos.html.contains("owner"));

    // First run is over.
    app.browser().get("/setup").await.redirects_to("/signin");
    app.browser().get("/").await.redirects_to("/signin");

    // Sign out, then sign in with the password.
    ada.submit("/repos", "/signout", &[])
        .await
        .redirects_to("/signin?signed_out=1");
    assert!(!ada.has_session());
    ada.get("/repos").await.redirects_to("/signin");
    let bad = ada
        .submit(
            "/signin",
            "/signin",
            &[("email", "ada@example.com"), ("password", "wrong password!")],
        )
        .await;
    bad.expect(StatusCode::UNAUTHORIZED);
    assert!(bad.html.contains("invalid email or password"));
    ada.submit(
        "/signin",
        "/signin",
        &[("email", "ada@example.com"), ("password", PASSWORD)],
    )
    .await
    .redirects_to("/repos");
    ada.get("/repos").await.expect(StatusCode::OK);
}

#[tokio::test]
async fn sign_in_forms_need_their_pre_session() {
    let app = App::new();
    let _owner = app.owner("ada@example.com").await;
    let b = app.browser();
    // No pre-session cookie at all (a cross-site form post).
    let r = b
        .post(
            "/signin",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    r.expect(StatusCode::FORBIDDEN);
    assert!(!b.has_session());
    // A pre-session, but the token of another one.
    b.get("/signin").await;
    let r = b
        .post(
            "/signin",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    r.expect(StatusCode::FORBIDDEN);
    assert!(!b.has_session());
}

#[tokio::test]
async fn every_page_answers_and_needs_a_session() {
    let app = App::new();
    let ada = app.owner("ada@example.com").await;
    for path in ["/repos", "/team", "/usage", "/connect", "/admin", "/search"] {
        let p = ada.get(path).await;
        p.expect(StatusCode::OK);
        assert!(p.html.contains("<main id=\"main\">"), "{path} uses the layout");
        assert_eq!(p.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        app.browser().get(path).await.redirects_to("/signin");
    }
    for path in ["/static/app.css", "/static/app.js", "/static/htmx.min.js"] {
        ada.get(path).await.expect(StatusCode::OK);
    }
    // An expired or forged cookie: back to sign-in, cookie cleared.
    let forged = app.browser();
    forged
        .cookies
        .lock()
        .unwrap()
        .insert("lettuce_session".into(), "eyJhbGciOiJub25lIn0.e30.x".into());
    forged.get("/repos").await.redirects_to("/signin?expired=1");
    assert!(!forged.has_session());
    // htmx polls get HX-Redirect instead of a page inside the table.
    let mut req = Request::get("/repos/rows").header("hx-request", "true");
    req = req.header(header::COOKIE, "lettuce_session=eyJhbGciOiJub25lIn0.e30.x");
    let resp = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.headers().get("hx-redirect").unwrap(), "/signin?expired=1");
}

#[tokio::test]
async fn forged_posts_are_refused() {
    let app = App::new();
    app.mirror
        .add_remote(REPO_URL, "main", vec![("src/lib.rs".into(), b"pub fn a() {}".to_vec())]);
    let ada = app.owner("ada@example.com").await;
    let bob = app.owner("bob@example.com").await;
    let bobs_csrf = bob.get("/repos").await.csrf();
    for (what, token) in [
        ("no", ""),
        ("a made-up", "forged"),
        ("another session's", bobs_csrf.as_str()),
    ] {
        let r = ada.post("/repos", &[("url", REPO_URL), ("csrf_token", token)]).await;
        r.expect(StatusCode::FORBIDDEN);
        assert!(r.html.contains("CSRF"), "{what} token");
        let r = ada.post("/connect", &[("name", "k"), ("csrf_token", token)]).await;
        r.expect(StatusCode::FORBIDDEN);
    }
    assert!(ada.get("/repos").await.html.contains("No repositories yet"));
}

#[tokio::test]
async fn repos_add_poll_reindex_delete_and_isolation() {
    let app = App::new();
    app.mirror
        .add_remote(REPO_URL, "main", vec![("src/lib.rs".into(), b"pub fn a() {}".to_vec())]);
    let ada = app.owner("ada@example.com").await;
    ada.submit("/repos", "/repos", &[("url", REPO_URL), ("branch", "")])
        .await
        .redirects_to("/repos?done=added");
    let page = ada.get("/repos?done=added").await;
    assert!(page.html.contains("Repository added"));
    assert!(page.html.contains("data-status=\"pending\""));
    assert!(page.html.contains("hx-trigger=\"every 2s\""), "polls while pending");
    let id = page.attr_after("<tr id=\"repo-");

    app.work().await;
    let rows = ada.get("/repos/rows").await;
    rows.expect(StatusCode::OK);
    assert!(rows.html.contains("data-status=\"ready\""), "{}", rows.html);
    assert!(!rows.html.contains("hx-trigger"), "stops polling once ready");
    assert!(!rows.html.contains("<html"), "a fragment");

    // Adding it again: the error sits next to the field.
    let again = ada.submit("/repos", "/repos", &[("url", REPO_URL)]).await;
    again.expect(StatusCode::CONFLICT);
    assert!(again.html.contains("repo-url-error"));

    // Another account sees none of it.
    let bob = app.owner("bob@example.com").await;
    bob.get(&format!("/repos/{id}/delete"))
        .await
        .expect(StatusCode::NOT_FOUND);
    bob.submit("/repos", &format!("/repos/{id}/reindex"), &[])
        .await
        .expect(StatusCode::NOT_FOUND);
    bob.submit("/repos", &format!("/repos/{id}/delete"), &[])
        .await
        .expect(StatusCode::NOT_FOUND);
    assert!(!bob.get("/repos").await.html.contains("widgets"));

    ada.submit("/repos", &format!("/repos/{id}/reindex"), &[])
        .await
        .redirects_to("/repos?done=reindex");
    let confirm = ada.get(&format!("/repos/{id}/delete")).await;
    confirm.expect(StatusCode::OK);
    assert!(confirm.html.contains("Delete acme/widgets?"));
    ada.submit("/repos", &format!("/repos/{id}/delete"), &[])
        .await
        .redirects_to("/repos?done=deleted");
    assert!(!ada.get("/repos").await.html.contains("<tr id=\"repo-"));
}

#[tokio::test]
async fn run_eval_shows_progress_then_the_figures() {
    use lettuce_domain::eval::{EvalReport, EvalStatus, MethodScore};
    use lettuce_ports::store::MetadataStore;
    let app = App::new();
    app.mirror
        .add_remote(REPO_URL, "main", vec![("src/lib.rs".into(), b"pub fn a() {}".to_vec())]);
    let ada = app.owner("ada@example.com").await;
    ada.submit("/repos", "/repos", &[("url", REPO_URL)])
        .await
        .redirects_to("/repos?done=added");
    let page = ada.get("/repos").await;
    let id = page.attr_after("<tr id=\"repo-");
    assert!(
        !page.html.contains(&format!("action=\"/repos/{id}/eval\"")),
        "no eval before the repo is indexed"
    );
    app.work().await;
    let page = ada.get("/repos").await;
    assert!(
        page.html.contains(&format!("action=\"/repos/{id}/eval\"")),
        "{}",
        page.html
    );
    assert!(page.html.contains(">Run eval<"));

    // Another account can neither start nor see it; a forged form is refused.
    let bob = app.owner("bob@example.com").await;
    bob.submit("/repos", &format!("/repos/{id}/eval"), &[])
        .await
        .expect(StatusCode::NOT_FOUND);
    ada.post(&format!("/repos/{id}/eval"), &[("csrf_token", "forged")])
        .await
        .expect(StatusCode::FORBIDDEN);

    ada.submit("/repos", &format!("/repos/{id}/eval"), &[])
        .await
        .redirects_to("/repos?done=eval");
    let page = ada.get("/repos?done=eval").await;
    assert!(page.html.contains("Eval queued"), "{}", page.html);
    assert!(page.html.contains("data-eval-status=\"queued\""));
    assert!(
        page.html.contains("hx-trigger=\"every 2s\""),
        "polls while the eval runs"
    );
    assert!(
        !page.html.contains(&format!("action=\"/repos/{id}/eval\"")),
        "one run at a time"
    );
    let again = ada.submit("/repos", &format!("/repos/{id}/eval"), &[]).await;
    again.expect(StatusCode::CONFLICT);
    assert!(again.html.contains("already queued"), "{}", again.html);

    // A finished run's figures, as the worker records them.
    let rid = lettuce_domain::RepoId(id.parse().unwrap());
    let mut run = app.store.get_eval_run(rid).await.unwrap().unwrap();
    let score = |a: f64, t: f64| MethodScore {
        questions: 40,
        acc_at_1: a,
        acc_at_3: a + 10.0,
        acc_at_5: a + 20.0,
        mrr: 0.25,
        tokens_per_question: t,
        empty_answers: 0,
    };
    let mut report = EvalReport {
        repo: "acme/widgets".into(),
        head: "h".into(),
        questions: 40,
        ..Default::default()
    };
    report.methods.search_code = score(10.0, 300.0);
    report.methods.locate = score(50.0, 900.0);
    report.methods.grep = score(30.0, 45000.0);
    report.locate_vs_grep = lettuce_domain::eval::LocateVsGrep::of(&report.methods.locate, &report.methods.grep);
    let question = |subject: &str, locate_rank| lettuce_domain::eval::EvalQuestion {
        commit: "0123456789abcdef".into(),
        subject: subject.into(),
        changed: vec!["src/app.py".into()],
        search_code_rank: None,
        locate_rank,
        grep_rank: Some(1),
        locate_files: vec!["src/other.py".into()],
    };
    report.cases = vec![
        question("teardown despite errors", Some(5)),
        question("found first", Some(1)),
    ];
    run.status = EvalStatus::Done;
    run.done = 40;
    run.total = 40;
    run.finished_at = Some(chrono::Utc::now());
    run.report = Some(report);
    app.store.put_eval_run(&run).await.unwrap();
    let rows = ada.get("/repos/rows").await;
    assert!(rows.html.contains("Eval: 40 recent commits"), "{}", rows.html);
    assert!(
        rows.html
            .contains("<th scope=\"row\">locate</th><td>50%</td><td>60%</td><td>70%</td><td>0.25</td><td>900</td>"),
        "{}",
        rows.html
    );
    assert!(
        rows.html
            .contains("1.5× grep&#x27;s first-3 rate with 50× fewer tokens")
            || rows.html.contains("1.5× grep's first-3 rate with 50× fewer tokens"),
        "{}",
        rows.html
    );
    // The questions locate missed, folded under the figures.
    assert!(rows.html.contains("Questions locate missed (1)"), "{}", rows.html);
    assert!(
        rows.html.contains("<code>0123456789ab</code> teardown despite errors"),
        "{}",
        rows.html
    );
    assert!(
        rows.html
            .contains("locate named: src/other.py (a changed file at rank 5)"),
        "{}",
        rows.html
    );
    assert!(!rows.html.contains("found first"), "{}", rows.html);
    assert!(!rows.html.contains("hx-trigger"), "stops polling once done");
    assert!(
        rows.html.contains(&format!("action=\"/repos/{id}/eval\"")),
        "can run again"
    );
    assert!(!bob.get("/repos").await.html.contains("Eval:"));

    // A run the worker cannot complete (this engine has no code search) fails with the reason.
    ada.submit("/repos", &format!("/repos/{id}/eval"), &[])
        .await
        .redirects_to("/repos?done=eval");
    app.work().await;
    let rows = ada.get("/repos/rows").await;
    assert!(rows.html.contains("Eval failed:"), "{}", rows.html);
    assert!(rows.html.contains("code search is not configured"), "{}", rows.html);
}

#[tokio::test]
async fn a_private_address_is_refused_with_the_reason() {
    let app = App::new();
    app.github.set_configured(false);
    let ada = app.owner("ada@example.com").await;
    let r = ada
        .submit("/repos", "/repos", &[("url", "http://10.1.2.3/acme/internal.git")])
        .await;
    r.expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.html.contains("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS"), "{}", r.html);
    assert!(r.html.contains("private networks"));
    // A code host that is not configured: its button is disabled and says why.
    assert!(
        r.html.contains("disabled aria-describedby=\"provider-reason-github\"")
            && r.html.contains("is not configured on this Lettuce instance"),
        "{}",
        r.html
    );
}

#[tokio::test]
async fn members_cannot_reach_admin_and_owners_invite() {
    let app = App::new();
    let ada = app.owner("ada@example.com").await;
    let team = ada.submit("/team", "/team/invites", &[("email", "")]).await;
    team.expect(StatusCode::CREATED);
    let link = team.attr_after("id=\"new-invite\" readonly value=\"");
    let code = link.rsplit('/').next().unwrap().to_owned();
    let bob = app.browser();
    bob.signup(&code, "bob@example.com").await;

    let p = bob.get("/admin").await;
    p.expect(StatusCode::FORBIDDEN);
    assert!(!p.html.contains("Instance id"));
    bob.submit("/repos", "/admin/telemetry", &[("enabled", "false")])
        .await
        .expect(StatusCode::FORBIDDEN);
    assert!(
        !bob.get("/repos").await.html.contains("href=\"/admin\""),
        "no admin link for members"
    );
    let team = bob.get("/team").await;
    team.expect(StatusCode::OK);
    assert!(team.html.contains("ada@example.com") && team.html.contains("bob@example.com"));
    assert!(team.html.contains("Only account owners can invite"));
    bob.submit("/team", "/team/invites", &[])
        .await
        .expect(StatusCode::FORBIDDEN);

    let owner_team = ada.get("/team").await;
    assert!(owner_team.html.contains("Seats used: <strong>2</strong>"));
    assert!(owner_team.html.contains("1×"), "the invite shows its redemption");
    ada.get("/admin").await.expect(StatusCode::OK);

    // Revoke: the link stops working; a member cannot revoke.
    let fresh = ada.submit("/team", "/team/invites", &[]).await;
    let link = fresh.attr_after("id=\"new-invite\" readonly value=\"");
    let code = link.rsplit('/').next().unwrap().to_owned();
    let id = ada.get("/team").await.attr_after("action=\"/team/invites/");
    let id = id.split('/').next().unwrap().to_owned();
    bob.submit("/team", &format!("/team/invites/{id}/revoke"), &[])
        .await
        .expect(StatusCode::FORBIDDEN);
    let bobs = app.owner("bob2@example.com").await;
    bobs.submit("/team", &format!("/team/invites/{id}/revoke"), &[])
        .await
        .expect(StatusCode::NOT_FOUND);
    let revoked = ada.submit("/team", &format!("/team/invites/{id}/revoke"), &[]).await;
    revoked.expect(StatusCode::OK);
    assert!(revoked.html.contains("Invite revoked"));
    let carol = app.browser();
    let refused = carol
        .submit(
            &format!("/invite/{code}"),
            "/signup",
            &[
                ("invite_code", &code),
                ("email", "carol@example.com"),
                ("password", PASSWORD),
                ("from_link", "1"),
            ],
        )
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    assert!(!carol.has_session());
}

#[tokio::test]
async fn connect_creates_a_key_shown_once_in_every_snippet() {
    let app = App::new();
    let ada = app.owner("ada@example.com").await;
    let before = ada.get("/connect").await;
    assert!(before.html.contains("http://lettuce.test/mcp"));
    assert!(before.html.contains("&lt;YOUR_API_KEY&gt;"));
    let created = ada.submit("/connect", "/connect", &[("name", "laptop agent")]).await;
    created.expect(StatusCode::CREATED);
    let key = created.attr_after("id=\"new-key\" readonly value=\"");
    assert!(key.starts_with("lk_"), "{key}");
    for needle in [
        "claude mcp add --transport http",
        "mcpServers",
        "&quot;servers&quot;",
        "lettuce mcp",
    ] {
        assert!(created.html.contains(needle), "{needle}");
    }
    assert!(
        created.html.matches(key.as_str()).count() >= 8,
        "the key is in every snippet"
    );
    // The key works against the engine.
    let caller = app.engine.authenticate(&Secret::new(key.clone())).await.unwrap();
    assert!(matches!(caller, lettuce_engine::Caller::User(_)));
    // Shown once.
    let after = ada.get("/connect").await;
    assert!(!after.html.contains(&key));
    assert!(after.html.contains("laptop agent"));
    let id = after.attr_after("action=\"/connect/keys/");
    let id = id.split('/').next().unwrap();
    ada.submit("/connect", &format!("/connect/keys/{id}/revoke"), &[])
        .await
        .redirects_to("/connect");
    assert!(app.engine.authenticate(&Secret::new(key)).await.is_err());
    // An empty name: the error next to the field.
    let bad = ada.submit("/connect", "/connect", &[("name", " ")]).await;
    bad.expect(StatusCode::BAD_REQUEST);
    assert!(bad.html.contains("key-error"));
}

#[tokio::test]
async fn usage_draws_a_chart() {
    let app = App::new();
    let ada = app.owner("ada@example.com").await;
    let p = ada.get("/usage").await;
    p.expect(StatusCode::OK);
    assert!(p.html.contains("<svg") && p.html.contains("class=\"bar-saved\""));
    assert_eq!(p.html.matches("class=\"bar-returned\"").count(), 30);
    assert!(
        p.html.contains("No tool has been called"),
        "no per-tool rows before any query"
    );

    // Per-tool counters (the engine meters them per answer; the browser test
    // covers that path through a real index): one row per tool, most first.
    let token = ada
        .cookies
        .lock()
        .unwrap()
        .get("lettuce_session")
        .cloned()
        .expect("session cookie");
    let lettuce_engine::Caller::User(u) = app.engine.authenticate(&Secret::new(token)).await.unwrap() else {
        panic!("a session authenticates a user");
    };
    use lettuce_ports::store::{MetadataStore, UsageCounters};
    let c = |queries| UsageCounters {
        queries,
        tokens_returned: 10 * queries,
        tokens_full: 100 * queries,
        tokens_saved: 90 * queries,
    };
    let now = chrono::Utc::now();
    app.store
        .add_tool_usage(u.account_id, now, "search_code", c(1))
        .await
        .unwrap();
    app.store
        .add_tool_usage(u.account_id, now, "find_symbol", c(2))
        .await
        .unwrap();
    let p = ada.get("/usage").await;
    p.expect(StatusCode::OK);
    let table = &p.html[p.html.find("id=\"per-tool\"").expect("per-tool table")..];
    let (find, search) = (table.find("find_symbol").unwrap(), table.find("search_code").unwrap());
    assert!(find < search, "most queries first: {table}");
    assert!(
        table.contains(
            "<code>find_symbol</code></td><td data-label=\"Queries\">2</td><td data-label=\"Returned\">20</td>"
        ),
        "{table}"
    );
}

fn gated(state: LicenseState) -> LicenseStatus {
    LicenseStatus {
        gated: true,
        state,
        claims: Some(sample_claims()),
        reason: Some("the license expired on 2026-11-01".into()),
    }
}

#[tokio::test]
async fn license_banners_key_entry_and_the_telemetry_toggle() {
    let app = App::with_license(gated(LicenseState::Valid));
    let ada = app.owner("ada@example.com").await;
    let admin = ada.get("/admin").await;
    admin.expect(StatusCode::OK);
    assert!(admin.html.contains("lic_test_0001") && admin.html.contains("Instance id"));
    assert!(admin.html.contains("telemetry-preview"), "shows the exact heartbeat");
    // The sample license requires telemetry: the toggle is disabled with the reason.
    assert!(admin.html.contains("id=\"telemetry-toggle\" disabled"));
    assert!(admin.html.contains("telemetry_required=true"));
    let refused = ada.submit("/admin", "/admin/telemetry", &[("enabled", "false")]).await;
    refused.expect(StatusCode::FORBIDDEN);

    for (state, words) in [
        (LicenseState::Grace, "grace period"),
        (LicenseState::ReadOnly, "Read-only"),
    ] {
        app.license.set_status(gated(state));
        for path in ["/repos", "/team", "/admin", "/connect", "/usage"] {
            let p = ada.get(path).await;
            assert!(p.html.contains(words), "{path} shows the {state:?} banner");
        }
    }

    // Key entry: an invalid key, then a valid one (multipart, as the form sends it).
    let csrf = ada.get("/admin").await.csrf();
    let send_key = |key: &'static str, csrf: String| {
        let boundary = "XyZboundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"license.key\"\r\nContent-Type: text/plain\r\n\r\n{key}\r\n\
             --{boundary}--\r\n"
        );
        let cookies = ada.cookies.lock().unwrap().clone();
        let cookie = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        Request::post("/admin/license")
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .unwrap()
    };
    let resp = app
        .router
        .clone()
        .oneshot(send_key("garbage", csrf.clone()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains("license-error"), "{html}");
    let resp = app
        .router
        .clone()
        .oneshot(send_key(VALID_TEST_KEY, csrf.clone()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains("License installed"), "{html}");
    assert!(!ada.get("/repos").await.html.contains("Read-only"), "banner gone");
    // A forged token on the multipart form is refused too.
    let resp = app
        .router
        .clone()
        .oneshot(send_key(VALID_TEST_KEY, "forged".into()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_telemetry_toggle_works_both_ways_when_allowed() {
    let app = App::new();
    let ada = app.owner("ada@example.com").await;
    let admin = ada.get("/admin").await;
    assert!(admin.html.contains("Turn telemetry off"));
    assert!(!admin.html.contains("id=\"telemetry-toggle\" disabled"));
    let off = ada.submit("/admin", "/admin/telemetry", &[("enabled", "false")]).await;
    off.expect(StatusCode::OK);
    assert!(off.html.contains("Turn telemetry back on"));
    let on = ada.submit("/admin", "/admin/telemetry", &[("enabled", "true")]).await;
    on.expect(StatusCode::OK);
    assert!(on.html.contains("Turn telemetry off"));
}

#[tokio::test]
async fn the_sso_button_follows_the_configuration() {
    let app = App::new();
    let _ = app.owner("ada@example.com").await;
    let p = app.browser().get("/signin").await;
    assert!(!p.html.contains("Sign in with SSO"));
    let engine = app.engine.clone();
    let options = WebOptions {
        config: WebConfig {
            oidc: true,
            oidc_reason: String::new(),
        },
        web_url: "http://lettuce.test".into(),
        mcp_url: "http://lettuce.test/mcp".into(),
        admin_token_location: "x".into(),
    };
    let router = lettuce_web::router(WebState::new(engine, options));
    let resp = router
        .oneshot(Request::get("/signin").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let html = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains("href=\"/v1/auth/oidc/login\""));
}

fn remote(id: u32, name: &str) -> RemoteRepo {
    RemoteRepo {
        id: id.to_string(),
        full_name: name.into(),
        clone_url: format!("https://github.example/{name}.git"),
        default_branch: Some("main".into()),
        private: true,
    }
}

#[tokio::test]
async fn code_hosts_connect_pick_add_and_retry_the_webhook() {
    let app = App::new();
    let ada = app.owner("ada@example.com").await;
    app.github.set_repos(vec![
        remote(1, "acme/widgets"),
        remote(2, "acme/gadgets"),
        remote(3, "other/thing"),
    ]);

    // Not connected yet: a Connect button that starts the install.
    let p = ada.get("/repos").await;
    p.expect(StatusCode::OK);
    assert!(p.html.contains("href=\"/repos/connect/github\""), "{}", p.html);
    let r = ada.get("/repos/connect/github").await;
    assert!(r.status.is_redirection(), "{}", r.status);
    let to = r.headers[header::LOCATION].to_str().unwrap().to_owned();
    assert!(
        to.starts_with("https://github.example/apps/fake/installations/new?state="),
        "{to}"
    );
    // The host calls back to GET /v1/integrations/github/callback (the HTTP
    // API); here, the engine call behind it.
    let state = to.split("state=").nth(1).unwrap();
    let callback = InstallCallback {
        installation_id: Some("77".into()),
        setup_action: Some("install".into()),
        ..Default::default()
    };
    app.engine
        .complete_install("github", Some(state), &callback)
        .await
        .unwrap();

    // Connected: the picker, filtered case-insensitively.
    let p = ada.get("/repos?connected=github").await;
    assert!(p.html.contains("GitHub connected"), "{}", p.html);
    assert!(p.html.contains("href=\"/repos?pick=github#picker\""));
    let picker = ada.get("/repos?pick=github&filter=ACME").await;
    picker.expect(StatusCode::OK);
    assert!(picker.html.contains("acme/widgets") && picker.html.contains("acme/gadgets"));
    assert!(!picker.html.contains("other/thing"), "the filter applies");

    // Add one whose webhook cannot be registered: added, the failure and the
    // fix shown on its row, and a retry that succeeds.
    app.github.fail_next_hook(GitError::PermissionDenied {
        message: "the GitHub App lacks Webhooks: Read & write; re-grant the permission, then retry webhook setup"
            .into(),
    });
    ada.submit("/repos?pick=github&filter=ACME", "/repos/pick/github", &[("repo", "1")])
        .await
        .redirects_to("/repos?done=added");
    let p = ada.get("/repos").await;
    assert!(p.html.contains("widgets"), "{}", p.html);
    assert!(p.html.contains("re-grant the permission"), "{}", p.html);
    assert!(p.html.contains("Retry webhook setup"));
    assert!(app.github.hooks().is_empty());
    let id = p.attr_after("action=\"/repos/");
    let id = id.split('/').next().unwrap().to_owned();
    ada.submit("/repos", &format!("/repos/{id}/webhook"), &[])
        .await
        .redirects_to("/repos?done=webhook");
    assert_eq!(app.github.hooks().len(), 1, "the retry registered the hook");
    let p = ada.get("/repos").await;
    assert!(
        p.html.contains("Webhook on github: no delivery yet") || p.html.contains("Webhook on GitHub"),
        "{}",
        p.html
    );
    assert!(!p.html.contains("Retry webhook setup"));

    // The periodic check repairs a hook deleted on the host; the page says so.
    let hook = app.github.hooks()[0].id.clone();
    app.github.delete_hook_on_host(&hook);
    let report = app.engine.check_webhooks().await.expect("webhook check");
    assert_eq!(report.repaired, 1, "{report:?}");
    let p = ada.get("/repos").await;
    assert!(p.html.contains("Last check"), "{}", p.html);
    assert!(p.html.contains("deleted on the code host"), "{}", p.html);

    // Another account sees none of it.
    let bob = app.owner("bob@example.com").await;
    let other = bob.get("/repos").await;
    assert!(!other.html.contains("widgets"));
}

#[tokio::test]
async fn a_pasted_access_token_connects_and_a_refused_one_is_shown_by_its_field() {
    let app = App::with_token_host();
    let host = app.token_host.clone().expect("token host");
    host.set_repos(vec![RemoteRepo {
        id: "1".into(),
        full_name: "PRJ/my-repo".into(),
        clone_url: "https://bitbucket.example/scm/prj/my-repo.git".into(),
        default_branch: Some("master".into()),
        private: true,
    }]);
    let ada = app.owner("ada@example.com").await;

    // A labelled token field with its CSRF token; GitHub (no token) has none.
    let p = ada.get("/repos").await;
    p.expect(StatusCode::OK);
    assert!(p.html.contains("action=\"/repos/token/bitbucket\""), "{}", p.html);
    assert!(
        p.html
            .contains("<label for=\"token-bitbucket\">Bitbucket Data Center HTTP access token</label>")
    );
    assert!(
        p.html
            .contains("id=\"token-bitbucket\" name=\"token\" type=\"password\"")
    );
    assert!(!p.html.contains("/repos/token/github"));

    // Forged (no CSRF token): refused, nothing connected.
    let forged = ada.post("/repos/token/bitbucket", &[("token", "BBDC-secret-1")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.html);
    assert!(
        ada.get("/repos")
            .await
            .html
            .contains("action=\"/repos/token/bitbucket\""),
        "still not connected"
    );

    // Refused by the host: the message next to the field, the token not echoed.
    let refused = ada
        .submit("/repos", "/repos/token/bitbucket", &[("token", "refused")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(
        refused.html.contains("id=\"token-error-bitbucket\" role=\"alert\""),
        "{}",
        refused.html
    );
    assert!(refused.html.contains("refused the token"), "{}", refused.html);
    assert!(refused.html.contains("aria-describedby=\"token-error-bitbucket\""));
    assert!(
        !refused.html.contains("value=\"refused\""),
        "the token is never rendered back"
    );

    // Accepted: connected, the picker offered, the token nowhere in the page.
    ada.submit("/repos", "/repos/token/bitbucket", &[("token", "BBDC-secret-1")])
        .await
        .redirects_to("/repos?connected=bitbucket");
    let p = ada.get("/repos?connected=bitbucket").await;
    assert!(p.html.contains("Bitbucket connected"), "{}", p.html);
    assert!(p.html.contains("href=\"/repos?pick=bitbucket#picker\""));
    assert!(!p.html.contains("BBDC-secret-1"));
    assert!(
        !p.html.contains("action=\"/repos/token/bitbucket\""),
        "connected: no token field"
    );
    let picker = ada.get("/repos?pick=bitbucket").await;
    assert!(picker.html.contains("PRJ/my-repo"), "{}", picker.html);
    ada.submit("/repos?pick=bitbucket", "/repos/pick/bitbucket", &[("repo", "1")])
        .await
        .redirects_to("/repos?done=added");
    assert_eq!(
        host.hooks().len(),
        1,
        "the webhook was registered through the token connection"
    );
}
