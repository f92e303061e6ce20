//! Tables printed twice: aligned plain text, then Markdown.

/// One table with a title and notes under it.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Heading.
    pub title: String,
    /// Column names.
    pub headers: Vec<String>,
    /// Rows (as many cells as headers).
    pub rows: Vec<Vec<String>>,
    /// Lines printed under the table.
    pub notes: Vec<String>,
}

impl Table {
    /// A table with these columns.
    pub fn new(title: impl Into<String>, headers: &[&str]) -> Self {
        Self {
            title: title.into(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            ..Self::default()
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len(), "row width of {}", self.title);
        self.rows.push(cells);
    }

    /// Appends a note.
    pub fn note(&mut self, n: impl Into<String>) {
        self.notes.push(n.into());
    }

    /// Aligned columns.
    pub fn plain(&self) -> String {
        let width = |i: usize| {
            self.rows
                .iter()
                .filter_map(|r| r.get(i))
                .chain(std::iter::once(&self.headers[i]))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.headers.len()).map(width).collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let mut out = format!("{}\n", self.title);
        out.push_str(&line(&self.headers));
        out.push('\n');
        out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        for n in &self.notes {
            out.push_str(&format!("  {n}\n"));
        }
        out
    }

    /// A Markdown table under a `####` heading.
    pub fn markdown(&self) -> String {
        let esc = |c: &String| c.replace('|', "\\|");
        let mut out = format!("#### {}\n\n", self.title);
        out.push_str(&format!(
            "| {} |\n",
            self.headers.iter().map(esc).collect::<Vec<_>>().join(" | ")
        ));
        out.push_str(&format!("|{}\n", "---|".repeat(self.headers.len())));
        for r in &self.rows {
            out.push_str(&format!("| {} |\n", r.iter().map(esc).collect::<Vec<_>>().join(" | ")));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                out.push_str(&format!("* {n}\n"));
            }
        }
        out
    }
}

/// Everything a run prints at the end.
#[derive(Debug, Default)]
pub struct Report {
    /// The command that produced it.
    pub command: String,
    /// Machine, tools and load.
    pub machine: Vec<String>,
    /// Results.
    pub tables: Vec<Table>,
    /// Examples of failed questions and other diagnostics.
    pub diagnostics: Vec<String>,
    /// Assertion failures (the bench exits non-zero when there are any).
    pub problems: Vec<String>,
}

impl Report {
    /// The plain-text rendering.
    pub fn plain(&self) -> String {
        let mut out = format!("command: {}\n", self.command);
        for m in &self.machine {
            out.push_str(&format!("{m}\n"));
        }
        for t in &self.tables {
            out.push('\n');
            out.push_str(&t.plain());
        }
        if !self.diagnostics.is_empty() {
            out.push_str("\ndiagnostics\n");
            for d in &self.diagnostics {
                out.push_str(&format!("  {d}\n"));
            }
        }
        for p in &self.problems {
            out.push_str(&format!("PROBLEM: {p}\n"));
        }
        out
    }

    /// The Markdown rendering.
    pub fn markdown(&self) -> String {
        let mut out = format!("```sh\n{}\n```\n\n", self.command);
        for m in &self.machine {
            out.push_str(&format!("* {m}\n"));
        }
        for t in &self.tables {
            out.push('\n');
            out.push_str(&t.markdown());
        }
        for p in &self.problems {
            out.push_str(&format!("\n**Problem:** {p}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_plain_and_markdown() {
        let mut t = Table::new("Full index", &["tool", "time s"]);
        t.row(vec!["lettuce".into(), "1.50".into()]);
        t.row(vec!["ctags|x".into(), "3".into()]);
        t.note("2 runs");
        assert_eq!(
            t.plain(),
            "Full index\ntool     time s\n-------  ------\nlettuce  1.50\nctags|x  3\n  2 runs\n"
        );
        assert_eq!(
            t.markdown(),
            "#### Full index\n\n| tool | time s |\n|---|---|\n| lettuce | 1.50 |\n| ctags\\|x | 3 |\n\n* 2 runs\n"
        );
    }
}
