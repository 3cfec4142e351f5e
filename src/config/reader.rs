//! Reading typed values out of KDL nodes, reporting every problem as a diagnostic
//! instead of stopping at the first.

use kdl::{KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use super::error::{ConfigError, Src};
use super::suggest;
use crate::model::SourceFile;
use crate::model::{Loc, SourceId, Spanned};

/// What a node may hold: its positional arguments, properties and whether it has children.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Required positional arguments, named for messages.
    pub args: &'static [&'static str],
    /// Optional positional arguments after the required ones.
    pub optional: &'static [&'static str],
    /// One or more further arguments of this kind (e.g. step names of `needs`).
    pub variadic: Option<&'static str>,
    pub props: &'static [&'static str],
    pub children: bool,
}

impl Shape {
    pub const fn args(args: &'static [&'static str]) -> Self {
        Self {
            args,
            optional: &[],
            variadic: None,
            props: &[],
            children: false,
        }
    }

    pub const fn list(of: &'static str) -> Self {
        Self {
            args: &[],
            optional: &[],
            variadic: Some(of),
            props: &[],
            children: false,
        }
    }

    pub const fn optional(mut self, optional: &'static [&'static str]) -> Self {
        self.optional = optional;
        self
    }

    pub const fn props(mut self, props: &'static [&'static str]) -> Self {
        self.props = props;
        self
    }

    pub const fn children(mut self) -> Self {
        self.children = true;
        self
    }

    fn usage(&self, node: &str) -> String {
        let mut parts = vec![node.to_owned()];
        parts.extend(self.args.iter().map(|a| format!("<{a}>")));
        parts.extend(self.optional.iter().map(|a| format!("[{a}]")));
        if let Some(v) = self.variadic {
            parts.push(format!("<{v}>…"));
        }
        parts.extend(self.props.iter().map(|p| format!("[{p}=…]")));
        if self.children {
            parts.push("{ … }".to_owned());
        }
        format!("usage: {}", parts.join(" "))
    }
}

/// Names seen so far in one list (steps of a flavor, args of a step, …) and where, so
/// that finding a duplicate takes constant time rather than a scan of the list.
#[derive(Debug, Default)]
pub struct Seen(std::collections::HashMap<String, usize>);

impl Seen {
    /// The index of the first item named `name`; if there is none, records `index` as
    /// that item.
    pub fn first(&mut self, name: &str, index: usize) -> Option<usize> {
        if let Some(&first) = self.0.get(name) {
            return Some(first);
        }
        self.0.insert(name.to_owned(), index);
        None
    }
}

/// Decoding context for one file: where values come from and where errors go.
pub struct Reader<'a> {
    pub id: SourceId,
    pub file: &'a SourceFile,
    pub errors: &'a mut Vec<ConfigError>,
}

pub fn type_name(value: &KdlValue) -> &'static str {
    match value {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a number",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

pub fn positional(node: &KdlNode) -> impl Iterator<Item = &KdlEntry> {
    node.entries().iter().filter(|e| e.name().is_none())
}

pub fn name_span(node: &KdlNode) -> SourceSpan {
    node.name().span()
}

/// The span just past a node's name, where a missing argument would go.
fn after_name(node: &KdlNode) -> SourceSpan {
    let span = name_span(node);
    let end = positional(node)
        .last()
        .map(|e| e.span().offset() + e.span().len())
        .unwrap_or(span.offset() + span.len());
    SourceSpan::from((end, 0))
}

impl<'a> Reader<'a> {
    pub fn src(&self) -> Src {
        self.file.named()
    }

    pub fn loc(&self, span: SourceSpan) -> Loc {
        Loc::new(self.id, span)
    }

    pub fn push(&mut self, error: ConfigError) {
        self.errors.push(error);
    }

    /// Checks arguments, properties and children of `node` against `shape`.
    /// Returns false when a required argument is missing.
    pub fn shape(&mut self, node: &KdlNode, shape: &Shape) -> bool {
        let name = node.name().value().to_owned();
        let args: Vec<&KdlEntry> = positional(node).collect();
        let mut complete = true;
        let required = shape.args.len() + usize::from(shape.variadic.is_some());
        if args.len() < required {
            let missing = shape
                .args
                .get(args.len())
                .copied()
                .or(shape.variadic)
                .unwrap_or("value");
            self.push(ConfigError::MissingValue {
                src: self.src(),
                span: after_name(node),
                node: format!("`{name}`"),
                what: format!("its {missing}"),
                help: shape.usage(&name),
            });
            complete = false;
        }
        if shape.variadic.is_none() {
            for extra in args.iter().skip(shape.args.len() + shape.optional.len()) {
                self.push(ConfigError::UnexpectedArgument {
                    src: self.src(),
                    span: extra.span(),
                    node: name.clone(),
                    help: shape.usage(&name),
                });
            }
        }
        for entry in node.entries() {
            let Some(key) = entry.name() else { continue };
            if !shape.props.contains(&key.value()) {
                let help = if shape.props.is_empty() {
                    format!("`{name}` takes no properties; {}", shape.usage(&name))
                } else {
                    suggest::help(key.value(), shape.props, "properties")
                };
                self.push(ConfigError::UnknownProperty {
                    src: self.src(),
                    span: entry.span(),
                    name: key.value().to_owned(),
                    node: name.clone(),
                    help,
                });
            }
        }
        if !shape.children
            && let Some(children) = node.children()
        {
            self.push(ConfigError::UnexpectedChildren {
                src: self.src(),
                span: children.span(),
                node: name.clone(),
                help: shape.usage(&name),
            });
        }
        complete
    }

    /// Children of `node` whose names are in `allowed`; reports the others.
    pub fn children<'n>(
        &mut self,
        node: &'n KdlNode,
        allowed: &[&str],
        context: &str,
    ) -> Vec<&'n KdlNode> {
        let Some(doc) = node.children() else {
            return Vec::new();
        };
        self.known(doc.nodes(), allowed, context)
    }

    /// The nodes whose names are in `allowed`; reports the others.
    pub fn known<'n>(
        &mut self,
        nodes: &'n [KdlNode],
        allowed: &[&str],
        context: &str,
    ) -> Vec<&'n KdlNode> {
        let mut out = Vec::new();
        for child in nodes {
            let name = child.name().value();
            if allowed.contains(&name) {
                out.push(child);
            } else {
                self.push(ConfigError::UnknownNode {
                    src: self.src(),
                    span: name_span(child),
                    name: name.to_owned(),
                    context: context.to_owned(),
                    help: suggest::help(name, allowed, "nodes allowed here"),
                });
            }
        }
        out
    }

    /// Reports the second and later of several nodes that may appear once.
    pub fn at_most_once(&mut self, nodes: &[&KdlNode], name: &'static str) {
        let mut same = nodes.iter().filter(|n| n.name().value() == name);
        let Some(first) = same.next() else { return };
        for again in same {
            self.push(ConfigError::Duplicate {
                src: self.src(),
                span: name_span(again),
                first: Some(name_span(first)),
                kind: "setting",
                name: name.to_owned(),
                help: format!("`{name}` may be given once here; remove one of them"),
                elsewhere: Vec::new(),
            });
        }
    }

    fn string_of(
        &mut self,
        node: &KdlNode,
        entry: &KdlEntry,
        what: &str,
    ) -> Option<Spanned<String>> {
        match entry.value() {
            KdlValue::String(s) => Some(Spanned::new(s.clone(), self.loc(entry.span()))),
            other => {
                self.wrong_type(node, entry, what, "a string", type_name(other));
                None
            }
        }
    }

    pub fn wrong_type(
        &mut self,
        node: &KdlNode,
        entry: &KdlEntry,
        what: &str,
        expected: &'static str,
        found: &'static str,
    ) {
        let node_name = node.name().value();
        let help = match (expected, entry.value()) {
            ("a string", KdlValue::Integer(i)) => format!("quote it: \"{i}\""),
            ("a boolean", KdlValue::String(s)) if s == "true" || s == "false" => {
                format!("KDL v2 booleans are written #{s}")
            }
            ("a boolean", _) => "KDL v2 booleans are written #true and #false".to_owned(),
            ("an integer", KdlValue::String(s)) if s.trim().parse::<i128>().is_ok() => {
                format!("remove the quotes: {}", s.trim())
            }
            _ => format!("`{node_name}` takes {expected} here"),
        };
        self.push(ConfigError::WrongType {
            src: self.src(),
            span: entry.span(),
            what: what.to_owned(),
            expected,
            found,
            help,
        });
    }

    /// Positional argument `index` as a string (absent when missing or of another type).
    pub fn arg(&mut self, node: &KdlNode, index: usize, what: &str) -> Option<Spanned<String>> {
        let entry = positional(node).nth(index)?;
        self.string_of(node, entry, what)
    }

    /// Every positional argument from `from` on, as strings.
    pub fn args_from(&mut self, node: &KdlNode, from: usize, what: &str) -> Vec<Spanned<String>> {
        let entries: Vec<&KdlEntry> = positional(node).skip(from).collect();
        entries
            .into_iter()
            .filter_map(|e| self.string_of(node, e, what))
            .collect()
    }

    fn prop_entry<'n>(node: &'n KdlNode, key: &str) -> Option<&'n KdlEntry> {
        node.entries()
            .iter()
            .rev()
            .find(|e| e.name().is_some_and(|n| n.value() == key))
    }

    pub fn prop(&mut self, node: &KdlNode, key: &str) -> Option<Spanned<String>> {
        let entry = Self::prop_entry(node, key)?;
        self.string_of(node, entry, &format!("property `{key}`"))
    }

    pub fn prop_bool(&mut self, node: &KdlNode, key: &str) -> Option<bool> {
        let entry = Self::prop_entry(node, key)?;
        match entry.value() {
            KdlValue::Bool(b) => Some(*b),
            other => {
                self.wrong_type(
                    node,
                    entry,
                    &format!("property `{key}`"),
                    "a boolean",
                    type_name(other),
                );
                None
            }
        }
    }

    /// Positional argument `index` as a boolean.
    pub fn arg_bool(&mut self, node: &KdlNode, index: usize, what: &str) -> Option<bool> {
        let entry = positional(node).nth(index)?;
        match entry.value() {
            KdlValue::Bool(b) => Some(*b),
            other => {
                self.wrong_type(node, entry, what, "a boolean", type_name(other));
                None
            }
        }
    }

    /// An integer property within `range`.
    pub fn prop_int(
        &mut self,
        node: &KdlNode,
        key: &str,
        range: std::ops::RangeInclusive<i128>,
    ) -> Option<Spanned<i128>> {
        let entry = Self::prop_entry(node, key)?;
        self.int_of(node, entry, &format!("property `{key}`"), range)
    }

    /// Positional argument `index` as an integer within `range`.
    pub fn arg_int(
        &mut self,
        node: &KdlNode,
        index: usize,
        what: &str,
        range: std::ops::RangeInclusive<i128>,
    ) -> Option<Spanned<i128>> {
        let entry = positional(node).nth(index)?;
        self.int_of(node, entry, what, range)
    }

    fn int_of(
        &mut self,
        node: &KdlNode,
        entry: &KdlEntry,
        what: &str,
        range: std::ops::RangeInclusive<i128>,
    ) -> Option<Spanned<i128>> {
        match entry.value() {
            KdlValue::Integer(i) if range.contains(i) => {
                Some(Spanned::new(*i, self.loc(entry.span())))
            }
            KdlValue::Integer(i) => {
                self.push(ConfigError::invalid(
                    self.src(),
                    entry.span(),
                    what,
                    format!("{i} is out of range"),
                    format!(
                        "use a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                ));
                None
            }
            other => {
                self.wrong_type(node, entry, what, "an integer", type_name(other));
                None
            }
        }
    }

    pub fn invalid(
        &mut self,
        span: SourceSpan,
        what: &str,
        reason: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(ConfigError::invalid(
            self.src(),
            span,
            what,
            reason.into(),
            help.into(),
        ));
    }

    /// A name of a flavor, step, goal, check or workflow: used in image tags and paths,
    /// so limited to letters, digits, `_`, `-` and `.` not at the start.
    pub fn name(&mut self, node: &KdlNode, what: &str) -> Option<Spanned<String>> {
        let name = self.arg(node, 0, &format!("{what} name"))?;
        if name.value.len() > MAX_NAME {
            self.invalid(
                name.loc.span,
                &format!("{what} name"),
                format!("the name is {} characters long, more than {MAX_NAME}", name.value.len()),
                "flavor and step names make image tags (`<flavor>-<step>_<hash>`), which Docker limits to 128 characters; shorten it",
            );
            None
        } else if valid_name(&name) {
            Some(name)
        } else {
            self.invalid(
                name.loc.span,
                &format!("{what} name"),
                format!("`{}` is not a valid name", name.value),
                "names start with a letter or digit and hold only letters, digits, `_`, `-` and `.`",
            );
            None
        }
    }
}

/// The longest name: a tag `<flavor>-<step>_<20 hex digits>` of two such names stays
/// within Docker's 128 characters.
pub const MAX_NAME: usize = 50;

pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
