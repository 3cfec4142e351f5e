//! Workspace settings from `kiln.kdl`.

use std::path::{Path, PathBuf};

use super::Spanned;

/// Repository prefix of image tags when `kiln.kdl` names none.
pub const DEFAULT_REPOSITORY: &str = "kiln";
/// File cache of saved images, relative to the workspace root.
pub const DEFAULT_CACHE_DIR: &str = ".kiln/cache";
/// Job records, relative to the workspace root.
pub const DEFAULT_JOB_DIR: &str = ".kiln/jobs";
/// kiln's own state (results, history, result cache), relative to the workspace root.
pub const STATE_DIR: &str = ".kiln";

/// Workspace-wide settings; every one is optional in `kiln.kdl`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Remote cache and push target, e.g. `127.0.0.1:5000/kiln`.
    pub registry: Option<Spanned<String>>,
    /// Image repository of built images: tags are `<repository>:<flavor>-<step>_<hash>`.
    pub repository: String,
    /// Folder of saved image tarballs (absolute).
    pub cache_dir: PathBuf,
    /// Folder of job records (absolute).
    pub job_dir: PathBuf,
    /// How many nodes run at once; `None` means the number of CPUs.
    pub jobs: Option<usize>,
    /// kiln's own state folder, `<root>/.kiln` (absolute).
    pub state_dir: PathBuf,
    /// Entity globs and the paths workflows write may leave the workspace.
    pub allow_outside_workspace: bool,
    /// A check may mount the Docker daemon's socket (or a folder holding it).
    pub allow_docker_socket: bool,
    /// Which of the daemon's builders builds images (`builder`, `--builder`).
    pub builder: BuilderChoice,
    /// `kiln gc`'s budget: the file cache's most bytes.
    pub gc_max_size: Option<u64>,
    /// `kiln gc`'s budget: how many job records and results-history files stay.
    pub gc_keep: Option<usize>,
    /// The keys shared cache entries are signed with and checked against (`signing`);
    /// by default none (unless `KILN_SIGNING_KEY` holds one): nothing signed, nothing
    /// checked.
    pub signing: Signing,
}

/// `signing` of kiln.kdl, checked by config: the key texts parse, the key file is
/// outside the workspace and holds a key. The cache reads the keys (`cache::trust`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signing {
    /// Public keys whose signatures count (`ed25519:…`).
    pub trusted: Vec<String>,
    /// The file of this machine's signing key (`KILN_SIGNING_KEY` wins over it).
    pub key_file: Option<PathBuf>,
    /// An entry that fails verification fails the run.
    pub require_signed: bool,
}

/// The `builder` setting: which of the daemon's builders builds images. Not an input of
/// any hash: both builders give the same tag for the same inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuilderChoice {
    /// BuildKit when the daemon offers it (and kiln can reach it), else classic.
    #[default]
    Auto,
    BuildKit,
    Classic,
}

impl BuilderChoice {
    pub const NAMES: [&'static str; 3] = ["auto", "buildkit", "classic"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "auto" => Some(Self::Auto),
            "buildkit" => Some(Self::BuildKit),
            "classic" => Some(Self::Classic),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::BuildKit => "buildkit",
            Self::Classic => "classic",
        }
    }
}

impl Settings {
    pub fn defaults(root: &std::path::Path) -> Self {
        Self {
            registry: None,
            repository: DEFAULT_REPOSITORY.to_owned(),
            cache_dir: root.join(DEFAULT_CACHE_DIR),
            job_dir: root.join(DEFAULT_JOB_DIR),
            jobs: None,
            state_dir: root.join(STATE_DIR),
            allow_outside_workspace: false,
            allow_docker_socket: false,
            builder: BuilderChoice::Auto,
            gc_max_size: None,
            gc_keep: None,
            signing: Signing::default(),
        }
    }

    /// The results folder (`.kiln/results`): the history of every check's results, and
    /// the result cache.
    pub fn results_dir(&self) -> PathBuf {
        self.state_dir.join("results")
    }

    /// Where a run holds a lock for each image it is getting (`.kiln/locks`).
    pub fn lock_dir(&self) -> PathBuf {
        self.state_dir.join("locks")
    }

    /// Where kiln keeps private copies while it works on them (`.kiln/scratch`): a
    /// tarball of the shared file cache is checked and loaded from one.
    pub fn scratch_dir(&self) -> PathBuf {
        self.state_dir.join("scratch")
    }

    /// This machine's result cache (`.kiln/results/cache`).
    pub fn result_cache_dir(&self) -> PathBuf {
        self.results_dir().join("cache")
    }

    /// The folders kiln writes (state, job records, file cache), resolved through
    /// symlinks as far as they exist: never a build input, never watched.
    pub fn own_dirs(&self) -> Vec<PathBuf> {
        [&self.state_dir, &self.job_dir, &self.cache_dir]
            .into_iter()
            .map(|dir| resolved(dir))
            .collect()
    }
}

/// `path` with its longest existing ancestor resolved through symlinks (the rest
/// appended as is), so that a folder compares equal before and after it is created.
pub fn resolved(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut current = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(current) {
            return missing.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (current.parent(), current.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                current = parent;
            }
            _ => return path.to_owned(),
        }
    }
}
