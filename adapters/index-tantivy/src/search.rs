//! Queries over one opened commit.

use crate::extract::{FileFacts, truncate_chars};
use crate::question;
use crate::schema::{self, Fields, Stored};
use crate::storage::{PinnedDirectory, backend_err};
use crate::tokenizer::{MAX_WORD_BYTES, OVERLONG_WORD, terms};
use aho_corasick::AhoCorasick;
use globset::{Glob, GlobMatcher};
use lettuce_domain::code::{Symbol, Trust, build_outline, is_word_char, split_identifier, split_qualified_name};
use lettuce_ports::index::{
    FileContent, FileMatch, FileOutline, GraphFile, IndexError, IndexRef, IndexedFile, LineMatch, NameMatch, Reference,
    ReferenceQuery, References, SearchMode, SearchQuery, SearchResults, SymbolGraph, SymbolMatch, SymbolQuery,
};
use rayon::prelude::*;
use regex::{Regex, RegexBuilder};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::postings::Postings;
use tantivy::query::{
    Bm25StatisticsProvider, BooleanQuery, BoostQuery, Occur, Query, QueryClone, RegexQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, DocSet, Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term};

/// Longest line text returned, in characters.
pub const MAX_LINE_CHARS: usize = 300;
/// Most candidate files ranked when a path filter applies after ranking.
const FILTERED_CANDIDATES: usize = 5_000;
/// Candidate files a substring or regex search scans before checking
/// whether it has found enough.
const SCAN_WINDOW: usize = 64;

/// Most terms a left-edge word may end before it stops narrowing (`get(`
/// ends hundreds — `target`, `widget`, … —, but a literal that common is
/// found by the scan's first windows anyway).
const MAX_SUFFIX_TERMS: usize = 128;
/// Stored bytes (text and facts) of the file documents a text search keeps
/// decoded between queries, per opened commit (see [`FileCache`]).
const FILE_CACHE_BYTES: usize = 32 << 20;

/// A field's distinct terms with their characters reversed, sorted: the
/// terms ending with a word are one range, found by binary search. (A
/// regular-expression automaton `.*word` over the term dictionary walks all
/// of it on every query: ~30 ms on the CPython stdlib.)
#[derive(Debug)]
pub(crate) struct ReversedTerms(Vec<Box<str>>);

impl ReversedTerms {
    fn of(searcher: &Searcher, field: Field) -> tantivy::Result<Self> {
        let mut all: Vec<Box<str>> = Vec::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(field)?;
            let mut stream = inverted.terms().stream()?;
            while stream.advance() {
                if let Ok(t) = std::str::from_utf8(stream.key()) {
                    all.push(t.chars().rev().collect::<String>().into_boxed_str());
                }
            }
        }
        all.sort_unstable();
        all.dedup();
        Ok(Self(all))
    }

    /// The terms ending with `word` (reversed back), or `None` when more
    /// than `max` do.
    fn ending_with(&self, word: &str, max: usize) -> Option<Vec<String>> {
        let rev: String = word.chars().rev().collect();
        let start = self.0.partition_point(|t| t.as_ref() < rev.as_str());
        let mut out = Vec::new();
        for t in self.0[start..].iter().take_while(|t| t.starts_with(rev.as_str())) {
            if out.len() == max {
                return None;
            }
            out.push(t.chars().rev().collect());
        }
        Some(out)
    }
}

/// Paths of documents, read from the `path` fast field (no stored-document
/// load).
struct PathColumns(Vec<Option<tantivy::columnar::StrColumn>>);

impl PathColumns {
    fn of(searcher: &Searcher) -> Result<Self, IndexError> {
        searcher
            .segment_readers()
            .iter()
            .map(|s| s.fast_fields().str("path"))
            .collect::<tantivy::Result<Vec<_>>>()
            .map(PathColumns)
            .map_err(tantivy_err)
    }

    fn path(&self, addr: DocAddress) -> Result<String, IndexError> {
        let mut path = String::new();
        if let Some(Some(column)) = self.0.get(addr.segment_ord as usize)
            && let Some(ord) = column.term_ords(addr.doc_id).next()
        {
            column.ord_to_str(ord, &mut path).map_err(|e| tantivy_err(e.into()))?;
        }
        Ok(path)
    }
}

/// The `limit` best documents by score, with ties at the cut-off broken by
/// path — not by document address, which depends on how the index writer's
/// threads happened to lay documents out in segments. So two builds of the
/// same commit give the same answer (as long as the tie run ends within
/// 64 × `limit` documents: past that, the first collected win).
fn top_docs_stable(
    searcher: &Searcher,
    stats: &dyn Bm25StatisticsProvider,
    query: &dyn Query,
    limit: usize,
    paths: &PathColumns,
) -> Result<Vec<(f32, DocAddress)>, IndexError> {
    let limit = limit.max(1);
    let mut want = limit + limit / 2 + 16;
    loop {
        let top = searcher
            .search_with_statistics_provider(query, &TopDocs::with_limit(want).order_by_score(), stats)
            .map_err(tantivy_err)?;
        if top.len() <= limit {
            return Ok(top);
        }
        let cut = top[limit - 1].0;
        // The tie run may extend past what was collected: collect more.
        if top.len() == want && top[want - 1].0 >= cut && want < 64 * limit {
            want *= 4;
            continue;
        }
        let mut above: Vec<(f32, DocAddress)> = top.iter().copied().filter(|(s, _)| *s > cut).collect();
        let mut tied: Vec<(String, (f32, DocAddress))> = top
            .iter()
            .copied()
            .filter(|(s, _)| *s == cut)
            .map(|d| Ok((paths.path(d.1)?, d)))
            .collect::<Result<_, IndexError>>()?;
        // Within one file the documents share a segment, in the order
        // they were added: the doc id orders them deterministically.
        tied.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.1.doc_id.cmp(&b.1.1.doc_id)));
        above.extend(tied.into_iter().map(|(_, d)| d).take(limit.saturating_sub(above.len())));
        return Ok(above);
    }
}

/// BM25's statistics over the live documents, so they are the same however
/// the index writer's threads laid documents out in segments. tantivy's
/// own count deleted documents until a merge drops them — except in a
/// segment whose documents are all deleted, which it drops at once — and a
/// merge stores a segment's token count exactly when none of the merged
/// segments had deletions, else estimated from quantized lengths. Which of
/// these happens to a changed file depends on which thread wrote it, so
/// two builds of one history scored files differently (and could order
/// near-ties differently). Here: live documents, their term frequencies,
/// and the sum of their quantized lengths (the lengths BM25 divides by
/// this average are quantized the same way).
struct LayoutFreeStats<'a> {
    searcher: &'a Searcher,
    /// Per field, computed once per opened commit.
    totals: &'a Mutex<rustc_hash::FxHashMap<Field, u64>>,
}

impl Bm25StatisticsProvider for LayoutFreeStats<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&n) = totals.get(&field) {
            return Ok(n);
        }
        let mut n = 0u64;
        for segment in self.searcher.segment_readers() {
            n += match segment.fieldnorms_readers().get_field(field)? {
                Some(norms) => segment.doc_ids_alive().map(|d| u64::from(norms.fieldnorm(d))).sum(),
                // Without lengths every document counts as one token (as
                // BM25 then reads every length).
                None => u64::from(segment.num_docs()),
            };
        }
        totals.insert(field, n);
        Ok(n)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self
            .searcher
            .segment_readers()
            .iter()
            .map(|s| u64::from(s.num_docs()))
            .sum())
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut n = 0u64;
        for segment in self.searcher.segment_readers() {
            let inverted = segment.inverted_index(term.field())?;
            n += u64::from(match segment.alive_bitset() {
                None => inverted.doc_freq(term)?,
                Some(alive) => inverted
                    .read_postings(term, IndexRecordOption::Basic)?
                    .map_or(0, |p| p.doc_freq_given_deletes(alive)),
            });
        }
        Ok(n)
    }
}

/// One commit of one repo, opened for queries.
pub(crate) struct OpenIndex {
    pub at: IndexRef,
    reader: IndexReader,
    fields: Fields,
    graph: OnceLock<Arc<SymbolGraph>>,
    /// The content field's terms, reversed and sorted: built on the first
    /// substring search that needs a term *ending* with a word.
    reversed_terms: OnceLock<Result<Arc<ReversedTerms>, String>>,
    /// File documents recent text searches re-ranked.
    files: Mutex<FileCache>,
    /// [`LayoutFreeStats`]' token counts.
    token_totals: Mutex<rustc_hash::FxHashMap<Field, u64>>,
}

/// A file document with its definitions decoded, as text search re-ranks
/// and answers with it.
struct LoadedFile {
    doc: TantivyDocument,
    symbols: Vec<Symbol>,
    /// Stored text and facts, for the cache's budget.
    bytes: usize,
}

/// The file documents recent text searches loaded, least recently used
/// first out past [`FILE_CACHE_BYTES`]. A question's candidates are mostly
/// the same large modules as the previous question's (an agent asks
/// several about one task); loading one means decompressing its block and
/// copying its text and facts (tantivy reads a stored bytes field one
/// byte at a time), milliseconds for a big test module.
struct FileCache {
    lru: lru::LruCache<DocAddress, Arc<LoadedFile>>,
    bytes: usize,
}

impl FileCache {
    fn new() -> Self {
        Self {
            lru: lru::LruCache::unbounded(),
            bytes: 0,
        }
    }

    fn get(&mut self, addr: DocAddress) -> Option<Arc<LoadedFile>> {
        self.lru.get(&addr).cloned()
    }

    fn put(&mut self, addr: DocAddress, file: Arc<LoadedFile>) {
        self.bytes += file.bytes;
        if let Some(old) = self.lru.put(addr, file) {
            self.bytes -= old.bytes;
        }
        while self.bytes > FILE_CACHE_BYTES
            && let Some((_, evicted)) = self.lru.pop_lru()
        {
            self.bytes -= evicted.bytes;
        }
    }
}

impl std::fmt::Debug for OpenIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenIndex")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

fn tantivy_err(e: tantivy::TantivyError) -> IndexError {
    backend_err(e, false)
}

fn term(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    ))
}

fn boost(q: Box<dyn Query>, by: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(q, by))
}

fn all_of(qs: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(qs.into_iter().map(|q| (Occur::Must, q)).collect()))
}

fn any_of(qs: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(qs.into_iter().map(|q| (Occur::Should, q)).collect()))
}

/// A path restriction: a glob when it has glob characters, else a substring.
#[derive(Debug, Clone)]
pub(crate) enum PathFilter {
    Glob(GlobMatcher),
    Substring(String),
}

impl PathFilter {
    pub fn parse(s: Option<&str>) -> Result<Option<Self>, IndexError> {
        let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        if s.contains(['*', '?', '[', '{']) {
            let glob = Glob::new(s).map_err(|e| IndexError::InvalidQuery {
                field: "path",
                message: format!("invalid glob {s:?}: {}", e.kind()),
            })?;
            Ok(Some(PathFilter::Glob(glob.compile_matcher())))
        } else {
            Ok(Some(PathFilter::Substring(s.trim_start_matches("./").to_owned())))
        }
    }

    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathFilter::Glob(g) => g.is_match(path),
            PathFilter::Substring(s) => path.contains(s.as_str()),
        }
    }
}

fn keep(filter: &Option<PathFilter>, path: &str) -> bool {
    filter.as_ref().is_none_or(|f| f.matches(path))
}

impl OpenIndex {
    /// Opens a commit from a directory of segment files and its `meta.json`.
    pub fn open(at: IndexRef, dir: &Path, meta_json: &str) -> Result<Self, IndexError> {
        let directory = PinnedDirectory::open(dir, meta_json)?;
        let index = Index::open(directory).map_err(tantivy_err)?;
        schema::register_tokenizers(&index);
        let fields = Fields::of(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tantivy_err)?;
        Ok(Self {
            at,
            reader,
            fields,
            graph: OnceLock::new(),
            reversed_terms: OnceLock::new(),
            files: Mutex::new(FileCache::new()),
            token_totals: Mutex::default(),
        })
    }

    fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// The statistics every scored search uses: see [`LayoutFreeStats`].
    fn stats<'a>(&'a self, searcher: &'a Searcher) -> LayoutFreeStats<'a> {
        LayoutFreeStats {
            searcher,
            totals: &self.token_totals,
        }
    }

    fn doc(&self, searcher: &Searcher, addr: DocAddress) -> Result<TantivyDocument, IndexError> {
        searcher.doc(addr).map_err(tantivy_err)
    }

    /// A file document and its definitions, from the cache of recent text
    /// searches or loaded (and cached).
    fn loaded_file(&self, searcher: &Searcher, addr: DocAddress) -> Result<Arc<LoadedFile>, IndexError> {
        let cache = || self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = cache().get(addr) {
            return Ok(file);
        }
        let doc = self.doc(searcher, addr)?;
        let stored = self.stored(&doc);
        let facts = stored.bytes(self.fields.facts);
        // Definitions only: the identifier occurrences are most of the bytes.
        let symbols = match facts {
            Some(b) => schema::decode_symbols(b)?,
            None => Vec::new(),
        };
        let bytes = facts.map_or(0, <[u8]>::len) + stored.str(self.fields.content).map_or(0, str::len);
        let file = Arc::new(LoadedFile { doc, symbols, bytes });
        cache().put(addr, file.clone());
        Ok(file)
    }

    fn stored<'a>(&'a self, doc: &'a TantivyDocument) -> Stored<'a> {
        Stored {
            fields: &self.fields,
            doc,
        }
    }

    fn of_kind(&self, kind: &str) -> Box<dyn Query> {
        term(self.fields.kind, kind)
    }

    fn file_doc(&self, searcher: &Searcher, path: &str) -> Result<TantivyDocument, IndexError> {
        let q = all_of(vec![self.of_kind(schema::FILE), term(self.fields.path, path)]);
        let top = searcher
            .search(&q, &TopDocs::with_limit(1).order_by_score())
            .map_err(tantivy_err)?;
        match top.first() {
            Some((_, addr)) => self.doc(searcher, *addr),
            None => Err(IndexError::FileNotFound { path: path.to_owned() }),
        }
    }

    fn doc_set(&self, searcher: &Searcher, q: &dyn Query) -> Result<Vec<DocAddress>, IndexError> {
        let mut v: Vec<DocAddress> = searcher
            .search(q, &DocSetCollector)
            .map_err(tantivy_err)?
            .into_iter()
            .collect();
        v.sort();
        Ok(v)
    }

    fn with_lang(&self, mut clauses: Vec<Box<dyn Query>>, lang: Option<&str>) -> Vec<Box<dyn Query>> {
        if let Some(l) = lang.map(str::trim).filter(|l| !l.is_empty()) {
            clauses.push(term(self.fields.lang, &l.to_ascii_lowercase()));
        }
        clauses
    }

    // ── files ───────────────────────────────────────────────────────────

    pub fn read_file(&self, path: &str) -> Result<FileContent, IndexError> {
        let searcher = self.searcher();
        let doc = self.file_doc(&searcher, path)?;
        let s = self.stored(&doc);
        let file = s.file();
        if let Some(reason) = &file.skipped {
            return Err(IndexError::InvalidQuery {
                field: "path",
                message: format!("{path} is not indexed ({reason}); its contents are not available"),
            });
        }
        let text = s.str(self.fields.content).unwrap_or_default().to_owned();
        Ok(FileContent { file, text })
    }

    pub fn outline(&self, path: &str) -> Result<FileOutline, IndexError> {
        let searcher = self.searcher();
        let doc = self.file_doc(&searcher, path)?;
        let s = self.stored(&doc);
        let symbols = match s.bytes(self.fields.facts) {
            Some(b) => schema::decode_symbols(b)?,
            None => Vec::new(),
        };
        Ok(FileOutline {
            file: s.file(),
            symbols: build_outline(&symbols),
        })
    }

    pub fn list_files(&self, filter: Option<&str>) -> Result<Vec<IndexedFile>, IndexError> {
        let filter = PathFilter::parse(filter)?;
        let searcher = self.searcher();
        let addrs = self.doc_set(&searcher, self.of_kind(schema::FILE).as_ref())?;
        let mut files = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let doc = self.doc(&searcher, addr)?;
            let f = self.stored(&doc).file();
            if keep(&filter, &f.path) {
                files.push(f);
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    // ── full text ───────────────────────────────────────────────────────

    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults, IndexError> {
        let filter = PathFilter::parse(q.path.as_deref())?;
        let query = q.query.trim();
        if query.is_empty() {
            return Err(IndexError::InvalidQuery {
                field: "q",
                message: "the query is empty".into(),
            });
        }
        let max_files = q.max_files.max(1);
        let max_lines = q.max_lines_per_file.max(1);
        let words = query_words(query);
        match q.mode {
            SearchMode::Text if !words.is_empty() => self.search_words(&words, q, &filter, max_files, max_lines),
            SearchMode::Text | SearchMode::Substring => {
                let pattern = regex::escape(query);
                let narrowing = literal_terms(query, q.case_sensitive);
                let edges = self.edge_clauses(query)?;
                // Words at the edges may be parts of longer words in a match
                // (`close()` in `foreclose()`): they cannot narrow, but files
                // that contain them are the likeliest to match, so they order
                // the scan.
                let mut hints = narrowing.clone();
                for w in query.split(|c: char| !is_word_char(c)).filter(|w| !w.is_empty()) {
                    let w = lower(w);
                    if w.len() <= MAX_WORD_BYTES && !hints.contains(&w) {
                        hints.push(w);
                    }
                }
                self.scan(
                    &pattern,
                    q.case_sensitive,
                    narrowing,
                    edges,
                    &hints,
                    q,
                    &filter,
                    max_files,
                    max_lines,
                )
            }
            SearchMode::Regex => {
                let narrowing = regex_terms(query, q.case_sensitive);
                let hints = narrowing.clone();
                self.scan(
                    query,
                    q.case_sensitive,
                    narrowing,
                    Vec::new(),
                    &hints,
                    q,
                    &filter,
                    max_files,
                    max_lines,
                )
            }
        }
    }

    /// Terms of the content field that stem like `word` (`callbacks` →
    /// `callback`, `callbacks`), the word itself first.
    fn stem_family(&self, searcher: &Searcher, word: &str) -> Result<Vec<String>, IndexError> {
        let mut out = vec![word.to_owned()];
        let s = question::stem(word);
        if s == word && word.len() < 4 {
            return Ok(out);
        }
        if !out.contains(&s) && s.len() <= MAX_WORD_BYTES {
            out.push(s.clone());
        }
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(self.fields.content).map_err(tantivy_err)?;
            // Only terms of the stem plus a short ending can stem back to it:
            // the automaton never walks longer ones (`get` has thousands).
            let mut stream = inverted
                .terms()
                .search(ShortEnding {
                    prefix: s.as_bytes(),
                    extra: STEM_ENDING_BYTES,
                })
                .into_stream()
                .map_err(|e| tantivy_err(e.into()))?;
            let mut seen = 0;
            while stream.advance() && seen < STEM_SCAN {
                seen += 1;
                if let Ok(t) = std::str::from_utf8(stream.key())
                    && !out.iter().any(|o| o == t)
                    && question::stem(t) == s
                {
                    out.push(t.to_owned());
                }
            }
        }
        // In one order whatever the segments: which segment holds which
        // term depends on how the writer's threads ran, and the order of a
        // word's alternatives is the order its scores are summed in.
        out[1..].sort_unstable();
        Ok(out)
    }

    /// The content clause of one word: any of its variants, or all its parts.
    fn word_clause(&self, w: &QueryWord) -> Box<dyn Query> {
        let f = &self.fields;
        let mut alts: Vec<Box<dyn Query>> = w.variants.iter().map(|v| term(f.content, v)).collect();
        if w.parts.len() > 1 {
            // Parts over the limit are not terms (an overlong word is
            // indexed by its other parts).
            let parts = w.parts.iter().filter(|p| p.len() <= MAX_WORD_BYTES);
            alts.push(all_of(parts.map(|p| term(f.content, p)).collect()));
        }
        any_of(alts)
    }

    /// The files that have each of `words` (one word per stem, its
    /// variants looked up), with the word's rarity; and the words no file
    /// has, as written.
    fn present_words(
        &self,
        searcher: &Searcher,
        mut words: Vec<QueryWord>,
        files_q: &dyn Fn() -> Box<dyn Query>,
        n_files: f32,
    ) -> Result<(Vec<Present>, Vec<String>), IndexError> {
        // One word per stem: `callback callbacks` is one word.
        let mut stems: Vec<String> = Vec::new();
        words.retain(|w| {
            let s = question::stem(&w.whole);
            if stems.contains(&s) {
                false
            } else {
                stems.push(s);
                true
            }
        });
        for w in &mut words {
            w.variants = self.stem_family(searcher, &w.whole)?;
        }
        let mut present: Vec<Present> = Vec::new();
        let mut absent: Vec<String> = Vec::new();
        for w in words {
            let clause = self.word_clause(&w);
            let docs: HashSet<DocAddress> = searcher
                .search(all_of(vec![files_q(), clause.box_clone()]).as_ref(), &DocSetCollector)
                .map_err(tantivy_err)?;
            if docs.is_empty() {
                absent.push(w.written.clone());
                continue;
            }
            let df = docs.len() as f32;
            let idf = (1.0 + (n_files - df + 0.5) / (df + 0.5)).ln().max(0.01);
            present.push(Present {
                word: w,
                clause,
                docs,
                idf,
            });
        }
        Ok((present, absent))
    }

    fn search_words(
        &self,
        all_words: &[QueryWord],
        q: &SearchQuery,
        filter: &Option<PathFilter>,
        max_files: usize,
        max_lines: usize,
    ) -> Result<SearchResults, IndexError> {
        let f = &self.fields;
        let searcher = self.searcher();
        // Stop words say nothing about where code is, unless they are all
        // the query has.
        let (mut words, mut ignored): (Vec<QueryWord>, Vec<QueryWord>) = all_words
            .iter()
            .cloned()
            .partition(|w| !question::is_stop_word(&w.whole));
        if words.is_empty() {
            words = all_words.to_vec();
            ignored.clear();
        }
        let files_q = || all_of(self.with_lang(vec![self.of_kind(schema::FILE)], q.lang.as_deref()));
        let n_files = searcher.search(files_q().as_ref(), &Count).map_err(tantivy_err)? as f32;
        let (mut present, absent) = self.present_words(&searcher, words, &files_q, n_files)?;
        // No meaningful word occurs anywhere (`Fix grammar: 'allows to'`):
        // the stop words are what is left to answer with, rather than nothing.
        if present.is_empty() && !ignored.is_empty() {
            present = self
                .present_words(&searcher, std::mem::take(&mut ignored), &files_q, n_files)?
                .0;
        }
        let ignored: Vec<String> = ignored.into_iter().map(|w| w.written).collect();
        if present.is_empty() {
            return Ok(SearchResults {
                files: Vec::new(),
                more: false,
                absent,
                ignored,
            });
        }
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for p in &present {
            should.push((Occur::Should, p.clause.box_clone()));
            let defs = p.word.variants.iter().map(|v| term(f.defs, v)).collect();
            should.push((Occur::Should, boost(any_of(defs), 2.0)));
            let paths = p.word.variants.iter().map(|v| term(f.path_text, v)).collect();
            should.push((Occur::Should, boost(any_of(paths), 2.0)));
        }
        // Several words may name one identifier: `find iter` → find_iter, finditer.
        if present.len() > 1 && present.iter().all(|p| p.word.parts.len() == 1) {
            let parts: Vec<&str> = present.iter().map(|p| p.word.whole.as_str()).collect();
            for joined in [parts.join("_"), parts.concat()] {
                if joined.len() <= MAX_WORD_BYTES {
                    should.push((Occur::Should, boost(term(f.content, &joined), 4.0)));
                    should.push((Occur::Should, boost(term(f.defs, &joined), 6.0)));
                }
            }
        }
        let any_word = any_of(present.iter().map(|p| p.clause.box_clone()).collect());
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, files_q()), (Occur::Must, any_word)];
        clauses.extend(should);
        let query = BooleanQuery::new(clauses);
        let limit = if filter.is_some() {
            FILTERED_CANDIDATES
        } else {
            (max_files * 10).max(100)
        };
        let path_columns = PathColumns::of(&searcher)?;
        let top = top_docs_stable(&searcher, &self.stats(&searcher), &query, limit, &path_columns)?;
        let total_idf: f32 = present.iter().map(|p| p.idf).sum();
        let question_words: Vec<String> = all_words.iter().map(|w| w.whole.clone()).collect();
        // Rank: relevance × coverage (the share of the question's weight the
        // file has; all words earn a bonus) × the file's kind.
        // Paths come from the fast field: only the files that survive the
        // ranking below have their stored document (text, facts) loaded.
        let mut ranked: Vec<Candidate> = Vec::new();
        for (score, addr) in top {
            let path = path_columns.path(addr)?;
            if !keep(filter, &path) {
                continue;
            }
            let has: Vec<bool> = present.iter().map(|p| p.docs.contains(&addr)).collect();
            let coverage = present
                .iter()
                .zip(&has)
                .filter(|(_, h)| **h)
                .map(|(p, _)| p.idf)
                .sum::<f32>()
                / total_idf;
            let all = has.iter().all(|h| *h) && present.len() > 1;
            let weight = question::class_weight(question::path_class(&path), &question_words);
            let rank = score * (0.3 + 0.7 * coverage).powi(2) * if all { 1.5 } else { 1.0 } * weight;
            ranked.push(Candidate {
                addr,
                path,
                has,
                coverage,
                rank,
            });
        }
        // Files with a small share of what the best file has are noise —
        // unless too few files have more (one rare word, such as `alone` in
        // a task of three words or more, must not leave a single file): then
        // the best of them follow, down to a fifth of the best share.
        let best = ranked.iter().map(|c| c.coverage).fold(0.0f32, f32::max);
        let (mut strong, weak): (Vec<Candidate>, Vec<Candidate>) =
            ranked.into_iter().partition(|c| c.coverage >= best * 0.5);
        sort_candidates(&mut strong);
        if strong.len() < max_files && present.len() >= 3 {
            let mut weak: Vec<Candidate> = weak.into_iter().filter(|c| c.coverage >= best * 0.2).collect();
            sort_candidates(&mut weak);
            weak.truncate(max_files - strong.len());
            strong.extend(weak);
        }
        let mut ranked = strong;
        // Definitions: a file whose definition names, signatures or docs
        // carry the words ranks higher.
        let rerank = ranked.len().min(max_files * 2 + 5);
        let mut loaded: Vec<Arc<LoadedFile>> = Vec::with_capacity(rerank);
        let words_for_lines: Vec<QueryWord> = present.iter().map(|p| p.word.clone()).collect();
        let needles = Needles::new(&words_for_lines);
        let highlight = words_regex(&words_for_lines);
        // Unicode case folding may differ from the tokenizer's lowercasing:
        // only an ASCII matcher may skip definitions.
        let prefilter = needles.all_ascii().then_some(&highlight);
        for c in ranked.iter_mut().take(rerank) {
            let file = self.loaded_file(&searcher, c.addr)?;
            let def = best_definition(&file.symbols, &present, &needles, total_idf, prefilter);
            c.rank *= 1.0 + 0.6 * def;
            loaded.push(file);
        }
        let mut head: Vec<(Candidate, Arc<LoadedFile>)> = ranked.drain(..rerank).zip(loaded).collect();
        head.sort_by(|(a, _), (b, _)| b.rank.total_cmp(&a.rank).then_with(|| a.path.cmp(&b.path)));
        let more = head.len() > max_files || !ranked.is_empty();
        head.truncate(max_files);
        let mut files = Vec::with_capacity(head.len());
        for (c, loaded) in head {
            let stored = self.stored(&loaded.doc);
            let text = stored.str(f.content).unwrap_or_default();
            let (mut lines, line_matches) = best_lines(text, &highlight, &needles, max_lines);
            for l in &mut lines {
                l.enclosing = innermost(&loaded.symbols, l.line).map(Symbol::qualified_name);
            }
            let words = present
                .iter()
                .zip(&c.has)
                .filter(|(_, h)| **h)
                .map(|(p, _)| p.word.written.clone())
                .collect();
            files.push(FileMatch {
                file: stored.file(),
                score: c.rank,
                lines,
                line_matches,
                words,
            });
        }
        Ok(SearchResults {
            files,
            more,
            absent,
            ignored,
        })
    }

    /// Clauses from the words at a literal's edges (see [`edge_words`]): a
    /// file holding the literal has a term *starting* with the right edge
    /// word and a term *ending* with the left one — unless the match is
    /// inside a word too long to be a term, which the [`OVERLONG_WORD`]
    /// marker tells. Terms ending with a word come from the reversed term
    /// list; a word ending too many terms to narrow adds no clause.
    fn edge_clauses(&self, literal: &str) -> Result<Vec<Box<dyn Query>>, IndexError> {
        let f = &self.fields;
        let (left, right) = edge_words(literal);
        let overlong = || term(f.overlong, OVERLONG_WORD);
        let mut out: Vec<Box<dyn Query>> = Vec::new();
        if let Some(w) = right {
            let words =
                RegexQuery::from_pattern(&format!("{}.*", regex::escape(&w)), f.content).map_err(tantivy_err)?;
            out.push(any_of(vec![Box::new(words), overlong()]));
        }
        if let Some(w) = left
            && let Some(ending) = self.reversed_terms()?.ending_with(&w, MAX_SUFFIX_TERMS)
        {
            // A union of term queries: each is one dictionary lookup, where
            // a term-set query walks the dictionary with an automaton.
            let mut any: Vec<Box<dyn Query>> = ending.iter().map(|t| term(f.content, t)).collect();
            any.push(overlong());
            out.push(any_of(any));
        }
        Ok(out)
    }

    fn reversed_terms(&self) -> Result<Arc<ReversedTerms>, IndexError> {
        let built = self.reversed_terms.get_or_init(|| {
            ReversedTerms::of(&self.searcher(), self.fields.content)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        });
        built
            .clone()
            .map_err(|e| tantivy_err(tantivy::TantivyError::InternalError(e)))
    }

    #[allow(clippy::too_many_arguments)]
    fn scan(
        &self,
        pattern: &str,
        case_sensitive: bool,
        narrowing: Vec<String>,
        edges: Vec<Box<dyn Query>>,
        hints: &[String],
        q: &SearchQuery,
        filter: &Option<PathFilter>,
        max_files: usize,
        max_lines: usize,
    ) -> Result<SearchResults, IndexError> {
        let re = RegexBuilder::new(pattern)
            .case_insensitive(!case_sensitive)
            .multi_line(true)
            .size_limit(8 << 20)
            .dfa_size_limit(8 << 20)
            .build()
            .map_err(|e| IndexError::InvalidQuery {
                field: "q",
                message: format!("invalid regular expression: {e}"),
            })?;
        let f = &self.fields;
        let mut must = vec![self.of_kind(schema::FILE)];
        must.extend(narrowing.iter().map(|t| term(f.content, t)));
        must.extend(edges);
        let must = self.with_lang(must, q.lang.as_deref());
        let searcher = self.searcher();
        // Candidates with the pattern's words most frequent first (raw term
        // frequency, not BM25: length normalisation would rank a short file
        // with one occurrence above a longer one with many), ties by path,
        // scanned a window at a time until more than `max_files` files
        // matched: `more` stays exact, and a common literal does not make
        // every candidate file be read.
        let candidates = searcher
            .search(all_of(must).as_ref(), &DocSetCollector)
            .map_err(tantivy_err)?;
        let addrs = self.by_term_frequency(&searcher, candidates, hints)?;
        let mut files: Vec<FileMatch> = Vec::new();
        for window in addrs.chunks(SCAN_WINDOW) {
            files.extend(self.scan_window(&searcher, window, &re, filter, max_lines)?);
            if files.len() > max_files {
                break;
            }
        }
        files.sort_by(|a, b| {
            b.line_matches
                .cmp(&a.line_matches)
                .then_with(|| a.file.path.cmp(&b.file.path))
        });
        let more = files.len() > max_files;
        files.truncate(max_files);
        Ok(SearchResults {
            files,
            more,
            absent: Vec::new(),
            ignored: Vec::new(),
        })
    }

    /// `candidates` ordered by the summed frequency of `words` in the content
    /// field (highest first), then by path: deterministic whatever the
    /// segment layout.
    fn by_term_frequency(
        &self,
        searcher: &Searcher,
        candidates: HashSet<DocAddress>,
        words: &[String],
    ) -> Result<Vec<DocAddress>, IndexError> {
        let mut freq: std::collections::HashMap<DocAddress, u64> = candidates.iter().map(|a| (*a, 0)).collect();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let inverted = segment.inverted_index(self.fields.content).map_err(tantivy_err)?;
            for word in words {
                let t = Term::from_field_text(self.fields.content, word);
                let Some(mut postings) = inverted
                    .read_postings(&t, IndexRecordOption::WithFreqs)
                    .map_err(|e| tantivy_err(e.into()))?
                else {
                    continue;
                };
                let mut doc = postings.doc();
                while doc != tantivy::TERMINATED {
                    let addr = DocAddress::new(ord as u32, doc);
                    if let Some(n) = freq.get_mut(&addr) {
                        *n += u64::from(postings.term_freq());
                    }
                    doc = postings.advance();
                }
            }
        }
        let paths = PathColumns::of(searcher)?;
        let mut ranked: Vec<(DocAddress, u64, String)> = freq
            .into_iter()
            .map(|(a, n)| Ok((a, n, paths.path(a)?)))
            .collect::<Result<_, IndexError>>()?;
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.2.cmp(&b.2)));
        Ok(ranked.into_iter().map(|(a, _, _)| a).collect())
    }

    /// The matches of `re` in the files of `window`, scanned in parallel.
    fn scan_window(
        &self,
        searcher: &Searcher,
        window: &[DocAddress],
        re: &Regex,
        filter: &Option<PathFilter>,
        max_lines: usize,
    ) -> Result<Vec<FileMatch>, IndexError> {
        let f = &self.fields;
        let found: Result<Vec<Option<FileMatch>>, IndexError> = window
            .par_chunks(8)
            .map(|chunk| {
                let mut out = Vec::new();
                for &addr in chunk {
                    let doc = self.doc(searcher, addr)?;
                    let s = self.stored(&doc);
                    let path = s.str(f.path).unwrap_or_default();
                    if !keep(filter, path) {
                        continue;
                    }
                    let Some(text) = s.str(f.content) else { continue };
                    let (lines, line_matches) = regex_lines(text, re, max_lines);
                    if line_matches > 0 {
                        out.push(Some(FileMatch {
                            file: s.file(),
                            score: line_matches as f32,
                            lines,
                            line_matches,
                            words: Vec::new(),
                        }));
                    }
                }
                Ok(out)
            })
            .collect::<Result<Vec<_>, IndexError>>()
            .map(|v| v.into_iter().flatten().collect());
        Ok(found?.into_iter().flatten().collect())
    }

    // ── symbols ─────────────────────────────────────────────────────────

    pub fn symbols(&self, q: &SymbolQuery) -> Result<Vec<SymbolMatch>, IndexError> {
        let filter = PathFilter::parse(q.path.as_deref())?;
        let (container, name) = split_qualified_name(&q.name);
        if name.is_empty() || !name.chars().any(is_word_char) {
            return Err(IndexError::InvalidQuery {
                field: "name",
                message: "give a symbol name, e.g. parse_url or Client.send".into(),
            });
        }
        let f = &self.fields;
        let lower = name.to_lowercase();
        let parts: Vec<Box<dyn Query>> = terms(&name).iter().map(|t| term(f.sym_parts, t)).collect();
        let mut names = vec![
            boost(term(f.sym_name, &name), 10.0),
            boost(term(f.sym_lower, &lower), 5.0),
        ];
        if !parts.is_empty() {
            names.push(all_of(parts));
        }
        let mut must = vec![self.of_kind(schema::SYMBOL), any_of(names)];
        if let Some(k) = q.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            must.push(term(f.sym_kind, &k.to_ascii_lowercase()));
        }
        let must = self.with_lang(must, q.lang.as_deref());
        let limit = q.limit.max(1);
        let candidates = if filter.is_some() || container.is_some() {
            FILTERED_CANDIDATES
        } else {
            limit * 4 + 50
        };
        let searcher = self.searcher();
        let top = top_docs_stable(
            &searcher,
            &self.stats(&searcher),
            &all_of(must),
            candidates,
            &PathColumns::of(&searcher)?,
        )?;
        let mut out: Vec<(SymbolMatch, f32)> = Vec::new();
        for (score, addr) in top {
            let doc = self.doc(&searcher, addr)?;
            let s = self.stored(&doc);
            let file = s.file();
            if !keep(&filter, &file.path) {
                continue;
            }
            let Some(bytes) = s.bytes(f.sym) else { continue };
            let symbol = schema::decode_symbol(bytes)?;
            let matched = name_match(&symbol, &name, container.as_deref());
            out.push((
                SymbolMatch {
                    file,
                    symbol,
                    matched,
                    trust: Trust::Syntactic,
                },
                score,
            ));
        }
        out.sort_by(|(a, sa), (b, sb)| {
            a.matched
                .cmp(&b.matched)
                .then_with(|| kind_rank(&a.symbol.kind).cmp(&kind_rank(&b.symbol.kind)))
                .then_with(|| is_test_path(&a.file.path).cmp(&is_test_path(&b.file.path)))
                .then_with(|| sb.total_cmp(sa))
                .then_with(|| a.file.path.len().cmp(&b.file.path.len()))
                .then_with(|| a.file.path.cmp(&b.file.path))
                .then_with(|| a.symbol.start_line.cmp(&b.symbol.start_line))
        });
        out.truncate(limit);
        Ok(out.into_iter().map(|(m, _)| m).collect())
    }

    // ── references ──────────────────────────────────────────────────────

    pub fn references(&self, q: &ReferenceQuery) -> Result<References, IndexError> {
        let filter = PathFilter::parse(q.path.as_deref())?;
        let (_, name) = split_qualified_name(&q.name);
        if name.is_empty() || !name.chars().all(is_word_char) {
            return Err(IndexError::InvalidQuery {
                field: "name",
                message: "give an identifier, e.g. parse_url".into(),
            });
        }
        let f = &self.fields;
        let searcher = self.searcher();
        // Files whose text has the name's word: the word itself, or for an
        // overlong one (indexed by its parts only) every part.
        let mut q_files = vec![self.of_kind(schema::FILE)];
        if name.len() <= MAX_WORD_BYTES {
            q_files.push(term(f.content, &lower(&name)));
        } else {
            let mut parts: Vec<String> = split_identifier(&name)
                .into_iter()
                .filter(|p| p.len() <= MAX_WORD_BYTES)
                .map(lower)
                .collect();
            parts.sort();
            parts.dedup();
            q_files.extend(parts.iter().map(|p| term(f.content, p)));
        }
        let addrs = self.doc_set(&searcher, all_of(q_files).as_ref())?;
        let per_file: Result<Vec<Vec<Reference>>, IndexError> = addrs
            .par_iter()
            .map(|&addr| {
                let doc = self.doc(&searcher, addr)?;
                let s = self.stored(&doc);
                let path = s.str(f.path).unwrap_or_default();
                if !keep(&filter, path) {
                    return Ok(Vec::new());
                }
                let Some(bytes) = s.bytes(f.facts) else {
                    return Ok(Vec::new());
                };
                let facts = schema::decode_facts(bytes)?;
                let Ok(i) = facts.refs.binary_search_by(|g| g.name.as_str().cmp(&name)) else {
                    return Ok(Vec::new());
                };
                let file = s.file();
                let text = s.str(f.content).unwrap_or_default();
                Ok(occurrences(&facts, i, &file, text))
            })
            .collect();
        let mut per_file = per_file?;
        // Files that define the name first, then by path.
        per_file.retain(|v| !v.is_empty());
        per_file.sort_by(|a, b| {
            let da = a.iter().any(|r| r.definition);
            let db = b.iter().any(|r| r.definition);
            db.cmp(&da).then_with(|| a[0].file.path.cmp(&b[0].file.path))
        });
        let limit = q.limit.max(1);
        let mut references: Vec<Reference> = per_file.into_iter().flatten().collect();
        let more = references.len() > limit;
        references.truncate(limit);
        Ok(References { references, more })
    }

    // ── graph ───────────────────────────────────────────────────────────

    pub fn graph(&self) -> Result<Arc<SymbolGraph>, IndexError> {
        if let Some(g) = self.graph.get() {
            return Ok(g.clone());
        }
        let f = &self.fields;
        let searcher = self.searcher();
        let addrs = self.doc_set(&searcher, self.of_kind(schema::FILE).as_ref())?;
        let files: Result<Vec<Option<GraphFile>>, IndexError> = addrs
            .par_iter()
            .map(|&addr| {
                let doc = self.doc(&searcher, addr)?;
                let s = self.stored(&doc);
                let Some(bytes) = s.bytes(f.facts) else { return Ok(None) };
                let facts = schema::decode_facts(bytes)?;
                let references: Vec<(String, u32)> = facts
                    .refs
                    .into_iter()
                    .filter_map(|g| {
                        let n = g.at.iter().filter(|(_, _, def)| !def).count() as u32;
                        (n > 0).then_some((g.name, n))
                    })
                    .collect();
                if facts.symbols.is_empty() && references.is_empty() {
                    return Ok(None);
                }
                Ok(Some(GraphFile {
                    file: s.file(),
                    definitions: facts.symbols,
                    references,
                }))
            })
            .collect();
        let mut files: Vec<GraphFile> = files?.into_iter().flatten().collect();
        files.sort_by(|a, b| a.file.path.cmp(&b.file.path));
        let graph = Arc::new(SymbolGraph { files });
        Ok(self.graph.get_or_init(|| graph).clone())
    }
}

/// Terms scanned per segment when looking for a word's stem family.
const STEM_SCAN: usize = 4_000;
/// Longest ending a stem family member may have beyond the stem, in bytes
/// (`callback` → `callbacks`, `handl` → `handling`).
const STEM_ENDING_BYTES: usize = 5;

/// Term-dictionary automaton: `prefix` followed by at most `extra` bytes.
struct ShortEnding<'a> {
    prefix: &'a [u8],
    extra: usize,
}

impl tantivy_fst::Automaton for ShortEnding<'_> {
    /// Bytes accepted so far; `None` once the term cannot match.
    type State = Option<usize>;

    fn start(&self) -> Option<usize> {
        Some(0)
    }

    fn is_match(&self, state: &Option<usize>) -> bool {
        state.is_some_and(|n| n >= self.prefix.len())
    }

    fn can_match(&self, state: &Option<usize>) -> bool {
        state.is_some()
    }

    fn accept(&self, state: &Option<usize>, byte: u8) -> Option<usize> {
        let n = (*state)?;
        match self.prefix.get(n) {
            Some(&b) => (b == byte).then_some(n + 1),
            None => (n < self.prefix.len() + self.extra).then_some(n + 1),
        }
    }
}

/// A question word that occurs in the index.
struct Present {
    word: QueryWord,
    clause: Box<dyn Query>,
    docs: HashSet<DocAddress>,
    idf: f32,
}

/// A file being ranked for a question.
struct Candidate {
    addr: DocAddress,
    path: String,
    /// Per present word: whether the file has it.
    has: Vec<bool>,
    coverage: f32,
    rank: f32,
}

fn sort_candidates(c: &mut [Candidate]) {
    c.sort_by(|a, b| b.rank.total_cmp(&a.rank).then_with(|| a.path.cmp(&b.path)));
}

/// The terms a question's words match — each word's variants and parts —
/// looked up per token of a text as it is tokenized, so ranking and line
/// picking allocate nothing per token.
pub(crate) struct Needles {
    index: rustc_hash::FxHashMap<String, usize>,
    /// Per word: the needles of its variants (the whole word among them)
    /// and of its parts.
    words: Vec<(Vec<usize>, Vec<usize>)>,
    /// Every needle as a substring, ignoring ASCII case (pattern `i` is
    /// needle `i`); `None` unless every needle is ASCII. See
    /// [`Needles::may_match`].
    substrings: Option<AhoCorasick>,
}

impl Needles {
    pub(crate) fn new(words: &[QueryWord]) -> Self {
        let mut index = rustc_hash::FxHashMap::default();
        let mut id = |t: &String| {
            let next = index.len();
            *index.entry(t.clone()).or_insert(next)
        };
        let words = words
            .iter()
            .map(|w| {
                let variants = std::iter::once(&w.whole).chain(&w.variants).map(&mut id).collect();
                let parts = w.parts.iter().map(&mut id).collect();
                (variants, parts)
            })
            .collect();
        let mut terms: Vec<(&String, &usize)> = index.iter().collect();
        terms.sort_by_key(|(_, i)| **i);
        let substrings = (!index.is_empty() && index.keys().all(|k| k.is_ascii()))
            .then(|| {
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(terms.iter().map(|(t, _)| t.as_bytes()))
                    .ok()
            })
            .flatten();
        Self {
            index,
            words,
            substrings,
        }
    }

    /// Whether some word may occur in `texts` taken together, before they
    /// are tokenized: `false` only when no word has a variant, or all its
    /// parts, among the substrings of ASCII texts (ignoring case) — then
    /// the tokenizer cannot find it either, since every ASCII term is its
    /// text lowercased. Without the ASCII matcher, or for a text that is
    /// not ASCII (a non-ASCII letter may lowercase to an ASCII one), the
    /// answer is whether `fallback` matches any text. `found` is scratch
    /// space of [`Needles::len`].
    fn may_match(&self, texts: &[&str], fallback: &Regex, found: &mut [bool]) -> bool {
        let Some(ac) = self.substrings.as_ref().filter(|_| texts.iter().all(|t| t.is_ascii())) else {
            return texts.iter().any(|t| fallback.is_match(t));
        };
        found.fill(false);
        for t in texts {
            for m in ac.find_overlapping_iter(*t) {
                found[m.pattern().as_usize()] = true;
            }
        }
        (0..self.words.len()).any(|w| self.has(w, found))
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn all_ascii(&self) -> bool {
        !self.index.is_empty() && self.index.keys().all(|k| k.is_ascii())
    }

    /// Calls `hit(needle, start, end)` for each term of `text` that is a needle.
    fn each(&self, text: &str, mut hit: impl FnMut(usize, usize, usize)) {
        use tantivy::tokenizer::{TokenStream, Tokenizer};
        let mut tokenizer = crate::tokenizer::CodeTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        while stream.advance() {
            let t = stream.token();
            if let Some(&i) = self.index.get(t.text.as_str()) {
                hit(i, t.offset_from, t.offset_to);
            }
        }
    }

    /// Sets `found[i]` for each needle `i` among the terms of `text`.
    fn mark(&self, text: &str, found: &mut [bool]) {
        self.each(text, |i, _, _| found[i] = true);
    }

    /// Whether word `w` occurs, given the needles found: one of its
    /// variants, or all of its parts when it has several.
    fn has(&self, w: usize, found: &[bool]) -> bool {
        let (variants, parts) = &self.words[w];
        variants.iter().any(|&i| found[i]) || (parts.len() > 1 && parts.iter().all(|&i| found[i]))
    }
}

/// The share of the question's weight (0–1) the best definition of a file
/// carries: words in its name count fully, in its signature or doc half.
/// `prefilter` is a case-insensitive matcher of every needle: a definition
/// that cannot have a word ([`Needles::may_match`]) is skipped without
/// tokenizing.
fn best_definition(
    symbols: &[Symbol],
    present: &[Present],
    needles: &Needles,
    total_idf: f32,
    prefilter: Option<&Regex>,
) -> f32 {
    let mut best = 0.0f32;
    let (mut name, mut other) = (vec![false; needles.len()], vec![false; needles.len()]);
    for s in symbols {
        // A definition none of whose texts can hold a word scores 0.
        if let Some(re) = prefilter
            && !needles.may_match(&[&s.name, &s.signature, s.doc.as_deref().unwrap_or("")], re, &mut name)
        {
            continue;
        }
        name.fill(false);
        other.fill(false);
        needles.mark(&s.name, &mut name);
        needles.mark(&s.signature, &mut other);
        if let Some(d) = s.doc.as_deref() {
            needles.mark(truncate_chars(d, 400).as_str(), &mut other);
        }
        let mut got = 0.0;
        for (i, p) in present.iter().enumerate() {
            if needles.has(i, &name) {
                got += p.idf;
            } else if needles.has(i, &other) {
                got += 0.5 * p.idf;
            }
        }
        best = best.max(got / total_idf);
    }
    best
}

/// The innermost definition containing `line`.
pub(crate) fn innermost(symbols: &[Symbol], line: u32) -> Option<&Symbol> {
    symbols
        .iter()
        .filter(|s| s.start_line <= line && line <= s.end_line)
        .max_by_key(|s| (s.start_line, std::cmp::Reverse(s.end_line)))
}

/// A word of a text query: the whole word and its parts, lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryWord {
    /// As the query wrote it.
    pub written: String,
    pub whole: String,
    pub parts: Vec<String>,
    /// Terms that count as the word: itself and its stem family.
    pub variants: Vec<String>,
}

pub(crate) fn query_words(query: &str) -> Vec<QueryWord> {
    let mut out: Vec<QueryWord> = Vec::new();
    for word in query.split(|c: char| !is_word_char(c)).filter(|w| !w.is_empty()) {
        let parts: Vec<String> = split_identifier(word).iter().map(|p| p.to_lowercase()).collect();
        if parts.is_empty() {
            continue;
        }
        let whole = word.to_lowercase();
        if out.iter().any(|w| w.whole == whole) {
            continue;
        }
        out.push(QueryWord {
            written: word.to_owned(),
            variants: vec![whole.clone()],
            whole,
            parts,
        });
    }
    out
}

fn words_regex(words: &[QueryWord]) -> Regex {
    let mut alts: Vec<String> = words
        .iter()
        .flat_map(|w| w.variants.iter().chain(w.parts.iter()))
        .map(|t| regex::escape(t))
        .collect();
    // Longest first, so a whole word wins over its parts.
    alts.sort_by_key(|a| std::cmp::Reverse(a.len()));
    alts.dedup();
    RegexBuilder::new(&alts.join("|"))
        .case_insensitive(true)
        .build()
        .unwrap_or_else(|_| Regex::new("$^").expect("an empty regex compiles"))
}

/// The lines of `text` that best match `words`: most distinct words first,
/// then in line order; also how many lines matched at all. A word matches
/// where the index would match it — as a whole word or as all its parts —
/// never inside another word (`iter` does not match `literal`).
fn best_lines(text: &str, prefilter: &Regex, needles: &Needles, max: usize) -> (Vec<LineMatch>, u32) {
    let mut scored: Vec<(usize, LineMatch)> = Vec::new();
    let mut total = 0u32;
    let mut found = vec![false; needles.len()];
    let mut spans: Vec<(usize, usize, usize)> = Vec::new();
    for (i, line) in lines_matching(text, prefilter) {
        if !needles.may_match(&[line], prefilter, &mut found) {
            continue; // `test` alone, of `test_addition`: no word
        }
        spans.clear();
        found.fill(false);
        needles.each(line, |n, a, b| {
            found[n] = true;
            spans.push((n, a, b));
        });
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        let mut hits = 0;
        for w in 0..needles.words.len() {
            if !needles.has(w, &found) {
                continue;
            }
            hits += 1;
            let (variants, parts) = &needles.words[w];
            // The whole word where it occurs, else its parts.
            let whole = variants.iter().any(|i| found[*i]);
            let of_word = if whole { variants } else { parts };
            ranges.extend(
                spans
                    .iter()
                    .filter(|(n, _, _)| of_word.contains(n))
                    .map(|&(_, a, b)| (a, b)),
            );
        }
        if hits == 0 {
            continue;
        }
        total += 1;
        ranges.sort_unstable();
        ranges.dedup();
        // Keep the outermost ranges (a whole word over its parts).
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.0 < last.1 => last.1 = last.1.max(r.1),
                _ => merged.push(r),
            }
        }
        scored.push((hits, line_match(i as u32 + 1, line, &merged)));
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.line.cmp(&b.1.line)));
    scored.truncate(max);
    let mut lines: Vec<LineMatch> = scored.into_iter().map(|(_, l)| l).collect();
    lines.sort_by_key(|l| l.line);
    (lines, total)
}

/// The lines of `text` (numbered from 0, without their line ending, as
/// `str::lines` gives them) where `re` matches: one search over the whole
/// text, not one per line — a large file has few candidate lines.
fn lines_matching<'t>(text: &'t str, re: &'t Regex) -> impl Iterator<Item = (usize, &'t str)> + 't {
    // The next search starts at `from`, a line start (`None`: past the last
    // line), whose number is `line_no`.
    let mut from = Some(0usize);
    let mut line_no = 0usize;
    std::iter::from_fn(move || {
        let at = from?;
        let m = re.find_at(text, at)?;
        let start = text[at..m.start()].rfind('\n').map_or(at, |i| at + i + 1);
        line_no += text[at..start].bytes().filter(|&b| b == b'\n').count();
        let end = text[m.start()..].find('\n').map_or(text.len(), |i| m.start() + i);
        let line = &text[start..end];
        let found = (line_no, line.strip_suffix('\r').unwrap_or(line));
        line_no += 1;
        from = (end < text.len()).then_some(end + 1);
        Some(found)
    })
}

/// A line being collected: (line number, byte offset of its start, match ranges in it).
type OpenLine = (u32, usize, Vec<(usize, usize)>);

/// Lines where `re` matches (a match spanning lines counts for its first).
fn regex_lines(text: &str, re: &Regex, max: usize) -> (Vec<LineMatch>, u32) {
    let mut lines: Vec<LineMatch> = Vec::new();
    let mut total = 0u32;
    let mut line_no = 1u32;
    let mut line_start = 0usize;
    let mut scanned = 0usize;
    let mut current: Option<OpenLine> = None;
    let flush = |cur: Option<OpenLine>, lines: &mut Vec<LineMatch>| {
        if let Some((no, start, ranges)) = cur {
            let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            let line = text[start..end].strip_suffix('\r').unwrap_or(&text[start..end]);
            let ranges: Vec<(usize, usize)> = ranges
                .into_iter()
                .map(|(s, e)| (s, e.min(line.len())))
                .filter(|(s, e)| s <= e)
                .collect();
            lines.push(line_match(no, line, &ranges));
        }
    };
    for m in re.find_iter(text) {
        line_no += text[scanned..m.start()].bytes().filter(|&b| b == b'\n').count() as u32;
        if let Some(nl) = text[scanned..m.start()].rfind('\n') {
            line_start = scanned + nl + 1;
        }
        scanned = m.start();
        let rel = (m.start() - line_start, m.end() - line_start);
        match &mut current {
            Some((no, _, ranges)) if *no == line_no => ranges.push(rel),
            _ => {
                let previous = current.take();
                if previous.is_some() {
                    total += 1;
                    if lines.len() < max {
                        flush(previous, &mut lines);
                    }
                }
                current = Some((line_no, line_start, vec![rel]));
            }
        }
    }
    if current.is_some() {
        total += 1;
        if lines.len() < max {
            flush(current, &mut lines);
        }
    }
    (lines, total)
}

/// A [`LineMatch`] with long lines cut around the first match.
fn line_match(line_no: u32, line: &str, ranges: &[(usize, usize)]) -> LineMatch {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.chars().count() <= MAX_LINE_CHARS {
        return LineMatch {
            line: line_no,
            text: line.to_owned(),
            ranges: ranges.iter().map(|&(s, e)| (s as u32, e as u32)).collect(),
            enclosing: None,
        };
    }
    // Window: from a little before the first match.
    let first = ranges.first().map_or(0, |r| r.0);
    let mut start = first.saturating_sub(60);
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    let window = truncate_chars(&line[start..], MAX_LINE_CHARS);
    let prefix = if start > 0 { "…" } else { "" };
    let text = format!("{prefix}{window}");
    let shift = prefix.len() as i64 - start as i64;
    let limit = text.len() as i64;
    let ranges = ranges
        .iter()
        .map(|&(s, e)| (s as i64 + shift, e as i64 + shift))
        .filter(|&(s, e)| s >= 0 && e <= limit)
        .map(|(s, e)| (s as u32, e as u32))
        .collect();
    LineMatch {
        line: line_no,
        text,
        ranges,
        enclosing: None,
    }
}

/// Lowercased as the tokenizer lowercases (char by char).
fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Terms every file containing the literal must have, given that the
/// tokenizer indexes every part of every word and every whole word of up to
/// [`MAX_WORD_BYTES`](crate::tokenizer::MAX_WORD_BYTES):
///
/// * whole words the literal bounds by non-word characters on both sides;
/// * when matching case, the parts of the segments the literal bounds on
///   both sides by a non-word character or `_` (`foo_getHTTP_bar` → `get`,
///   `http`). Case decides where parts split (`getHttp` vs `gethttp`), so a
///   case-insensitive match can only rely on whole words.
///
/// Parts at the literal's edges may continue in the file, so they are
/// never used.
pub(crate) fn literal_terms(literal: &str, case_sensitive: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // The tokenizer's length limit applies to the text as written.
    let mut add = |written: &str| {
        let t = lower(written);
        if written.len() <= MAX_WORD_BYTES && !out.contains(&t) {
            out.push(t);
        }
    };
    if case_sensitive {
        // Segments between separators; the first and last touch the edges.
        let segments: Vec<&str> = literal.split(|c: char| !is_word_char(c) || c == '_').collect();
        let n = segments.len();
        for (i, seg) in segments.iter().enumerate() {
            if i == 0 || i + 1 == n || seg.is_empty() {
                continue;
            }
            for p in split_identifier(seg) {
                add(p);
            }
        }
    }
    let words: Vec<&str> = literal.split(|c: char| !is_word_char(c)).collect();
    let n = words.len();
    for (i, w) in words.iter().enumerate() {
        if i == 0 || i + 1 == n || w.is_empty() || w.trim_matches('_').is_empty() {
            continue;
        }
        add(w);
    }
    out
}

/// The words at the edges of a literal that may continue in a match, as
/// `(left, right)`, lowercased: `close()` may be inside `foreclose()`, so a
/// file holding it has a word ending with `close`; `class Pool` may be
/// `class PoolManager`, so a word starting with `pool`. A literal of one
/// word may sit anywhere inside a word: no edges. Nor is a run of
/// underscores an edge: alone it is no term.
pub(crate) fn edge_words(literal: &str) -> (Option<String>, Option<String>) {
    let words: Vec<&str> = literal.split(|c: char| !is_word_char(c)).collect();
    if words.len() < 2 {
        return (None, None);
    }
    let edge = |w: &&str| (!w.trim_matches('_').is_empty()).then(|| lower(w));
    (words.first().and_then(edge), words.last().and_then(edge))
}

/// Terms every match of `pattern` needs: from the literal runs of its
/// top-level concatenation (edges unbounded). Empty when nothing is certain.
pub(crate) fn regex_terms(pattern: &str, case_sensitive: bool) -> Vec<String> {
    use regex_syntax::hir::{Hir, HirKind};
    let Ok(hir) = regex_syntax::ParserBuilder::new().build().parse(pattern) else {
        return Vec::new();
    };
    fn literals(h: &Hir, out: &mut Vec<String>, cur: &mut String) {
        match h.kind() {
            HirKind::Literal(lit) => cur.push_str(&String::from_utf8_lossy(&lit.0)),
            HirKind::Capture(c) => literals(&c.sub, out, cur),
            HirKind::Concat(items) => {
                for i in items {
                    literals(i, out, cur);
                }
            }
            _ => {
                if !cur.is_empty() {
                    out.push(std::mem::take(cur));
                }
            }
        }
    }
    let mut runs = Vec::new();
    let mut cur = String::new();
    literals(&hir, &mut runs, &mut cur);
    if !cur.is_empty() {
        runs.push(cur);
    }
    let mut out = Vec::new();
    for run in runs {
        // The run's edges are unbounded: only inner parts qualify.
        for t in literal_terms(&run, case_sensitive) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

fn name_match(s: &Symbol, name: &str, container: Option<&str>) -> NameMatch {
    let container_ok = container.is_none_or(|c| {
        s.container
            .as_deref()
            .is_some_and(|sc| sc == c || sc.ends_with(&format!(".{c}")))
    });
    if s.name == name && container_ok {
        NameMatch::Exact
    } else if s.name.eq_ignore_ascii_case(name) && container_ok {
        NameMatch::IgnoreCase
    } else {
        NameMatch::Partial
    }
}

fn kind_rank(kind: &str) -> u8 {
    match kind {
        "class" | "struct" | "interface" | "trait" | "enum" | "type" | "object" | "module" => 0,
        "function" | "method" | "macro" => 0,
        _ => 1,
    }
}

/// Whether a path looks like a test file (ranked after others on ties).
pub(crate) fn is_test_path(path: &str) -> bool {
    path.split('/').any(|seg| {
        seg == "test" || seg == "tests" || seg == "__tests__" || seg == "spec" || seg.starts_with("test_") || {
            let stem = seg.rsplit_once('.').map_or(seg, |(s, _)| s);
            stem.ends_with("_test") || stem.ends_with("_spec") || stem.ends_with(".test") || stem.ends_with("Test")
        }
    })
}

/// The occurrences of `facts.refs[group]` with their line text and the
/// definition enclosing each.
fn occurrences(facts: &FileFacts, group: usize, file: &IndexedFile, text: &str) -> Vec<Reference> {
    let g = &facts.refs[group];
    let wanted: HashSet<u32> = g.at.iter().map(|(l, _, _)| *l).collect();
    let mut line_text: std::collections::HashMap<u32, &str> = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i as u32 + 1;
        if wanted.contains(&n) {
            line_text.insert(n, line);
        }
    }
    g.at.iter()
        .map(|&(line, column, definition)| {
            let innermost = innermost(&facts.symbols, line);
            // A use: the definition it sits in (the caller). A definition:
            // what the defined symbol belongs to.
            let enclosing = match innermost {
                Some(s) if definition && s.name == g.name => s.container.clone(),
                Some(s) => Some(s.qualified_name()),
                None => None,
            };
            Reference {
                file: file.clone(),
                line,
                column,
                text: truncate_chars(line_text.get(&line).copied().unwrap_or_default().trim(), MAX_LINE_CHARS),
                definition,
                enclosing,
                trust: Trust::Syntactic,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_cache_keeps_recent_files_within_its_budget() {
        let file = |bytes| {
            Arc::new(LoadedFile {
                doc: TantivyDocument::new(),
                symbols: Vec::new(),
                bytes,
            })
        };
        let at = |doc_id| DocAddress::new(0, doc_id);
        let mut cache = FileCache::new();
        let third = FILE_CACHE_BYTES / 3;
        for id in 0..3 {
            cache.put(at(id), file(third));
        }
        assert!(cache.get(at(0)).is_some()); // 0 is now the most recent
        cache.put(at(3), file(third)); // over budget: 1, the least recent, goes
        assert!(cache.get(at(1)).is_none());
        assert!(cache.get(at(0)).is_some() && cache.get(at(2)).is_some() && cache.get(at(3)).is_some());
        assert!(cache.bytes <= FILE_CACHE_BYTES);
        // Replacing an entry counts its bytes once.
        cache.put(at(3), file(1));
        assert_eq!(cache.bytes, 2 * third + 1);
        // A file over the whole budget is not kept.
        cache.put(at(9), file(FILE_CACHE_BYTES + 1));
        assert!(cache.get(at(9)).is_none());
        assert_eq!(cache.bytes, 0);
    }

    #[test]
    fn cut_off_ties_go_to_the_first_paths_whatever_the_document_order() {
        use tantivy::schema::{FAST, STRING, Schema, TEXT};
        let mut b = Schema::builder();
        let path = b.add_text_field("path", STRING | FAST);
        let body = b.add_text_field("body", TEXT);
        let index = Index::create_in_ram(b.build());
        let mut w: tantivy::IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        // Added last path first: document addresses run against path order.
        for i in (0..40).rev() {
            w.add_document(tantivy::doc!(path => format!("f{i:02}.py"), body => "same words"))
                .unwrap();
        }
        w.add_document(tantivy::doc!(path => "zz.py", body => "same same words"))
            .unwrap();
        w.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let paths = PathColumns::of(&searcher).unwrap();
        let totals = Mutex::default();
        let stats = LayoutFreeStats {
            searcher: &searcher,
            totals: &totals,
        };
        let q = TermQuery::new(Term::from_field_text(body, "same"), IndexRecordOption::WithFreqs);
        for limit in [1, 5, 30] {
            let top = top_docs_stable(&searcher, &stats, &q, limit, &paths).unwrap();
            let got: Vec<String> = top.iter().map(|(_, a)| paths.path(*a).unwrap()).collect();
            // The best score first, then the tied files in path order.
            let mut want = vec!["zz.py".to_owned()];
            want.extend((0..limit - 1).map(|i| format!("f{i:02}.py")));
            assert_eq!(got, want, "limit {limit}");
        }
        assert_eq!(top_docs_stable(&searcher, &stats, &q, 100, &paths).unwrap().len(), 41);
    }

    #[test]
    fn literal_narrowing_uses_only_bounded_parts() {
        assert_eq!(literal_terms(".parse_url(", true), ["parse", "url", "parse_url"]);
        assert_eq!(literal_terms("parse_url(", true), ["url"]);
        assert!(literal_terms("oHel", true).is_empty());
        assert!(literal_terms("a_b", true).is_empty());
        assert_eq!(
            literal_terms("x.getHTTPResponse()", true),
            ["get", "http", "response", "gethttpresponse"]
        );
        // A segment between underscores is not itself a term, its parts are.
        assert_eq!(
            literal_terms("foo_getHTTPResponse_bar(", true),
            ["get", "http", "response", "bar"]
        );
        assert!(literal_terms(".___(", true).is_empty(), "underscores alone are no term");
        // Ignoring case, only whole words are certain.
        assert_eq!(literal_terms(".parse_url(", false), ["parse_url"]);
        assert!(literal_terms("foo_getHTTP_bar(", false).is_empty());
        assert_eq!(literal_terms("x.getHTTPResponse()", false), ["gethttpresponse"]);
        // Overlong words: their parts only.
        let long = format!(".{}_tail(", "a".repeat(70));
        assert_eq!(literal_terms(&long, true), ["tail"]);
        assert!(literal_terms(&long, false).is_empty());
    }

    #[test]
    fn lines_matching_numbers_lines_as_str_lines_does() {
        let re = Regex::new("ab|cd").unwrap();
        for text in ["ab\r\nx\n\ncd ab\nab", "x\nab\n", "ab", "", "\n\ncd\r\n", "zz"] {
            let want: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| re.is_match(l)).collect();
            let got: Vec<(usize, &str)> = lines_matching(text, &re).collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn edge_words_are_the_words_a_match_may_continue() {
        let e = |l: &str| edge_words(l);
        assert_eq!(e("close()"), (Some("close".into()), None));
        assert_eq!(e("class Pool"), (Some("class".into()), Some("pool".into())));
        assert_eq!(e(".parse_url("), (None, None));
        assert_eq!(e("x.Get"), (Some("x".into()), Some("get".into())));
        assert_eq!(e("name"), (None, None), "one word may sit inside any word");
        assert_eq!(e("("), (None, None));
        assert_eq!(e("__("), (None, None), "underscores alone are no term");
        assert_eq!(e("__init__("), (Some("__init__".into()), None));
    }

    #[test]
    fn regex_narrowing_from_literal_runs() {
        assert_eq!(regex_terms(r"def\s+parse_url\(self", true), ["url"]);
        assert_eq!(
            regex_terms(r"x\.load_config\(", true),
            ["load", "config", "load_config"]
        );
        assert_eq!(regex_terms(r"x\.load_config\(", false), ["load_config"]);
        assert!(regex_terms(r"foo|bar", true).is_empty());
        assert!(regex_terms(r"[", true).is_empty());
    }

    #[test]
    fn regex_lines_reports_each_line_once_with_ranges() {
        let re = Regex::new("ab").unwrap();
        let (lines, total) = regex_lines("xab ab\nno\nab\n", &re, 10);
        assert_eq!(total, 2);
        assert_eq!(
            lines[0],
            LineMatch {
                line: 1,
                text: "xab ab".into(),
                ranges: vec![(1, 3), (4, 6)],
                enclosing: None,
            }
        );
        assert_eq!(lines[1].line, 3);
        let (lines, total) = regex_lines("ab\nab\nab\n", &re, 1);
        assert_eq!((lines.len(), total), (1, 3));
    }

    #[test]
    fn text_lines_match_words_and_parts_never_inside_other_words() {
        let words = query_words("find iter");
        let text = "// uses the literal optimizer\nfor m in re.find_iter(hay) {\nlet f = find(x); let i = iter();\n";
        let (lines, total) = best_lines(text, &words_regex(&words), &Needles::new(&words), 10);
        assert_eq!(total, 2, "{lines:?}");
        assert_eq!(lines[0].line, 2);
        let hl: Vec<&str> = lines[0]
            .ranges
            .iter()
            .map(|&(a, b)| &lines[0].text[a as usize..b as usize])
            .collect();
        assert_eq!(hl, ["find", "iter"]);
        assert_eq!(lines[1].line, 3);
        let camel = query_words("parseUrl");
        let (lines, _) = best_lines(
            "x = parse_url(u)\nparse(u); url\nparser\n",
            &words_regex(&camel),
            &Needles::new(&camel),
            10,
        );
        assert_eq!(lines.iter().map(|l| l.line).collect::<Vec<_>>(), [1, 2]);
    }

    /// The substring check before tokenizing never hides a word the
    /// tokenizer finds, and skips texts that hold only a fragment of one.
    #[test]
    fn the_substring_check_skips_only_texts_without_a_word() {
        let words = query_words("test_addition Callbacks");
        let mut needles_words = words.clone();
        needles_words[1].variants.push("callback".into());
        let needles = Needles::new(&needles_words);
        let re = words_regex(&needles_words);
        let mut scratch = vec![false; needles.len()];
        let tokenized = |text: &str| {
            let mut found = vec![false; needles.len()];
            needles.mark(text, &mut found);
            (0..needles.words.len()).any(|w| needles.has(w, &found))
        };
        for text in [
            "def test_addition(self):",
            "def test_ADDITION(self):",
            "    # an addition to the test suite",
            "    def testAddition(self):",
            "    def test_additions(self):",
            "    def test_subtraction(self):",
            "    testing addition",
            "callback = CALLBACKS[0]",
            "callbacky",
            "no word here",
            "\u{212a}elvin callbac\u{212a}",
            "caf\u{e9} test addition",
            "",
        ] {
            let may = needles.may_match(&[text], &re, &mut scratch);
            if tokenized(text) {
                assert!(may, "{text:?}: a word is there, the check must let it through");
            }
        }
        // Texts where a needle occurs only as a fragment are skipped.
        for text in ["    def test_subtraction(self):", "no word here", ""] {
            assert!(!needles.may_match(&[text], &re, &mut scratch), "{text:?}");
        }
        // Several texts together: a word's parts may be spread over them.
        assert!(needles.may_match(&["fn test(x)", "the addition"], &re, &mut scratch));
        assert!(!needles.may_match(&["fn test(x)", "the subtraction"], &re, &mut scratch));
        // A question with a non-ASCII word has no ASCII matcher: the
        // regex decides.
        let words = query_words("café");
        let needles = Needles::new(&words);
        let re = words_regex(&words);
        assert!(needles.may_match(&["un CAFÉ"], &re, &mut scratch));
        assert!(!needles.may_match(&["un thé"], &re, &mut scratch));
    }

    #[test]
    fn long_lines_are_windowed_around_the_match() {
        let line = format!("{}needle{}", "x".repeat(1000), "y".repeat(1000));
        let m = line_match(7, &line, &[(1000, 1006)]);
        assert!(m.text.starts_with('…'));
        let (s, e) = m.ranges[0];
        assert_eq!(&m.text[s as usize..e as usize], "needle");
        assert!(m.text.chars().count() <= MAX_LINE_CHARS + 2);
    }

    #[test]
    fn test_paths() {
        for p in [
            "tests/a.rs",
            "src/foo_test.go",
            "test_x.py",
            "a/__tests__/b.js",
            "x/FooTest.java",
        ] {
            assert!(is_test_path(p), "{p}");
        }
        for p in ["src/lib.rs", "latest/x.py", "contest.c"] {
            assert!(!is_test_path(p), "{p}");
        }
    }
}
