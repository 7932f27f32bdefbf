//! Where each piece came from, and what could not be carried over.

use std::fmt;

/// A place in the source: file, line and the line's words, as comments
/// quote it (`# keepalived.conf:27 virtual_server 10.10.10.2 1358`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    pub text: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} {}", self.file, self.line, self.text)
    }
}

/// Something the source says that the output does not: on stderr as
/// `FILE:LINE: warning: KEYWORD: message`, and a comment in the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub line: usize,
    pub keyword: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: warning: {}: {}",
            self.file, self.line, self.keyword, self.message
        )
    }
}

/// The warnings of one import, in source order of discovery.
#[derive(Debug, Default)]
pub struct Warnings(Vec<Warning>);

impl Warnings {
    /// Record that `keyword` at `origin` was left out, and return the
    /// comment that says so where it would have been in the output.
    pub fn left_out(
        &mut self,
        origin: &Origin,
        keyword: &str,
        message: impl Into<String>,
    ) -> String {
        let message = message.into();
        self.0.push(Warning {
            file: origin.file.clone(),
            line: origin.line,
            keyword: keyword.to_string(),
            message: message.clone(),
        });
        format!(
            "LEFT OUT {}:{} {keyword}: {message}",
            origin.file, origin.line
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Warning] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Warning> {
        self.0
    }
}
