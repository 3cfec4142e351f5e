//! The modules of `src/` depend on each other one way: a module uses only the modules
//! listed before it in `src/lib.rs`, the order docs/architecture.md documents. This test
//! reads every `crate::…` path in `src/` and fails on one that points the other way (or
//! on a documented order that differs from lib.rs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The top-level modules in the order lib.rs declares them.
fn layers() -> Vec<String> {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect()
}

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

/// Every top-level module a file names through `crate::` (`crate::a::…` and
/// `crate::{a, b::…}`), comments included: a doc link up the layers is a dependency
/// of the reader's mind too.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    used.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    used
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let layers = layers();
    assert!(layers.len() > 10, "lib.rs lists the modules: {layers:?}");
    let rank = |name: &str| layers.iter().position(|l| l == name);
    let mut wrong = Vec::new();
    for (i, module) in layers.iter().enumerate() {
        let mut files = Vec::new();
        let dir = root().join("src").join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(root().join("src").join(format!("{module}.rs")));
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for used in used_modules(&text) {
                match rank(&used) {
                    Some(j) if j <= i => {}
                    Some(_) => wrong.push(format!(
                        "{} uses crate::{used}, a layer above `{module}`",
                        file.strip_prefix(root()).unwrap().display()
                    )),
                    None => wrong.push(format!(
                        "{} names crate::{used}, which lib.rs does not declare",
                        file.strip_prefix(root()).unwrap().display()
                    )),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
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

#[test]
fn the_reader_finds_plain_and_grouped_paths() {
    let used = used_modules("use crate::plan::{Node};\nuse crate::{model::StepId, job};\n");
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        ["job", "model", "plan"]
    );
}
