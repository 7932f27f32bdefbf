//! `lvsinit import`: a router.toml from what a director runs today, a
//! keepalived.conf ([`keepalived`]) or ipvsadm rules ([`ipvsadm`]).
//!
//! Both readers fill the same [`model`] (services, real servers, checks,
//! one VRRP instance, interfaces), which [`render`] writes as a commented
//! router.toml. Nothing is dropped silently: whatever has no equivalent is
//! a [`Warning`] (file, line, keyword) and a comment at its place in the
//! output.

pub mod interfaces;
pub mod ipvsadm;
pub mod keepalived;
pub mod model;
pub mod render;
mod warnings;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use interfaces::GivenInterface;
pub use warnings::{Origin, Warning, Warnings};

/// What `lvsinit import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// keepalived.conf, with `include`, `@conditional` lines and `$PARAMETER`s.
    Keepalived,
    /// `ipvsadm-save -n` / `ipvsadm -S -n` output, `ipvsadm -R` input, or a
    /// script of `ipvsadm -A/-a/-E/-e` lines.
    Ipvsadm,
}

/// What the source does not say and the user does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `--interface NAME=CIDR[,CIDR...]`: the box's own addresses.
    pub interfaces: Vec<GivenInterface>,
    /// `--config-id ID`: keepalived's `-i`, which `@ID` lines are kept for.
    pub config_id: Option<String>,
}

/// A finished import: the router.toml text and what was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub toml: String,
    pub warnings: Vec<Warning>,
}

impl Import {
    /// True when everything was carried over (exit status 0).
    pub fn complete(&self) -> bool {
        self.warnings.is_empty()
    }
}

/// A source that cannot be read as its format.
#[derive(Debug)]
pub enum ImportError {
    /// A file (the one named, or an included one) cannot be read.
    Read { path: PathBuf, error: io::Error },
    /// The text is not the format: `file:line: error: message`.
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
}

impl ImportError {
    pub(crate) fn syntax(origin: &Origin, message: impl Into<String>) -> ImportError {
        ImportError::Syntax {
            file: origin.file.clone(),
            line: origin.line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Read { path, error } => write!(f, "{}: {error}", path.display()),
            ImportError::Syntax {
                file,
                line,
                message,
            } => write!(f, "{file}:{line}: error: {message}"),
        }
    }
}

impl std::error::Error for ImportError {}

/// Read `path` as `format` and write the router.toml for it.
pub fn import(format: Format, path: &Path, options: &Options) -> Result<Import, ImportError> {
    let mut warnings = Warnings::default();
    let mut doc = match format {
        Format::Keepalived => keepalived::read(path, options, &mut warnings)?,
        Format::Ipvsadm => {
            let text = std::fs::read_to_string(path).map_err(|error| ImportError::Read {
                path: path.to_path_buf(),
                error,
            })?;
            ipvsadm::read(&display_name(path), &text, &mut warnings)?
        }
    };
    interfaces::attach(&mut doc, &options.interfaces, &mut warnings);
    Ok(Import {
        toml: render::render(&doc),
        warnings: warnings.into_vec(),
    })
}

/// How a file is named in comments and warnings: as it was given.
pub(crate) fn display_name(path: &Path) -> String {
    path.display().to_string()
}
