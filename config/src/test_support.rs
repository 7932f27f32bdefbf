//! Helpers shared by the config tests.

use super::load;

/// The displayed diagnostics of a file that must be rejected.
pub(crate) fn errors(text: &str) -> Vec<String> {
    match load("router.toml", text) {
        Ok((config, _)) => panic!("accepted as {config:#?}:\n{text}"),
        Err(err) => err.diagnostics.iter().map(|d| d.to_string()).collect(),
    }
}

/// The displayed warnings of a file that must be accepted.
pub(crate) fn warnings(text: &str) -> Vec<String> {
    match load("router.toml", text) {
        Ok((_, warnings)) => warnings.iter().map(|d| d.to_string()).collect(),
        Err(err) => panic!("rejected:\n{err}\n{text}"),
    }
}

/// Check a table of (file text, expected diagnostics) cases.
pub(crate) fn check_cases(cases: &[(&str, &[&str])]) {
    for (text, expected) in cases {
        assert_eq!(&errors(text), expected, "for:\n{text}");
    }
}
