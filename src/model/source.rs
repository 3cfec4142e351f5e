//! The configuration files of a workspace, kept whole so diagnostics can quote them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::NamedSource;

use super::SourceId;

/// One configuration file: its path and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Path shown to users: relative to the workspace root.
    pub display: String,
    pub text: Arc<String>,
}

impl SourceFile {
    /// The file as a miette source, named by its workspace-relative path.
    pub fn named(&self) -> NamedSource<Arc<String>> {
        NamedSource::new(&self.display, Arc::clone(&self.text)).with_language("kdl")
    }
}

/// Every configuration file loaded for a workspace, addressed by [`SourceId`].
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, root: &Path, path: PathBuf, text: String) -> SourceId {
        let display = display_path(root, &path);
        self.files.push(SourceFile {
            path,
            display,
            text: Arc::new(text),
        });
        SourceId(self.files.len() - 1)
    }

    pub fn get(&self, id: SourceId) -> &SourceFile {
        &self.files[id.0]
    }

    pub fn named(&self, id: SourceId) -> NamedSource<Arc<String>> {
        self.get(id).named()
    }

    pub fn iter(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }
}

/// `path` relative to `root` when it lies inside, else as given; always with `/`.
pub fn display_path(root: &Path, path: &Path) -> String {
    let shown = path.strip_prefix(root).unwrap_or(path);
    let text = shown.to_string_lossy().replace('\\', "/");
    if text.is_empty() {
        ".".to_owned()
    } else {
        text
    }
}
