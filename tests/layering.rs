//! The top-level modules of `src/` depend on each other along a DAG, written below as
//! [`ALLOWED`]: each module's row lists the modules it may use, and every edge points
//! down the order of `src/lib.rs` (the order docs/architecture.md documents).
//!
//! The test parses every file of `src/` with syn and resolves each path that can reach
//! another module to the top-level module it reaches: use-trees (nested groups, renames,
//! globs), `crate::`, `super::` and `self::` paths in types, expressions and patterns,
//! paths in macro bodies and attribute arguments (read as tokens), and paths in doc
//! comments — a doc link up the layers is a dependency of the reader's mind too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::visit::Visit;

/// Each top-level module and the modules it may use, lowest layer first. A row names only
/// rows above it, so the table is a DAG. Allowing an edge is adding a name to a row (and
/// to the list in docs/architecture.md); the test fails on an edge `src/` does not use.
#[rustfmt::skip]
const ALLOWED: &[(&str, &[&str])] = &[
    ("signing",  &[]),
    ("model",    &[]),
    ("hash",     &["model"]),
    ("docker",   &["hash", "model"]),
    ("engine",   &[]),
    ("job",      &[]),
    ("cache",    &["docker", "hash", "job", "model", "signing"]),
    ("config",   &["model", "signing"]),
    ("build",    &["cache", "config", "docker", "engine", "hash", "job", "model"]),
    ("check",    &["build", "cache", "config", "docker", "hash", "job", "model"]),
    ("explain",  &["build", "cache", "check", "docker", "hash", "model"]),
    ("gc",       &["build", "check", "docker", "explain", "model"]),
    ("plan",     &["build", "check", "config", "engine", "model"]),
    ("workflow", &["config", "model", "plan"]),
    ("run",      &["build", "check", "docker", "engine", "model", "plan"]),
    ("report",   &["build", "cache", "check", "docker", "engine", "job", "model", "plan"]),
    ("watch",    &["build", "check", "config", "model", "plan"]),
    ("cli",      &["build", "cache", "check", "config", "docker", "engine", "explain", "gc",
                   "job", "model", "plan", "report", "run", "signing", "watch", "workflow"]),
];

/// Modules that must not reach `docker`, not even through another module.
const BLIND_TO_DOCKER: &[&str] = &["engine", "hash"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The top-level modules in the order lib.rs declares them. lib.rs holds nothing but
/// `mod name;` items: a re-export or `extern crate self` there would open a way around
/// the layers.
fn layers() -> Vec<String> {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let lib = syn::parse_file(&lib).unwrap();
    lib.items
        .iter()
        .map(|item| match item {
            syn::Item::Mod(m) if m.content.is_none() && !m.attrs.iter().any(is_path_attr) => {
                m.ident.to_string()
            }
            _ => panic!("src/lib.rs holds only `pub mod name;` items"),
        })
        .collect()
}

fn is_path_attr(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("path")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file of `src/` is: `src/x/y.rs` is `crate::x::y`, a `mod.rs` its
/// folder's module.
fn module_of(file: &str) -> Vec<String> {
    let inner = file
        .strip_prefix("src/")
        .and_then(|f| f.strip_suffix(".rs"))
        .unwrap_or_else(|| panic!("{file} is a .rs file of src/"));
    let mut module: Vec<String> = inner.split('/').map(str::to_owned).collect();
    if module.last().is_some_and(|last| last == "mod") {
        module.pop();
    }
    module
}

/// The path from the crate root that `segments`, written in module `at`, names: `Some`
/// for a path starting with `crate`, `super` or `self` (`Err` when it climbs above the
/// crate root), `None` for any other path (an external crate, or a name in scope there,
/// which a `use` brought or a child module is).
fn resolve(at: &[String], segments: &[String]) -> Option<Result<Vec<String>, String>> {
    let (mut path, rest) = match segments.first()?.as_str() {
        "crate" => (Vec::new(), &segments[1..]),
        "self" | "super" => (at.to_vec(), segments),
        _ => return None,
    };
    for segment in rest {
        match segment.as_str() {
            "super" => {
                if path.pop().is_none() {
                    return Some(Err("climbs above the crate root".to_owned()));
                }
            }
            // `self::x`, `a::{self, …}`, or a glob: the path so far.
            "self" | "*" => {}
            _ => path.push(segment.clone()),
        }
    }
    Some(Ok(path))
}

/// A path of a file that resolves within the crate.
#[derive(Debug)]
struct Reference {
    line: usize,
    /// As written, a use group's branch joined to its prefix.
    written: String,
    /// From the crate root, or why it reaches no module.
    resolved: Result<Vec<String>, String>,
}

/// Collects the [`Reference`]s of one file, keeping track of the module it is in.
struct Scanner {
    /// The file's module, plus the inline `mod`s the visitor is in.
    at: Vec<String>,
    found: Vec<Reference>,
}

fn line(span: Span) -> usize {
    span.start().line
}

impl Scanner {
    /// Keeps `segments` if it resolves within the crate.
    fn note(&mut self, line: usize, segments: &[String]) {
        if let Some(resolved) = resolve(&self.at, segments) {
            let written = segments.join("::");
            self.found.push(Reference {
                line,
                written,
                resolved,
            });
        }
    }

    /// Every path a use-tree imports, `prefix` being the path above `tree`.
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.note_leaf(prefix, &n.ident),
            syn::UseTree::Rename(r) => self.note_leaf(prefix, &r.ident),
            syn::UseTree::Glob(g) => {
                let mut glob = prefix.clone();
                glob.push("*".to_owned());
                self.note(line(g.star_token.spans[0]), &glob);
            }
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    fn note_leaf(&mut self, prefix: &[String], ident: &syn::Ident) {
        let mut path = prefix.to_vec();
        path.push(ident.to_string());
        self.note(line(ident.span()), &path);
    }

    /// Every path in a token stream (a macro's body, an attribute's arguments): each
    /// `crate`, `super` or `self` followed by `::`-separated names, or by a use group
    /// (`crate::{a, b::C}`). With `strings`, also the paths string literals name.
    fn tokens(&mut self, stream: TokenStream, strings: bool) {
        let tokens: Vec<TokenTree> = stream.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(group) => self.tokens(group.stream(), strings),
                TokenTree::Literal(literal) if strings => {
                    let literal = TokenTree::Literal(literal.clone()).into();
                    if let Ok(text) = syn::parse2::<syn::LitStr>(literal) {
                        self.text(&text.value(), line(text.span()));
                    }
                }
                TokenTree::Ident(ident)
                    if matches!(&*ident.to_string(), "crate" | "super" | "self") =>
                {
                    let mut segments = vec![ident.to_string()];
                    while is_path_sep(&tokens[i + 1..]) {
                        match tokens.get(i + 3) {
                            Some(TokenTree::Ident(next)) => segments.push(next.to_string()),
                            Some(TokenTree::Group(group))
                                if group.delimiter() == Delimiter::Brace =>
                            {
                                self.token_group(&mut segments, group.stream(), strings);
                                segments.clear();
                            }
                            _ => break,
                        }
                        i += 3;
                    }
                    if !segments.is_empty() {
                        self.note(line(ident.span()), &segments);
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// A use group `{…}` after `prefix::` in a token stream: its branches as use-trees, or
    /// its tokens when it is something else (a struct literal's fields).
    fn token_group(&mut self, prefix: &mut Vec<String>, stream: TokenStream, strings: bool) {
        let parser = Punctuated::<syn::UseTree, syn::Token![,]>::parse_terminated;
        match syn::parse::Parser::parse2(parser, stream.clone()) {
            Ok(trees) => trees.iter().for_each(|tree| self.use_tree(prefix, tree)),
            Err(_) => self.tokens(stream, strings),
        }
    }

    /// Every `crate::`, `super::` or `self::` path written in `text` (a doc comment
    /// starting on line `first`): intra-doc links, code spans and prose alike.
    fn text(&mut self, text: &str, first: usize) {
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut at = 0;
        while at < text.len() {
            let rest = &text[at..];
            let starts = ["crate::", "super::", "self::"]
                .iter()
                .any(|s| rest.starts_with(s));
            let after_name = text[..at]
                .chars()
                .next_back()
                .is_some_and(|c| is_name(c) || c == ':');
            if !starts || after_name {
                at += rest.chars().next().map_or(1, char::len_utf8);
                continue;
            }
            let len = rest
                .find(|c: char| !is_name(c) && c != ':')
                .unwrap_or(rest.len());
            let segments: Vec<String> = rest[..len]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let line = first + text[..at].matches('\n').count();
            self.note(line, &segments);
            at += len;
        }
    }
}

/// `::` at the start of `tokens`.
fn is_path_sep(tokens: &[TokenTree]) -> bool {
    matches!(
        tokens,
        [TokenTree::Punct(a), TokenTree::Punct(b), ..]
            if a.as_char() == ':' && a.spacing() == proc_macro2::Spacing::Joint && b.as_char() == ':'
    )
}

impl<'ast> Visit<'ast> for Scanner {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        for attr in &item.attrs {
            self.visit_attribute(attr);
        }
        match &item.content {
            Some((_, items)) => {
                self.at.push(item.ident.to_string());
                items.iter().for_each(|item| self.visit_item(item));
                self.at.pop();
            }
            None if item.attrs.iter().any(is_path_attr) => self.found.push(Reference {
                line: line(item.ident.span()),
                written: format!("#[path] mod {}", item.ident),
                resolved: Err("may load a file of any module".to_owned()),
            }),
            None => {}
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        for attr in &item.attrs {
            self.visit_attribute(attr);
        }
        if item.leading_colon.is_none() {
            self.use_tree(&mut Vec::new(), &item.tree);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none()
            && let Some(first) = path.segments.first()
        {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            self.note(line(first.ident.span()), &segments);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        self.tokens(mac.tokens.clone(), false);
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        match &attr.meta {
            syn::Meta::NameValue(doc) if doc.path.is_ident("doc") => {
                if let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(text),
                    ..
                }) = &doc.value
                {
                    self.text(&text.value(), line(attr.pound_token.spans[0]));
                }
            }
            syn::Meta::NameValue(pair) => self.visit_expr(&pair.value),
            syn::Meta::List(list) => self.tokens(list.tokens.clone(), true),
            syn::Meta::Path(_) => {}
        }
    }

    /// `pub(super)`, `pub(in crate::a)` name an ancestor the item is visible in, not a
    /// module it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
}

/// The references of `source`, the text of `file` (`src/engine/a/b.rs`).
fn references(file: &str, source: &str) -> Vec<Reference> {
    let parsed = syn::parse_file(source).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut scanner = Scanner {
        at: module_of(file),
        found: Vec::new(),
    };
    scanner.visit_file(&parsed);
    scanner.found
}

/// What one file uses of other top-level modules, and what of it breaks [`ALLOWED`].
#[derive(Debug, Default)]
struct Checked {
    /// (this file's top-level module, a module it uses), allowed or not.
    edges: BTreeSet<(String, String)>,
    /// One line per reference against the table: `file:line: what`.
    wrong: Vec<String>,
}

fn allowed(module: &str) -> Option<&'static [&'static str]> {
    ALLOWED
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, uses)| *uses)
}

/// Checks `source`, the text of `file`, against [`ALLOWED`].
fn check(file: &str, source: &str) -> Checked {
    let own = module_of(file)[0].clone();
    let may_use = allowed(&own).unwrap_or_else(|| panic!("{file}: `{own}` has no row"));
    let mut checked = Checked::default();
    for reference in references(file, source) {
        let at = format!("{file}:{}: `{}`", reference.line, reference.written);
        let target = match reference.resolved {
            Err(why) => {
                checked.wrong.push(format!("{at} {why}"));
                continue;
            }
            Ok(path) => match path.first() {
                None => {
                    checked.wrong.push(format!("{at} names the crate root"));
                    continue;
                }
                Some(first) => first.clone(),
            },
        };
        if target == own {
            continue;
        }
        if allowed(&target).is_none() {
            checked.wrong.push(format!(
                "{at} names `{target}`, which src/lib.rs does not declare"
            ));
            continue;
        }
        if !may_use.contains(&target.as_str()) {
            checked.wrong.push(format!(
                "{at} reaches `{target}`, which `{own}` may not use"
            ));
        }
        checked.edges.insert((own.clone(), target));
    }
    checked
}

/// What is wrong with `table` for the modules `layers` (lowest first): rows in another
/// order, an edge that does not point down the layers (so a cycle is impossible), a
/// module of [`BLIND_TO_DOCKER`] reaching `docker` through any path, `model` using
/// anything.
fn table_errors(table: &[(&str, &[&str])], layers: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    let rows: Vec<&str> = table.iter().map(|(m, _)| *m).collect();
    if rows != layers {
        errors.push(format!("the rows are {rows:?}, lib.rs declares {layers:?}"));
    }
    let rank = |m: &str| rows.iter().position(|r| *r == m);
    for (i, (module, uses)) in table.iter().enumerate() {
        for used in *uses {
            match rank(used) {
                Some(j) if j < i => {}
                Some(_) => errors.push(format!("`{module}` → `{used}` does not point down")),
                None => errors.push(format!("`{module}` → `{used}`, which has no row")),
            }
        }
    }
    for blind in BLIND_TO_DOCKER {
        if reach(table, blind).contains("docker") {
            errors.push(format!("`{blind}` reaches `docker`"));
        }
    }
    if table
        .iter()
        .any(|(m, uses)| *m == "model" && !uses.is_empty())
    {
        errors.push("`model` uses another module".to_owned());
    }
    errors
}

/// Every module `module` reaches through the edges of `table`.
fn reach<'a>(table: &[(&'a str, &'a [&'a str])], module: &str) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![module];
    while let Some(m) = todo.pop() {
        for (_, uses) in table.iter().filter(|(r, _)| *r == m) {
            for used in *uses {
                if seen.insert(*used) {
                    todo.push(used);
                }
            }
        }
    }
    seen
}

/// The edges of a table, to compare.
fn edge_set(table: &[(&str, &[&str])]) -> BTreeSet<(String, String)> {
    table
        .iter()
        .flat_map(|(m, uses)| uses.iter().map(|u| (m.to_string(), u.to_string())))
        .collect()
}

fn show(edges: &BTreeSet<(String, String)>) -> String {
    let mut rows: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges {
        rows.entry(from).or_default().push(to);
    }
    rows.iter()
        .map(|(from, to)| format!("{from} → {}", to.join(", ")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_module_uses_only_the_modules_its_row_allows() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.sort();
    let mut edges = BTreeSet::new();
    let mut wrong = Vec::new();
    let mut read = 0;
    for path in files {
        let file = path
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        // The crate root only declares the modules; main.rs is another crate.
        if file == "src/lib.rs" || file == "src/main.rs" {
            continue;
        }
        let checked = check(&file, &std::fs::read_to_string(&path).unwrap());
        edges.extend(checked.edges);
        wrong.extend(checked.wrong);
        read += 1;
    }
    assert!(read > 100, "read the files of src/: {read}");
    eprintln!("the edges of src/:\n{}", show(&edges));
    assert!(
        wrong.is_empty(),
        "paths against the allowed edges of tests/layering.rs:\n{}",
        wrong.join("\n")
    );
    let unused: BTreeSet<_> = edge_set(ALLOWED).difference(&edges).cloned().collect();
    assert!(
        unused.is_empty(),
        "edges ALLOWED lists that src/ no longer has (remove them here and in \
         docs/architecture.md):\n{}",
        show(&unused)
    );
}

#[test]
fn the_allowed_edges_point_down_the_layers_of_lib_rs() {
    let layers = layers();
    assert!(layers.len() > 10, "lib.rs lists the modules: {layers:?}");
    assert_eq!(table_errors(ALLOWED, &layers), Vec::<String>::new());
}

#[test]
fn the_documented_order_is_the_order_of_lib_rs() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let line = doc
        .lines()
        .find(|l| l.starts_with("Layers, lowest first:"))
        .expect("docs/architecture.md lists the layers on a line `Layers, lowest first: …`");
    let documented: Vec<String> = line
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert_eq!(documented, layers());
}

/// docs/architecture.md lists the edges one module a line: ``- `docker` uses `hash`,
/// `model` ``, ``- `model` uses nothing``.
#[test]
fn the_documented_edges_are_the_table() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let mut documented = BTreeSet::new();
    let mut rows = Vec::new();
    for line in doc
        .lines()
        .filter(|l| l.starts_with("- `") && l.contains("` uses "))
    {
        let names: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        rows.push(names[0].to_owned());
        for used in &names[1..] {
            documented.insert((names[0].to_owned(), (*used).to_owned()));
        }
    }
    assert_eq!(
        rows,
        layers(),
        "one line per module, in the order of lib.rs"
    );
    assert_eq!(documented, edge_set(ALLOWED));
}

/// The violations of one planted file, without their `file:line: ` prefix.
fn planted(file: &str, source: &str) -> Vec<String> {
    check(file, source)
        .wrong
        .into_iter()
        .map(|w| w.split_once(": ").unwrap().1.to_owned())
        .collect()
}

#[test]
fn a_nested_use_group_reaching_up_is_caught() {
    let wrong = planted(
        "src/model/x.rs",
        "use crate::{model::StepId, cli::{output::Y, self as c}};\nuse crate::{hash as h};\n",
    );
    assert_eq!(
        wrong,
        [
            "`crate::cli::output::Y` reaches `cli`, which `model` may not use",
            "`crate::cli::self` reaches `cli`, which `model` may not use",
            "`crate::hash` reaches `hash`, which `model` may not use",
        ]
    );
}

#[test]
fn super_climbing_out_of_a_module_is_caught() {
    let source = "fn f() -> super::super::super::docker::Daemon { todo!() }\n\
                  mod tests { use super::super::super::super::docker as d; }\n";
    let wrong = planted("src/engine/a/b.rs", source);
    assert_eq!(
        wrong,
        [
            "`super::super::super::docker::Daemon` reaches `docker`, which `engine` may not use",
            "`super::super::super::super::docker` reaches `docker`, which `engine` may not use",
        ]
    );
    let above = planted("src/engine/mod.rs", "use super::super::x;\nuse super::*;\n");
    assert_eq!(
        above,
        [
            "`super::super::x` climbs above the crate root",
            "`super::*` names the crate root"
        ]
    );
}

#[test]
fn the_engine_using_docker_is_caught() {
    let wrong = planted(
        "src/engine/scheduler.rs",
        "use crate::docker::Daemon;\nfn f() { let _ = crate::docker::connect(); }\n",
    );
    assert_eq!(
        wrong,
        [
            "`crate::docker::Daemon` reaches `docker`, which `engine` may not use",
            "`crate::docker::connect` reaches `docker`, which `engine` may not use",
        ]
    );
}

#[test]
fn paths_in_macros_attributes_and_doc_comments_are_caught() {
    let source = r#"
//! Runs [`Daemon`](crate::docker::Daemon) and [`crate::run`].
/// Not [`x`](super::super::cli::X).
#[serde(with = "crate::report::format")]
#[derive(Debug)]
struct S;
fn f() {
    println!("{}", crate::plan::NAME);
    vec![crate::{watch::A, job::B}];
}
"#;
    let wrong = planted("src/hash/x.rs", source);
    assert_eq!(
        wrong,
        [
            "`crate::docker::Daemon` reaches `docker`, which `hash` may not use",
            "`crate::run` reaches `run`, which `hash` may not use",
            "`super::super::cli::X` reaches `cli`, which `hash` may not use",
            "`crate::report::format` reaches `report`, which `hash` may not use",
            "`crate::plan::NAME` reaches `plan`, which `hash` may not use",
            "`crate::watch::A` reaches `watch`, which `hash` may not use",
            "`crate::job::B` reaches `job`, which `hash` may not use",
        ]
    );
}

#[test]
fn a_legal_file_passes_and_super_resolves_from_its_module() {
    // report/outputs.rs: `super::super::html` in its `mod tests` is report::html.
    let source = "use crate::model::Step;\nuse super::summary::Summary;\n\
                  use self::inner::X;\nmod inner { pub struct X; }\n\
                  pub(super) fn f() { let _ = crate::engine::run; }\n\
                  /// [`Summary`](super::summary::Summary)\n\
                  mod tests { use super::*; fn t() { super::super::html::render(); } }\n";
    let checked = check("src/report/outputs.rs", source);
    assert_eq!(checked.wrong, Vec::<String>::new());
    let edges: Vec<_> = checked.edges.iter().map(|(_, to)| to.as_str()).collect();
    assert_eq!(edges, ["engine", "model"]);
    let html = references("src/report/outputs.rs", source)
        .into_iter()
        .find(|r| r.written.ends_with("html::render"))
        .unwrap();
    assert_eq!(html.resolved.unwrap(), ["report", "html", "render"]);
}

#[test]
fn a_table_with_a_cycle_or_a_way_to_docker_is_refused() {
    let layers: Vec<String> = ["model", "docker", "job", "engine"]
        .map(str::to_owned)
        .to_vec();
    let table: &[(&str, &[&str])] = &[
        ("model", &["engine"]),
        ("docker", &[]),
        ("job", &["docker"]),
        ("engine", &["job", "model"]),
    ];
    assert_eq!(
        table_errors(table, &layers),
        [
            "`model` → `engine` does not point down",
            "`engine` reaches `docker`",
            "`model` uses another module",
        ]
    );
}
