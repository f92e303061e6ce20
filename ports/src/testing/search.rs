//! The contract of the code index ports: a [`CodeIndexer`] and the
//! [`CodeSearch`] over what it builds, run by every implementation.
//!
//! There is no in-memory fake of [`CodeSearch`]: a faithful one would be a
//! second code search engine. Engine tests use the real index adapter.

use crate::index::{
    CodeIndexer, CodeSearch, IndexError, IndexRef, IndexRequest, IndexSummary, NameMatch, NoProgress, ReferenceQuery,
    SearchMode, SearchQuery, SymbolQuery,
};
use crate::testing::git::MemorySnapshot;
use lettuce_domain::{AccountId, RepoId};
use std::ops::Deref;
use std::sync::Arc;
use uuid::Uuid;

/// An indexer and the search over its indexes (usually one object).
struct Both<'a> {
    indexer: &'a dyn CodeIndexer,
    search: &'a dyn CodeSearch,
}

impl Deref for Both<'_> {
    type Target = dyn CodeSearch;
    fn deref(&self) -> &Self::Target {
        self.search
    }
}

impl Both<'_> {
    async fn run(&self, repo: RepoId, snap: MemorySnapshot) -> IndexSummary {
        let previous_commit = self.indexer.indexed_commit(repo).await.expect("indexed_commit");
        self.indexer
            .index(IndexRequest {
                repo_id: repo,
                account_id: AccountId(Uuid::nil()),
                snapshot: snap.into_arc(),
                previous_commit,
                progress: Arc::new(NoProgress),
            })
            .await
            .expect("index run")
    }

    async fn indexed_commit(&self, repo: RepoId) -> Result<Option<String>, IndexError> {
        self.indexer.indexed_commit(repo).await
    }

    async fn delete(&self, repo: RepoId) -> Result<(), IndexError> {
        self.indexer.delete(repo).await
    }
}

/// Runs the contract: a full run and every query over it, then incremental
/// runs (one changed file parses exactly one file; renames and deletions
/// parse none), commit pinning, re-runs and deletion.
pub async fn code_search_contract(indexer: &dyn CodeIndexer, search: &dyn CodeSearch) {
    let both = Both { indexer, search };
    full_run_answers_every_query(&both).await;
    incremental_runs_touch_only_what_changed(&both).await;
}

const CLIENT_PY: &str = "import json\n\n\nclass HttpClient:\n    \"\"\"Sends requests.\"\"\"\n\n    def send_request(self, url):\n        return parse_url(url)\n\n\ndef parse_url(url):\n    \"\"\"Splits a URL.\"\"\"\n    return url.split('/')\n";
const MAIN_RS: &str = "/// Entry point.\nfn main() {\n    let c = make_client();\n    c.send_request(\"https://x\");\n}\n\nfn make_client() -> Client { Client }\n";
const README: &str = "# Demo\n\nCall parse_url to split URLs. The HTTPServer is elsewhere.\n";

fn v1() -> Vec<(&'static str, &'static str)> {
    vec![
        ("src/client.py", CLIENT_PY),
        ("src/main.rs", MAIN_RS),
        ("README.md", README),
    ]
}

fn snap(commit: &str, files: &[(&str, &str)]) -> MemorySnapshot {
    MemorySnapshot::from_text(commit, files)
}

fn at(repo: RepoId, commit: &str) -> IndexRef {
    IndexRef {
        repo_id: repo,
        commit: commit.into(),
    }
}

fn text(q: &str) -> SearchQuery {
    SearchQuery {
        query: q.into(),
        mode: SearchMode::Text,
        case_sensitive: false,
        path: None,
        lang: None,
        max_files: 10,
        max_lines_per_file: 5,
    }
}

fn sym(name: &str) -> SymbolQuery {
    SymbolQuery {
        name: name.into(),
        kind: None,
        path: None,
        lang: None,
        limit: 10,
    }
}

/// Queries after a full run, over every [`CodeSearch`] method.
async fn full_run_answers_every_query(index: &Both<'_>) {
    let repo = RepoId(Uuid::now_v7());
    let s = index.run(repo, snap("c1", &v1())).await;
    assert_eq!(
        (s.files_total, s.files_processed, s.files_reused, s.incremental),
        (3, 3, 0, false)
    );
    assert!(s.symbols >= 5, "{s:?}");
    assert_eq!(index.indexed_commit(repo).await.unwrap().as_deref(), Some("c1"));
    let c1 = at(repo, "c1");

    // Identifier-aware text search: `parse url` finds parse_url; the definition file ranks first.
    let r = index.search(&c1, &text("parse url")).await.unwrap();
    let paths: Vec<_> = r.files.iter().map(|f| f.file.path.as_str()).collect();
    assert_eq!(paths[0], "src/client.py", "{paths:?}");
    assert!(paths.contains(&"README.md"));
    let line = &r.files[0]
        .lines
        .iter()
        .find(|l| l.line == 11)
        .expect("line of the def")
        .text;
    assert_eq!(line, "def parse_url(url):");
    // camelCase query against snake_case code, and a split acronym.
    assert!(!index.search(&c1, &text("sendRequest")).await.unwrap().files.is_empty());
    assert_eq!(index.search(&c1, &text("http server")).await.unwrap().files.len(), 1);
    // Filters.
    let mut q = text("parse url");
    q.lang = Some("python".into());
    assert_eq!(index.search(&c1, &q).await.unwrap().files.len(), 1);
    q.lang = None;
    q.path = Some("*.md".into());
    assert_eq!(index.search(&c1, &q).await.unwrap().files[0].file.path, "README.md");

    // Substring and regex.
    let mut q = text("url.split('/')");
    q.mode = SearchMode::Substring;
    let r = index.search(&c1, &q).await.unwrap();
    assert_eq!(r.files.len(), 1);
    let m = &r.files[0].lines[0];
    assert_eq!((m.line, m.ranges.clone()), (13, vec![(11, 25)]));
    q.query = "URL.SPLIT".into();
    q.case_sensitive = true;
    assert!(
        index.search(&c1, &q).await.unwrap().files.is_empty(),
        "substring is case-sensitive when asked"
    );
    q.case_sensitive = false;
    assert_eq!(index.search(&c1, &q).await.unwrap().files.len(), 1);
    let mut q = text(r"fn\s+make_\w+");
    q.mode = SearchMode::Regex;
    q.case_sensitive = true;
    let r = index.search(&c1, &q).await.unwrap();
    assert_eq!(r.files[0].file.path, "src/main.rs");
    assert_eq!(r.files[0].lines[0].line, 7);
    q.query = "(".into();
    assert!(matches!(
        index.search(&c1, &q).await,
        Err(IndexError::InvalidQuery { field: "q", .. })
    ));

    // Symbols: exact, qualified, case-insensitive, partial, by kind.
    let hits = index.symbols(&c1, &sym("parse_url")).await.unwrap();
    assert_eq!(hits[0].matched, NameMatch::Exact);
    assert_eq!(
        (
            hits[0].file.path.as_str(),
            hits[0].symbol.start_line,
            hits[0].symbol.end_line
        ),
        ("src/client.py", 11, 13)
    );
    assert_eq!(hits[0].symbol.doc.as_deref(), Some("Splits a URL."));
    let hits = index.symbols(&c1, &sym("HttpClient.send_request")).await.unwrap();
    assert_eq!(
        (hits[0].matched, hits[0].symbol.kind.as_str()),
        (NameMatch::Exact, "method")
    );
    assert_eq!(
        index.symbols(&c1, &sym("httpclient")).await.unwrap()[0].matched,
        NameMatch::IgnoreCase
    );
    let partial = index.symbols(&c1, &sym("client")).await.unwrap();
    assert!(
        partial
            .iter()
            .any(|h| h.symbol.name == "make_client" && h.matched == NameMatch::Partial)
    );
    let mut q = sym("main");
    q.kind = Some("class".into());
    assert!(index.symbols(&c1, &q).await.unwrap().is_empty());

    // References: code occurrences with their caller, not the README prose.
    let refs = index
        .references(
            &c1,
            &ReferenceQuery {
                name: "parse_url".into(),
                path: None,
                limit: 50,
            },
        )
        .await
        .unwrap();
    let got: Vec<_> = refs
        .references
        .iter()
        .map(|r| (r.file.path.as_str(), r.line, r.definition, r.enclosing.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("src/client.py", 8, false, Some("HttpClient.send_request")),
            ("src/client.py", 11, true, None)
        ]
    );

    // Outline, file, listing, graph.
    let o = index.outline(&c1, "src/client.py").await.unwrap();
    assert_eq!(o.symbols.len(), 2);
    assert_eq!(o.symbols[0].children[0].symbol.name, "send_request");
    let f = index.read_file(&c1, "src/main.rs").await.unwrap();
    assert_eq!(f.text, MAIN_RS);
    assert_eq!((f.file.lines, f.file.lang.as_deref()), (7, Some("rust")));
    assert!(matches!(
        index.read_file(&c1, "nope.rs").await,
        Err(IndexError::FileNotFound { .. })
    ));
    assert!(matches!(
        index.read_file(&c1, "../etc/passwd").await,
        Err(IndexError::FileNotFound { .. })
    ));
    let files = index.list_files(&c1, Some("src/")).await.unwrap();
    assert_eq!(
        files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
        ["src/client.py", "src/main.rs"]
    );
    let g = index.symbol_graph(&c1).await.unwrap();
    let main = g.files.iter().find(|f| f.file.path == "src/main.rs").unwrap();
    assert!(main.references.iter().any(|(n, c)| n == "make_client" && *c == 1));

    // Another commit than the indexed one.
    assert!(matches!(
        index.search(&at(repo, "c9"), &text("x")).await,
        Err(IndexError::NotIndexed { .. })
    ));
}

/// Incremental runs: changed files parsed, renames and deletions not.
async fn incremental_runs_touch_only_what_changed(index: &Both<'_>) {
    let repo = RepoId(Uuid::now_v7());
    index.run(repo, snap("c1", &v1())).await;

    // One file changes: exactly one file is parsed.
    let changed = MAIN_RS.replace("make_client", "build_client");
    let mut files = v1();
    files[1].1 = &changed;
    let s = index.run(repo, snap("c2", &files)).await;
    assert_eq!(
        (s.files_processed, s.files_reused, s.files_deleted, s.incremental),
        (1, 2, 0, true),
        "{s:?}"
    );
    let c2 = at(repo, "c2");
    assert!(
        index
            .symbols(&c2, &sym("make_client"))
            .await
            .unwrap()
            .iter()
            .all(|h| h.matched != NameMatch::Exact)
    );
    assert_eq!(
        index.symbols(&c2, &sym("build_client")).await.unwrap()[0].matched,
        NameMatch::Exact
    );
    // The previous commit stays readable while readers switch over.
    assert_eq!(
        index.symbols(&at(repo, "c1"), &sym("make_client")).await.unwrap()[0].matched,
        NameMatch::Exact
    );

    // A rename (same contents) and a deletion: nothing is parsed.
    let files3 = vec![("lib/http.py", CLIENT_PY), ("src/main.rs", changed.as_str())];
    let s = index.run(repo, snap("c3", &files3)).await;
    assert_eq!((s.files_processed, s.files_deleted), (0, 2), "{s:?}");
    let c3 = at(repo, "c3");
    let hit = &index.symbols(&c3, &sym("parse_url")).await.unwrap()[0];
    assert_eq!(hit.file.path, "lib/http.py");
    assert_eq!(index.outline(&c3, "lib/http.py").await.unwrap().symbols.len(), 2);
    assert!(matches!(
        index.read_file(&c3, "README.md").await,
        Err(IndexError::FileNotFound { .. })
    ));
    assert!(index.search(&c3, &text("HTTPServer")).await.unwrap().files.is_empty());

    // Re-running the same commit is a no-op.
    let s = index.run(repo, snap("c3", &files3)).await;
    assert_eq!((s.files_processed, s.files_reused), (0, 2));

    // Only the current and previous commits stay readable.
    assert!(matches!(
        index.search(&at(repo, "c1"), &text("x")).await,
        Err(IndexError::NotIndexed { .. })
    ));

    // Delete removes everything.
    index.delete(repo).await.unwrap();
    assert_eq!(index.indexed_commit(repo).await.unwrap(), None);
    assert!(matches!(
        index.search(&c3, &text("x")).await,
        Err(IndexError::NotIndexed { .. })
    ));
}
