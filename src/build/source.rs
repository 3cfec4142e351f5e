//! Where a step's image came from.

use serde::de::IntoDeserializer;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    /// The tier as a name in a sentence: `daemon`, `file cache`, `registry`, `build`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Daemon => "daemon",
            Source::File => "file cache",
            Source::Registry => "registry",
            Source::Built => "build",
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

/// A source from the word [`Source::as_str`] gives (its serialised name).
impl std::str::FromStr for Source {
    type Err = serde::de::value::Error;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        Self::deserialize(word.into_deserializer())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_read_back_from_its_word() {
        for source in [
            Source::Daemon,
            Source::File,
            Source::Registry,
            Source::Built,
        ] {
            assert_eq!(source.as_str().parse::<Source>().unwrap(), source);
            assert_eq!(
                serde_json::to_value(source).unwrap(),
                serde_json::Value::String(source.as_str().to_owned())
            );
        }
        assert!("file cache".parse::<Source>().is_err());
    }
}
