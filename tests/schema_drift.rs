//! The KDL schemas in `schema/` describe the language for people and editors; the
//! decoders in `src/config/` are what kiln actually accepts. This test keeps the two
//! from drifting apart: the node paths the schemas declare must be exactly the node
//! paths of `kiln::config::grammar::node_paths()`.
//!
//! Properties are not compared: the decoders keep each node's properties in private
//! `Shape` constants, and no public API exposes them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kdl::{KdlDocument, KdlNode};

/// Each schema file and the prefix its node paths carry in `node_paths()`.
const SCHEMAS: &[(&str, &str)] = &[
    ("schema/settings.kdl", "settings"),
    ("schema/flavor.kdl", "flavor-file"),
    ("schema/workflow.kdl", "workflow-file"),
];

fn schema_path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(file)
}

fn parse(file: &str) -> KdlDocument {
    let path = schema_path(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    KdlDocument::parse_v2(&text).unwrap_or_else(|e| panic!("{file} is not valid KDL v2: {e:?}"))
}

/// The one top-level `document` node of a schema.
fn document<'d>(file: &str, doc: &'d KdlDocument) -> &'d KdlNode {
    let documents: Vec<&KdlNode> = doc
        .nodes()
        .iter()
        .filter(|n| n.name().value() == "document")
        .collect();
    assert_eq!(
        documents.len(),
        1,
        "{file}: a KDL schema has exactly one top-level `document` node"
    );
    documents[0]
}

/// The first positional argument of a node, as a string.
fn first_arg(node: &KdlNode) -> Option<&str> {
    node.entries()
        .iter()
        .find(|e| e.name().is_none())
        .and_then(|e| e.value().as_string())
}

/// The child nodes of `node` named `name`.
fn children_named<'n>(node: &'n KdlNode, name: &'n str) -> impl Iterator<Item = &'n KdlNode> {
    node.children()
        .into_iter()
        .flat_map(|doc| doc.nodes())
        .filter(move |n| n.name().value() == name)
}

/// Collects `prefix/<name>` for every `node "<name>"` child of `parent` (the `document`
/// node or a `children` block), then descends into each one's `children` blocks.
fn collect(file: &str, parent: &KdlNode, prefix: &str, paths: &mut BTreeSet<String>) {
    for node in children_named(parent, "node") {
        let name = first_arg(node).unwrap_or_else(|| {
            panic!("{file}: a `node` under `{prefix}` has no name; kiln's schemas name every node")
        });
        let path = format!("{prefix}/{name}");
        assert!(
            paths.insert(path.clone()),
            "{file}: `{path}` is described twice"
        );
        for block in children_named(node, "children") {
            collect(file, block, &path, paths);
        }
    }
}

/// Node paths the three schemas declare.
fn schema_node_paths() -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for (file, prefix) in SCHEMAS {
        let doc = parse(file);
        collect(file, document(file, &doc), prefix, &mut paths);
    }
    paths
}

fn list(items: &[&String]) -> String {
    if items.is_empty() {
        "  (none)".to_owned()
    } else {
        items
            .iter()
            .map(|i| format!("  {i}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[test]
fn schema_nodes_match_the_decoder() {
    let schema = schema_node_paths();
    let decoder = kiln::config::grammar::node_paths();
    let only_schema: Vec<&String> = schema.difference(&decoder).collect();
    let only_decoder: Vec<&String> = decoder.difference(&schema).collect();
    assert!(
        only_schema.is_empty() && only_decoder.is_empty(),
        "schema/*.kdl and src/config/grammar.rs disagree.\n\
         only in the schema (remove them from schema/*.kdl, or teach the decoder):\n{}\n\
         only in the decoder (describe them in schema/*.kdl):\n{}",
        list(&only_schema),
        list(&only_decoder),
    );
}

/// Every `node`, `prop` and `value` a schema declares explains itself.
#[test]
fn schema_entries_are_described() {
    fn walk(file: &str, node: &KdlNode, at: &str, missing: &mut Vec<String>) {
        let Some(children) = node.children() else {
            return;
        };
        for child in children.nodes() {
            let kind = child.name().value();
            let here = match (kind, first_arg(child)) {
                ("node" | "prop", Some(name)) => format!("{at}/{kind} {name}"),
                _ => format!("{at}/{kind}"),
            };
            if matches!(kind, "node" | "prop" | "value") {
                let described = child
                    .entries()
                    .iter()
                    .any(|e| e.name().is_some_and(|n| n.value() == "description"));
                if !described {
                    missing.push(format!("{file}: {here}"));
                }
            }
            if matches!(kind, "node" | "children") {
                walk(file, child, &here, missing);
            }
        }
    }
    let mut missing = Vec::new();
    for (file, _) in SCHEMAS {
        let doc = parse(file);
        walk(file, document(file, &doc), "document", &mut missing);
    }
    assert!(
        missing.is_empty(),
        "schema entries without description=\"…\":\n{}",
        missing.join("\n")
    );
}
