//! Helpers shared by integration tests.

#![allow(dead_code)]

pub mod docker;
pub mod proxy;
pub mod sandbox;
pub mod second_daemon;

use std::path::Path;

use tempfile::TempDir;

/// A temporary workspace holding `files` (path, content); folders are created as needed.
/// A path ending in `/` makes an empty folder.
pub fn workspace(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        if path.ends_with('/') {
            std::fs::create_dir_all(&full).unwrap();
            continue;
        }
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, text).unwrap();
    }
    dir
}

/// The codes of the errors loading `root` reports, in order.
pub fn error_codes(root: &Path) -> Vec<String> {
    use miette::Diagnostic;
    match kiln::config::load(root) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .errors
            .iter()
            .map(|e| e.code().map(|c| c.to_string()).unwrap_or_default())
            .collect(),
    }
}

/// The example workspace of the repository.
pub fn examples() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
