//! The corpora: copies of trees available offline, so every tool reads the
//! same files and edits for the incremental runs never touch the originals.

use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A corpus the bench knows how to assemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The standard library of the machine's Python (`sysconfig`'s
    /// `stdlib` path) without `site-packages/` and `__pycache__/`.
    CpythonStdlib,
    /// Crate sources from the cargo registry cache (`--crates`).
    Crates,
}

/// A corpus ready to index: a directory and what is in it.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Short name (`cpython-stdlib`, `crates`).
    pub name: String,
    /// What it is, for the report (source, versions, exclusions).
    pub description: String,
    /// The copy every tool reads.
    pub root: PathBuf,
    /// Regular files copied.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Files in a language Lettuce parses.
    pub code_files: u64,
    /// Their total size.
    pub code_bytes: u64,
    /// Symbolic links left out.
    pub symlinks_skipped: u64,
}

/// Copies `src` into `dst`, leaving out entries named in `exclude` (at any
/// depth) and symbolic links. Returns (files, bytes, symlinks skipped).
pub fn copy_tree(src: &Path, dst: &Path, exclude: &[&str]) -> anyhow::Result<(u64, u64, u64)> {
    let (mut files, mut bytes, mut links) = (0, 0, 0);
    let mut stack = vec![(src.to_owned(), dst.to_owned())];
    while let Some((from, to)) = stack.pop() {
        std::fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
        for e in std::fs::read_dir(&from).with_context(|| format!("reading {}", from.display()))? {
            let e = e?;
            let name = e.file_name();
            if exclude.iter().any(|x| name == *x) {
                continue;
            }
            let t = e.file_type()?;
            let target = to.join(&name);
            if t.is_symlink() {
                links += 1;
            } else if t.is_dir() {
                stack.push((e.path(), target));
            } else if t.is_file() {
                bytes += std::fs::copy(e.path(), &target)
                    .with_context(|| format!("copying {} to {}", e.path().display(), target.display()))?;
                files += 1;
            }
        }
    }
    Ok((files, bytes, links))
}

/// Every regular file under `root`, relative, with its size.
pub fn list_files(root: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file()
                && let Ok(rel) = e.path().strip_prefix(root)
            {
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((rel.to_string_lossy().replace('\\', "/"), size));
            }
        }
    }
    out.sort();
    out
}

fn python_stdlib(python: &str) -> anyhow::Result<(PathBuf, String)> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, sysconfig; print(sysconfig.get_paths()['stdlib']); print(sys.version.split()[0])",
        ])
        .output()
        .with_context(|| format!("running {python} (pass --python)"))?;
    anyhow::ensure!(
        out.status.success(),
        "{python} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (Some(dir), Some(version)) = (lines.next(), lines.next()) else {
        bail!("unexpected output of {python}: {text:?}");
    };
    Ok((PathBuf::from(dir), version.to_owned()))
}

/// `$CARGO_HOME/registry/src` (default `~/.cargo/registry/src`).
pub fn default_registry() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("registry").join("src")
}

/// Splits `tokio-1.54.1` into (`tokio`, `1.54.1`): the version starts at
/// the last `-` followed by a digit.
pub fn split_crate_dir(dir: &str) -> Option<(&str, &str)> {
    let i = dir
        .char_indices()
        .filter(|&(i, c)| c == '-' && dir[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        .map(|(i, _)| i)
        .next_back()?;
    Some((&dir[..i], &dir[i + 1..]))
}

/// Versions of `name` unpacked under the registry's index directories.
fn available(registry: &Path, name: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for index in std::fs::read_dir(registry).into_iter().flatten().flatten() {
        for e in std::fs::read_dir(index.path()).into_iter().flatten().flatten() {
            let dir = e.file_name().to_string_lossy().into_owned();
            if let Some((n, v)) = split_crate_dir(&dir)
                && n == name
            {
                out.push((v.to_owned(), e.path()));
            }
        }
    }
    out.sort();
    out
}

/// Resolves `name-version` specs (exact versions: the set is pinned) in
/// the registry cache.
pub fn resolve_crates(registry: &Path, specs: &[String]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for spec in specs {
        let Some((name, version)) = split_crate_dir(spec) else {
            bail!("--crates takes name-version (e.g. tokio-1.54.1), got {spec:?}");
        };
        let found = available(registry, name);
        match found.iter().find(|(v, _)| v == version) {
            Some((_, dir)) => out.push((spec.clone(), dir.clone())),
            None => {
                let have: Vec<&str> = found.iter().map(|(v, _)| v.as_str()).collect();
                bail!(
                    "{spec} is not in {} (versions of {name} there: {}); pass --crates with versions present, or fetch it (cargo fetch)",
                    registry.display(),
                    if have.is_empty() {
                        "none".into()
                    } else {
                        have.join(", ")
                    }
                );
            }
        }
    }
    Ok(out)
}

/// Settings for assembling corpora.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Python interpreter whose stdlib is the CPython corpus.
    pub python: String,
    /// Cargo registry source cache.
    pub registry: PathBuf,
    /// Pinned crates (`name-version`).
    pub crates: Vec<String>,
}

/// Copies the corpus `kind` into `dir` and describes it.
pub fn prepare(kind: Kind, sources: &Sources, dir: &Path) -> anyhow::Result<Corpus> {
    let root = dir.join("tree");
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    }
    let (name, description, (files, bytes, links)) = match kind {
        Kind::CpythonStdlib => {
            let (stdlib, version) = python_stdlib(&sources.python)?;
            let copied = copy_tree(&stdlib, &root, &["site-packages", "__pycache__"])?;
            (
                "cpython-stdlib",
                format!(
                    "CPython {version} standard library ({}) without site-packages/ and __pycache__/",
                    stdlib.display()
                ),
                copied,
            )
        }
        Kind::Crates => {
            let crates = resolve_crates(&sources.registry, &sources.crates)?;
            let mut total = (0, 0, 0);
            for (spec, src) in &crates {
                let (f, b, l) = copy_tree(src, &root.join(spec), &[])?;
                total = (total.0 + f, total.1 + b, total.2 + l);
            }
            let names: Vec<&str> = crates.iter().map(|(s, _)| s.as_str()).collect();
            (
                "crates",
                format!("crate sources {} from {}", names.join(", "), sources.registry.display()),
                total,
            )
        }
    };
    let (mut code_files, mut code_bytes) = (0, 0);
    for (path, size) in list_files(&root) {
        if crate::ctags::is_code_path(&path) {
            code_files += 1;
            code_bytes += size;
        }
    }
    let root = root.canonicalize()?;
    Ok(Corpus {
        name: name.to_owned(),
        description,
        root,
        files,
        bytes,
        code_files,
        code_bytes,
        symlinks_skipped: links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_dirs_split_at_the_version() {
        assert_eq!(split_crate_dir("tokio-1.54.1"), Some(("tokio", "1.54.1")));
        assert_eq!(
            split_crate_dir("tree-sitter-rust-0.24.0"),
            Some(("tree-sitter-rust", "0.24.0"))
        );
        assert_eq!(split_crate_dir("foo-2-1.0.0"), Some(("foo-2", "1.0.0")));
        assert_eq!(split_crate_dir("tokio"), None);
    }

    #[test]
    fn copies_with_exclusions() {
        let src = std::env::temp_dir().join(format!("lettuce-index-bench-copy-{}", std::process::id()));
        let dst = src.with_extension("out");
        std::fs::create_dir_all(src.join("pkg/__pycache__")).unwrap();
        std::fs::create_dir_all(src.join("site-packages/x")).unwrap();
        std::fs::write(src.join("pkg/a.py"), "def a(): pass\n").unwrap();
        std::fs::write(src.join("pkg/__pycache__/a.pyc"), "x").unwrap();
        std::fs::write(src.join("site-packages/x/b.py"), "b").unwrap();
        let (files, bytes, _) = copy_tree(&src, &dst, &["site-packages", "__pycache__"]).unwrap();
        assert_eq!((files, bytes), (1, 14));
        assert_eq!(list_files(&dst), [("pkg/a.py".to_owned(), 14)]);
        std::fs::remove_dir_all(&src).unwrap();
        std::fs::remove_dir_all(&dst).unwrap();
    }
}
