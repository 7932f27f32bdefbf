//! The TOML document as a tree of spanned values, built in one pass from
//! the events of `toml_parser` (the lexer and grammar behind the `toml`
//! crate, which keeps checking the syntax).
//!
//! This file adds what the grammar leaves to its user: TOML's rules for
//! keys and tables (a key once per table, a `[table]` defined once, `[[x]]`
//! only for an array of tables, inline tables closed to later keys) and the
//! byte span of every key and value for the diagnostics.
//!
//! Every value is a node of one vector, the [`Document`]; a table or an
//! array links its children in file order, and a table adds a hash index
//! once it grows. Reading a file of tens of thousands of tables thus costs
//! one growing vector instead of an allocation per table, and neither a
//! big file nor a table of a million keys costs more than linear time.
//! Readers see the nodes through [`Value`], [`Table`] and [`Array`]
//! handles.

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

/// A table finds a key by following its entries until it has this many,
/// then by a hash index.
const INDEX_FROM: u32 = 16;

/// No node: the end of a list of children.
const NONE: u32 = u32::MAX;

/// A parsed file: its nodes, the root table first.
#[derive(Debug, Default)]
pub(super) struct Document<'i> {
    nodes: Vec<Node<'i>>,
    /// The hash indexes of big tables, by [`Children::index`].
    indexes: Vec<HashMap<Cow<'i, str>, u32>>,
}

/// One value, with the key it has in its table ("" in an array).
#[derive(Debug)]
struct Node<'i> {
    key: Cow<'i, str>,
    key_span: (u32, u32),
    span: (u32, u32),
    /// The next node of the same table or array.
    next: u32,
    data: Data<'i>,
}

#[derive(Debug)]
enum Data<'i> {
    String(Cow<'i, str>),
    Integer(Integer<'i>),
    Float,
    Boolean(bool),
    Datetime,
    /// The children, and whether `[[header]]`s made it.
    Array(Children, bool),
    Table(Children, Flags),
}

/// The children of a table or an array: a list through [`Node::next`].
#[derive(Debug, Clone, Copy)]
struct Children {
    first: u32,
    last: u32,
    len: u32,
    /// Into [`Document::indexes`], or [`NONE`].
    index: u32,
    /// Bit `n % 64` set for each key of `n` bytes: most keys a reader asks
    /// a table for are not there, and most are told by their length.
    lengths: u64,
}

const NO_CHILDREN: Children = Children {
    first: NONE,
    last: NONE,
    len: 0,
    index: NONE,
    lengths: 0,
};

fn length_bit(key: &str) -> u64 {
    1 << (key.len() % 64)
}

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    /// Made by a dotted key or a header's path, not by its own header.
    implicit: bool,
    /// Made by a dotted key.
    dotted: bool,
    /// Written `{ ... }`: nothing can be added to it later.
    inline: bool,
}

fn to_span((start, end): (u32, u32)) -> Span {
    start as usize..end as usize
}

fn pack(span: &Span) -> (u32, u32) {
    (span.start as u32, span.end as u32)
}

impl<'i> Document<'i> {
    /// The root table.
    pub(super) fn root(&self) -> Table<'_, 'i> {
        Table { doc: self, at: 0 }
    }

    fn push(&mut self, span: (u32, u32), data: Data<'i>) -> u32 {
        let at = self.nodes.len() as u32;
        self.nodes.push(Node {
            key: Cow::Borrowed(""),
            key_span: (0, 0),
            span,
            next: NONE,
            data,
        });
        at
    }

    fn children(&self, at: u32) -> Children {
        match &self.nodes[at as usize].data {
            Data::Array(c, _) | Data::Table(c, _) => *c,
            _ => NO_CHILDREN,
        }
    }

    fn children_mut(&mut self, at: u32) -> &mut Children {
        match &mut self.nodes[at as usize].data {
            Data::Array(c, _) | Data::Table(c, _) => c,
            _ => unreachable!("node {at} has no children"),
        }
    }

    fn flags(&self, at: u32) -> Option<Flags> {
        match &self.nodes[at as usize].data {
            Data::Table(_, f) => Some(*f),
            _ => None,
        }
    }

    fn flags_mut(&mut self, at: u32) -> Option<&mut Flags> {
        match &mut self.nodes[at as usize].data {
            Data::Table(_, f) => Some(f),
            _ => None,
        }
    }

    /// The child of table `at` named `key`.
    fn find(&self, at: u32, key: &str) -> Option<u32> {
        let children = self.children(at);
        if children.lengths & length_bit(key) == 0 {
            return None;
        }
        if children.index != NONE {
            return self.indexes[children.index as usize].get(key).copied();
        }
        // NONE is past the end of any vector: `get` ends the walk.
        let mut child = children.first;
        while let Some(node) = self.nodes.get(child as usize) {
            if node.key.len() == key.len() && node.key == key {
                return Some(child);
            }
            child = node.next;
        }
        None
    }

    /// Add `child` as the last of `at`'s children, named `key` (which a
    /// table does not have yet).
    fn append(&mut self, at: u32, child: u32, key: Option<&Key<'i>>) {
        if let Some(key) = key {
            let node = &mut self.nodes[child as usize];
            node.key = key.name.clone();
            node.key_span = pack(&key.span);
        }
        let children = self.children(at);
        match children.last {
            NONE => self.children_mut(at).first = child,
            last => self.nodes[last as usize].next = child,
        }
        let bit = length_bit(&self.nodes[child as usize].key);
        let children = self.children_mut(at);
        children.last = child;
        children.len += 1;
        children.lengths |= bit;
        let children = *children;
        if key.is_some() {
            if children.index != NONE {
                let name = self.nodes[child as usize].key.clone();
                self.indexes[children.index as usize].insert(name, child);
            } else if children.len >= INDEX_FROM {
                self.build_index(at);
            }
        }
    }

    /// Table `at`'s child `key`, or a new empty table there with `flags`.
    fn find_or_add(&mut self, at: u32, key: &Key<'i>, flags: Flags) -> u32 {
        if let Some(child) = self.find(at, &key.name) {
            return child;
        }
        let child = self.push(pack(&key.span), Data::Table(NO_CHILDREN, flags));
        self.append(at, child, Some(key));
        child
    }

    fn build_index(&mut self, at: u32) {
        let mut index = HashMap::with_capacity(2 * INDEX_FROM as usize);
        let mut child = self.children(at).first;
        while child != NONE {
            let node = &self.nodes[child as usize];
            index.insert(node.key.clone(), child);
            child = node.next;
        }
        let children = self.children(at);
        match children.index {
            NONE => {
                self.children_mut(at).index = self.indexes.len() as u32;
                self.indexes.push(index);
            }
            i => self.indexes[i as usize] = index,
        }
    }

    /// Take `child` out of table `at`'s children.
    fn unlink(&mut self, at: u32, child: u32) {
        let children = self.children(at);
        let mut before = NONE;
        let mut node = children.first;
        while node != child && node != NONE {
            before = node;
            node = self.nodes[node as usize].next;
        }
        if node == NONE {
            return;
        }
        let next = self.nodes[child as usize].next;
        self.nodes[child as usize].next = NONE;
        match before {
            NONE => self.children_mut(at).first = next,
            b => self.nodes[b as usize].next = next,
        }
        let mut lengths = 0;
        let mut node = self.children(at).first;
        while let Some(n) = self.nodes.get(node as usize) {
            lengths |= length_bit(&n.key);
            node = n.next;
        }
        let children = self.children_mut(at);
        if children.last == child {
            children.last = before;
        }
        children.len -= 1;
        children.lengths = lengths;
        if children.index != NONE {
            self.build_index(at);
        }
    }
}

/// A value of the document and where it was read from.
#[derive(Clone, Copy)]
pub(super) struct Value<'a, 'i> {
    doc: &'a Document<'i>,
    at: u32,
}

impl<'a, 'i> Value<'a, 'i> {
    fn node(&self) -> &'a Node<'i> {
        &self.doc.nodes[self.at as usize]
    }

    pub(super) fn span(&self) -> Span {
        to_span(self.node().span)
    }

    /// Its key in its table, as decoded (`"a b"` is `a b`).
    pub(super) fn key(&self) -> &'a str {
        &self.node().key
    }

    /// Where its key is written.
    pub(super) fn key_span(&self) -> Span {
        to_span(self.node().key_span)
    }

    pub(super) fn kind(&self) -> Kind<'a, 'i> {
        let (doc, at) = (self.doc, self.at);
        match &self.node().data {
            Data::String(s) => Kind::String(s),
            Data::Integer(n) => Kind::Integer(n),
            Data::Float => Kind::Float,
            Data::Boolean(b) => Kind::Boolean(*b),
            Data::Datetime => Kind::Datetime,
            Data::Array(..) => Kind::Array(Array { doc, at }),
            Data::Table(..) => Kind::Table(Table { doc, at }),
        }
    }
}

impl fmt::Debug for Value<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{:?}", self.node().data, self.span())
    }
}

/// What a value is. Integers keep their digits (the readers decide what
/// range they take); no key takes a float or a date-time.
#[derive(Debug)]
pub(super) enum Kind<'a, 'i> {
    String(&'a str),
    Integer(&'a Integer<'i>),
    Float,
    Boolean(bool),
    Datetime,
    Array(Array<'a, 'i>),
    Table(Table<'a, 'i>),
}

impl Data<'_> {
    /// The type's name in toml_parser's messages ("cannot extend value of
    /// type integer with a dotted key").
    fn type_name(&self) -> &'static str {
        match self {
            Data::String(_) => "string",
            Data::Integer(_) => "integer",
            Data::Float => "float",
            Data::Boolean(_) => "boolean",
            Data::Datetime => "datetime",
            Data::Array(..) => "array",
            Data::Table(_, f) if f.inline => "inline table",
            Data::Table(..) => "table",
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

/// The children of a table or array node, in file order.
struct Walk<'a, 'i> {
    doc: &'a Document<'i>,
    next: u32,
}

impl<'a, 'i> Iterator for Walk<'a, 'i> {
    type Item = Value<'a, 'i>;

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.next;
        if at == NONE {
            return None;
        }
        self.next = self.doc.nodes[at as usize].next;
        Some(Value { doc: self.doc, at })
    }
}

/// `[1, 2]`, or the tables of `[[name]]` headers.
#[derive(Clone, Copy)]
pub(super) struct Array<'a, 'i> {
    doc: &'a Document<'i>,
    at: u32,
}

impl<'a, 'i> Array<'a, 'i> {
    pub(super) fn items(&self) -> impl Iterator<Item = Value<'a, 'i>> + use<'a, 'i> {
        Walk {
            doc: self.doc,
            next: self.doc.children(self.at).first,
        }
    }
}

impl fmt::Debug for Array<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.items()).finish()
    }
}

/// A table's entries, in file order.
#[derive(Clone, Copy)]
pub(super) struct Table<'a, 'i> {
    doc: &'a Document<'i>,
    at: u32,
}

impl<'a, 'i> Table<'a, 'i> {
    pub(super) fn get(&self, key: &str) -> Option<Value<'a, 'i>> {
        let at = self.doc.find(self.at, key)?;
        Some(Value { doc: self.doc, at })
    }

    /// Every entry; [`Value::key`] names it.
    pub(super) fn iter(&self) -> impl Iterator<Item = Value<'a, 'i>> + use<'a, 'i> {
        Walk {
            doc: self.doc,
            next: self.doc.children(self.at).first,
        }
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.doc.children(self.at).len == 0
    }
}

impl fmt::Debug for Table<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|v| (v.key(), v)))
            .finish()
    }
}

/// A key as decoded and where it is written.
#[derive(Debug)]
struct Key<'i> {
    name: Cow<'i, str>,
    span: Span,
}

/// A TOML syntax error, or a broken rule of keys and tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub(super) span: Option<Span>,
    pub(super) message: String,
}

/// Parse `text`: the document (its root is [`Document::root`]) and every
/// error found. After an error the tree is a best guess, good only for not
/// crashing.
pub(super) fn parse(text: &str) -> (Document<'_>, Vec<SyntaxError>) {
    let mut errors = Errors(Vec::new());
    if u32::try_from(text.len()).is_err() {
        let message = "the file is too big to read (4 GiB or more)".to_string();
        errors.0.push(SyntaxError {
            span: None,
            message,
        });
        return (Builder::new(Source::new("")).doc, errors.0);
    }
    let source = Source::new(text);
    let tokens = source.lex().into_vec();
    let mut builder = Builder::new(source);
    {
        let mut checked = ValidateWhitespace::new(&mut builder, source);
        let mut guarded = RecursionGuard::new(&mut checked, MAX_DEPTH);
        toml_parser::parser::parse_document(&tokens, &mut guarded, &mut errors);
    }
    drop(tokens);
    builder.finish_table(&mut errors);
    (builder.doc, errors.0)
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

/// A value being built between its open and close events: the node, and
/// for an inline table the key of the value being read inside it (empty:
/// none).
enum Frame<'i> {
    Array(u32),
    Inline(u32, Vec<Key<'i>>),
}

/// Takes the events and builds the tree as the `toml` crate does: the
/// keys under a header go into `current`, which joins the root at the next
/// header.
struct Builder<'i> {
    source: Source<'i>,
    doc: Document<'i>,
    /// The table being filled, not yet in the tree; 0 (the root) before
    /// the first header.
    current: u32,
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

fn packed(s: toml_parser::Span) -> (u32, u32) {
    (s.start() as u32, s.end() as u32)
}

fn table(flags: Flags) -> Data<'static> {
    Data::Table(NO_CHILDREN, flags)
}

impl<'i> Builder<'i> {
    fn new(source: Source<'i>) -> Self {
        // About one node per 12 bytes of a router.toml (1,000 x 10: 67,000
        // for 784 kB); capacity never written to costs no memory.
        let mut doc = Document {
            nodes: Vec::with_capacity(source.input().len() / 10 + 1),
            indexes: Vec::new(),
        };
        doc.push((0, 0), table(Flags::default()));
        Builder {
            source,
            doc,
            current: 0,
            header: None,
            keys: Vec::new(),
            header_start: 0,
            spare: Vec::new(),
            pending: Vec::new(),
            stack: Vec::new(),
        }
    }

    fn raw(&self, at: toml_parser::Span, encoding: Option<Encoding>) -> Raw<'i> {
        let text = self.source.input().get(span(at)).unwrap_or("");
        Raw::new_unchecked(text, encoding, at)
    }

    /// A value is complete: into the array or table it belongs to.
    fn deliver(&mut self, value: u32, errors: &mut dyn ErrorSink) {
        match self.stack.last_mut() {
            Some(Frame::Array(array)) => {
                let array = *array;
                self.doc.append(array, value, None);
            }
            Some(Frame::Inline(table, keys)) => {
                let table = *table;
                let mut keys = std::mem::take(keys);
                insert(&mut self.doc, table, &mut keys, value, true, errors);
                keys.clear();
                if let Some(Frame::Inline(_, slot)) = self.stack.last_mut() {
                    *slot = keys;
                }
            }
            None => {
                let current = self.current;
                insert(
                    &mut self.doc,
                    current,
                    &mut self.pending,
                    value,
                    false,
                    errors,
                );
                self.pending.clear();
            }
        }
    }

    /// A header starts: the table before it joins the root.
    fn finish_table(&mut self, errors: &mut dyn ErrorSink) {
        let table = self.current;
        let Some(mut header) = self.header.take() else {
            return;
        };
        let Some(key) = header.keys.pop().filter(|_| !header.broken) else {
            return;
        };
        self.doc.nodes[table as usize].span = pack(&header.span);
        let parent = descend(&mut self.doc, 0, &header.keys, false, errors);
        header.keys.clear();
        self.spare = header.keys;
        let Some(parent) = parent else { return };
        if !header.array {
            self.doc.append(parent, table, Some(&key));
            return;
        }
        let array = match self.doc.find(parent, &key.name) {
            Some(at) => at,
            None => {
                let at = self
                    .doc
                    .push(pack(&header.span), Data::Array(NO_CHILDREN, true));
                self.doc.append(parent, at, Some(&key));
                at
            }
        };
        match matches!(self.doc.nodes[array as usize].data, Data::Array(_, true)) {
            true => self.doc.append(array, table, None),
            false => duplicate(errors, &key.span),
        }
    }

    /// A header ends: `current` starts empty, or as the implicit table
    /// an earlier header's path made (`[a.b]` before `[a]`).
    fn start_table(&mut self, mut header: Header<'i>, errors: &mut dyn ErrorSink) {
        self.current = self.doc.push(pack(&header.span), table(Flags::default()));
        if !header.array
            && let Some((key, path)) = header.keys.split_last()
        {
            match descend(&mut self.doc, 0, path, false, errors) {
                None => header.broken = true,
                Some(parent) => {
                    if let Some(old) = self.doc.find(parent, &key.name) {
                        self.doc.unlink(parent, old);
                        match self.doc.flags(old) {
                            Some(f) if f.implicit && !f.dotted => self.current = old,
                            f => {
                                duplicate(errors, &key.span);
                                if f.is_some() {
                                    self.current = old;
                                }
                            }
                        }
                    }
                }
            }
        }
        if let Some(flags) = self.doc.flags_mut(self.current) {
            flags.implicit = false;
            flags.dotted = false;
        }
        self.header = Some(header);
    }
}

fn duplicate(errors: &mut dyn ErrorSink, key: &Span) {
    let at = toml_parser::Span::new_unchecked(key.start, key.end);
    errors.report_error(ParseError::new("duplicate key").with_unexpected(at));
}

/// Reports, and gives `None` for the descent it stops.
fn cannot_extend(errors: &mut dyn ErrorSink, key: &Span, type_name: &str) -> Option<u32> {
    let at = toml_parser::Span::new_unchecked(key.start, key.end);
    let message = format!("cannot extend value of type {type_name} with a dotted key");
    errors.report_error(ParseError::new(message).with_unexpected(at));
    None
}

/// `key = value` into table `at` (`inline`: inside its `{ ... }`):
/// `a.b.c = 1` makes the implicit tables `a` and `a.b` on the way.
fn insert<'i>(
    doc: &mut Document<'i>,
    at: u32,
    keys: &mut Vec<Key<'i>>,
    value: u32,
    inline: bool,
    errors: &mut dyn ErrorSink,
) {
    let Some(key) = keys.pop() else { return };
    let dotted = !keys.is_empty();
    let parent = match inline {
        true => descend_inline(doc, at, keys, errors),
        false => descend(doc, at, keys, dotted, errors),
    };
    let Some(parent) = parent else { return };
    let flags = doc.flags(parent).unwrap_or_default();
    // A table made by a header or written whole takes no dotted keys.
    let mixed = match inline {
        true => flags.dotted != dotted,
        false => dotted && !flags.implicit,
    };
    if mixed || doc.find(parent, &key.name).is_some() {
        return duplicate(errors, &key.span);
    }
    doc.append(parent, value, Some(&key));
}

/// The table at `path` below table `at`, made where missing. `dotted`: the
/// path is a dotted key's (`a.b = 1`), not a header's (`[a.b]`).
fn descend<'i>(
    doc: &mut Document<'i>,
    mut at: u32,
    path: &[Key<'i>],
    dotted: bool,
    errors: &mut dyn ErrorSink,
) -> Option<u32> {
    for key in path {
        let flags = Flags {
            implicit: true,
            dotted,
            inline: false,
        };
        let child = doc.find_or_add(at, key, flags);
        at = match &doc.nodes[child as usize].data {
            // `[[a]]` then `[a.b]` or `a.b = 1`: into a's last table.
            Data::Array(c, true) if c.last != NONE => match &doc.nodes[c.last as usize].data {
                Data::Table(..) => c.last,
                data => return cannot_extend(errors, &key.span, data.type_name()),
            },
            Data::Table(_, f) if f.inline => {
                return cannot_extend(errors, &key.span, "inline table");
            }
            Data::Table(_, f) if dotted && !f.implicit => {
                duplicate(errors, &key.span);
                return None;
            }
            Data::Table(..) => {
                if let (true, Some(flags)) = (dotted, doc.flags_mut(child)) {
                    flags.dotted = true;
                }
                child
            }
            data => return cannot_extend(errors, &key.span, data.type_name()),
        };
    }
    Some(at)
}

/// [`descend`] inside an inline table.
fn descend_inline<'i>(
    doc: &mut Document<'i>,
    mut at: u32,
    path: &[Key<'i>],
    errors: &mut dyn ErrorSink,
) -> Option<u32> {
    for part in path {
        let flags = Flags {
            implicit: true,
            dotted: true,
            inline: true,
        };
        let child = doc.find_or_add(at, part, flags);
        at = match &doc.nodes[child as usize].data {
            Data::Table(_, f) if !f.implicit => {
                duplicate(errors, &part.span);
                return None;
            }
            Data::Table(..) => child,
            data => return cannot_extend(errors, &part.span, data.type_name()),
        };
    }
    Some(at)
}

/// Bytes by kind, for the fast paths below: a table lookup per byte
/// instead of a chain of comparisons.
const BARE: u8 = 1;
/// Taken as it is inside a basic string: not `"`, `\\`, DEL or a control
/// character other than tab.
const PLAIN: u8 = 2;
const CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' {
            class[b] |= BARE;
        }
        if (c >= 0x20 || c == b'\t') && c != b'"' && c != b'\\' && c != 0x7f {
            class[b] |= PLAIN;
        }
        b += 1;
    }
    class
};

fn all(text: &str, class: u8) -> bool {
    text.as_bytes()
        .iter()
        .all(|&b| CLASS[b as usize] & class != 0)
}

/// A key of only `A-Za-z0-9_-`, unquoted: as written, nothing to decode.
fn bare_key<'i>(raw: Raw<'i>, encoding: Option<Encoding>) -> Option<&'i str> {
    let text = raw.as_str();
    let bare = encoding.is_none() && !text.is_empty() && all(text, BARE);
    bare.then_some(text)
}

/// The two scalars a router.toml is mostly made of, taken without the
/// general decoder: a basic string without escapes or control characters
/// (`"10.0.0.1:80"`), and a decimal integer without sign, `_` or leading
/// zero (`1`). Anything else goes through toml_parser's decoder.
fn plain_scalar<'i>(raw: Raw<'i>, encoding: Option<Encoding>) -> Option<Data<'i>> {
    let text = raw.as_str();
    match encoding {
        Some(Encoding::BasicString) => {
            let inner = text.strip_prefix('"')?.strip_suffix('"')?;
            let plain = all(inner, PLAIN);
            plain.then_some(Data::String(Cow::Borrowed(inner)))
        }
        None => {
            let decimal = matches!(text.as_bytes(), [b'1'..=b'9', rest @ ..] if rest.iter().all(u8::is_ascii_digit))
                || text == "0";
            decimal.then_some(Data::Integer(Integer {
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

    fn array_table_open(&mut self, at: toml_parser::Span, error: &mut dyn ErrorSink) {
        self.std_table_open(at, error);
    }

    fn std_table_close(&mut self, at: toml_parser::Span, error: &mut dyn ErrorSink) {
        self.close_header(at, false, error);
    }

    fn array_table_close(&mut self, at: toml_parser::Span, error: &mut dyn ErrorSink) {
        self.close_header(at, true, error);
    }

    fn simple_key(
        &mut self,
        at: toml_parser::Span,
        encoding: Option<Encoding>,
        error: &mut dyn ErrorSink,
    ) {
        let raw = self.raw(at, encoding);
        let name = match bare_key(raw, encoding) {
            Some(name) => Cow::Borrowed(name),
            None => {
                let mut name = Cow::Borrowed("");
                raw.decode_key(&mut name, error);
                name
            }
        };
        if self.keys.len() as u32 == MAX_DEPTH {
            error.report_error(ParseError::new("recursion limit").with_unexpected(at));
        }
        self.keys.push(Key {
            name,
            span: span(at),
        });
    }

    fn key_val_sep(&mut self, _at: toml_parser::Span, _error: &mut dyn ErrorSink) {
        match self.stack.last_mut() {
            Some(Frame::Inline(_, key)) => std::mem::swap(key, &mut self.keys),
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
        let data = match plain_scalar(raw, encoding) {
            Some(data) => data,
            None => {
                let mut text = Cow::Borrowed("");
                match raw.decode_scalar(&mut text, error) {
                    ScalarKind::String => Data::String(text),
                    ScalarKind::Boolean(b) => Data::Boolean(b),
                    ScalarKind::DateTime => Data::Datetime,
                    ScalarKind::Float => Data::Float,
                    ScalarKind::Integer(radix) => Data::Integer(Integer {
                        digits: text,
                        radix: radix.value(),
                    }),
                }
            }
        };
        let value = self.doc.push(packed(at), data);
        self.deliver(value, error);
    }

    fn array_open(&mut self, at: toml_parser::Span, _error: &mut dyn ErrorSink) -> bool {
        let array = self.doc.push(packed(at), Data::Array(NO_CHILDREN, false));
        self.stack.push(Frame::Array(array));
        true
    }

    fn array_close(&mut self, at: toml_parser::Span, error: &mut dyn ErrorSink) {
        if let Some(Frame::Array(array)) = self.stack.last() {
            let array = *array;
            self.stack.pop();
            self.doc.nodes[array as usize].span.1 = at.end() as u32;
            self.deliver(array, error);
        }
    }

    fn inline_table_open(&mut self, at: toml_parser::Span, _error: &mut dyn ErrorSink) -> bool {
        let flags = Flags {
            inline: true,
            ..Flags::default()
        };
        let table = self.doc.push(packed(at), table(flags));
        self.stack.push(Frame::Inline(table, Vec::new()));
        true
    }

    fn inline_table_close(&mut self, at: toml_parser::Span, error: &mut dyn ErrorSink) {
        if let Some(Frame::Inline(table, _)) = self.stack.last() {
            let table = *table;
            self.stack.pop();
            self.doc.nodes[table as usize].span.1 = at.end() as u32;
            self.deliver(table, error);
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
    fn leaves(table: Table<'_, '_>, prefix: &str, out: &mut Vec<String>) {
        for value in table.iter() {
            let path = match prefix {
                "" => value.key().to_string(),
                _ => format!("{prefix}.{}", value.key()),
            };
            leaf(value, &path, out);
        }
    }

    fn leaf(value: Value<'_, '_>, path: &str, out: &mut Vec<String>) {
        match value.kind() {
            Kind::Table(t) if !t.is_empty() => leaves(t, path, out),
            Kind::Table(_) => out.push(format!("{path} = {{}}")),
            Kind::Array(a) => {
                for (i, item) in a.items().enumerate() {
                    leaf(item, &format!("{path}[{i}]"), out);
                }
                if a.items().next().is_none() {
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
        leaves(root.root(), "", &mut out);
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
                (Data::String(a), ScalarKind::String) => assert_eq!(a, decoded),
                (Data::Integer(a), ScalarKind::Integer(radix)) => {
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
        let (doc, errors) = parse(&text);
        assert_eq!(errors, []);
        let root = doc.root();
        assert_eq!(root.iter().count(), 20_000);
        for i in [0, INDEX_FROM as usize - 1, INDEX_FROM as usize, 19_999] {
            let Some(Kind::Integer(n)) = root.get(&format!("k{i}")).map(|v| v.kind()) else {
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
