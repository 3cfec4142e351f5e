//! What the user asked of a build.

/// Policies of `kiln build` (and the build tasks of workflows).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Build every selected step, whatever the caches hold.
    pub force_rebuild: bool,
    /// Build these steps and everything that depends on them.
    pub force_rebuild_from: Vec<String>,
    /// Pull from the registry even when the daemon or the file cache has the image.
    pub force_pull: bool,
    /// Fail instead of building: list what would need building.
    pub no_build: bool,
    /// Write every image to the file cache.
    pub save: bool,
    /// Push every image to the registry.
    pub push: bool,
}
