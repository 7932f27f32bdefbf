//! Walking the spanned TOML tree: typed reads that report instead of fail.
//!
//! Every read of a key either yields a value or records a diagnostic at the
//! key's or value's position and yields `None`, so one pass finds every
//! problem. A [`Table`] remembers which keys were read; whatever is left is
//! an unknown key, reported with the list of valid ones (keys are never
//! silently ignored: a typo such as `wieght` must not fall back to a default).
//!
//! Every key path read is remembered with its span in [`Locations`], so the
//! cross-entry checks of `validate.rs` can point at the right line too.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::error::{Reporter, Span};

/// A TOML value with its byte span.
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// Where each key path (`service[0].real_server[1].address`) sits in the text.
///
/// Recording is a push onto a list: a file with ten thousand real servers
/// records tens of thousands of paths and looks up only the few that have
/// a diagnostic, so the index for lookups is built on the first one (and
/// caught up on later ones).
#[derive(Default)]
pub(super) struct Locations {
    recorded: Vec<(String, Span)>,
    /// The paths of `recorded[..indexed.1]`, the later span winning.
    indexed: RefCell<(HashMap<String, Span>, usize)>,
}

impl Locations {
    pub(super) fn record(&mut self, path: &str, span: Span) {
        self.recorded.push((path.to_string(), span));
    }

    /// The span of `path`, or of its nearest recorded parent
    /// (`service[0].fwmark` falls back to `service[0]`, its `[[service]]`
    /// header), or the start of the file.
    pub(super) fn get(&self, path: &str) -> Span {
        let mut indexed = self.indexed.borrow_mut();
        let (index, done) = &mut *indexed;
        for (p, span) in &self.recorded[*done..] {
            index.insert(p.clone(), span.clone());
        }
        *done = self.recorded.len();
        let mut path = path;
        loop {
            if let Some(span) = index.get(path) {
                return span.clone();
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => return 0..0,
            }
        }
    }
}

/// The diagnostics sink and the location map, threaded through the walk.
pub(super) struct Ctx {
    pub(super) report: Reporter,
    pub(super) locations: Locations,
}

/// `parent.key`, quoting `key` when it is not a bare TOML key
/// (`sysctl."net.ipv4.vs.conntrack"`).
pub(super) fn join(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let mut path = String::with_capacity(parent.len() + key.len() + 3);
    path.push_str(parent);
    if !parent.is_empty() {
        path.push('.');
    }
    if bare {
        path.push_str(key);
    } else {
        let _ = write!(path, "{key:?}");
    }
    path
}

/// "a string", "an integer", ...: the type of `value` as the user reads it.
pub(super) fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// One key read from a table: its full path, where the key is, its value.
pub(super) struct Field<'a, 'i> {
    pub(super) path: String,
    pub(super) key_span: Span,
    pub(super) value: &'a Value<'i>,
}

impl Field<'_, '_> {
    pub(super) fn span(&self) -> Span {
        self.value.span()
    }
}

/// A TOML table being read key by key.
pub(super) struct Table<'a, 'i> {
    path: String,
    span: Span,
    /// Entries in file order, with a "was read" flag.
    entries: Vec<(&'a Spanned<DeString<'i>>, &'a Value<'i>, bool)>,
    /// The keys this table may hold, in documentation order.
    known: &'static [&'static str],
}

impl<'a, 'i> Table<'a, 'i> {
    /// Start reading `value` as a table at `path`; reports and returns `None`
    /// if it is something else.
    pub(super) fn new(
        ctx: &mut Ctx,
        path: &str,
        value: &'a Value<'i>,
        known: &'static [&'static str],
    ) -> Option<Table<'a, 'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(Table::from_de(ctx, path, value.span(), table, known)),
            other => {
                let found = kind(other);
                ctx.report.error(
                    &value.span(),
                    path,
                    format!("expected a table, found {found}"),
                );
                None
            }
        }
    }

    /// Read an already unwrapped table (the document root).
    pub(super) fn from_de(
        ctx: &mut Ctx,
        path: &str,
        span: Span,
        table: &'a DeTable<'i>,
        known: &'static [&'static str],
    ) -> Table<'a, 'i> {
        ctx.locations.record(path, span.clone());
        let mut entries: Vec<_> = table.iter().map(|(k, v)| (k, v, false)).collect();
        entries.sort_by_key(|(k, _, _)| k.span().start);
        Table {
            path: path.to_string(),
            span,
            entries,
            known,
        }
    }

    pub(super) fn path(&self) -> &str {
        &self.path
    }

    /// The table's span: its `[header]`, or the inline table.
    pub(super) fn span(&self) -> Span {
        self.span.clone()
    }

    /// Read `key`, if present.
    pub(super) fn get(&mut self, ctx: &mut Ctx, key: &str) -> Option<Field<'a, 'i>> {
        debug_assert!(self.known.contains(&key), "{key} is not a known key");
        let entry = self
            .entries
            .iter_mut()
            .find(|(k, _, _)| k.get_ref() == key)?;
        entry.2 = true;
        let path = join(&self.path, key);
        ctx.locations.record(&path, entry.1.span());
        Some(Field {
            path,
            key_span: entry.0.span(),
            value: entry.1,
        })
    }

    /// Read `key`, reporting at the table's header when it is missing.
    /// `help` tells what to write.
    pub(super) fn require(
        &mut self,
        ctx: &mut Ctx,
        key: &str,
        help: &str,
    ) -> Option<Field<'a, 'i>> {
        let field = self.get(ctx, key);
        if field.is_none() {
            let mut message = format!("missing key `{key}`");
            if !help.is_empty() {
                message.push_str("; ");
                message.push_str(help);
            }
            ctx.report
                .error(&self.span, &join(&self.path, key), message);
        }
        field
    }

    /// Report every key that was not read.
    pub(super) fn finish(self, ctx: &mut Ctx) {
        let valid = self.known.join(", ");
        for (key, _, read) in &self.entries {
            if *read {
                continue;
            }
            let name = key.get_ref().as_ref();
            let message = match suggest(name, self.known) {
                Some(near) => {
                    format!("unknown key; did you mean `{near}`? Valid keys here: {valid}")
                }
                None => format!("unknown key; valid keys here: {valid}"),
            };
            ctx.report
                .error(&key.span(), &join(&self.path, name), message);
        }
    }
}

/// The known key closest to a misspelt one, if it is close enough to be a
/// typo (`weigth`, `real_servers`).
fn suggest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2 && d * 3 <= key.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, counting a swap of neighbours as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

impl Ctx {
    pub(super) fn type_error(&mut self, field: &Field<'_, '_>, expected: &str) {
        let found = kind(field.value.get_ref());
        self.report.error(
            &field.span(),
            &field.path,
            format!("expected {expected}, found {found}"),
        );
    }

    /// The field as a string.
    pub(super) fn string<'a>(&mut self, field: &Field<'a, '_>) -> Option<&'a str> {
        match field.value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.type_error(field, "a string");
                None
            }
        }
    }

    /// The field as a string, turned into a `T` by `parse`, whose error
    /// message is reported at the value.
    pub(super) fn parsed<T>(
        &mut self,
        field: &Field<'_, '_>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.string(field)?;
        match parse(text) {
            Ok(value) => Some(value),
            Err(message) => {
                self.report.error(&field.span(), &field.path, message);
                None
            }
        }
    }

    /// The field as an integer in `min..=max`.
    pub(super) fn integer(&mut self, field: &Field<'_, '_>, min: i128, max: i128) -> Option<i128> {
        let DeValue::Integer(int) = field.value.get_ref() else {
            self.type_error(field, "an integer");
            return None;
        };
        match i128::from_str_radix(int.as_str(), int.radix()) {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.report.error(
                    &field.span(),
                    &field.path,
                    format!("{int} is out of range; expected {min}..={max}"),
                );
                None
            }
        }
    }

    /// The field as a `u32` in `min..=max`.
    pub(super) fn u32(&mut self, field: &Field<'_, '_>, min: u32, max: u32) -> Option<u32> {
        self.integer(field, min.into(), max.into())
            .and_then(|n| u32::try_from(n).ok())
    }

    /// The field as an array; elements come with their paths (`key[i]`).
    pub(super) fn array<'a, 'i>(
        &mut self,
        field: &Field<'a, 'i>,
        expected: &str,
    ) -> Option<Vec<Field<'a, 'i>>> {
        let DeValue::Array(items) = field.value.get_ref() else {
            self.type_error(field, expected);
            return None;
        };
        Some(
            items
                .iter()
                .enumerate()
                .map(|(i, value)| {
                    let path = format!("{}[{i}]", field.path);
                    self.locations.record(&path, value.span());
                    Field {
                        path,
                        key_span: value.span(),
                        value,
                    }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(join("", "service"), "service");
        assert_eq!(join("service[0]", "real_server"), "service[0].real_server");
        assert_eq!(
            join("sysctl", "net.ipv4.vs.conntrack"),
            "sysctl.\"net.ipv4.vs.conntrack\""
        );
        assert_eq!(join("a", ""), "a.\"\"");
    }

    #[test]
    fn suggestions() {
        let known = &["address", "weight", "forwarding", "real_server"];
        assert_eq!(suggest("weigth", known), Some("weight"));
        assert_eq!(suggest("adress", known), Some("address"));
        assert_eq!(suggest("real_servers", known), Some("real_server"));
        assert_eq!(suggest("forward", known), None);
        assert_eq!(suggest("x", known), None);
        assert_eq!(suggest("colour", known), None);
    }

    #[test]
    fn location_fallback() {
        let mut l = Locations::default();
        l.record("service[0]", 10..20);
        l.record("service[0].real_server[1].address", 30..40);
        assert_eq!(l.get("service[0].real_server[1].address"), 30..40);
        assert_eq!(l.get("service[0].real_server[1].weight"), 10..20);
        assert_eq!(l.get("service[0].fwmark"), 10..20);
        assert_eq!(l.get("route[3].device"), 0..0);
    }
}
