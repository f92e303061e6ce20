//! The tantivy schema: one document per file (its text, extracted facts and
//! metadata) and one per definition (for symbol lookup). Both carry the
//! file's path, so deleting the path's term removes a file completely.

use crate::extract::FileFacts;
use crate::rules::SkipReason;
use crate::tokenizer::{CODE_TOKENIZER, CodeTokenizer, OVERLONG_WORD, has_overlong_word};
use lettuce_domain::code::Symbol;
use lettuce_ports::index::{FileTokens, IndexError, IndexedFile};
use tantivy::schema::{
    BytesOptions, FAST, Field, IndexRecordOption, NumericOptions, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{Index, TantivyDocument};

/// Document kinds (the `type` field).
pub(crate) const FILE: &str = "file";
/// See [`FILE`].
pub(crate) const SYMBOL: &str = "symbol";

/// Field handles.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub kind: Field,
    pub path: Field,
    pub path_text: Field,
    pub blob: Field,
    pub lang: Field,
    pub size: Field,
    pub lines: Field,
    pub skipped: Field,
    pub tokens: Field,
    pub tokens_enc: Field,
    pub content: Field,
    pub facts: Field,
    pub defs: Field,
    pub sym_name: Field,
    pub sym_lower: Field,
    pub sym_parts: Field,
    pub sym_kind: Field,
    pub sym: Field,
    pub overlong: Field,
}

fn code_text(stored: bool) -> TextOptions {
    let o = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(CODE_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    if stored { o.set_stored() } else { o }
}

/// The schema of a new index.
pub(crate) fn schema() -> Schema {
    let mut b = Schema::builder();
    b.add_text_field("type", STRING);
    // FAST: rankings read paths without loading stored documents.
    b.add_text_field("path", STRING | STORED | FAST);
    b.add_text_field("path_text", code_text(false));
    b.add_text_field("blob", STRING | STORED);
    b.add_text_field("lang", STRING | STORED);
    b.add_u64_field("size", NumericOptions::default().set_stored());
    b.add_u64_field("lines", NumericOptions::default().set_stored());
    b.add_text_field("skipped", STRING | STORED);
    b.add_u64_field("tokens", NumericOptions::default().set_stored());
    b.add_text_field("tokens_enc", STORED);
    b.add_text_field("content", code_text(true));
    b.add_bytes_field("facts", BytesOptions::default().set_stored());
    b.add_text_field("defs", code_text(false));
    b.add_text_field("sym_name", STRING);
    b.add_text_field("sym_lower", STRING);
    b.add_text_field("sym_parts", code_text(false));
    b.add_text_field("sym_kind", STRING);
    b.add_bytes_field("sym", BytesOptions::default().set_stored());
    // [`OVERLONG_WORD`] when the file has a word over the term length limit.
    b.add_text_field("overlong", STRING);
    b.build()
}

impl Fields {
    /// Field handles of `schema` (an index of [`crate::storage::FORMAT`]).
    pub fn of(schema: &Schema) -> Result<Self, IndexError> {
        let f = |name: &str| {
            schema
                .get_field(name)
                .map_err(|_| crate::storage::backend_err(format!("index schema has no field {name}"), false))
        };
        Ok(Self {
            kind: f("type")?,
            path: f("path")?,
            path_text: f("path_text")?,
            blob: f("blob")?,
            lang: f("lang")?,
            size: f("size")?,
            lines: f("lines")?,
            skipped: f("skipped")?,
            tokens: f("tokens")?,
            tokens_enc: f("tokens_enc")?,
            content: f("content")?,
            facts: f("facts")?,
            defs: f("defs")?,
            sym_name: f("sym_name")?,
            sym_lower: f("sym_lower")?,
            sym_parts: f("sym_parts")?,
            sym_kind: f("sym_kind")?,
            sym: f("sym")?,
            overlong: f("overlong")?,
        })
    }
}

/// Registers the tokenizers an index of this schema needs.
pub(crate) fn register_tokenizers(index: &Index) {
    index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer::default());
}

/// What is indexed for one file.
pub(crate) struct FileRecord<'a> {
    pub path: &'a str,
    pub blob_id: &'a str,
    pub lang: Option<&'a str>,
    pub size: u64,
    pub skipped: Option<SkipReason>,
    /// The text, for files whose contents are indexed.
    pub text: Option<&'a str>,
    /// Extracted facts, for files in a parsed language.
    pub facts: Option<&'a FileFacts>,
    /// The facts already serialised (reused from an earlier index).
    pub facts_bytes: Option<&'a [u8]>,
    /// The whole file's token count, when counted.
    pub tokens: Option<&'a FileTokens>,
}

/// Number of lines of `text` (a final line without a newline counts).
pub(crate) fn line_count(text: &str) -> u32 {
    if text.is_empty() {
        return 0;
    }
    let newlines = memchr_count(text.as_bytes());
    (newlines + usize::from(!text.ends_with('\n'))) as u32
}

fn memchr_count(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

/// The documents of one file: the file document and one per definition.
pub(crate) fn documents(f: &Fields, r: &FileRecord<'_>) -> Result<Vec<TantivyDocument>, IndexError> {
    let lines = r.text.map(line_count).unwrap_or(0);
    let mut file = TantivyDocument::new();
    file.add_text(f.kind, FILE);
    file.add_text(f.path, r.path);
    file.add_text(f.path_text, r.path);
    file.add_text(f.blob, r.blob_id);
    if let Some(l) = r.lang {
        file.add_text(f.lang, l);
    }
    file.add_u64(f.size, r.size);
    file.add_u64(f.lines, u64::from(lines));
    if let Some(s) = r.skipped {
        file.add_text(f.skipped, s.as_str());
    }
    if let Some(t) = r.text {
        file.add_text(f.content, t);
        if has_overlong_word(t) {
            file.add_text(f.overlong, OVERLONG_WORD);
        }
    }
    add_tokens(f, &mut file, r);
    let owned;
    let facts: Option<std::borrow::Cow<'_, FileFacts>> = match (r.facts, r.facts_bytes) {
        (Some(facts), _) => Some(std::borrow::Cow::Borrowed(facts)),
        (None, Some(bytes)) => {
            owned = decode_facts(bytes)?;
            Some(std::borrow::Cow::Owned(owned))
        }
        (None, None) => None,
    };
    let mut docs = Vec::with_capacity(1 + facts.as_ref().map_or(0, |x| x.symbols.len()));
    if let Some(facts) = &facts {
        let bytes = match r.facts_bytes {
            Some(b) => b.to_vec(),
            None => postcard::to_allocvec(facts.as_ref()).map_err(|e| crate::storage::backend_err(e, false))?,
        };
        file.add_bytes(f.facts, &bytes);
        let names: Vec<&str> = facts.symbols.iter().map(|s| s.name.as_str()).collect();
        file.add_text(f.defs, names.join(" "));
        for s in &facts.symbols {
            docs.push(symbol_document(f, r, lines, s)?);
        }
    }
    docs.insert(0, file);
    Ok(docs)
}

/// File and symbol documents both carry the file's token count: symbol
/// answers account for their files without reading them.
fn add_tokens(f: &Fields, d: &mut TantivyDocument, r: &FileRecord<'_>) {
    if let Some(t) = r.tokens {
        d.add_u64(f.tokens, t.count);
        d.add_text(f.tokens_enc, &t.encoding);
    }
}

fn symbol_document(f: &Fields, r: &FileRecord<'_>, lines: u32, s: &Symbol) -> Result<TantivyDocument, IndexError> {
    let mut d = TantivyDocument::new();
    d.add_text(f.kind, SYMBOL);
    d.add_text(f.path, r.path);
    d.add_text(f.blob, r.blob_id);
    if let Some(l) = r.lang {
        d.add_text(f.lang, l);
    }
    d.add_u64(f.size, r.size);
    d.add_u64(f.lines, u64::from(lines));
    add_tokens(f, &mut d, r);
    d.add_text(f.sym_name, &s.name);
    d.add_text(f.sym_lower, s.name.to_lowercase());
    d.add_text(f.sym_parts, &s.name);
    d.add_text(f.sym_kind, &s.kind);
    let bytes = postcard::to_allocvec(s).map_err(|e| crate::storage::backend_err(e, false))?;
    d.add_bytes(f.sym, &bytes);
    Ok(d)
}

pub(crate) fn decode_facts(bytes: &[u8]) -> Result<FileFacts, IndexError> {
    postcard::from_bytes(bytes)
        .map_err(|e| crate::storage::backend_err(format!("stored file facts are corrupt: {e}"), false))
}

/// Only the definitions of stored facts (they come first), without
/// decoding the identifier occurrences — most of the bytes of a big file.
pub(crate) fn decode_symbols(bytes: &[u8]) -> Result<Vec<Symbol>, IndexError> {
    postcard::take_from_bytes::<Vec<Symbol>>(bytes)
        .map(|(symbols, _)| symbols)
        .map_err(|e| crate::storage::backend_err(format!("stored file facts are corrupt: {e}"), false))
}

pub(crate) fn decode_symbol(bytes: &[u8]) -> Result<Symbol, IndexError> {
    postcard::from_bytes(bytes)
        .map_err(|e| crate::storage::backend_err(format!("stored symbol is corrupt: {e}"), false))
}

/// Reads the stored fields of a document.
pub(crate) struct Stored<'a> {
    pub fields: &'a Fields,
    pub doc: &'a TantivyDocument,
}

impl Stored<'_> {
    pub fn str(&self, field: Field) -> Option<&str> {
        self.doc.get_first(field).and_then(|v| v.as_str())
    }

    pub fn u64(&self, field: Field) -> u64 {
        self.doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0)
    }

    pub fn bytes(&self, field: Field) -> Option<&[u8]> {
        self.doc.get_first(field).and_then(|v| v.as_bytes())
    }

    /// The file this document belongs to.
    pub fn file(&self) -> IndexedFile {
        let f = self.fields;
        IndexedFile {
            path: self.str(f.path).unwrap_or_default().to_owned(),
            lang: self.str(f.lang).map(str::to_owned),
            blob_id: self.str(f.blob).unwrap_or_default().to_owned(),
            size: self.u64(f.size),
            lines: self.u64(f.lines) as u32,
            skipped: self.str(f.skipped).map(str::to_owned),
            tokens: self.tokens(),
        }
    }

    /// The stored token count, if any.
    pub fn tokens(&self) -> Option<FileTokens> {
        let f = self.fields;
        let count = self.doc.get_first(f.tokens).and_then(|v| v.as_u64())?;
        Some(FileTokens {
            encoding: self.str(f.tokens_enc)?.to_owned(),
            count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_counts() {
        assert_eq!(line_count(""), 0);
        assert_eq!(line_count("a"), 1);
        assert_eq!(line_count("a\n"), 1);
        assert_eq!(line_count("a\nb"), 2);
        assert_eq!(line_count("\n\n"), 2);
    }
}
