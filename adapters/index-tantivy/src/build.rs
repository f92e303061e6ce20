//! One index run: from the previous commit's index (staged in a scratch
//! directory) to the new snapshot. Files whose path and blob id are
//! unchanged are not touched; deleted files are dropped; added, modified
//! and renamed files are (re)indexed — reusing stored facts when the same
//! blob was indexed before, parsing otherwise.

use crate::extract::{self, ExtractError, FileFacts};
use crate::langs;
use crate::rules::{self, IGNORE_FILE, SkipReason, SkipRules};
use crate::schema::{self, Fields, FileRecord};
use crate::storage::{CommitRecord, FORMAT, ManifestEntry, backend_err};
use lettuce_domain::code::detect_language;
use lettuce_ports::git::{FileEntry, RepoSnapshot};
use lettuce_ports::index::{FileTokens, IndexError, IndexSummary, ProgressSink};
use lettuce_ports::tokens::TokenCounter;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{Index, IndexSettings, IndexWriter, Searcher, TantivyDocument, Term};

/// Minimum time between two progress reports (the final one is always sent).
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Tuning of index runs.
#[derive(Debug, Clone)]
pub(crate) struct BuildSettings {
    pub rules: SkipRules,
    pub threads: usize,
    pub memory_bytes: usize,
    pub parse_timeout: Duration,
    /// Counts each indexed file's tokens once, when set.
    pub tokens: Option<Arc<dyn TokenCounter>>,
}

impl BuildSettings {
    /// `text`'s token count, or the one reused from an earlier index when
    /// it is in the current encoding.
    fn count(&self, text: Option<&str>, reused: Option<FileTokens>) -> Option<FileTokens> {
        let counter = self.tokens.as_ref()?;
        match reused {
            Some(t) if t.encoding == counter.encoding() => Some(t),
            _ => text.map(|t| FileTokens {
                encoding: counter.encoding().to_owned(),
                count: counter.count(t),
            }),
        }
    }
}

/// How a manifest entry was skipped: by its path (re-checked every run) or
/// by its contents (valid as long as the blob is the same).
fn path_part(e: &ManifestEntry, rules: &SkipRules) -> Option<SkipReason> {
    rules.by_path(&e.path, e.size)
}

/// What to do with one file of the new snapshot.
enum Plan<'a> {
    /// Same path, same blob, same rules: the index already has it.
    Keep(&'a ManifestEntry),
    /// (Re)index.
    Index(&'a FileEntry),
}

struct Progress<'a> {
    sink: &'a dyn ProgressSink,
    total: u64,
    done: AtomicU64,
    last: Mutex<Instant>,
}

impl<'a> Progress<'a> {
    fn new(sink: &'a dyn ProgressSink, total: u64) -> Self {
        sink.report(0, total);
        Self {
            sink,
            total,
            done: AtomicU64::new(0),
            last: Mutex::new(Instant::now()),
        }
    }

    fn add(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if done >= self.total {
            return; // the final report is sent by `finish`
        }
        if let Ok(mut last) = self.last.try_lock()
            && last.elapsed() >= PROGRESS_EVERY
        {
            *last = Instant::now();
            self.sink.report(done, self.total);
        }
    }

    fn finish(&self) {
        self.sink.report(self.total, self.total);
    }
}

/// Stored fields of an earlier document with the same blob.
struct Reused {
    text: Option<String>,
    facts: Option<Vec<u8>>,
    lang: Option<String>,
    skipped: Option<SkipReason>,
    tokens: Option<FileTokens>,
}

fn lookup_blob(searcher: &Searcher, f: &Fields, blob_id: &str) -> Result<Option<Reused>, IndexError> {
    let term = |field, text: &str| -> Box<dyn tantivy::query::Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, text),
            IndexRecordOption::Basic,
        ))
    };
    let q = BooleanQuery::intersection(vec![term(f.kind, schema::FILE), term(f.blob, blob_id)]);
    let top = searcher
        .search(&q, &TopDocs::with_limit(8).order_by_score())
        .map_err(|e| backend_err(e, false))?;
    for (_, addr) in top {
        let doc: TantivyDocument = searcher.doc(addr).map_err(|e| backend_err(e, false))?;
        let s = schema::Stored { fields: f, doc: &doc };
        let skipped = match s.str(f.skipped) {
            Some("binary") => Some(SkipReason::Binary),
            Some("generated") => Some(SkipReason::Generated),
            Some(_) => continue, // skipped by path or size: nothing learned from the blob
            None => None,
        };
        return Ok(Some(Reused {
            text: s.str(f.content).map(str::to_owned),
            facts: s.bytes(f.facts).map(<[u8]>::to_vec),
            lang: s.str(f.lang).map(str::to_owned),
            skipped,
            tokens: s.tokens(),
        }));
    }
    Ok(None)
}

fn open_or_create(dir: &Path, incremental: bool) -> Result<Index, IndexError> {
    let index = if incremental {
        Index::open_in_dir(dir)
    } else {
        Index::builder()
            .schema(schema::schema())
            .settings(IndexSettings::default())
            .create_in_dir(dir)
    }
    .map_err(|e| backend_err(e, false))?;
    schema::register_tokenizers(&index);
    Ok(index)
}

/// The outcome of one file.
struct Done {
    entry: ManifestEntry,
    processed: bool,
    reused: bool,
    bytes: u64,
    symbols: u64,
}

/// Segments are merged only all at once, when over a fifth of the
/// documents written since the last merge are deleted, or after this many
/// runs without one (a safety net for many small pushes: a run writes at
/// most one segment per thread). Which writer thread put a file in which
/// segment — even how many segments a run writes, or which segment tantivy
/// drops because all its documents are deleted — is a matter of
/// scheduling; merging a subset (tantivy's log merge policy), or deciding
/// by segment or deletion counts, would make two builds of the same
/// history hold different documents and score differently. What decides
/// here is counted from the history alone ([`MergeLedger`]); search reads
/// BM25's statistics from the live documents only.
const MAX_RUNS_WITHOUT_MERGE: u32 = 16;

/// Kept in `meta.json`'s payload from one run to the next: documents
/// written since the last merge (the merged segment's live ones included),
/// and runs since then. Documents written minus documents alive is what
/// was deleted, however the segments lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
struct MergeLedger {
    written: u64,
    runs: u32,
}

impl MergeLedger {
    /// The ledger of an index's last commit. An index written before the
    /// ledger existed starts from its present documents and segments.
    fn of(index: &Index) -> Result<Self, IndexError> {
        let metas = index.load_metas().map_err(|e| backend_err(e, false))?;
        if let Some(ledger) = metas.payload.as_deref().and_then(|p| serde_json::from_str(p).ok()) {
            return Ok(ledger);
        }
        Ok(Self {
            written: metas.segments.iter().map(|m| u64::from(m.max_doc())).sum(),
            runs: metas.segments.len() as u32,
        })
    }

    fn payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether the segments, holding `alive` documents now, are merged.
    fn should_merge(&self, alive: u64) -> bool {
        let deleted = self.written.saturating_sub(alive);
        deleted * 5 > alive || self.runs >= MAX_RUNS_WITHOUT_MERGE
    }
}

/// Runs an index run in `work_dir` (holding the previous commit's index when
/// `previous` is set). Blocking; returns the new commit's record.
pub(crate) fn run(
    snapshot: &dyn RepoSnapshot,
    previous: Option<&CommitRecord>,
    work_dir: &Path,
    settings: &BuildSettings,
    progress: &dyn ProgressSink,
) -> Result<(CommitRecord, IndexSummary), IndexError> {
    let mut files = snapshot.files()?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let rules = match files.iter().find(|f| f.path == IGNORE_FILE) {
        Some(f) if f.size <= 64 * 1024 => {
            let bytes = snapshot.read_blob(&f.blob_id)?;
            settings
                .rules
                .clone()
                .with_repo_ignore(&String::from_utf8_lossy(&bytes))
        }
        _ => settings.rules.clone(),
    };

    let index = open_or_create(work_dir, previous.is_some())?;
    let ledger = MergeLedger::of(&index)?;
    let fields = Fields::of(&index.schema())?;
    let threads = settings.threads.max(1);
    let mut writer: IndexWriter<TantivyDocument> = index
        .writer_with_num_threads(threads, settings.memory_bytes.max((threads * 16) << 20))
        .map_err(|e| backend_err(e, false))?;
    // Segments are merged only all at once, below: see MAX_SEGMENTS.
    writer.set_merge_policy(Box::new(tantivy::merge_policy::NoMergePolicy));
    // The previous commit's documents, to reuse a blob's facts (a first
    // index has none to look up).
    let before = match previous {
        Some(_) => Some(index.reader().map_err(|e| backend_err(e, false))?.searcher()),
        None => None,
    };

    let old: HashMap<&str, &ManifestEntry> = previous
        .map(|p| p.manifest.iter().map(|e| (e.path.as_str(), e)).collect())
        .unwrap_or_default();
    let mut summary = IndexSummary {
        files_total: files.len() as u64,
        incremental: previous.is_some(),
        ..IndexSummary::default()
    };
    let mut plans = Vec::with_capacity(files.len());
    for file in &files {
        match old.get(file.path.as_str()) {
            Some(e) if e.blob_id == file.blob_id && e.size == file.size && same_path_rules(e, &rules) => {
                plans.push(Plan::Keep(e))
            }
            Some(_) => {
                writer.delete_term(Term::from_field_text(fields.path, &file.path));
                plans.push(Plan::Index(file));
            }
            None => plans.push(Plan::Index(file)),
        }
    }
    let present: std::collections::HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for path in old.keys() {
        if !present.contains(path) {
            writer.delete_term(Term::from_field_text(fields.path, path));
            summary.files_deleted += 1;
        }
    }

    let progress = Progress::new(progress, files.len() as u64);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("lettuce-index-{i}"))
        .build()
        .map_err(|e| backend_err(e, false))?;
    let writer_ref = &writer;
    let outcomes: Result<Vec<Done>, IndexError> = pool.install(|| {
        plans
            .par_iter()
            .map(|plan| {
                let done = match plan {
                    Plan::Keep(e) => Done {
                        entry: (*e).clone(),
                        processed: false,
                        reused: true,
                        bytes: 0,
                        symbols: 0,
                    },
                    Plan::Index(file) => {
                        index_file(file, &rules, &fields, before.as_ref(), writer_ref, settings, snapshot)?
                    }
                };
                progress.add(1);
                Ok(done)
            })
            .collect()
    });
    let outcomes = outcomes?;
    // A file written this run is one document plus one per definition.
    let added: u64 = plans
        .iter()
        .zip(&outcomes)
        .filter(|(p, _)| matches!(p, Plan::Index(_)))
        .map(|(_, d)| 1 + d.symbols)
        .sum();
    let ledger = MergeLedger {
        written: ledger.written + added,
        runs: ledger.runs + 1,
    };
    commit(&mut writer, ledger)?;
    let metas = index.searchable_segment_metas().map_err(|e| backend_err(e, false))?;
    let alive: u64 = metas.iter().map(|m| u64::from(m.num_docs())).sum();
    if ledger.should_merge(alive) {
        let ids: Vec<_> = metas.iter().map(|m| m.id()).collect();
        writer.merge(&ids).wait().map_err(|e| backend_err(e, true))?;
        commit(
            &mut writer,
            MergeLedger {
                written: alive,
                runs: 0,
            },
        )?;
    }
    writer.wait_merging_threads().map_err(|e| backend_err(e, true))?;
    progress.finish();

    let mut manifest = Vec::with_capacity(outcomes.len());
    // Every file in exactly one bucket: skipped, reused or processed.
    for d in outcomes {
        if d.entry.skipped.is_some() {
            summary.files_skipped += 1;
        } else if d.reused {
            summary.files_reused += 1;
        } else if d.processed {
            summary.files_processed += 1;
            summary.bytes_processed += d.bytes;
        }
        summary.symbols += d.symbols;
        manifest.push(d.entry);
    }
    let metas = index.load_metas().map_err(|e| backend_err(e, false))?;
    let mut segment_files: Vec<String> = metas
        .list_segment_files()
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|name| work_dir.join(name).exists())
        .collect();
    segment_files.sort();
    let meta_json = std::fs::read_to_string(work_dir.join("meta.json"))
        .map_err(|e| backend_err(format!("reading meta.json of the new index: {e}"), false))?;
    Ok((
        CommitRecord {
            format: FORMAT,
            commit: snapshot.commit().to_owned(),
            meta_json,
            files: segment_files,
            manifest,
        },
        summary,
    ))
}

/// Commits what the writer holds, with the ledger as `meta.json`'s payload.
fn commit(writer: &mut IndexWriter<TantivyDocument>, ledger: MergeLedger) -> Result<(), IndexError> {
    let mut prepared = writer.prepare_commit().map_err(|e| backend_err(e, true))?;
    prepared.set_payload(&ledger.payload());
    prepared.commit().map_err(|e| backend_err(e, true))?;
    Ok(())
}

fn same_path_rules(e: &ManifestEntry, rules: &SkipRules) -> bool {
    let now = path_part(e, rules);
    match e.skipped {
        // Skipped by path before: still skipped for the same reason?
        Some(r @ (SkipReason::Vendored | SkipReason::Ignored | SkipReason::TooLarge)) => now == Some(r),
        // Indexed, or skipped by content: the path must still be allowed.
        _ => now.is_none() || (now == Some(SkipReason::Generated) && e.skipped == Some(SkipReason::Generated)),
    }
}

#[allow(clippy::too_many_arguments)]
fn index_file(
    file: &FileEntry,
    rules: &SkipRules,
    f: &Fields,
    before: Option<&Searcher>,
    writer: &IndexWriter<TantivyDocument>,
    settings: &BuildSettings,
    snapshot: &dyn RepoSnapshot,
) -> Result<Done, IndexError> {
    let mut entry = ManifestEntry {
        path: file.path.clone(),
        blob_id: file.blob_id.clone(),
        size: file.size,
        skipped: rules.by_path(&file.path, file.size),
    };
    let add = |record: &FileRecord<'_>| -> Result<u64, IndexError> {
        let docs = schema::documents(f, record)?;
        let n = docs.len() as u64 - 1;
        for d in docs {
            writer.add_document(d).map_err(|e| backend_err(e, true))?;
        }
        Ok(n)
    };
    let path_lang = detect_language(&file.path, b"");
    if entry.skipped.is_some() {
        add(&FileRecord {
            path: &file.path,
            blob_id: &file.blob_id,
            lang: path_lang,
            size: file.size,
            skipped: entry.skipped,
            text: None,
            facts: None,
            facts_bytes: None,
            tokens: None,
        })?;
        return Ok(Done {
            entry,
            processed: false,
            reused: false,
            bytes: 0,
            symbols: 0,
        });
    }

    // The same contents were indexed before (a rename, a revert, a copy).
    if let Some(before) = before
        && let Some(r) = lookup_blob(before, f, &file.blob_id)?
    {
        let lang = r.lang.as_deref().or(path_lang);
        let same_lang = r.lang.as_deref() == path_lang || path_lang.is_none();
        if same_lang || r.facts.is_none() {
            entry.skipped = r.skipped;
            let tokens = settings.count(r.text.as_deref(), r.tokens);
            let symbols = add(&FileRecord {
                path: &file.path,
                blob_id: &file.blob_id,
                lang,
                size: file.size,
                skipped: r.skipped,
                text: r.text.as_deref(),
                facts: None,
                facts_bytes: if same_lang { r.facts.as_deref() } else { None },
                tokens: tokens.as_ref(),
            })?;
            return Ok(Done {
                entry,
                processed: false,
                reused: true,
                bytes: 0,
                symbols,
            });
        }
    }

    let bytes = snapshot.read_blob(&file.blob_id)?;
    let content_reason = rules::by_content(&bytes);
    let first_line_end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len()).min(256);
    let lang = detect_language(&file.path, &bytes[..first_line_end]);
    if let Some(reason) = content_reason {
        entry.skipped = Some(reason);
        add(&FileRecord {
            path: &file.path,
            blob_id: &file.blob_id,
            lang,
            size: file.size,
            skipped: Some(reason),
            text: None,
            facts: None,
            facts_bytes: None,
            tokens: None,
        })?;
        return Ok(Done {
            entry,
            processed: true,
            reused: false,
            bytes: bytes.len() as u64,
            symbols: 0,
        });
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let facts: Option<FileFacts> = match lang.and_then(langs::grammar) {
        Some(g) => match extract::extract(g, text.as_bytes(), settings.parse_timeout) {
            Ok(facts) => Some(facts),
            Err(ExtractError::Timeout) => {
                tracing::warn!(path = %file.path, timeout_ms = settings.parse_timeout.as_millis() as u64, "parsing timed out; the file is searchable but has no symbols");
                None
            }
            Err(ExtractError::Language(e)) => {
                tracing::warn!(path = %file.path, error = %e, "grammar unavailable; the file is searchable but has no symbols");
                None
            }
        },
        None => None,
    };
    let tokens = settings.count(Some(&text), None);
    let symbols = add(&FileRecord {
        path: &file.path,
        blob_id: &file.blob_id,
        lang,
        size: file.size,
        skipped: None,
        text: Some(&text),
        facts: facts.as_ref(),
        facts_bytes: None,
        tokens: tokens.as_ref(),
    })?;
    Ok(Done {
        entry,
        processed: true,
        reused: false,
        bytes: text.len() as u64,
        symbols,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_to_merge_is_counted_from_the_history() {
        let ledger = MergeLedger { written: 120, runs: 3 };
        assert!(!ledger.should_merge(100), "20 of 100 deleted: a fifth, not over");
        assert!(ledger.should_merge(99), "21 of 99 deleted");
        let many_runs = MergeLedger {
            written: 100,
            runs: MAX_RUNS_WITHOUT_MERGE,
        };
        assert!(many_runs.should_merge(100), "a safety net for many small pushes");
        assert_eq!(serde_json::from_str::<MergeLedger>(&ledger.payload()).unwrap(), ledger);
    }

    #[test]
    fn an_index_without_a_ledger_starts_from_its_segments() {
        let dir = tempfile::tempdir().unwrap();
        let index = open_or_create(dir.path(), false).unwrap();
        assert_eq!(MergeLedger::of(&index).unwrap(), MergeLedger::default());
        let fields = Fields::of(&index.schema()).unwrap();
        let mut writer: IndexWriter<TantivyDocument> = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for path in ["a.py", "b.py"] {
            let mut doc = TantivyDocument::new();
            doc.add_text(fields.path, path);
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap(); // no payload, as before the ledger
        assert_eq!(MergeLedger::of(&index).unwrap(), MergeLedger { written: 2, runs: 1 });
        commit(&mut writer, MergeLedger { written: 7, runs: 2 }).unwrap();
        assert_eq!(MergeLedger::of(&index).unwrap(), MergeLedger { written: 7, runs: 2 });
    }
}
