//! `run_eval` over a real git history (a repository built with the `git`
//! CLI, read in place by git-generic), with the real code index and BPE
//! token counter: which commits become questions, that a question naming
//! a function defined in exactly one file is answered at rank 1, that the
//! scratch index is removed and the live index left alone.

use lettuce_domain::{AccountId, RepoId};
use lettuce_engine::{EngineError, EvalPlan, EvalPorts, EvalSource, run_eval, scratch_repo_id, select_cases};
use lettuce_index_tantivy::{IndexConfig, TantivyIndex};
use lettuce_ports::git::RepoSnapshot;
use lettuce_ports::index::{CodeIndexer, IndexRequest, NoProgress};
use lettuce_ports::testing::blob::MemoryBlobStore;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

fn have_git() -> bool {
    let ok = Command::new("git").arg("--version").output().is_ok();
    if !ok {
        assert!(
            std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "git is required (LETTUCE_REQUIRE_PEERS=1)"
        );
        eprintln!("skipped: git is not installed");
    }
    ok
}

fn git(dir: &Path, day: u32, args: &[&str]) -> String {
    let date = format!("2024-02-{:02}T12:00:00Z", day + 1);
    let out = Command::new("git")
        .args(["-c", "user.name=Eval Test", "-c", "user.email=eval@lettuce.invalid"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const PRICING: &str = "def normalize_price(amount):\n    return round(amount, 2)\n\n\ndef currency_symbol(code):\n    return {'EUR': 'E', 'USD': '$'}[code]\n";
const SHIPPING: &str = "def parcel_weight(items):\n    return sum(i.grams for i in items)\n\n\ndef courier_label(parcel):\n    return f'PARCEL {parcel}'\n";
const README: &str = "# Shop\nPrices and parcels.\n";

/// A repository whose history has three questions (each naming a function
/// defined in one file only) and commits eval must skip.
fn build_repo(dir: &Path) -> Vec<(&'static str, &'static str)> {
    git(dir, 0, &["init", "-q", "-b", "main"]);
    write(dir, "shop/pricing.py", PRICING);
    write(dir, "shop/shipping.py", SHIPPING);
    write(dir, "README.md", README);
    git(dir, 0, &["add", "-A"]);
    git(dir, 0, &["commit", "-q", "-m", "initial shop layout"]);
    // Question 1 (oldest).
    write(
        dir,
        "shop/pricing.py",
        &PRICING.replace("round(amount, 2)", "round(amount + 0, 2)"),
    );
    git(dir, 1, &["commit", "-q", "-am", "normalize_price keeps cents"]);
    // Skipped: only adds a file (nothing that existed at the parent changed).
    write(dir, "shop/taxes.py", "def vat_rate():\n    return 20\n");
    git(dir, 2, &["add", "-A"]);
    git(dir, 2, &["commit", "-q", "-m", "introduce vat_rate helper"]);
    // Skipped: a release and a dependency bump.
    write(dir, "README.md", "# Shop 1.0\nPrices and parcels.\n");
    git(dir, 3, &["commit", "-q", "-am", "Release 1.0.0"]);
    write(dir, "README.md", "# Shop 1.0.1\nPrices and parcels.\n");
    git(dir, 4, &["commit", "-q", "-am", "Bump requests from 2.0 to 2.1"]);
    // Question 2: on a side branch merged back (the merge itself is skipped).
    git(dir, 5, &["checkout", "-q", "-b", "side"]);
    write(dir, "shop/shipping.py", &SHIPPING.replace("i.grams", "i.grams or 0"));
    git(dir, 5, &["commit", "-q", "-am", "parcel_weight ignores missing grams"]);
    git(dir, 6, &["checkout", "-q", "main"]);
    git(dir, 6, &["merge", "-q", "--no-ff", "-m", "Merge branch side", "side"]);
    // Question 3 (newest): a deleted-and-modified pair.
    write(dir, "shop/shipping.py", &SHIPPING.replace("PARCEL", "COURIER"));
    git(dir, 7, &["commit", "-q", "-am", "courier_label names the courier"]);
    vec![
        ("courier_label names the courier", "shop/shipping.py"),
        ("parcel_weight ignores missing grams", "shop/shipping.py"),
        ("normalize_price keeps cents", "shop/pricing.py"),
    ]
}

/// Snapshots of the repository read in place.
struct Local(PathBuf);

#[async_trait::async_trait]
impl EvalSource for Local {
    async fn snapshot(&self, commit: &str) -> Result<Arc<dyn RepoSnapshot>, EngineError> {
        let (dir, commit) = (self.0.clone(), commit.to_owned());
        Ok(
            tokio::task::spawn_blocking(move || lettuce_git_generic::local_snapshot(&dir, &commit))
                .await
                .unwrap()?,
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn eval_replays_real_history_in_a_scratch_index() {
    if !have_git() {
        return;
    }
    let repo_dir = tempfile::tempdir().unwrap();
    let expected = build_repo(repo_dir.path());
    let source = Local(repo_dir.path().to_path_buf());
    let head_id = lettuce_git_generic::local_head(repo_dir.path()).unwrap();
    let head = source.snapshot(&head_id).await.unwrap();

    // Case selection: newest first, skips and parents as documented.
    let cases = select_cases(head.clone(), &source, 10, &CancellationToken::new())
        .await
        .unwrap();
    let got: Vec<(&str, Vec<&str>)> = cases
        .iter()
        .map(|c| (c.subject.as_str(), c.changed.iter().map(String::as_str).collect()))
        .collect();
    let want: Vec<(&str, Vec<&str>)> = expected.iter().map(|(s, f)| (*s, vec![*f])).collect();
    assert_eq!(got, want);
    assert_eq!(cases[0].parent, git(repo_dir.path(), 8, &["rev-parse", "HEAD^"]));
    assert_eq!(
        cases[1].parent,
        git(repo_dir.path(), 8, &["rev-parse", "HEAD^^2^"]),
        "the side commit's own parent"
    );
    let two = select_cases(head.clone(), &source, 2, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(two.len(), 2, "at most n");

    // The live index of the repo, which eval must not touch.
    let cache = tempfile::tempdir().unwrap();
    let mut config = IndexConfig::new(cache.path().to_path_buf());
    config.threads = 2;
    config.memory_bytes = 64 << 20;
    let tokens = Arc::new(lettuce_tokens_bpe::BpeCounter::o200k());
    let index =
        Arc::new(TantivyIndex::new(Arc::new(MemoryBlobStore::new()), config).with_token_counter(tokens.clone()));
    let live = RepoId(uuid::Uuid::now_v7());
    let account = AccountId(uuid::Uuid::now_v7());
    index
        .index(IndexRequest {
            repo_id: live,
            account_id: account,
            snapshot: head.clone(),
            previous_commit: None,
            progress: Arc::new(NoProgress),
        })
        .await
        .unwrap();

    let ports = EvalPorts {
        indexer: index.clone(),
        search: index.clone(),
        tokens: tokens.clone(),
    };
    let plan = EvalPlan {
        repo_name: "acme/shop".into(),
        account_id: account,
        scratch: scratch_repo_id(live),
        commits: 50,
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let progress = move |done: u32, total: u32| s.lock().unwrap().push((done, total));
    let report = run_eval(
        &ports,
        &source,
        head.clone(),
        &plan,
        &progress,
        &CancellationToken::new(),
    )
    .await
    .unwrap();

    assert_eq!(report.repo, "acme/shop");
    assert_eq!(report.head, head_id);
    assert_eq!(report.questions, 3);
    assert_eq!(*seen.lock().unwrap(), vec![(0, 3), (1, 3), (2, 3), (3, 3)]);
    let m = &report.methods;
    for (name, s) in [
        ("search_code", &m.search_code),
        ("locate", &m.locate),
        ("grep", &m.grep),
    ] {
        assert_eq!(s.questions, 3, "{name}");
        assert_eq!(s.empty_answers, 0, "{name}: {report:?}");
    }
    // Each subject names a function defined in exactly one file: grep and
    // search_code put that file first; locate has it in its first 3.
    assert_eq!(m.grep.acc_at_1, 100.0, "{report:?}");
    assert_eq!(m.search_code.acc_at_1, 100.0, "{report:?}");
    assert_eq!(m.locate.acc_at_3, 100.0, "{report:?}");
    assert!((m.grep.mrr - 1.0).abs() < 1e-9);
    // grep reads the matching file(s) whole: exactly the token count of the
    // files it ranked (one file matches each subject's content words).
    let shipping_v1 = tokens_of(&*tokens, SHIPPING);
    let shipping_side = tokens_of(&*tokens, &SHIPPING.replace("i.grams", "i.grams or 0"));
    let pricing = tokens_of(&*tokens, PRICING);
    let want_grep = (shipping_side + shipping_v1 + pricing) as f64 / 3.0;
    assert!(
        (m.grep.tokens_per_question - want_grep).abs() < 1e-6,
        "{} vs {want_grep}",
        m.grep.tokens_per_question
    );
    assert!(m.locate.tokens_per_question > 0.0);
    assert!(report.locate_vs_grep.acc_at_3_ratio.is_some());

    // The scratch index is gone; the live one still reads the head.
    assert_eq!(index.indexed_commit(plan.scratch).await.unwrap(), None);
    assert_eq!(index.indexed_commit(live).await.unwrap(), Some(head_id.clone()));

    // A cancelled run fails and still removes its scratch index.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = run_eval(&ports, &source, head.clone(), &plan, &progress, &cancel)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert_eq!(index.indexed_commit(plan.scratch).await.unwrap(), None);
}

fn tokens_of(counter: &dyn lettuce_ports::tokens::TokenCounter, text: &str) -> u64 {
    counter.count(text)
}

mod through_the_worker {
    //! `start_eval` → the worker's job → the run in the store, over the
    //! in-memory mirror (a linear history) and the real index.
    use super::{PRICING, SHIPPING};
    use lettuce_domain::Secret;
    use lettuce_domain::eval::EvalStatus;
    use lettuce_engine::{AddRepoRequest, Engine, EngineSettings, SignupRequest, Worker, scratch_repo_id};
    use lettuce_index_tantivy::{IndexConfig, TantivyIndex};
    use lettuce_ports::git::CommitChanges;
    use lettuce_ports::index::CodeIndexer;
    use lettuce_ports::testing::auth::FakeAuth;
    use lettuce_ports::testing::blob::MemoryBlobStore;
    use lettuce_ports::testing::git::MemoryGitMirror;
    use lettuce_ports::testing::queue::MemoryQueue;
    use lettuce_ports::testing::secrets::MemorySecretStore;
    use lettuce_ports::testing::store::MemoryStore;
    use std::sync::Arc;

    const ADMIN: &str = "admin-token-for-tests-0123456789";
    const URL: &str = "https://github.com/acme/shop.git";

    fn files(pricing: &str, shipping: &str) -> Vec<(String, Vec<u8>)> {
        vec![
            ("shop/pricing.py".into(), pricing.as_bytes().to_vec()),
            ("shop/shipping.py".into(), shipping.as_bytes().to_vec()),
        ]
    }

    fn change(id: &str, day: i64, subject: &str, paths: &[&str]) -> CommitChanges {
        CommitChanges {
            id: id.into(),
            time: 1_700_000_000 + day * 86_400,
            subject: subject.into(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_queued_eval_runs_in_the_worker_and_records_the_report() {
        let mirror = Arc::new(MemoryGitMirror::new(false));
        let pricing2 = PRICING.replace("round(amount, 2)", "round(amount + 0, 2)");
        let shipping3 = SHIPPING.replace("PARCEL", "COURIER");
        let c1 = mirror.add_remote(URL, "main", files(PRICING, SHIPPING));
        let c2 = mirror.add_remote(URL, "main", files(&pricing2, SHIPPING));
        let c3 = mirror.add_remote(URL, "main", files(&pricing2, &shipping3));
        let history = vec![
            change(&c3, 3, "courier_label names the courier", &["shop/shipping.py"]),
            change(&c2, 2, "normalize_price keeps cents", &["shop/pricing.py"]),
            change(&c1, 1, "initial shop layout", &["shop/pricing.py", "shop/shipping.py"]),
        ];
        let head = mirror.add_remote_with_history(URL, "main", files(&pricing2, &shipping3), history);

        let auth = Arc::new(FakeAuth::new());
        let cache = tempfile::tempdir().unwrap();
        let mut config = IndexConfig::new(cache.path().to_path_buf());
        config.threads = 2;
        config.memory_bytes = 64 << 20;
        let tokens = Arc::new(lettuce_tokens_bpe::BpeCounter::o200k());
        let index =
            Arc::new(TantivyIndex::new(Arc::new(MemoryBlobStore::new()), config).with_token_counter(tokens.clone()));
        let engine = Engine::builder()
            .store(Arc::new(MemoryStore::new()))
            .queue(Arc::new(MemoryQueue::new()))
            .blobs(Arc::new(MemoryBlobStore::new()))
            .secrets(Arc::new(MemorySecretStore::new()))
            .session_verifier(auth.clone())
            .sessions(auth.clone())
            .passwords(auth)
            .mirror(mirror.clone())
            .indexer(index.clone())
            .search(index.clone())
            .tokens(tokens)
            .settings(EngineSettings::new(Secret::new(ADMIN), [3u8; 32]))
            .build()
            .unwrap();
        let admin = engine.authenticate(&Secret::new(ADMIN)).await.unwrap();
        let code = engine
            .create_admin_invite(&admin, Default::default())
            .await
            .unwrap()
            .code;
        let signed = engine
            .signup(SignupRequest {
                invite_code: code,
                email: "ada@example.com".into(),
                password: Secret::new("a long password"),
            })
            .await
            .unwrap();
        let ada = engine.authenticate(&signed.token.token).await.unwrap();
        let repo = engine
            .add_repo(
                &ada,
                AddRepoRequest {
                    url: URL.into(),
                    branch: None,
                },
            )
            .await
            .unwrap();
        let worker = Worker::new(engine.clone());
        worker.run_until_idle().await.unwrap();

        let queued = engine.start_eval(&ada, repo.id, Some(10)).await.unwrap();
        assert_eq!(queued.status, EvalStatus::Queued);
        assert_eq!(worker.run_until_idle().await.unwrap(), 1);
        let run = engine.eval_run(&ada, repo.id).await.unwrap();
        assert_eq!(run.status, EvalStatus::Done, "{run:?}");
        assert_eq!((run.done, run.total), (2, 2));
        assert!(run.started_at.is_some() && run.finished_at.is_some());
        let report = run.report.expect("a report");
        assert_eq!(report.head, head);
        assert_eq!(report.repo, "acme/shop");
        assert_eq!(report.questions, 2, "the root commit is no question");
        assert_eq!(report.methods.grep.acc_at_1, 100.0, "{report:?}");
        assert_eq!(report.methods.search_code.acc_at_1, 100.0, "{report:?}");
        // The scratch index is gone; the live index still reads the head.
        assert_eq!(index.indexed_commit(scratch_repo_id(repo.id)).await.unwrap(), None);
        assert_eq!(index.indexed_commit(repo.id).await.unwrap(), Some(head));
    }
}
