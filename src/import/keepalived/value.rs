//! Values of keepalived keywords: numbers, timers, addresses. A wrong one
//! is an error naming its line (keepalived itself would ignore the line).

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use super::super::ImportError;
use super::tree::Node;

/// Argument `i`, or an error saying what it should be.
pub fn arg<'n>(node: &'n Node, i: usize, what: &str) -> Result<&'n str, ImportError> {
    node.arg(i)
        .ok_or_else(|| ImportError::syntax(&node.origin, format!("{} needs {what}", node.keyword)))
}

/// Argument `i` as a whole number in `min..=max`.
pub fn number(node: &Node, i: usize, what: &str, min: u64, max: u64) -> Result<u64, ImportError> {
    let text = arg(node, i, what)?;
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ImportError::syntax(
            &node.origin,
            format!("{} {text:?}: expected {what}, {min} to {max}", node.keyword),
        )),
    }
}

/// `text` as a `T`.
pub fn word<T: FromStr>(node: &Node, text: &str, what: &str) -> Result<T, ImportError> {
    text.parse().map_err(|_| {
        ImportError::syntax(
            &node.origin,
            format!("{} {text:?}: expected {what}", node.keyword),
        )
    })
}

/// A timer in seconds, fractions allowed (`1.5`), to the millisecond.
pub fn timer(node: &Node) -> Result<Duration, ImportError> {
    let text = arg(node, 0, "a number of seconds")?;
    match text.parse::<f64>() {
        Ok(s) if (0.0..1e9).contains(&s) => Ok(Duration::from_millis((s * 1000.0).round() as u64)),
        _ => Err(ImportError::syntax(
            &node.origin,
            format!("{} {text:?}: expected a number of seconds", node.keyword),
        )),
    }
}

/// Argument `i` as an IP address.
pub fn ip(node: &Node, i: usize) -> Result<IpAddr, ImportError> {
    let text = arg(node, i, "an IP address")?;
    word(node, text, "an IP address")
}
