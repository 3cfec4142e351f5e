//! Workspace settings from `kiln.kdl`.

use std::path::PathBuf;

use super::Spanned;

/// Repository prefix of image tags when `kiln.kdl` names none.
pub const DEFAULT_REPOSITORY: &str = "kiln";
/// File cache of saved images, relative to the workspace root.
pub const DEFAULT_CACHE_DIR: &str = ".kiln/cache";
/// Job records, relative to the workspace root.
pub const DEFAULT_JOB_DIR: &str = ".kiln/jobs";

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
}

impl Settings {
    pub fn defaults(root: &std::path::Path) -> Self {
        Self {
            registry: None,
            repository: DEFAULT_REPOSITORY.to_owned(),
            cache_dir: root.join(DEFAULT_CACHE_DIR),
            job_dir: root.join(DEFAULT_JOB_DIR),
            jobs: None,
        }
    }
}
