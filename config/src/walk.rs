//! Walking the spanned TOML tree: declarative, typed reads that report
//! instead of fail.
//!
//! A section reads each of its keys with one call, `t.req(ctx, "address",
//! HELP, string(parse_socket_addr))`, `t.or(ctx, "weight", 1, int(0,
//! 65535))`, `t.opt(ctx, "gateway", string(parse_ip))`: the key and a small
//! reader of its value kind. The calls are the section's keyword table: a
//! [`Table`] registers every key it is asked for, and [`Table::finish`]
//! reports each key of the file that no call named, with the list of valid
//! ones (keys are never silently ignored: a typo such as `wieght` must not
//! fall back to a default). A read either yields a value or records a
//! diagnostic at the key's or value's position and yields `None`, so one
//! pass finds every problem; whether a table read cleanly is the reporter's
//! error count, not a flag threaded through the reads.
//!
//! Key paths (`service[0].real_server[1].address`) are [`Path`]s, links to
//! the parent, formatted only when a diagnostic names one. The cross-entry
//! checks of `validate.rs` find a path's place again with [`Ctx::locate`].

use std::fmt;

use super::error::{Reporter, Span, cut, quote};
use super::tree::Value;
use super::tree::{Array, Kind, Table as TomlTable};

/// A key longer than this (in bytes) gets no "did you mean": the edit
/// distance costs its length times each known key's.
const SUGGEST_MAX: usize = 64;

/// The most keys one table reads (`[[service]]` has 13).
const MAX_KEYS: usize = 16;

/// The diagnostics sink and the document, threaded through the walk.
pub(super) struct Ctx<'t> {
    pub(super) report: Reporter<'t>,
    pub(super) root: TomlTable<'t, 't>,
}

/// A key path, as a link to its parent: building one costs nothing,
/// formatting it happens only for a diagnostic.
#[derive(Clone, Copy)]
pub(super) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

#[derive(Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    /// The document itself: the empty path.
    pub(super) const ROOT: Path<'static> = Path {
        parent: None,
        step: Step::Root,
    };

    /// `self.key`.
    pub(super) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Step::Key(key),
        }
    }

    /// `self[index]`.
    pub(super) fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Step::Index(index),
        }
    }

    /// The last key of the path (`address` of `service[0].address`).
    pub(super) fn name(&self) -> &'a str {
        match self.step {
            Step::Key(key) => key,
            _ => "",
        }
    }

    /// The steps from the root down.
    fn steps(&self) -> Vec<Step<'a>> {
        let mut steps = vec![self.step];
        let mut at = self.parent;
        while let Some(path) = at {
            steps.push(path.step);
            at = path.parent;
        }
        steps.reverse();
        steps
    }

    /// The path as a `[[header]]` names its table: without indices.
    fn header(&self) -> String {
        let mut out = String::new();
        for step in self.steps() {
            if let Step::Key(key) = step {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
        }
        out
    }
}

/// `service[0].real_server`, quoting a key that is not a bare TOML key
/// (`sysctl."net.ipv4.vs.conntrack"`) and cutting a long one.
impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            write!(f, "{parent}")?;
        }
        let key = match self.step {
            Step::Root => return Ok(()),
            Step::Index(i) => return write!(f, "[{i}]"),
            Step::Key(key) => key,
        };
        if self.parent.is_some_and(|p| !matches!(p.step, Step::Root)) {
            f.write_str(".")?;
        }
        let bare = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        match bare {
            true => f.write_str(&cut(key)),
            false => write!(f, "{}", quote(key)),
        }
    }
}

/// "a string", "an integer", ...: the type of `value` as the user reads it.
pub(super) fn kind(value: &Kind<'_, '_>) -> &'static str {
    match value {
        Kind::String(_) => "a string",
        Kind::Integer(_) => "an integer",
        Kind::Float => "a float",
        Kind::Boolean(_) => "a boolean",
        Kind::Datetime => "a date-time",
        Kind::Array(_) => "an array",
        Kind::Table(_) => "a table",
    }
}

/// One key read from a table: its path, where the key is, its value.
pub(super) struct Field<'a, 'i> {
    pub(super) path: Path<'a>,
    pub(super) key_span: Span,
    pub(super) value: Value<'a, 'i>,
}

impl Field<'_, '_> {
    pub(super) fn span(&self) -> Span {
        self.value.span()
    }
}

impl Ctx<'_> {
    /// Report an error at `field`'s value.
    pub(super) fn error(&mut self, field: &Field<'_, '_>, message: impl Into<String>) {
        self.report.error(&field.span(), field.path, message);
    }

    /// Report an error at `field`'s key.
    pub(super) fn key_error(&mut self, field: &Field<'_, '_>, message: impl Into<String>) {
        self.report.error(&field.key_span, field.path, message);
    }

    pub(super) fn type_error(&mut self, field: &Field<'_, '_>, expected: &str) {
        let found = kind(&field.value.kind());
        self.error(field, format!("expected {expected}, found {found}"));
    }

    /// The span of `path` in the document, or of its nearest parent there
    /// (`service[0].fwmark` falls back to `service[0]`, its `[[service]]`
    /// header), or the start of the file.
    pub(super) fn locate(&self, path: &Path<'_>) -> Span {
        let mut span = 0..0;
        let mut table = Some(self.root);
        let mut array = None;
        for step in path.steps() {
            let value = match step {
                Step::Root => continue,
                Step::Key(key) => table.and_then(|t| t.get(key)),
                Step::Index(i) => array.and_then(|a: Array<'_, '_>| a.items().nth(i)),
            };
            let Some(value) = value else { break };
            span = value.span();
            (table, array) = match value.kind() {
                Kind::Table(t) => (Some(t), None),
                Kind::Array(a) => (None, Some(a)),
                _ => (None, None),
            };
        }
        span
    }

    /// Report an error at `path`, found again in the document.
    pub(super) fn error_at(&mut self, path: &Path<'_>, message: impl Into<String>) {
        let span = self.locate(path);
        self.report.error(&span, path, message);
    }

    /// Report a warning at `path`, found again in the document.
    pub(super) fn warning_at(&mut self, path: &Path<'_>, message: impl Into<String>) {
        let span = self.locate(path);
        self.report.warning(&span, path, message);
    }
}

/// A reader of one value kind: the value, or `None` with a diagnostic.
pub(super) trait Read<T>: Fn(&mut Ctx, &Field<'_, '_>) -> Option<T> {}

impl<T, F: Fn(&mut Ctx, &Field<'_, '_>) -> Option<T>> Read<T> for F {}

/// An integer in `min..=max`, as `T`.
pub(super) fn int<T>(min: T, max: T) -> impl Read<T>
where
    T: Copy + Into<i128> + TryFrom<i128>,
{
    move |ctx: &mut Ctx, f: &Field<'_, '_>| {
        let Kind::Integer(int) = f.value.kind() else {
            ctx.type_error(f, "an integer");
            return None;
        };
        let (min, max) = (min.into(), max.into());
        match int.value() {
            Some(n) if (min..=max).contains(&n) => T::try_from(n).ok(),
            _ => {
                ctx.error(f, format!("{int} is out of range; expected {min}..={max}"));
                None
            }
        }
    }
}

/// `true` or `false`.
pub(super) fn boolean(ctx: &mut Ctx, f: &Field<'_, '_>) -> Option<bool> {
    match f.value.kind() {
        Kind::Boolean(b) => Some(b),
        _ => {
            ctx.type_error(f, "true or false");
            None
        }
    }
}

/// A string, turned into a `T` by `parse`, whose error message is
/// reported at the value.
pub(super) fn string<T>(parse: impl Fn(&str) -> Result<T, String>) -> impl Read<T> {
    typed_string("a string", parse)
}

/// [`string`], saying what kind of string when the value is none:
/// "expected a duration string like \"300s\"".
pub(super) fn typed_string<T>(
    expected: &'static str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> impl Read<T> {
    move |ctx: &mut Ctx, f: &Field<'_, '_>| {
        let Kind::String(text) = f.value.kind() else {
            ctx.type_error(f, expected);
            return None;
        };
        parse(text).map_err(|message| ctx.error(f, message)).ok()
    }
}

/// A string checked by `check`, kept as it is.
pub(super) fn checked(check: fn(&str) -> Result<(), String>) -> impl Read<String> {
    string(move |s| check(s).map(|()| s.to_string()))
}

/// One of a few words, each standing for a value. A word may carry a note
/// after a blank, shown in the message: `("nat (ipvsadm -m)", Nat)` is
/// written `nat`. The message lists them: `"masq" is not a forwarding
/// method; expected "nat" (ipvsadm -m), "direct" (-g) or "tunnel" (-i)`,
/// or `expected one of: rr, wrr, ...` for more than four.
pub(super) fn one_of<T: Copy>(
    what: &'static str,
    words: &'static [(&'static str, T)],
) -> impl Read<T> {
    string(move |text| {
        let word = |w: &'static str| w.split_once(' ').map_or(w, |(word, _)| word);
        if let Some((_, value)) = words.iter().find(|(w, _)| word(w) == text) {
            return Ok(*value);
        }
        let listed: Vec<String> = words
            .iter()
            .map(|(w, _)| match w.split_once(' ') {
                _ if words.len() > 4 => w.to_string(),
                Some((word, note)) => format!("{word:?} {note}"),
                None => format!("{w:?}"),
            })
            .collect();
        let expected = match listed.split_last() {
            _ if words.len() > 4 => format!("one of: {}", listed.join(", ")),
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        Err(format!(
            "{} is not {what}; expected {expected}",
            quote(text)
        ))
    })
}

/// The elements of an array (`expected` names it in the type error), each
/// with its path `key[i]`.
pub(super) fn items<'f, 'i>(
    ctx: &mut Ctx,
    f: &'f Field<'f, 'i>,
    expected: &str,
) -> Option<Vec<Field<'f, 'i>>> {
    let Kind::Array(items) = f.value.kind() else {
        ctx.type_error(f, expected);
        return None;
    };
    let items = items.items().enumerate().map(|(i, value)| Field {
        path: f.path.index(i),
        key_span: value.span(),
        value,
    });
    Some(items.collect())
}

/// The elements of an array taken so far, each with its index in the
/// file (an element that did not read leaves a gap): what a rule between
/// elements compares a new one with.
pub(super) struct Earlier<'a, T> {
    values: &'a [(usize, T)],
}

impl<T: PartialEq> Earlier<'_, T> {
    /// The file index of the first element taken that `same` matches.
    pub(super) fn position(&self, same: impl Fn(&T) -> bool) -> Option<usize> {
        self.values.iter().find(|(_, v)| same(v)).map(|(i, _)| *i)
    }

    pub(super) fn contains(&self, value: &T) -> bool {
        self.position(|v| v == value).is_some()
    }
}

/// An array whose every element `read` takes, with a rule between them:
/// `reject(value, earlier, path)` says why `value` cannot follow the
/// elements taken before it (in the array at `path`), reported at it.
/// `None` when an element is wrong.
pub(super) fn array_of<T: PartialEq>(
    expected: &'static str,
    read: impl Read<T>,
    reject: impl Fn(&T, &Earlier<'_, T>, &Path<'_>) -> Option<String>,
) -> impl Read<Vec<T>> {
    move |ctx: &mut Ctx, f: &Field<'_, '_>| {
        let errors = ctx.report.errors();
        let mut taken: Vec<(usize, T)> = Vec::new();
        for (i, item) in items(ctx, f, expected)?.into_iter().enumerate() {
            let Some(value) = read(ctx, &item) else {
                continue;
            };
            match reject(&value, &Earlier { values: &taken }, &f.path) {
                Some(message) => ctx.error(&item, message),
                None => taken.push((i, value)),
            }
        }
        (ctx.report.errors() == errors).then(|| taken.into_iter().map(|(_, v)| v).collect())
    }
}

/// `[[name]]`: the tables of the array that `read` takes, with their
/// indices; the others are reported (by `read`) and left out.
pub(super) fn tables<T>(
    read: impl Fn(&mut Ctx, &Field<'_, '_>, usize) -> Option<T>,
) -> impl Read<Vec<(usize, T)>> {
    move |ctx: &mut Ctx, f: &Field<'_, '_>| {
        let Kind::Array(_) = f.value.kind() else {
            ctx.type_error(f, &format!("an array of tables ([[{}]])", f.path.header()));
            return Some(Vec::new());
        };
        let items = items(ctx, f, "")?.into_iter().enumerate();
        Some(
            items
                .filter_map(|(i, item)| Some((i, read(ctx, &item, i)?)))
                .collect(),
        )
    }
}

/// A TOML table being read key by key.
pub(super) struct Table<'a, 'i> {
    path: &'a Path<'a>,
    span: Span,
    table: TomlTable<'a, 'i>,
    /// The keys asked for so far, in the order asked: the valid keys.
    known: [&'static str; MAX_KEYS],
    known_len: usize,
    /// The reporter's error count when reading began.
    errors: usize,
}

impl<'a, 'i> Table<'a, 'i> {
    /// Start reading `field` as a table; reports and returns `None` if it is
    /// something else (`expected` says what).
    pub(super) fn new(ctx: &mut Ctx, field: &'a Field<'a, 'i>, expected: &str) -> Option<Self> {
        match field.value.kind() {
            Kind::Table(table) => Some(Table::of(ctx, &field.path, field.span(), table)),
            _ => {
                ctx.type_error(field, expected);
                None
            }
        }
    }

    /// Read an already unwrapped table (the document root).
    pub(super) fn of(ctx: &Ctx, path: &'a Path<'a>, span: Span, table: TomlTable<'a, 'i>) -> Self {
        Table {
            path,
            span,
            table,
            known: [""; MAX_KEYS],
            known_len: 0,
            errors: ctx.report.errors(),
        }
    }

    pub(super) fn path(&self) -> &'a Path<'a> {
        self.path
    }

    /// The table's span: its `[header]`, or the inline table.
    pub(super) fn span(&self) -> Span {
        self.span.clone()
    }

    /// `key`, if present, for a read that needs more than one reader
    /// (its presence, its key's place, another key's value).
    pub(super) fn field(&mut self, key: &'static str) -> Option<Field<'a, 'i>> {
        debug_assert!(
            !self.known[..self.known_len].contains(&key),
            "{key} read twice"
        );
        self.known[self.known_len] = key;
        self.known_len += 1;
        let value = self.table.get(key)?;
        Some(Field {
            path: self.path.key(value.key()),
            key_span: value.key_span(),
            value,
        })
    }

    /// `key`, if present and good.
    pub(super) fn opt<T>(
        &mut self,
        ctx: &mut Ctx,
        key: &'static str,
        read: impl Read<T>,
    ) -> Option<T> {
        read(ctx, &self.field(key)?)
    }

    /// `key`, or `default` when absent; `None` when it is wrong.
    pub(super) fn or<T>(
        &mut self,
        ctx: &mut Ctx,
        key: &'static str,
        default: T,
        read: impl Read<T>,
    ) -> Option<T> {
        match self.field(key) {
            Some(f) => read(ctx, &f),
            None => Some(default),
        }
    }

    /// [`Table::opt`], with the field (for a rule involving another key).
    pub(super) fn opt_field<T>(
        &mut self,
        ctx: &mut Ctx,
        key: &'static str,
        read: impl Read<T>,
    ) -> (Option<Field<'a, 'i>>, Option<T>) {
        let field = self.field(key);
        let value = field.as_ref().and_then(|f| read(ctx, f));
        (field, value)
    }

    /// [`Table::or`], with the field (for a rule involving another key).
    pub(super) fn or_field<T>(
        &mut self,
        ctx: &mut Ctx,
        key: &'static str,
        default: T,
        read: impl Read<T>,
    ) -> (Option<Field<'a, 'i>>, Option<T>) {
        let field = self.field(key);
        let value = field.as_ref().map_or(Some(default), |f| read(ctx, f));
        (field, value)
    }

    /// `key`, reported at the table's header when it is missing; `help`
    /// tells what to write.
    pub(super) fn req<T>(
        &mut self,
        ctx: &mut Ctx,
        key: &'static str,
        help: &str,
        read: impl Read<T>,
    ) -> Option<T> {
        match self.field(key) {
            Some(f) => read(ctx, &f),
            None => self.missing(ctx, key, help),
        }
    }

    /// Report `key` missing, with `help` (what to write).
    pub(super) fn missing<T>(&self, ctx: &mut Ctx, key: &str, help: &str) -> Option<T> {
        let mut message = format!("missing key `{key}`");
        if !help.is_empty() {
            message.push_str("; ");
            message.push_str(help);
        }
        ctx.report.error(&self.span, self.path.key(key), message);
        None
    }

    /// Whether nothing read from this table so far had an error.
    pub(super) fn clean(&self, ctx: &Ctx) -> bool {
        ctx.report.errors() == self.errors
    }

    /// Report every key no read asked for; `Some(())` when every value of
    /// the table (and of the tables nested in it) read without errors. An
    /// unknown key rejects the file but does not fail its table.
    pub(super) fn finish(self, ctx: &mut Ctx) -> Option<()> {
        let known = &self.known[..self.known_len];
        // A key no read asked for; the table keeps no marks, so that
        // reading needs nothing but the document.
        for value in self.table.iter().filter(|v| !known.contains(&v.key())) {
            let name = value.key();
            let valid = known.join(", ");
            let message = match suggest(name, known) {
                Some(near) => {
                    format!("unknown key; did you mean `{near}`? Valid keys here: {valid}")
                }
                None => format!("unknown key; valid keys here: {valid}"),
            };
            ctx.report
                .error_aside(&value.key_span(), self.path.key(name), message);
        }
        self.clean(ctx).then_some(())
    }
}

/// The known key closest to a misspelt one, if it is close enough to be a
/// typo (`weigth`, `real_servers`).
fn suggest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    if key.len() > SUGGEST_MAX {
        return None;
    }
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

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use super::super::addr::parse_ip;
    use super::super::duration::parse_duration;
    use super::super::error::QUOTE_MAX;
    use super::*;

    /// Key `x` of `text` read by `read`: its value, or the diagnostics
    /// (`PATH: message`) of the whole document.
    fn read<T>(text: &str, read: impl Read<T>) -> Result<T, Vec<String>> {
        let (root, errors) = super::super::tree::parse(text);
        assert_eq!(errors, []);
        let mut ctx = Ctx {
            report: Reporter::new("f", text),
            root: root.root(),
        };
        let mut t = Table::of(&ctx, &Path::ROOT, 0..0, ctx.root);
        let value = t.opt(&mut ctx, "x", read);
        t.finish(&mut ctx);
        let shown = ctx.report.finish();
        let shown: Vec<String> = shown
            .iter()
            .map(|d| format!("{}: {}", d.path, d.message))
            .collect();
        match value {
            Some(value) if shown.is_empty() => Ok(value),
            _ => Err(shown),
        }
    }

    /// Check (text, expected) cases of one reader.
    fn cases<T: PartialEq + fmt::Debug>(
        read_x: impl Read<T>,
        cases: &[(&str, Result<T, &[&str]>)],
    ) {
        for (text, expected) in cases {
            let expected: Result<&T, Vec<String>> = expected
                .as_ref()
                .map_err(|e| e.iter().map(|s| s.to_string()).collect());
            assert_eq!(
                read(text, &read_x).as_ref().map_err(Clone::clone),
                expected,
                "for {text}"
            );
        }
    }

    #[test]
    fn int_reader() {
        cases(
            int(1u8, 255),
            &[
                ("x = 7", Ok(7)),
                ("x = 0xff", Ok(255)),
                (
                    "x = \"7\"",
                    Err(&["x: expected an integer, found a string"]),
                ),
                (
                    "x = 256",
                    Err(&["x: 256 is out of range; expected 1..=255"]),
                ),
                ("x = -1", Err(&["x: -1 is out of range; expected 1..=255"])),
                ("x = 1.5", Err(&["x: expected an integer, found a float"])),
            ],
        );
        let wide = "x = 99999999999999999999999999999999999999999";
        assert!(read(wide, int(0u32, u32::MAX)).unwrap_err()[0].contains("is out of range"));
    }

    #[test]
    fn boolean_and_string_readers() {
        cases(
            boolean,
            &[
                ("x = false", Ok(false)),
                (
                    "x = 1",
                    Err(&["x: expected true or false, found an integer"]),
                ),
            ],
        );
        cases(
            string(parse_duration),
            &[
                ("x = \"1m30s\"", Ok(Duration::from_secs(90))),
                ("x = 90", Err(&["x: expected a string, found an integer"])),
            ],
        );
        cases(
            string(parse_ip),
            &[
                (
                    "x = \"10.0.0.1\"",
                    Ok("10.0.0.1".parse::<IpAddr>().unwrap()),
                ),
                (
                    "x = \"10.0.0.300\"",
                    Err(&["x: \"10.0.0.300\" is not an IP address"]),
                ),
                (
                    "x = [\"10.0.0.1\"]",
                    Err(&["x: expected a string, found an array"]),
                ),
            ],
        );
        cases(
            typed_string("a duration like \"1s\"", parse_duration),
            &[(
                "x = {}",
                Err(&["x: expected a duration like \"1s\", found a table"]),
            )],
        );
    }

    #[test]
    fn one_of_writes_its_own_message() {
        cases(
            one_of("a colour", &[("red", 1), ("blue", 2)]),
            &[
                ("x = \"blue\"", Ok(2)),
                (
                    "x = \"green\"",
                    Err(&["x: \"green\" is not a colour; expected \"red\" or \"blue\""]),
                ),
                ("x = 2", Err(&["x: expected a string, found an integer"])),
            ],
        );
        let noted = &[("a (first)", 1), ("b", 2), ("c (last)", 3)];
        cases(
            one_of("a letter", noted),
            &[
                ("x = \"c\"", Ok(3)),
                (
                    "x = \"c (last)\"",
                    Err(&[
                        "x: \"c (last)\" is not a letter; expected \"a\" (first), \"b\" or \"c\" (last)",
                    ]),
                ),
            ],
        );
        let many = &[("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)];
        cases(
            one_of("a letter", many),
            &[(
                "x = \"z\"",
                Err(&["x: \"z\" is not a letter; expected one of: a, b, c, d, e"]),
            )],
        );
    }

    #[test]
    fn array_elements_have_their_paths() {
        let no_repeat = |ip: &IpAddr, earlier: &Earlier<'_, IpAddr>, path: &Path<'_>| {
            let i = earlier.position(|e| e == ip)?;
            Some(format!("already {path}[{i}]"))
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        cases(
            array_of("an array of addresses", string(parse_ip), no_repeat),
            &[
                ("x = []", Ok(vec![])),
                (
                    "x = [\"10.0.0.1\", \"::1\"]",
                    Ok(vec![ip("10.0.0.1"), ip("::1")]),
                ),
                (
                    "x = \"10.0.0.1\"",
                    Err(&["x: expected an array of addresses, found a string"]),
                ),
                (
                    "x = [\"10.0.0.1\", 2, \"y\", \"10.0.0.1\"]",
                    Err(&[
                        "x[1]: expected a string, found an integer",
                        "x[2]: \"y\" is not an IP address",
                        "x[3]: already x[0]",
                    ]),
                ),
            ],
        );
        let a = |ctx: &mut Ctx, f: &Field<'_, '_>, i: usize| {
            let mut t = Table::new(ctx, f, "a table")?;
            let a = t.req(ctx, "a", "write a = N", int(0u8, 9));
            t.finish(ctx)?;
            Some(a? + i as u8)
        };
        cases(
            tables(a),
            &[
                ("[[x]]\na = 1\n[[x]]\na = 2", Ok(vec![(0, 1), (1, 3)])),
                (
                    "[x]\na = 1",
                    Err(&["x: expected an array of tables ([[x]]), found a table"]),
                ),
                (
                    "[[x]]\nb = 1\n[[x]]\na = 2",
                    Err(&[
                        "x[0].a: missing key `a`; write a = N",
                        "x[0].b: unknown key; valid keys here: a",
                    ]),
                ),
            ],
        );
    }

    #[test]
    fn paths() {
        let service = Path::ROOT.key("service");
        let first = service.index(0);
        let real = first.key("real_server");
        assert_eq!(real.to_string(), "service[0].real_server");
        assert_eq!(real.header(), "service.real_server");
        let sysctl = Path::ROOT.key("sysctl");
        assert_eq!(
            sysctl.key("net.ipv4.vs.conntrack").to_string(),
            "sysctl.\"net.ipv4.vs.conntrack\""
        );
        assert_eq!(sysctl.key("").to_string(), "sysctl.\"\"");
        let long = "k".repeat(1000);
        assert_eq!(
            Path::ROOT.key(&long).to_string(),
            format!("{}...", &long[..QUOTE_MAX])
        );
        let quoted = format!("a.{long}");
        assert_eq!(
            Path::ROOT.key(&quoted).to_string(),
            format!("\"a.{}...\"", &long[..QUOTE_MAX - 2])
        );
    }

    #[test]
    fn locate_falls_back_to_the_nearest_parent() {
        let text = "[[service]]\nfwmark = 1\n[[service.real_server]]\naddress = \"10.0.0.2\"\n";
        let (root, _) = super::super::tree::parse(text);
        let ctx = Ctx {
            report: Reporter::new("f", text),
            root: root.root(),
        };
        let service = Path::ROOT.key("service");
        let first = service.index(0);
        let real = first.key("real_server");
        let real = real.index(0);
        let at = |path: &Path<'_>| ctx.report.position(ctx.locate(path).start);
        assert_eq!(at(&real.key("address")), (4, 11));
        assert_eq!(at(&real.key("weight")), (3, 1));
        assert_eq!(at(&first.key("scheduler")), (1, 1));
        assert_eq!(at(&first.key("fwmark")), (2, 10));
        assert_eq!(at(&Path::ROOT.key("route").index(3)), (1, 1));
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
        // A huge key is not compared at all (len x len steps).
        assert_eq!(suggest(&"w".repeat(SUGGEST_MAX + 1), known), None);
    }

    /// A huge unknown key is reported cut, without a suggestion.
    #[test]
    fn a_huge_key_is_cut() {
        let key = "x".repeat(1 << 20);
        let shown = read(&format!("{key} = 1\n"), boolean).unwrap_err();
        assert_eq!(
            shown,
            [format!(
                "{}...: unknown key; valid keys here: x",
                &key[..QUOTE_MAX]
            )]
        );
    }
}
