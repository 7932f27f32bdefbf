//! keepalived.conf as keepalived reads it, line by line: comments (`#`,
//! `!`), `\` continuations, `include GLOB` (relative to the including
//! file), `@ID` / `@^ID` conditional lines, `$NAME=value` definitions and
//! their `$NAME` / `${NAME}` uses; then words, with `{` and `}` words of
//! their own and `"..."` one word.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::super::{ImportError, Options, Origin, Warnings};

/// Includes nest at most this deep (a loop is an error, not a hang).
const MAX_INCLUDE_DEPTH: usize = 16;

/// One line of words, where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub origin: Origin,
    pub words: Vec<String>,
}

/// Every line of `path` and what it includes, in reading order.
pub fn read(
    path: &Path,
    options: &Options,
    warnings: &mut Warnings,
) -> Result<(Vec<Line>, Vec<String>), ImportError> {
    let mut reader = Reader {
        options,
        warnings,
        params: HashMap::new(),
        lines: Vec::new(),
        notes: Vec::new(),
    };
    reader.file(path, path.display().to_string(), 0)?;
    Ok((reader.lines, reader.notes))
}

struct Reader<'a> {
    options: &'a Options,
    warnings: &'a mut Warnings,
    params: HashMap<String, String>,
    lines: Vec<Line>,
    /// Comments for the top of the output (conditional lines left out).
    notes: Vec<String>,
}

impl Reader<'_> {
    fn file(&mut self, path: &Path, name: String, depth: usize) -> Result<(), ImportError> {
        let text = std::fs::read_to_string(path).map_err(|error| ImportError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let mut pending: Option<(usize, String)> = None;
        for (n, raw) in text.lines().enumerate() {
            let (start, mut joined) = match pending.take() {
                Some((start, before)) => (start, before + raw),
                None => (n + 1, raw.to_string()),
            };
            if joined.ends_with('\\') {
                joined.pop();
                pending = Some((start, joined));
                continue;
            }
            self.line(path, &name, start, &joined, depth)?;
        }
        if let Some((start, joined)) = pending {
            self.line(path, &name, start, &joined, depth)?;
        }
        Ok(())
    }

    fn line(
        &mut self,
        path: &Path,
        name: &str,
        number: usize,
        raw: &str,
        depth: usize,
    ) -> Result<(), ImportError> {
        let text = strip_comment(raw).trim().to_string();
        if text.is_empty() {
            return Ok(());
        }
        let mut origin = Origin {
            file: name.to_string(),
            line: number,
            text: text.clone(),
        };
        let mut text = text;
        if let Some(rest) = text.strip_prefix('@') {
            let (id, line) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let (negated, id) = match id.strip_prefix('^') {
                Some(id) => (true, id),
                None => (false, id),
            };
            let keep = match &self.options.config_id {
                Some(ours) => (ours == id) != negated,
                None => {
                    let (what, keep) = match negated {
                        true => ("kept", true),
                        false => ("left out", false),
                    };
                    let message = format!(
                        "a line for keepalived's config id {}{id}: {what}, since no --config-id was given (keepalived -i; its default is the host name)",
                        if negated { "other than " } else { "" }
                    );
                    let keyword = format!("@{}{id}", if negated { "^" } else { "" });
                    let note = self.warnings.left_out(&origin, &keyword, message);
                    self.notes.push(note);
                    keep
                }
            };
            if !keep {
                return Ok(());
            }
            text = line.trim().to_string();
            origin.text = text.clone();
            if text.is_empty() {
                return Ok(());
            }
        }
        if let Some((param, value)) = definition(&text) {
            let value = self.substitute(&origin, value)?;
            self.params.insert(param.to_string(), value);
            return Ok(());
        }
        let text = self.substitute(&origin, &text)?;
        origin.text = text.clone();
        let words = words(&origin, &text)?;
        if words.first().map(String::as_str) == Some("include") {
            let Some(pattern) = words.get(1) else {
                return Err(ImportError::syntax(&origin, "include needs a file name"));
            };
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(ImportError::syntax(
                    &origin,
                    format!("includes nest deeper than {MAX_INCLUDE_DEPTH}: is there a loop?"),
                ));
            }
            let base = path.parent().unwrap_or(Path::new("."));
            let files = glob(base, pattern);
            if files.is_empty() {
                let message =
                    "no file matches: nothing included (keepalived logs the same and goes on)";
                let note = self
                    .warnings
                    .left_out(&origin, &format!("include {pattern}"), message);
                self.notes.push(note);
            }
            for file in files {
                let shown = file.display().to_string();
                self.file(&file, shown, depth + 1)?;
            }
            return Ok(());
        }
        self.lines.push(Line { origin, words });
        Ok(())
    }

    /// `$NAME` and `${NAME}` replaced by their values.
    fn substitute(&self, origin: &Origin, text: &str) -> Result<String, ImportError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, len) = if let Some(braced) = after.strip_prefix('{') {
                match braced.find('}') {
                    Some(end) => (&braced[..end], end + 2),
                    None => return Err(ImportError::syntax(origin, "${ without its }")),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            if name.is_empty() {
                out.push('$');
                rest = after;
                continue;
            }
            match self.params.get(name) {
                Some(value) => out.push_str(value),
                None => {
                    return Err(ImportError::syntax(
                        origin,
                        format!("${name} is not defined (define it first with ${name}=value)"),
                    ));
                }
            }
            rest = &after[len..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// `$NAME=value`: a parameter definition.
fn definition(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix('$')?;
    let (name, value) = rest.split_once('=')?;
    let is_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    is_name.then(|| (name, value.trim()))
}

/// The line up to a `#` or `!` outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' | '!' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Words of a line: `{` and `}` stand alone, `"a b"` is one word.
fn words(origin: &Origin, text: &str) -> Result<Vec<String>, ImportError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars();
    let flush = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut quoted = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => quoted.push(c),
                        None => {
                            return Err(ImportError::syntax(origin, "a \" without its closing \""));
                        }
                    }
                }
                word.push_str(&quoted);
                if word.is_empty() {
                    words.push(String::new());
                }
            }
            '{' | '}' => {
                flush(&mut word, &mut words);
                words.push(c.to_string());
            }
            c if c.is_whitespace() => flush(&mut word, &mut words),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut words);
    Ok(words)
}

/// The files `pattern` names, sorted; `*`, `?` and `[...]` match within
/// one path component, as glob(3) does for keepalived.
fn glob(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let start = if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        base.to_path_buf()
    };
    let mut found = vec![start];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for dir in &found {
            if !part.contains(['*', '?', '[']) {
                let p = dir.join(part);
                if p.exists() {
                    next.push(p);
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') && matches(part.as_bytes(), n.as_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found.retain(|p| p.is_file());
    found
}

/// Shell-style matching of one component.
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            matches(&pattern[1..], name) || (!name.is_empty() && matches(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => matches(&pattern[1..], &name[1..]),
        (Some(b'['), Some(&c)) => match pattern.iter().position(|&b| b == b']') {
            Some(end) => {
                let set = &pattern[1..end];
                let (negate, set) = match set.first() {
                    Some(b'!' | b'^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == b'-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != negate && matches(&pattern[end + 1..], &name[1..])
            }
            None => c == b'[' && matches(&pattern[1..], &name[1..]),
        },
        (Some(&p), Some(&c)) => p == c && matches(&pattern[1..], &name[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_braces_and_quotes() {
        let o = Origin::default();
        assert_eq!(
            words(&o, "a{b \"c d\"}e").unwrap(),
            ["a", "{", "b", "c d", "}", "e"]
        );
        assert!(words(&o, "a \"b").is_err());
        assert_eq!(strip_comment("weight 1 # heavy ! x"), "weight 1 ");
        assert_eq!(strip_comment("path \"/a#b\" ! x"), "path \"/a#b\" ");
    }

    #[test]
    fn globs_match_one_component() {
        assert!(matches(b"*.conf", b"a.conf"));
        assert!(!matches(b"*.conf", b"a.conf~"));
        assert!(matches(b"vs[0-9]?.c*", b"vs1a.conf"));
        assert!(!matches(b"vs[!0-9]", b"vs1"));
    }
}
