//! Navigation end to end in the engine: repos indexed by the worker with the
//! real code index (tantivy + tree-sitter) and a real BPE token counter,
//! queried through `Navigator` as MCP and HTTP do. Everything else is the
//! ports' in-memory fakes.

use lettuce_domain::Secret;
use lettuce_domain::repo::RepoStatus;
use lettuce_engine::{
    AddRepoRequest, Caller, Engine, EngineSettings, FileRequest, LocateRequest, ReadSymbolRequest, ReferencesRequest,
    RepoMapRequest, SearchRequest, SignupRequest, SymbolRequest, Worker,
};
use lettuce_index_tantivy::{IndexConfig, TantivyIndex};
use lettuce_ports::index::{CodeIndexer, SearchMode};
use lettuce_ports::testing::auth::FakeAuth;
use lettuce_ports::testing::blob::MemoryBlobStore;
use lettuce_ports::testing::git::MemoryGitMirror;
use lettuce_ports::testing::queue::MemoryQueue;
use lettuce_ports::testing::secrets::MemorySecretStore;
use lettuce_ports::testing::store::MemoryStore;
use lettuce_ports::tokens::TokenCounter;
use std::sync::Arc;

const ADMIN: &str = "admin-token-for-tests-0123456789";
const URL: &str = "https://github.com/acme/shop.git";

const CART_PY: &str = r#""""Shopping cart."""


class Cart:
    """Holds line items."""

    def __init__(self):
        self.items = []

    def add_item(self, sku, qty):
        """Adds qty of sku."""
        self.items.append((sku, qty))
        return total_quantity(self.items)


def total_quantity(items):
    return sum(q for _, q in items)


class Inventory:
    """Stock levels per SKU, with reservations for carts in checkout."""

    def __init__(self, levels):
        self.levels = dict(levels)
        self.reserved = {}

    def available(self, sku):
        """Units that can still be sold."""
        return self.levels.get(sku, 0) - self.reserved.get(sku, 0)

    def reserve(self, sku, qty):
        """Holds qty units of sku for a cart; fails when stock is short."""
        if self.available(sku) < qty:
            raise ValueError(f"only {self.available(sku)} of {sku} left")
        self.reserved[sku] = self.reserved.get(sku, 0) + qty

    def release(self, sku, qty):
        """Returns held units to stock."""
        self.reserved[sku] = max(0, self.reserved.get(sku, 0) - qty)
"#;

const CHECKOUT_PY: &str = r#"from cart import Cart, total_quantity


def checkout(cart):
    """Charges the cart."""
    if total_quantity(cart.items) == 0:
        raise ValueError("empty cart")
    return charge(cart)


def charge(cart):
    return len(cart.items) * 100
"#;

fn files(extra: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = vec![
        ("cart.py".into(), CART_PY.into()),
        ("checkout.py".into(), CHECKOUT_PY.into()),
        ("README.md".into(), b"# Shop\nA cart and a checkout.\n".to_vec()),
    ];
    v.extend(extra.iter().map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec())));
    v
}

struct Harness {
    engine: Engine,
    mirror: Arc<MemoryGitMirror>,
    index: Arc<TantivyIndex>,
    blobs: Arc<MemoryBlobStore>,
    _cache: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let auth = Arc::new(FakeAuth::new());
        let mirror = Arc::new(MemoryGitMirror::new(false));
        let blobs = Arc::new(MemoryBlobStore::new());
        let cache = tempfile::tempdir().unwrap();
        let mut config = IndexConfig::new(cache.path().to_path_buf());
        config.threads = 2;
        config.memory_bytes = 64 << 20;
        let index = Arc::new(
            TantivyIndex::new(blobs.clone(), config)
                .with_token_counter(Arc::new(lettuce_tokens_bpe::BpeCounter::o200k())),
        );
        let engine = Engine::builder()
            .store(Arc::new(MemoryStore::new()))
            .queue(Arc::new(MemoryQueue::new()))
            .blobs(blobs.clone())
            .secrets(Arc::new(MemorySecretStore::new()))
            .session_verifier(auth.clone())
            .sessions(auth.clone())
            .passwords(auth)
            .mirror(mirror.clone())
            .indexer(index.clone())
            .search(index.clone())
            .tokens(Arc::new(lettuce_tokens_bpe::BpeCounter::o200k()))
            .settings(EngineSettings::new(Secret::new(ADMIN), [3u8; 32]))
            .build()
            .unwrap();
        Harness {
            engine,
            mirror,
            index,
            blobs,
            _cache: cache,
        }
    }

    async fn user(&self) -> Caller {
        let admin = self.engine.authenticate(&Secret::new(ADMIN)).await.unwrap();
        let code = self
            .engine
            .create_admin_invite(&admin, Default::default())
            .await
            .unwrap()
            .code;
        let r = self
            .engine
            .signup(SignupRequest {
                invite_code: code,
                email: format!("u{}@example.com", uuid::Uuid::new_v4().simple()),
                password: Secret::new("a long password"),
            })
            .await
            .unwrap();
        self.engine.authenticate(&r.token.token).await.unwrap()
    }

    async fn work(&self) {
        Worker::new(self.engine.clone()).run_until_idle().await.unwrap();
    }
}

#[tokio::test]
async fn every_tool_answers_with_commit_and_token_accounting() {
    let h = Harness::new();
    let head = h.mirror.add_remote(URL, "main", files(&[]));
    let ada = h.user().await;
    let repo = h
        .engine
        .add_repo(
            &ada,
            AddRepoRequest {
                url: URL.into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    // Before indexing: a clear error, not an empty answer.
    let nav = h.engine.navigator(&ada).unwrap();
    let err = nav
        .find_symbol(SymbolRequest {
            name: "Cart".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "repo_not_indexed");
    h.work().await;
    assert_eq!(
        h.engine.get_repo(&ada, repo.id).await.unwrap().status,
        RepoStatus::Ready
    );

    let repos = nav.list_repos().await.unwrap();
    assert!(repos.text.contains("acme/shop  ready"), "{}", repos.text);

    // find_symbol + read_symbol: the definition's code, far fewer tokens than the file.
    let found = nav
        .find_symbol(SymbolRequest {
            name: "Cart.add_item".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.data[0].hit.file.path, "cart.py");
    assert_eq!(found.data[0].hit.symbol.start_line, 10);
    assert_eq!(found.repos[0].commit, head);
    assert!(
        found.text.starts_with(&format!("[acme/shop @ {}]\n", &head[..12])),
        "{}",
        found.text
    );
    assert!(
        found.text.contains("cart.py:10-13 method Cart.add_item"),
        "{}",
        found.text
    );
    let code = nav
        .read_symbol(ReadSymbolRequest {
            name: "add_item".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        code.text.contains("10\t    def add_item(self, sku, qty):"),
        "{}",
        code.text
    );
    assert!(code.text.contains("13\t        return total_quantity(self.items)"));
    assert!(!code.text.contains("def total_quantity"));
    let counter = lettuce_tokens_bpe::BpeCounter::o200k();
    assert_eq!(code.tokens.full, counter.count(CART_PY));
    assert_eq!(code.tokens.returned, counter.count(&code.text));
    assert!(code.tokens.saved() > 0);

    // find_references: who calls total_quantity.
    let refs = nav
        .find_references(ReferencesRequest {
            name: "total_quantity".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let callers: Vec<_> = refs
        .data
        .references
        .iter()
        .filter(|r| !r.reference.definition)
        .filter_map(|r| r.reference.enclosing.clone())
        .collect();
    assert!(
        callers.contains(&"Cart.add_item".to_owned()) && callers.contains(&"checkout".to_owned()),
        "{callers:?}"
    );
    assert_eq!(refs.tokens.full, counter.count(CART_PY) + counter.count(CHECKOUT_PY));

    // search_code in the three modes.
    let s = nav
        .search_code(SearchRequest {
            query: "total quantity".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(s.data.hits.len(), 2);
    let s = nav
        .search_code(SearchRequest {
            query: "empty cart".into(),
            mode: SearchMode::Substring,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(s.data.hits[0].hit.file.path, "checkout.py");
    assert!(s.text.contains("7:"), "{}", s.text);
    let s = nav
        .search_code(SearchRequest {
            query: r"def \w+\(cart\)".into(),
            mode: SearchMode::Regex,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(s.data.hits[0].hit.line_matches, 2);

    // Outline and read_file with a range; bad paths are refused.
    let o = nav
        .file_outline(FileRequest {
            path: "./cart.py".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(o.text.contains("\n  4-13 class Cart:\n"), "{}", o.text);
    assert!(
        o.text.contains("\n    10-13 def add_item(self, sku, qty):\n"),
        "{}",
        o.text
    );
    let f = nav
        .read_file(FileRequest {
            path: "checkout.py".into(),
            start: Some(4),
            end: Some(5),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(f.data.text, "def checkout(cart):\n    \"\"\"Charges the cart.\"\"\"\n");
    assert!(f.text.contains("4\tdef checkout(cart):"));
    for bad in ["../etc/passwd", "/etc/passwd", "a\\b"] {
        let e = nav
            .read_file(FileRequest {
                path: bad.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), "validation_failed", "{bad}");
    }
    assert_eq!(
        nav.read_file(FileRequest {
            path: "nope.py".into(),
            ..Default::default()
        })
        .await
        .unwrap_err()
        .code(),
        "file_not_found"
    );

    // Budgets shorten and say so.
    let tiny = nav
        .read_file(FileRequest {
            path: "cart.py".into(),
            max_tokens: Some(20),
            ..Default::default()
        })
        .await
        .unwrap();
    let note = tiny.shortened.as_deref().unwrap();
    assert!(note.contains("continue with start="), "{note}");
    assert!(tiny.text.contains(note));
    assert!(
        tiny.tokens.returned <= 100,
        "the whole answer fits the budget: {:?}",
        tiny.tokens
    );

    // repo_map ranks what the code uses.
    let map = nav.repo_map(RepoMapRequest::default()).await.unwrap();
    assert!(map.text.contains("total_quantity"), "{}", map.text);
    assert!(map.tokens.returned <= 1_500);

    // Usage shows the queries and the tokens saved.
    let usage = h.engine.usage(&ada, 1).await.unwrap();
    assert_eq!(
        usage.total.queries, 11,
        "successful answers are metered, errors are not: {usage:?}"
    );
    assert!(usage.total.tokens_saved > 0 && usage.total.tokens_full > usage.total.tokens_returned);
    assert_eq!(usage.encoding, "o200k_base");
}

#[tokio::test]
async fn accounts_see_only_their_repos() {
    let h = Harness::new();
    h.mirror.add_remote(URL, "main", files(&[]));
    let ada = h.user().await;
    let eve = h.user().await;
    let repo = h
        .engine
        .add_repo(
            &ada,
            AddRepoRequest {
                url: URL.into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    h.work().await;
    let nav = h.engine.navigator(&eve).unwrap();
    assert_eq!(
        nav.find_symbol(SymbolRequest {
            name: "Cart".into(),
            ..Default::default()
        })
        .await
        .unwrap_err()
        .code(),
        "no_repos"
    );
    let e = nav
        .read_file(FileRequest {
            repo: Some(repo.id.to_string()),
            path: "cart.py".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "repo_not_found");
    let admin = h.engine.authenticate(&Secret::new(ADMIN)).await.unwrap();
    assert!(h.engine.navigator(&admin).is_err(), "the admin token reads no code");
    assert_eq!(h.engine.usage(&eve, 1).await.unwrap().total.queries, 0);
}

#[tokio::test]
async fn a_push_reindexes_one_file_and_a_lost_index_is_rebuilt() {
    let h = Harness::new();
    h.mirror.add_remote(URL, "main", files(&[]));
    let ada = h.user().await;
    let repo = h
        .engine
        .add_repo(
            &ada,
            AddRepoRequest {
                url: URL.into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    h.work().await;
    let first = h.engine.get_repo(&ada, repo.id).await.unwrap().indexed_commit.unwrap();

    let head = h.mirror.add_remote(
        URL,
        "main",
        files(&[("coupons.py", "def apply_coupon(cart, code):\n    return cart\n")]),
    );
    h.engine.reindex_repo(&ada, repo.id).await.unwrap();
    h.work().await;
    let r = h.engine.get_repo(&ada, repo.id).await.unwrap();
    assert_eq!(r.indexed_commit.as_deref(), Some(head.as_str()));
    assert_ne!(head, first);
    let nav = h.engine.navigator(&ada).unwrap();
    let hit = nav
        .find_symbol(SymbolRequest {
            name: "apply_coupon".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(hit.data[0].hit.file.path, "coupons.py");

    // The index artifacts disappear (a wiped bucket): queries say the index
    // is being rebuilt and a job rebuilds it.
    h.index.delete(repo.id).await.unwrap();
    assert!(h.blobs.keys().iter().all(|k| !k.contains(&repo.id.to_string())));
    let e = nav
        .find_symbol(SymbolRequest {
            name: "apply_coupon".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "index_rebuilding");
    h.work().await;
    let hit = nav
        .find_symbol(SymbolRequest {
            name: "apply_coupon".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(hit.data[0].hit.symbol.start_line, 1);
}

#[tokio::test]
async fn locate_and_questions_answer_tasks_with_trust_labels() {
    let h = Harness::new();
    h.mirror.add_remote(URL, "main", files(&[]));
    let ada = h.user().await;
    h.engine
        .add_repo(
            &ada,
            AddRepoRequest {
                url: URL.into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    h.work().await;
    let nav = h.engine.navigator(&ada).unwrap();

    // A task in words: the file and the definition, with line ranges and a reason.
    let a = nav
        .locate(LocateRequest {
            task: "Reserving stock fails when the held units exceed what is available".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let first = &a.data.files[0];
    assert_eq!(first.path, "cart.py", "{}", a.text);
    assert!(first.reason.contains("words:"), "{}", first.reason);
    assert!(
        first
            .definitions
            .iter()
            .any(|d| d.symbol.qualified_name() == "Inventory.reserve" && d.symbol.start_line == 31),
        "{}",
        a.text
    );
    assert!(
        a.text.contains("[text]") && a.text.contains("Inventory.reserve"),
        "{}",
        a.text
    );
    assert!(a.tokens.returned <= 1_500);

    // A task that spells a name: its definition (syntactic) and its callers.
    let a = nav
        .locate(LocateRequest {
            task: "`total_quantity` double counts returned items".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let paths: Vec<&str> = a.data.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths[..2], ["cart.py", "checkout.py"], "{}", a.text);
    assert_eq!(a.data.files[0].trust, lettuce_domain::code::Trust::Syntactic);
    assert!(a.data.files[0].reason.contains("defines total_quantity"), "{}", a.text);
    assert!(a.data.files[1].reason.contains("total_quantity"), "{}", a.text);

    // Over-long and empty tasks are refused.
    for task in [String::new(), "x ".repeat(5_000)] {
        let e = nav
            .locate(LocateRequest {
                task,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), "validation_failed");
    }

    // A many-word question is answered when some word occurs; lines name
    // their enclosing definition; labels say how things were found.
    let s = nav
        .search_code(SearchRequest {
            query: "why does the checkout charge an empty basket".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(s.data.hits[0].hit.file.path, "checkout.py", "{}", s.text);
    assert!(s.text.contains("[in checkout]"), "{}", s.text);
    assert!(s.text.contains("trust: text"), "{}", s.text);
    assert_eq!(s.data.absent, ["basket"]);
    let s = nav
        .search_code(SearchRequest {
            query: "frobnicate quux".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(s.data.hits.is_empty());
    assert!(
        s.text
            .contains("none of the words occurs in any file (frobnicate, quux)")
            && s.text.contains("try other words"),
        "{}",
        s.text
    );
    let f = nav
        .find_symbol(SymbolRequest {
            name: "__init__".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(f.text.contains("definitions: syntactic"), "{}", f.text);
    assert!(f.text.contains("ambiguous: 2 definitions named __init__"), "{}", f.text);
}

fn change(id: char, day: i64, subject: &str, paths: &[&str]) -> lettuce_ports::git::CommitChanges {
    let mut paths: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
    paths.sort();
    lettuce_ports::git::CommitChanges {
        id: id.to_string().repeat(40),
        time: 1_700_000_000 + day * 86_400,
        subject: subject.into(),
        paths,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn locate_reads_git_history_for_co_changes_and_regressions() {
    let h = Harness::new();
    let fee = |factor: u32| format!("def shipping_fee(weight):\n    return round(weight) * {factor}\n");
    let (eu, us) = (fee(2), fee(3));
    let sync = "def push(levels):\n    return dict(levels)\n";
    // Newest first, up to the indexed commit.
    let history = vec![
        change('d', 30, "fix us shipping", &["shipping/us.py"]),
        change('c', 20, "tune eu shipping", &["shipping/eu.py"]),
        change(
            'b',
            10,
            "reserve through the warehouse",
            &["cart.py", "warehouse/sync.py"],
        ),
        change(
            'a',
            1,
            "warehouse levels",
            &["cart.py", "warehouse/sync.py", "README.md"],
        ),
    ];
    h.mirror.add_remote_with_history(
        URL,
        "main",
        files(&[
            ("shipping/eu.py", &eu),
            ("shipping/us.py", &us),
            ("warehouse/sync.py", sync),
        ]),
        history,
    );
    let ada = h.user().await;
    h.engine
        .add_repo(
            &ada,
            AddRepoRequest {
                url: URL.into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    h.work().await;
    let nav = h.engine.navigator(&ada).unwrap();
    let locate = |task: &'static str| {
        let nav = &nav;
        async move {
            nav.locate(LocateRequest {
                task: task.into(),
                ..Default::default()
            })
            .await
            .unwrap()
        }
    };

    // Co-change: the warehouse file shares none of the task's words, but
    // changed with cart.py in two commits.
    let a = locate("Reserving stock fails when the held units exceed what is available").await;
    assert_eq!(a.data.files[0].path, "cart.py", "{}", a.text);
    let w = a
        .data
        .files
        .iter()
        .find(|f| f.path == "warehouse/sync.py")
        .unwrap_or_else(|| panic!("co-changed file missing: {}", a.text));
    assert_eq!(w.reason, "changes with cart.py (2 commits)", "{}", a.text);
    assert_eq!(w.trust, lettuce_domain::code::Trust::Text);
    assert!(a.text.contains("changes with cart.py (2 commits)"), "{}", a.text);

    // Regression wording: of two equally matching files, the one changed
    // most recently comes first, saying when and in which commit.
    let a = locate("shipping fee no longer rounds the weight").await;
    let pos = |p: &str| a.data.files.iter().position(|f| f.path == p);
    let (Some(u), Some(e)) = (pos("shipping/us.py"), pos("shipping/eu.py")) else {
        panic!("{}", a.text)
    };
    assert!(u < e, "{}", a.text);
    assert!(
        a.data.files[u]
            .reason
            .contains("changed in the latest day in ddddddd fix us shipping"),
        "{}",
        a.text
    );
    assert!(
        a.data.files[e]
            .reason
            .contains("changed 10 days ago in ccccccc tune eu shipping"),
        "{}",
        a.text
    );
    // Without regression wording, recency says nothing.
    let a = locate("shipping fee rounds the weight").await;
    assert!(
        a.data
            .files
            .iter()
            .all(|f| !f.reason.contains("latest day") && !f.reason.contains("days ago")),
        "{}",
        a.text
    );

    // Similar past commits: "tune" and "eu" are in one earlier subject only.
    let a = locate("tune eu rates").await;
    assert_eq!(a.data.files[0].path, "shipping/eu.py", "{}", a.text);
    assert!(
        a.data.files[0]
            .reason
            .contains("changed by a similar commit, ccccccc tune eu shipping"),
        "{}",
        a.text
    );
}
