//! The TOML document as a tree of spanned values, built in one pass from
//! the events of `toml_parser` (the lexer and grammar behind the `toml`
//! crate, which keeps checking the syntax).
//!
//! This file adds what the grammar leaves to its user: TOML's rules for
//! keys and tables (a key once per table, a `[table]` defined once, `[[x]]`
//! only for an array of tables, inline tables closed to later keys) and the
//! byte span of every key and value for the diagnostics. The events are
//! taken as they come, not collected; tables keep their entries in file
//! order and add a hash index only once they grow, so neither a big file
//! nor a table of a million keys costs more than linear time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use toml_parser::decoder::{Encoding, ScalarKind};
use toml_parser::parser::{EventReceiver, RecursionGuard, ValidateWhitespace};
use toml_parser::{ErrorSink, Expected, ParseError, Raw, Source};

use super::error::Span;

/// Arrays and inline tables nest, and dotted keys have parts, at most this
/// many: deeper is an error, not a deep recursion (the `toml` crate's limit).
const MAX_DEPTH: u32 = 80;

/// A table finds a key by scanning its entries until it has this many,
/// then by a hash index.
const INDEX_FROM: usize = 16;

/// A value and the bytes of the file it was read from.
#[derive(Debug)]
pub(super) struct Value<'i> {
    span: Span,
    kind: Kind<'i>,
}

impl<'i> Value<'i> {
    fn new(span: Span, kind: Kind<'i>) -> Self {
        Value { span, kind }
    }

    pub(super) fn span(&self) -> Span {
        self.span.clone()
    }

    pub(super) fn kind(&self) -> &Kind<'i> {
        &self.kind
    }
}

/// What a value is. Integers keep their digits (the readers decide what
/// range they take); no key takes a float or a date-time.
#[derive(Debug)]
pub(super) enum Kind<'i> {
    String(Cow<'i, str>),
    Integer(Integer<'i>),
    Float,
    Boolean(bool),
    Datetime,
    Array(Array<'i>),
    Table(Table<'i>),
}

impl Kind<'_> {
    /// The type's name in toml_parser's messages ("cannot extend value of
    /// type integer with a dotted key").
    fn type_name(&self) -> &'static str {
        match self {
            Kind::String(_) => "string",
            Kind::Integer(_) => "integer",
            Kind::Float => "float",
            Kind::Boolean(_) => "boolean",
            Kind::Datetime => "datetime",
            Kind::Array(_) => "array",
            Kind::Table(t) if t.inline => "inline table",
            Kind::Table(_) => "table",
        }
    }
}

/// An integer as written, without its `0x`/`0o`/`0b` prefix and `_`s.
#[derive(Debug)]
pub(super) struct Integer<'i> {
    digits: Cow<'i, str>,
    radix: u32,
}

impl Integer<'_> {
    /// Its value, when it fits 128 bits.
    pub(super) fn value(&self) -> Option<i128> {
        i128::from_str_radix(&self.digits, self.radix).ok()
    }
}

/// As written: `0xff`, `-12`.
impl fmt::Display for Integer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.radix {
            2 => "0b",
            8 => "0o",
            16 => "0x",
            _ => "",
        };
        write!(f, "{prefix}{}", self.digits)
    }
}

/// `[1, 2]`, or the tables of `[[name]]` headers.
#[derive(Debug, Default)]
pub(super) struct Array<'i> {
    items: Vec<Value<'i>>,
    of_tables: bool,
}

impl<'i> Array<'i> {
    pub(super) fn items(&self) -> &[Value<'i>] {
        &self.items
    }
}

/// A key as decoded (`"a b"` is `a b`) and where it is written.
#[derive(Debug)]
pub(super) struct Key<'i> {
    pub(super) name: Cow<'i, str>,
    pub(super) span: Span,
}

/// A table's entries in file order.
#[derive(Debug, Default)]
pub(super) struct Table<'i> {
    entries: Vec<(Key<'i>, Value<'i>)>,
    /// Entry positions by key, once there are [`INDEX_FROM`] entries.
    /// Boxed: most tables never have one, and a table inside every value
    /// would make each value 40 bytes bigger (2.5 MB more for 1,000 x 10).
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<Cow<'i, str>, usize>>>,
    /// Made by a dotted key or a header's path, not by its own header.
    implicit: bool,
    /// Made by a dotted key.
    dotted: bool,
    /// Written `{ ... }`: nothing can be added to it later.
    inline: bool,
}

impl<'i> Table<'i> {
    pub(super) fn get(&self, key: &str) -> Option<&Value<'i>> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&Key<'i>, &Value<'i>)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `at`, as [`Table::position`] found it.
    pub(super) fn entry(&self, at: usize) -> (&Key<'i>, &Value<'i>) {
        let (key, value) = &self.entries[at];
        (key, value)
    }

    /// Where `key` is among the entries.
    pub(super) fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k.name == key),
        }
    }

    /// Add `key`, which the table does not have.
    fn push(&mut self, key: Key<'i>, value: Value<'i>) -> &mut Value<'i> {
        let at = self.entries.len();
        if let Some(index) = &mut self.index {
            index.insert(key.name.clone(), at);
        } else if at + 1 >= INDEX_FROM {
            let mut index = HashMap::with_capacity(2 * INDEX_FROM);
            for (i, (k, _)) in self.entries.iter().enumerate() {
                index.insert(k.name.clone(), i);
            }
            index.insert(key.name.clone(), at);
            self.index = Some(Box::new(index));
        }
        self.entries.push((key, value));
        &mut self.entries[at].1
    }

    fn remove(&mut self, at: usize) -> (Key<'i>, Value<'i>) {
        let entry = self.entries.remove(at);
        if let Some(index) = &mut self.index {
            index.clear();
            for (i, (k, _)) in self.entries.iter().enumerate() {
                index.insert(k.name.clone(), i);
            }
        }
        entry
    }
}

/// A TOML syntax error, or a broken rule of keys and tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub(super) span: Option<Span>,
    pub(super) message: String,
}

/// Parse `text`: the document's root table and every error found. After an
/// error the tree is a best guess, good only for not crashing.
pub(super) fn parse(text: &str) -> (Table<'_>, Vec<SyntaxError>) {
    let source = Source::new(text);
    let tokens = source.lex().into_vec();
    let mut errors = Errors(Vec::new());
    let mut builder = Builder {
        source,
        root: Table::default(),
        current: Table::default(),
        header: None,
        keys: Vec::new(),
        header_start: 0,
        spare: Vec::new(),
        pending: Vec::new(),
        stack: Vec::new(),
    };
    {
        let mut checked = ValidateWhitespace::new(&mut builder, source);
        let mut guarded = RecursionGuard::new(&mut checked, MAX_DEPTH);
        toml_parser::parser::parse_document(&tokens, &mut guarded, &mut errors);
    }
    drop(tokens);
    builder.finish_table(&mut errors);
    (builder.root, errors.0)
}

/// toml_parser's errors as the `toml` crate words them:
/// "invalid basic string, expected `\"`".
struct Errors(Vec<SyntaxError>);

impl ErrorSink for Errors {
    fn report_error(&mut self, error: ParseError) {
        let mut message = error.description().to_string();
        if let Some(expected) = error.expected() {
            message.push_str(", expected ");
            if expected.is_empty() {
                message.push_str("nothing");
            }
            for (i, e) in expected.iter().enumerate() {
                if i > 0 {
                    message.push_str(", ");
                }
                match e {
                    Expected::Literal("\n") => message.push_str("newline"),
                    Expected::Literal("`") => message.push_str("'`'"),
                    Expected::Literal(s) if s.chars().all(|c| c.is_ascii_control()) => {
                        message.push_str(&format!("`{}`", s.escape_debug()));
                    }
                    Expected::Literal(s) => message.push_str(&format!("`{s}`")),
                    Expected::Description(s) => message.push_str(s),
                    _ => message.push_str("etc"),
                }
            }
        }
        let span = error.unexpected().map(|s| s.start()..s.end());
        self.0.push(SyntaxError { span, message });
    }
}

/// A `[header]` or `[[header]]` read: its keys and its span.
struct Header<'i> {
    keys: Vec<Key<'i>>,
    span: Span,
    array: bool,
    /// Its path was found wrong (and said so) when it was read.
    broken: bool,
}

/// A value being built between its open and close events.
enum Frame<'i> {
    Array(usize, Vec<Value<'i>>),
    /// An inline table, and the key of the value being read inside it
    /// (empty: none).
    Inline(usize, Table<'i>, Vec<Key<'i>>),
}

/// Takes the events and builds the tree as the `toml` crate does: the
/// keys under a header go into `current`, which joins `root` at the next
/// header.
struct Builder<'i> {
    source: Source<'i>,
    root: Table<'i>,
    current: Table<'i>,
    /// The header `current` belongs to; `None` before the first one.
    header: Option<Header<'i>>,
    /// The parts of the key being read.
    keys: Vec<Key<'i>>,
    /// Where the header being read starts.
    header_start: usize,
    /// A header's emptied key buffer, for the next header.
    spare: Vec<Key<'i>>,
    /// A document-level key whose value is being read (empty: none).
    pending: Vec<Key<'i>>,
    stack: Vec<Frame<'i>>,
}

fn span(s: toml_parser::Span) -> Span {
    s.start()..s.end()
}

impl<'i> Builder<'i> {
    fn raw(&self, at: toml_parser::Span, encoding: Option<Encoding>) -> Raw<'i> {
        let text = self.source.input().get(span(at)).unwrap_or("");
        Raw::new_unchecked(text, encoding, at)
    }

    /// A value is complete: into the array or table it belongs to.
    fn deliver(&mut self, value: Value<'i>, errors: &mut dyn ErrorSink) {
        match self.stack.last_mut() {
            Some(Frame::Array(_, items)) => items.push(value),
            Some(Frame::Inline(_, table, keys)) => {
                insert_inline(table, keys, value, errors);
                keys.clear();
            }
            None => {
                insert_keyval(&mut self.current, &mut self.pending, value, errors);
                self.pending.clear();
            }
        }
    }

    /// A header starts: the table before it joins the root.
    fn finish_table(&mut self, errors: &mut dyn ErrorSink) {
        let table = std::mem::take(&mut self.current);
        let Some(mut header) = self.header.take() else {
            self.root = table;
            return;
        };
        let Some(key) = header.keys.pop().filter(|_| !header.broken) else {
            return;
        };
        let value = Value::new(header.span.clone(), Kind::Table(table));
        let parent = descend(&mut self.root, &header.keys, false, errors);
        header.keys.clear();
        self.spare = header.keys;
        let Some(parent) = parent else { return };
        if !header.array {
            parent.push(key, value);
            return;
        }
        let at = match parent.position(&key.name) {
            Some(at) => at,
            None => {
                let array = Array {
                    items: Vec::new(),
                    of_tables: true,
                };
                let array = Value::new(header.span.clone(), Kind::Array(array));
                parent.push(
                    Key {
                        name: key.name.clone(),
                        span: key.span.clone(),
                    },
                    array,
                );
                parent.entries.len() - 1
            }
        };
        let existing = &mut parent.entries[at].1;
        match &mut existing.kind {
            Kind::Array(array) if array.of_tables => array.items.push(value),
            _ => duplicate(errors, &key.span),
        }
    }

    /// A header ends: `current` starts empty, or as the implicit table
    /// an earlier header's path made (`[a.b]` before `[a]`).
    fn start_table(&mut self, mut header: Header<'i>, errors: &mut dyn ErrorSink) {
        if !header.array
            && let Some((key, path)) = header.keys.split_last()
            && let Some(parent) = descend(&mut self.root, path, false, errors).or_else(|| {
                header.broken = true;
                None
            })
            && let Some(at) = parent.position(&key.name)
        {
            let (_, old) = parent.remove(at);
            match old.kind {
                Kind::Table(t) if t.implicit && !t.dotted => self.current = t,
                kind => {
                    duplicate(errors, &key.span);
                    if let Kind::Table(t) = kind {
                        self.current = t;
                    }
                }
            }
        }
        self.current.implicit = false;
        self.current.dotted = false;
        self.header = Some(header);
    }
}

fn duplicate(errors: &mut dyn ErrorSink, key: &Span) {
    let at = toml_parser::Span::new_unchecked(key.start, key.end);
    errors.report_error(ParseError::new("duplicate key").with_unexpected(at));
}

fn cannot_extend(errors: &mut dyn ErrorSink, key: &Span, type_name: &str) {
    let at = toml_parser::Span::new_unchecked(key.start, key.end);
    let message = format!("cannot extend value of type {type_name} with a dotted key");
    errors.report_error(ParseError::new(message).with_unexpected(at));
}

/// `key = value` under a header (or at the top): `a.b.c = 1` makes the
/// implicit tables `a` and `a.b` on the way.
fn insert_keyval<'i>(
    table: &mut Table<'i>,
    keys: &mut Vec<Key<'i>>,
    value: Value<'i>,
    errors: &mut dyn ErrorSink,
) {
    let Some(key) = keys.pop() else { return };
    let dotted = !keys.is_empty();
    let Some(parent) = descend(table, keys, dotted, errors) else {
        return;
    };
    if dotted && !parent.implicit {
        return duplicate(errors, &key.span);
    }
    match parent.position(&key.name) {
        Some(_) => duplicate(errors, &key.span),
        None => {
            parent.push(key, value);
        }
    }
}

/// The table at `path` below `table`, made where missing. `dotted`: the
/// path is a dotted key's (`a.b = 1`), not a header's (`[a.b]`).
fn descend<'t, 'i>(
    mut table: &'t mut Table<'i>,
    path: &[Key<'i>],
    dotted: bool,
    errors: &mut dyn ErrorSink,
) -> Option<&'t mut Table<'i>> {
    for key in path {
        let at = match table.position(&key.name) {
            Some(at) => at,
            None => {
                let new = Table {
                    implicit: true,
                    dotted,
                    ..Table::default()
                };
                let new = Value::new(key.span.clone(), Kind::Table(new));
                table.push(
                    Key {
                        name: key.name.clone(),
                        span: key.span.clone(),
                    },
                    new,
                );
                table.entries.len() - 1
            }
        };
        let value = &mut table.entries[at].1;
        let wrong = match &value.kind {
            Kind::Array(a) if a.of_tables => match a.items.last() {
                Some(Value {
                    kind: Kind::Table(_),
                    ..
                }) => None,
                Some(last) => Some(last.kind.type_name()),
                None => Some("array"),
            },
            Kind::Table(t) if dotted && !t.implicit && !t.inline => {
                duplicate(errors, &key.span);
                return None;
            }
            Kind::Table(t) if !t.inline => None,
            kind => Some(kind.type_name()),
        };
        if let Some(type_name) = wrong {
            cannot_extend(errors, &key.span, type_name);
            return None;
        }
        table = match &mut value.kind {
            Kind::Array(a) => match a.items.last_mut() {
                Some(Value {
                    kind: Kind::Table(t),
                    ..
                }) => t,
                _ => return None,
            },
            Kind::Table(t) => {
                t.dotted |= dotted;
                t
            }
            _ => return None,
        };
    }
    Some(table)
}

/// `key = value` inside `{ ... }`.
fn insert_inline<'i>(
    table: &mut Table<'i>,
    keys: &mut Vec<Key<'i>>,
    value: Value<'i>,
    errors: &mut dyn ErrorSink,
) {
    let Some(key) = keys.pop() else { return };
    let mut at_table = &mut *table;
    for part in keys.iter() {
        let at = match at_table.position(&part.name) {
            Some(at) => at,
            None => {
                let new = Table {
                    implicit: true,
                    dotted: true,
                    inline: true,
                    ..Table::default()
                };
                let new = Value::new(part.span.clone(), Kind::Table(new));
                at_table.push(
                    Key {
                        name: part.name.clone(),
                        span: part.span.clone(),
                    },
                    new,
                );
                at_table.entries.len() - 1
            }
        };
        at_table = match &mut at_table.entries[at].1.kind {
            Kind::Table(t) if !t.implicit => return duplicate(errors, &part.span),
            Kind::Table(t) => t,
            kind => return cannot_extend(errors, &part.span, kind.type_name()),
        };
    }
    if at_table.dotted == keys.is_empty() {
        return duplicate(errors, &key.span);
    }
    match at_table.position(&key.name) {
        Some(_) => duplicate(errors, &key.span),
        None => {
            at_table.push(key, value);
        }
    }
}

/// A key of only `A-Za-z0-9_-`, unquoted: as written, nothing to decode.
fn bare_key<'i>(raw: Raw<'i>, encoding: Option<Encoding>) -> Option<&'i str> {
    let text = raw.as_str();
    let bare = encoding.is_none()
        && !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    bare.then_some(text)
}

/// The two scalars a router.toml is mostly made of, taken without the
/// general decoder: a basic string without escapes or control characters
/// (`"10.0.0.1:80"`), and a decimal integer without sign, `_` or leading
/// zero (`1`). Anything else goes through toml_parser's decoder.
fn plain_scalar<'i>(raw: Raw<'i>, encoding: Option<Encoding>) -> Option<Kind<'i>> {
    let text = raw.as_str();
    match encoding {
        Some(Encoding::BasicString) => {
            let inner = text.strip_prefix('"')?.strip_suffix('"')?;
            let plain = inner
                .bytes()
                .all(|b| b != b'\\' && b != b'"' && b != 0x7f && (b >= 0x20 || b == b'\t'));
            plain.then_some(Kind::String(Cow::Borrowed(inner)))
        }
        None => {
            let decimal = matches!(text.as_bytes(), [b'1'..=b'9', rest @ ..] if rest.iter().all(u8::is_ascii_digit))
                || text == "0";
            decimal.then_some(Kind::Integer(Integer {
                digits: Cow::Borrowed(text),
                radix: 10,
            }))
        }
        _ => None,
    }
}

impl EventReceiver for Builder<'_> {
    fn std_table_open(&mut self, at: toml_parser::Span, error: &mut dyn ErrorSink) {
        self.finish_table(error);
        self.keys.clear();
        self.header_start = at.start();
    }

    fn array_table_open(&mut self, span: toml_parser::Span, error: &mut dyn ErrorSink) {
        self.std_table_open(span, error);
    }

    fn std_table_close(&mut self, span: toml_parser::Span, error: &mut dyn ErrorSink) {
        self.close_header(span, false, error);
    }

    fn array_table_close(&mut self, span: toml_parser::Span, error: &mut dyn ErrorSink) {
        self.close_header(span, true, error);
    }

    fn simple_key(
        &mut self,
        span: toml_parser::Span,
        encoding: Option<Encoding>,
        error: &mut dyn ErrorSink,
    ) {
        let raw = self.raw(span, encoding);
        let name = match bare_key(raw, encoding) {
            Some(name) => Cow::Borrowed(name),
            None => {
                let mut name = Cow::Borrowed("");
                raw.decode_key(&mut name, error);
                name
            }
        };
        if self.keys.len() as u32 == MAX_DEPTH {
            error.report_error(ParseError::new("recursion limit").with_unexpected(span));
        }
        self.keys.push(Key {
            name,
            span: self::span(span),
        });
    }

    fn key_val_sep(&mut self, _span: toml_parser::Span, _error: &mut dyn ErrorSink) {
        match self.stack.last_mut() {
            Some(Frame::Inline(_, _, key)) => std::mem::swap(key, &mut self.keys),
            Some(Frame::Array(..)) => {}
            None => std::mem::swap(&mut self.pending, &mut self.keys),
        }
        self.keys.clear();
    }

    fn scalar(
        &mut self,
        at: toml_parser::Span,
        encoding: Option<Encoding>,
        error: &mut dyn ErrorSink,
    ) {
        let raw = self.raw(at, encoding);
        if let Some(kind) = plain_scalar(raw, encoding) {
            return self.deliver(Value::new(span(at), kind), error);
        }
        let mut text = Cow::Borrowed("");
        let kind = match raw.decode_scalar(&mut text, error) {
            ScalarKind::String => Kind::String(text),
            ScalarKind::Boolean(b) => Kind::Boolean(b),
            ScalarKind::DateTime => Kind::Datetime,
            ScalarKind::Float => Kind::Float,
            ScalarKind::Integer(radix) => Kind::Integer(Integer {
                digits: text,
                radix: radix.value(),
            }),
        };
        self.deliver(Value::new(span(at), kind), error);
    }

    fn array_open(&mut self, at: toml_parser::Span, _error: &mut dyn ErrorSink) -> bool {
        self.stack.push(Frame::Array(at.start(), Vec::new()));
        true
    }

    fn array_close(&mut self, at: toml_parser::Span, error: &mut dyn ErrorSink) {
        if let Some(Frame::Array(..)) = self.stack.last()
            && let Some(Frame::Array(start, items)) = self.stack.pop()
        {
            let array = Array {
                items,
                of_tables: false,
            };
            self.deliver(Value::new(start..at.end(), Kind::Array(array)), error);
        }
    }

    fn inline_table_open(&mut self, at: toml_parser::Span, _error: &mut dyn ErrorSink) -> bool {
        let table = Table {
            inline: true,
            ..Table::default()
        };
        self.stack
            .push(Frame::Inline(at.start(), table, Vec::new()));
        true
    }

    fn inline_table_close(&mut self, at: toml_parser::Span, error: &mut dyn ErrorSink) {
        if let Some(Frame::Inline(..)) = self.stack.last()
            && let Some(Frame::Inline(start, table, _)) = self.stack.pop()
        {
            self.deliver(Value::new(start..at.end(), Kind::Table(table)), error);
        }
    }
}

impl Builder<'_> {
    fn close_header(&mut self, at: toml_parser::Span, array: bool, error: &mut dyn ErrorSink) {
        let mut keys = std::mem::take(&mut self.spare);
        std::mem::swap(&mut keys, &mut self.keys);
        let header = Header {
            keys,
            span: self.header_start..at.end(),
            array,
            broken: false,
        };
        self.start_table(header, error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every leaf of `table` as `path = value`, in file order.
    fn leaves(table: &Table<'_>, prefix: &str, out: &mut Vec<String>) {
        for (key, value) in table.iter() {
            let path = match prefix {
                "" => key.name.to_string(),
                _ => format!("{prefix}.{}", key.name),
            };
            leaf(value, &path, out);
        }
    }

    fn leaf(value: &Value<'_>, path: &str, out: &mut Vec<String>) {
        match value.kind() {
            Kind::Table(t) if !t.is_empty() => leaves(t, path, out),
            Kind::Table(_) => out.push(format!("{path} = {{}}")),
            Kind::Array(a) => {
                for (i, item) in a.items().iter().enumerate() {
                    leaf(item, &format!("{path}[{i}]"), out);
                }
                if a.items().is_empty() {
                    out.push(format!("{path} = []"));
                }
            }
            Kind::String(s) => out.push(format!("{path} = {s:?}")),
            Kind::Integer(n) => out.push(format!("{path} = {n} ({:?})", n.value())),
            Kind::Boolean(b) => out.push(format!("{path} = {b}")),
            Kind::Float => out.push(format!("{path} = float")),
            Kind::Datetime => out.push(format!("{path} = datetime")),
        }
    }

    /// The leaves of `text`, or its errors as `OFFSET: message`.
    fn read(text: &str) -> Result<Vec<String>, Vec<String>> {
        let (root, errors) = parse(text);
        if !errors.is_empty() {
            let shown = errors.iter().map(|e| {
                let at = e.span.as_ref().map_or(0, |s| s.start);
                format!("{at}: {}", e.message)
            });
            return Err(shown.collect());
        }
        let mut out = Vec::new();
        leaves(&root, "", &mut out);
        Ok(out)
    }

    #[test]
    fn documents() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("a = 1\nb = \"x\"", &["a = 1 (Some(1))", "b = \"x\""]),
            (
                "[[x]]\nk = 1\n[[x]]\nk = 2\n",
                &["x[0].k = 1 (Some(1))", "x[1].k = 2 (Some(2))"],
            ),
            (
                "[[a]]\n[[a.b]]\nc = true\n[[a.b]]\n[[a]]\n",
                &["a[0].b[0].c = true", "a[0].b[1] = {}", "a[1] = {}"],
            ),
            // A header's path before the table's own header.
            (
                "[a.b]\nc = 1\n[a]\nd = 2\n",
                &["a.b.c = 1 (Some(1))", "a.d = 2 (Some(2))"],
            ),
            (
                "net.ipv4.x = 1\nnet.ipv4.y = 2",
                &["net.ipv4.x = 1 (Some(1))", "net.ipv4.y = 2 (Some(2))"],
            ),
            (
                "t = { a.b = 1, a.c = [2, {d = 3}] }",
                &[
                    "t.a.b = 1 (Some(1))",
                    "t.a.c[0] = 2 (Some(2))",
                    "t.a.c[1].d = 3 (Some(3))",
                ],
            ),
            (
                "\"a b\" = 'lit\\n'\nc = \"x\\ty\\\"\"\n'd.e' = \"\"\"\nml\"\"\"",
                &["a b = \"lit\\\\n\"", "c = \"x\\ty\\\"\"", "d.e = \"ml\""],
            ),
            (
                "a = 0x1F\nb = 1_000\nc = -5\nd = +5\ne = 0\nf = 0o17\ng = 0b11",
                &[
                    "a = 0x1F (Some(31))",
                    "b = 1000 (Some(1000))",
                    "c = -5 (Some(-5))",
                    "d = +5 (Some(5))",
                    "e = 0 (Some(0))",
                    "f = 0o17 (Some(15))",
                    "g = 0b11 (Some(3))",
                ],
            ),
            (
                "a = 1.5\nb = 1979-05-27\nc = []\nd = {}\ne = \"tab\there\"",
                &[
                    "a = float",
                    "b = datetime",
                    "c = []",
                    "d = {}",
                    "e = \"tab\\there\"",
                ],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                read(text),
                Ok(expected.iter().map(|s| s.to_string()).collect()),
                "{text}"
            );
        }
    }

    #[test]
    fn rules_of_keys_and_tables() {
        let cases: &[(&str, &[&str])] = &[
            ("a = 1\na = 2", &["6: duplicate key"]),
            ("[t]\n[t]", &["5: duplicate key"]),
            ("a.b = 1\n[a]", &["9: duplicate key"]),
            ("[a]\nb = 1\n[a.b]", &["13: duplicate key"]),
            ("x = [1]\n[[x]]", &["10: duplicate key"]),
            ("[x]\n[[x]]", &["6: duplicate key"]),
            (
                "x = {a = 1}\n[x.b]",
                &["13: cannot extend value of type inline table with a dotted key"],
            ),
            (
                "a = 1\na.b = 2",
                &["6: cannot extend value of type integer with a dotted key"],
            ),
            (
                "x = [1]\nx.y = 2",
                &["8: cannot extend value of type array with a dotted key"],
            ),
            ("t = {a = 1, a = 2}", &["12: duplicate key"]),
            (
                "t = {a = 1, a.b = 2}",
                &["12: cannot extend value of type integer with a dotted key"],
            ),
            ("x = 012", &["4: unexpected leading zero"]),
        ];
        for (text, expected) in cases {
            let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            let got = read(text);
            // The decoder's own wording may change between versions; the
            // place and the start of the message are what matter.
            let got = got.expect_err(text);
            assert_eq!(got.len(), expected.len(), "{text}: {got:?}");
            for (g, e) in got.iter().zip(&expected) {
                let (e_at, e_msg) = e.split_once(": ").unwrap();
                let (g_at, g_msg) = g.split_once(": ").unwrap();
                assert_eq!(g_at, e_at, "{text}: {got:?}");
                let word = e_msg.split(',').next().unwrap();
                assert!(g_msg.starts_with(word), "{text}: {got:?}");
            }
        }
    }

    /// Control characters and broken strings are the decoder's to find;
    /// the fast path takes none of them.
    #[test]
    fn strings_the_fast_path_leaves_alone() {
        for text in [
            "x = \"a\u{1}b\"",
            "x = \"a\u{7f}\"",
            "x = \"\\q\"",
            "x = \"a\nb\"",
        ] {
            assert!(read(text).is_err(), "{text:?} read");
        }
    }

    /// The fast paths decode exactly what toml_parser's decoder does.
    #[test]
    fn fast_paths_agree_with_the_decoder() {
        let scalars = [
            ("\"10.0.0.1:80\"", Some(Encoding::BasicString)),
            ("\"\"", Some(Encoding::BasicString)),
            ("\"tab\there\"", Some(Encoding::BasicString)),
            ("\"é ü\"", Some(Encoding::BasicString)),
            ("0", None),
            ("7", None),
            ("65535", None),
        ];
        for (text, encoding) in scalars {
            let at = toml_parser::Span::new_unchecked(0, text.len());
            let raw = Raw::new_unchecked(text, encoding, at);
            let fast = plain_scalar(raw, encoding).expect(text);
            let mut decoded = Cow::Borrowed("");
            let mut errors = Errors(Vec::new());
            let kind = raw.decode_scalar(&mut decoded, &mut errors);
            assert_eq!(errors.0, [], "{text}");
            match (fast, kind) {
                (Kind::String(a), ScalarKind::String) => assert_eq!(a, decoded),
                (Kind::Integer(a), ScalarKind::Integer(radix)) => {
                    assert_eq!((a.digits, a.radix), (decoded, radix.value()));
                }
                (fast, kind) => panic!("{text}: {fast:?} vs {kind:?}"),
            }
        }
        for key in ["address", "real_server", "a-b", "9"] {
            let at = toml_parser::Span::new_unchecked(0, key.len());
            let raw = Raw::new_unchecked(key, None, at);
            let mut decoded = Cow::Borrowed("");
            let mut errors = Errors(Vec::new());
            raw.decode_key(&mut decoded, &mut errors);
            assert_eq!(errors.0, []);
            assert_eq!(bare_key(raw, None), Some(&*decoded));
        }
        assert_eq!(
            bare_key(
                Raw::new_unchecked("a.b", None, toml_parser::Span::new_unchecked(0, 3)),
                None
            ),
            None
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("x = {}{}", "[".repeat(200), "]".repeat(200));
        let errors = read(&deep).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains("max recursion depth")),
            "{errors:?}"
        );
        let dotted = format!("{} = 1", vec!["k"; 200].join("."));
        let errors = read(&dotted).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains("recursion limit")),
            "{errors:?}"
        );
    }

    /// A big table finds its keys through the index: lookups and the
    /// duplicate check stay right past INDEX_FROM, and a duplicate among
    /// 20,000 keys is found at once.
    #[test]
    fn big_tables() {
        let mut text: String = (0..20_000).map(|i| format!("k{i} = {i}\n")).collect();
        let (root, errors) = parse(&text);
        assert_eq!(errors, []);
        assert_eq!(root.iter().count(), 20_000);
        for i in [0, INDEX_FROM - 1, INDEX_FROM, 19_999] {
            let Some(Kind::Integer(n)) = root.get(&format!("k{i}")).map(Value::kind) else {
                panic!("k{i} missing");
            };
            assert_eq!(n.value(), Some(i as i128));
        }
        assert!(root.get("k20000").is_none());
        text.push_str("k500 = 1\n");
        let (_, errors) = parse(&text);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].message, "duplicate key");
    }
}
