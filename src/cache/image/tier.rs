//! One tier of the image ladder: what it is called, and the three things the ladder
//! asks of it.

use async_trait::async_trait;
use serde::Serialize;

use crate::cache::{CacheError, Refusal};
use crate::docker::StatusSink;

/// The image tiers, in the order the ladder asks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageTier {
    /// The Docker daemon (inspect by tag).
    Daemon,
    /// Tarballs in the file cache folder.
    File,
    /// The registry named in kiln.kdl.
    Registry,
}

impl ImageTier {
    /// As summaries and `--json` write it: `daemon`, `file`, `registry`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daemon => "daemon",
            Self::File => "file",
            Self::Registry => "registry",
        }
    }

    /// As a sentence names it: `the file cache`.
    pub fn place(self) -> &'static str {
        match self {
            Self::Daemon => "the daemon",
            Self::File => "the file cache",
            Self::Registry => "the registry",
        }
    }

    /// As a name in a sentence: `daemon`, `file cache`, `registry`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Daemon => "daemon",
            Self::File => "file cache",
            Self::Registry => "registry",
        }
    }

    /// What getting an image from it is called (a node's suffix): `load`, `pull`.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Daemon | Self::File => "load",
            Self::Registry => "pull",
        }
    }

    /// The words after a count of images that came from it: `3 from files`.
    pub fn total_label(self) -> &'static str {
        match self {
            Self::Daemon => "from the daemon",
            Self::File => "from files",
            Self::Registry => "from the registry",
        }
    }

    /// Getting an image from it moves the image into the daemon (a load or a pull).
    pub fn moves(self) -> bool {
        match self {
            Self::Daemon => false,
            Self::File | Self::Registry => true,
        }
    }

    /// Shared by machines and so down as a whole at times: a failure to ask it trips
    /// its breaker for the rest of the run.
    pub fn shared(self) -> bool {
        match self {
            Self::Daemon | Self::File => false,
            Self::Registry => true,
        }
    }

    /// On this machine: skipped by `--force-pull`.
    pub fn local(self) -> bool {
        match self {
            Self::Daemon | Self::File => true,
            Self::Registry => false,
        }
    }

    /// What `kiln explain` says of it when it could not be asked.
    pub fn not_answered(self, error: &str) -> String {
        match self {
            Self::Daemon => format!("not asked: {error}"),
            Self::File | Self::Registry => format!("unreachable: {error}"),
        }
    }

    /// The warning when the tier has an entry for `image` that is not used.
    pub fn refused(self, image: &str, why: &Refusal) -> String {
        format!(
            "{}: the image of {image} there is not used: {why}",
            self.name()
        )
    }

    /// The warning when the tier could not be asked.
    pub fn skipped(self, error: &dyn std::fmt::Display) -> String {
        match self {
            Self::Daemon => format!("daemon: {error}"),
            Self::File => format!("file cache skipped: {error}"),
            Self::Registry => format!("registry skipped: {error}"),
        }
    }
}

impl std::fmt::Display for ImageTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The image a step wants: its tag, the hash its `io.kiln.hash` label must carry, and
/// its name in the registry (when one is set).
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    pub image: &'a str,
    pub hash: &'a str,
    pub remote: Option<&'a str>,
}

/// What a tier says of an image without changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// It has it (the daemon knows its image id).
    Hit {
        detail: String,
        image_id: Option<String>,
    },
    /// It does not, and why.
    Miss(String),
    /// It has an entry for the image that is not used: its record does not vouch for
    /// it (unsigned where keys are trusted, forged, of another step).
    Refused(Refusal),
}

/// What getting the image from a tier came to.
#[derive(Debug, Default)]
pub struct Fetched {
    /// The image is in the daemon now.
    pub got: bool,
    /// What the tier reported without failing the step (a corrupt tarball moved aside,
    /// another image under the tag).
    pub warnings: Vec<String>,
    /// What it had is not the image its record vouches for: an error where kiln.kdl
    /// requires signatures.
    pub refused: Option<Refusal>,
}

/// One tier. `Err` from `probe` is the tier being down (the ladder's breaker remembers
/// it for the run); a problem with one image is a miss or a warning.
#[async_trait]
pub trait Tier: Send + Sync {
    fn tier(&self) -> ImageTier;

    /// Whether the tier has the image, changing nothing.
    async fn probe(&self, want: &Want<'_>) -> Result<Probe, CacheError>;

    /// Gets the image into the daemon (the tier said it has it).
    async fn fetch(&self, want: &Want<'_>, status: &StatusSink) -> Fetched;

    /// Writes the image (in the daemon) into the tier, unless it has it: whether it
    /// wrote.
    async fn store(&self, want: &Want<'_>) -> Result<bool, CacheError>;
}
