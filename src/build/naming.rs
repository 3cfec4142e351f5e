//! Image names: `<repository>:<flavor>-<step>_<hash prefix>`.

use crate::docker::ImageRef;

/// Hex digits of the step hash kept in the tag.
pub const HASH_PREFIX: usize = 20;

/// The local image name of a step.
pub fn image_name(repository: &str, flavor: &str, step: &str, hash: &str) -> String {
    let prefix = &hash[..hash.len().min(HASH_PREFIX)];
    format!("{repository}:{flavor}-{step}_{prefix}")
}

/// The same image in the registry: the registry setting is a repository
/// (`127.0.0.1:5000/kiln`), the tag stays.
pub fn remote_name(registry: &str, local: &str) -> String {
    // A name the grammar refuses (a tag over 128 characters) keeps what follows its
    // last colon, as a tag.
    let tag = ImageRef::parse(local)
        .and_then(|parts| parts.tag)
        .or_else(|| local.rsplit_once(':').map(|(_, tag)| tag))
        .unwrap_or(local);
    format!("{registry}:{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let hash = "0123456789abcdef0123456789abcdef";
        let local = image_name("kiln", "slc", "release", hash);
        assert_eq!(local, "kiln:slc-release_0123456789abcdef0123");
        assert_eq!(
            remote_name("127.0.0.1:5000/kiln", &local),
            "127.0.0.1:5000/kiln:slc-release_0123456789abcdef0123"
        );
        // The local repository may name a registry of its own.
        assert_eq!(
            remote_name(
                "127.0.0.1:5000/kiln",
                "localhost:5001/team/kiln:slc-release_01"
            ),
            "127.0.0.1:5000/kiln:slc-release_01"
        );
        assert_eq!(
            crate::cache::file_stem("team/kiln:slc-release_01"),
            "team_kiln_slc-release_01"
        );
    }
}
