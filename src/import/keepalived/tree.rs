//! Lines of words into keepalived's blocks: `keyword args... { ... }`,
//! the `{` on the same line or the next one, as keepalived takes it.

use super::super::{ImportError, Origin};
use super::lexer::Line;

/// One statement, with its block if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub origin: Origin,
    pub keyword: String,
    pub args: Vec<String>,
    pub block: Option<Vec<Node>>,
}

impl Node {
    /// The words of every statement in the block, in order: for blocks of
    /// values like `unicast_peer { ... }` and `group { ... }`.
    pub fn values(&self) -> Vec<(String, &Origin)> {
        let mut out = Vec::new();
        for child in self.block.iter().flatten() {
            out.push((child.keyword.clone(), &child.origin));
            out.extend(child.args.iter().map(|a| (a.clone(), &child.origin)));
        }
        out
    }

    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(String::as_str)
    }
}

/// The statements of a whole file.
pub fn parse(lines: &[Line]) -> Result<Vec<Node>, ImportError> {
    // Open blocks: the node that opened each and what it holds so far.
    let mut stack: Vec<(Node, Vec<Node>)> = Vec::new();
    let mut top: Vec<Node> = Vec::new();
    fn level<'a>(stack: &'a mut [(Node, Vec<Node>)], top: &'a mut Vec<Node>) -> &'a mut Vec<Node> {
        match stack.last_mut() {
            Some((_, children)) => children,
            None => top,
        }
    }
    for line in lines {
        let mut current: Option<Node> = None;
        for word in &line.words {
            match word.as_str() {
                "{" => {
                    let node = match current.take() {
                        Some(node) => node,
                        // `{` on the line after its keyword.
                        None => match level(&mut stack, &mut top).pop() {
                            Some(node) if node.block.is_none() => node,
                            _ => {
                                return Err(ImportError::syntax(
                                    &line.origin,
                                    "a { with no keyword before it",
                                ));
                            }
                        },
                    };
                    stack.push((node, Vec::new()));
                }
                "}" => {
                    if let Some(node) = current.take() {
                        level(&mut stack, &mut top).push(node);
                    }
                    let Some((mut node, children)) = stack.pop() else {
                        return Err(ImportError::syntax(
                            &line.origin,
                            "a } that closes no block",
                        ));
                    };
                    node.block = Some(children);
                    level(&mut stack, &mut top).push(node);
                }
                _ => match &mut current {
                    Some(node) => node.args.push(word.clone()),
                    None => {
                        current = Some(Node {
                            origin: line.origin.clone(),
                            keyword: word.clone(),
                            args: Vec::new(),
                            block: None,
                        })
                    }
                },
            }
        }
        if let Some(node) = current {
            level(&mut stack, &mut top).push(node);
        }
    }
    if let Some((node, _)) = stack.pop() {
        return Err(ImportError::syntax(
            &node.origin,
            format!("{} {{ is never closed (a }} is missing)", node.keyword),
        ));
    }
    quote_statements(&mut top);
    Ok(top)
}

/// Each origin quotes its own statement (`virtual_server 10.10.10.2 1358`),
/// not the whole line with its braces and neighbours.
fn quote_statements(nodes: &mut [Node]) {
    for node in nodes {
        let mut text = node.keyword.clone();
        for a in &node.args {
            text.push(' ');
            text.push_str(a);
        }
        node.origin.text = text;
        if let Some(block) = &mut node.block {
            quote_statements(block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<Line> {
        text.lines()
            .enumerate()
            .map(|(n, l)| Line {
                origin: Origin {
                    file: "k.conf".into(),
                    line: n + 1,
                    text: l.into(),
                },
                words: l.split_whitespace().map(str::to_string).collect(),
            })
            .filter(|l| !l.words.is_empty())
            .collect()
    }

    #[test]
    fn blocks_open_on_the_same_or_the_next_line() {
        let nodes = parse(&lines("a 1 {\n b 2\n}\nc\n{\n d { e }\n}\nf")).unwrap();
        let shape: Vec<_> = nodes
            .iter()
            .map(|n| (n.keyword.as_str(), n.block.as_ref().map(Vec::len)))
            .collect();
        assert_eq!(shape, [("a", Some(1)), ("c", Some(1)), ("f", None)]);
        assert_eq!(
            nodes[1].block.as_ref().unwrap()[0].block.as_ref().unwrap()[0].keyword,
            "e"
        );
    }

    #[test]
    fn unbalanced_braces_are_errors_with_their_line() {
        let e = parse(&lines("a {\n b\n")).unwrap_err().to_string();
        assert_eq!(e, "k.conf:1: error: a { is never closed (a } is missing)");
        let e = parse(&lines("a\n}\n")).unwrap_err().to_string();
        assert_eq!(e, "k.conf:2: error: a } that closes no block");
    }
}
