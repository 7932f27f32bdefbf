//! Config diagnostics: what is wrong, where (file, line, column), under which
//! key path, and what was expected.
//!
//! The parser never stops at the first problem. It pushes every finding into
//! a [`Reporter`], which turns byte offsets of the TOML text into 1-based
//! line and column numbers, so the user fixes the whole file in one round.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::ops::Range;

/// A byte range of the TOML text.
pub(super) type Span = Range<usize>;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The file is rejected; nothing is applied.
    Error,
    /// The file is accepted, but probably not what was meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One message about the file: where, which key, what was expected.
///
/// Displays as `FILE:LINE:COL: error: KEY.PATH: message`, the shape editors
/// and `grep -n` users already know. `path` is empty for TOML syntax errors,
/// which belong to no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, counted in characters.
    pub column: usize,
    /// Key path such as `service[0].real_server[1].address`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: ",
            self.file, self.line, self.column, self.severity
        )?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every error found in a file; nothing is applied when there is one.
///
/// `diagnostics` holds only the errors (warnings of a rejected file are
/// dropped: they would muddle the error count), in file order. Displays as
/// one diagnostic per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.diagnostics))]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

fn render(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
    lines.join("\n")
}

/// Collects diagnostics for one file and places them by line and column.
///
/// It borrows the text and finds line starts only once a diagnostic needs
/// them: a clean file costs nothing here.
pub(super) struct Reporter<'t> {
    file: String,
    text: &'t str,
    /// Byte offset where each line starts; `line_starts[0] == 0`.
    line_starts: OnceCell<Vec<usize>>,
    diagnostics: Vec<Diagnostic>,
    /// Errors about values read, which make their entry fail.
    errors: usize,
    /// Errors beside them (unknown keys), which reject the file only.
    aside: usize,
}

impl<'t> Reporter<'t> {
    pub(super) fn new(file: &str, text: &'t str) -> Reporter<'t> {
        Reporter {
            file: file.to_string(),
            text,
            line_starts: OnceCell::new(),
            diagnostics: Vec::new(),
            errors: 0,
            aside: 0,
        }
    }

    /// The line holding byte `offset` (0-based) and where it starts.
    fn line_of(&self, offset: usize) -> (usize, usize) {
        let starts = self.line_starts.get_or_init(|| {
            let mut starts = vec![0];
            starts.extend(self.text.match_indices('\n').map(|(i, _)| i + 1));
            starts
        });
        let line = starts.partition_point(|&start| start <= offset) - 1;
        (line, starts[line])
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub(super) fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let (line, start) = self.line_of(offset);
        let column = self.text[start..offset].chars().count() + 1;
        (line + 1, column)
    }

    /// Where the key ending at byte `offset` starts: the first non-blank
    /// byte of its line when only dots, blanks and key characters lie
    /// between, else `offset` itself.
    pub(super) fn key_start(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        let (_, start) = self.line_of(offset);
        let before = &self.text[start..offset];
        let key_chars = |c: char| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '\t' | '"' | '\'')
        };
        if before.chars().all(key_chars) {
            start + (before.len() - before.trim_start().len())
        } else {
            offset
        }
    }

    /// Record an error at the start of `span`.
    pub(super) fn error(
        &mut self,
        span: &Span,
        path: impl fmt::Display,
        message: impl Into<String>,
    ) {
        self.errors += 1;
        self.push(Severity::Error, span, path, message.into());
    }

    /// Record an error that leaves what was read standing (an unknown key
    /// next to good ones): the file is rejected, but no entry is dropped
    /// for it, so the cross-entry checks still see that entry.
    pub(super) fn error_aside(
        &mut self,
        span: &Span,
        path: impl fmt::Display,
        message: impl Into<String>,
    ) {
        self.aside += 1;
        self.push(Severity::Error, span, path, message.into());
    }

    /// Record a warning at the start of `span`.
    pub(super) fn warning(
        &mut self,
        span: &Span,
        path: impl fmt::Display,
        message: impl Into<String>,
    ) {
        self.push(Severity::Warning, span, path, message.into());
    }

    fn push(&mut self, severity: Severity, span: &Span, path: impl fmt::Display, message: String) {
        let (line, column) = self.position(span.start);
        self.diagnostics.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line,
            column,
            path: path.to_string(),
            message,
        });
    }

    /// How many errors about values read so far: a table that reads with
    /// the count unchanged is free of errors.
    pub(super) fn errors(&self) -> usize {
        self.errors
    }

    pub(super) fn has_errors(&self) -> bool {
        self.errors + self.aside > 0
    }

    /// All diagnostics, in file order (stable for equal positions).
    pub(super) fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
        self.diagnostics
    }

    /// The errors only, in file order, for a rejected file.
    pub(super) fn finish_errors(self) -> Vec<Diagnostic> {
        let mut errors = self.finish();
        errors.retain(|d| d.severity == Severity::Error);
        errors
    }
}

/// Keys and values longer than this many characters are cut in messages.
pub(super) const QUOTE_MAX: usize = 100;

/// `text` as a message quotes it: `"text"`, cut after [`QUOTE_MAX`]
/// characters with `..."` (a 10 MB value must not make a 10 MB message).
/// Nothing is done until it is formatted.
pub(super) fn quote(text: &str) -> Quoted<'_> {
    Quoted(text)
}

/// `text` cut after [`QUOTE_MAX`] characters, with `...`.
pub(super) fn cut(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(QUOTE_MAX) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}...", &text[..end])),
    }
}

/// See [`quote`].
pub(super) struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(QUOTE_MAX) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => {
                let quoted = format!("{:?}", &self.0[..cut]);
                write!(f, "{}...\"", &quoted[..quoted.len() - 1])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(severity: Severity, path: &str) -> Diagnostic {
        Diagnostic {
            severity,
            file: "router.toml".into(),
            line: 14,
            column: 11,
            path: path.into(),
            message: "\"192.168.3.300:5432\" is not an IP address and port".into(),
        }
    }

    #[test]
    fn diagnostic_display() {
        assert_eq!(
            diag(Severity::Error, "service[0].real_server[1].address").to_string(),
            "router.toml:14:11: error: service[0].real_server[1].address: \
             \"192.168.3.300:5432\" is not an IP address and port"
        );
        assert_eq!(
            diag(Severity::Warning, "").to_string(),
            "router.toml:14:11: warning: \"192.168.3.300:5432\" is not an IP address and port"
        );
    }

    #[test]
    fn config_error_lists_one_per_line() {
        let err = ConfigError {
            diagnostics: vec![diag(Severity::Error, "a"), diag(Severity::Warning, "b")],
        };
        let text = err.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("router.toml:14:11: error: a: "));
        assert!(lines[1].starts_with("router.toml:14:11: warning: b: "));
    }

    #[test]
    fn positions_are_one_based_in_characters() {
        let r = Reporter::new("f", "ab\n\u{e9}x = 1\n\nlast");
        assert_eq!(r.position(0), (1, 1));
        assert_eq!(r.position(1), (1, 2));
        assert_eq!(r.position(2), (1, 3)); // the newline itself
        assert_eq!(r.position(3), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(r.position(5), (2, 2));
        assert_eq!(r.position(11), (3, 1));
        assert_eq!(r.position(12), (4, 1));
        // Past the end clamps to the end.
        assert_eq!(r.position(999), (4, 5));
    }

    #[test]
    fn dotted_keys_start_at_their_first_word() {
        let text = "  net.ipv4.vs.conntrack = 1\nx = { a.b = 1 }\n";
        let r = Reporter::new("f", text);
        assert_eq!(r.key_start(14), 2);
        assert_eq!(r.key_start(2), 2);
        // Inside an inline table: left as it is.
        assert_eq!(r.key_start(36), 36);
    }

    #[test]
    fn long_texts_are_cut() {
        assert_eq!(quote("a\"b").to_string(), "\"a\\\"b\"");
        let long = "é".repeat(QUOTE_MAX + 1);
        let kept = "é".repeat(QUOTE_MAX);
        assert_eq!(quote(&long).to_string(), format!("\"{kept}...\""));
        assert_eq!(cut(&long), format!("{kept}..."));
        assert_eq!(cut(&kept), kept);
    }

    #[test]
    fn finish_sorts_by_position() {
        let mut r = Reporter::new("f", "a\nb\nc\n");
        r.error(&(4..5), "c", "third");
        r.warning(&(0..1), "a", "first");
        r.error(&(2..3), "b", "second");
        assert!(r.has_errors());
        let paths: Vec<String> = r.finish().into_iter().map(|d| d.path).collect();
        assert_eq!(paths, ["a", "b", "c"]);
    }
}
