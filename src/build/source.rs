//! Where a step's image came from.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Already in the daemon.
    Daemon,
    /// Loaded from the file cache.
    File,
    /// Pulled from the registry.
    Registry,
    /// Built.
    Built,
}

impl Source {
    /// The tier as a sentence names it: `the file cache`, `the registry`.
    pub fn place(self) -> &'static str {
        match self {
            Source::Daemon => "the daemon",
            Source::File => "the file cache",
            Source::Registry => "the registry",
            Source::Built => "a build",
        }
    }

    /// As events, summaries and `kiln plan --json` write it: `daemon`, `file`,
    /// `registry`, `built`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Daemon => "daemon",
            Source::File => "file",
            Source::Registry => "registry",
            Source::Built => "built",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
