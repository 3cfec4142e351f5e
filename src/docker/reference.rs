//! Image references, `[host[:port]/]path[:tag][@digest]`, split by `oci_client`'s parser
//! (the grammar of Docker's distribution/reference) and kept as written: the parser
//! puts a reference without a host on Docker Hub (`kiln` → `docker.io/library/kiln`),
//! while the daemon's tag, pull and push calls and the credentials lookup take the
//! repository as the user wrote it.

use oci_client::Reference;

/// Docker Hub's old name, which the parser normalises to `docker.io`.
const DOCKER_HUB_LEGACY: &str = "index.docker.io";

/// The parts of an image reference, each a slice of the text as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// The repository with its host, if one is written: `kiln`,
    /// `127.0.0.1:5000/kiln`.
    pub repository: &'a str,
    /// The registry host when the reference names one (`127.0.0.1:5000`,
    /// `localhost`); `None` for Docker Hub's implicit one.
    pub host: Option<&'a str>,
    /// The tag when one is written (no `latest` is assumed).
    pub tag: Option<&'a str>,
    /// The digest when one is written: `sha256:…`.
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// `reference` split, or `None` when it is no image reference.
    pub fn parse(reference: &'a str) -> Option<Self> {
        let parsed = Reference::try_from(reference).ok()?;
        let (rest, digest) = match parsed.digest() {
            Some(digest) => {
                let rest = reference.strip_suffix(digest)?.strip_suffix('@')?;
                (rest, Some(&reference[rest.len() + 1..]))
            }
            None => (reference, None),
        };
        // Without a tag or a digest the parser assumes `latest`, which is not written.
        let (repository, tag) = match parsed
            .tag()
            .and_then(|tag| rest.strip_suffix(tag)?.strip_suffix(':'))
        {
            Some(repository) => (repository, Some(&rest[repository.len() + 1..])),
            None => (rest, None),
        };
        let host = repository
            .split_once('/')
            .map(|(first, _)| first)
            .filter(|first| *first == parsed.registry() || *first == DOCKER_HUB_LEGACY);
        Some(Self {
            repository,
            host,
            tag,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parts(reference: &str) -> (&str, Option<&str>, Option<&str>, Option<&str>) {
        let r = ImageRef::parse(reference).unwrap_or_else(|| panic!("{reference} parses"));
        (r.repository, r.host, r.tag, r.digest)
    }

    #[test]
    fn hosts_ports_paths_and_tags() {
        assert_eq!(
            parts("localhost:5000/a/b:tag"),
            (
                "localhost:5000/a/b",
                Some("localhost:5000"),
                Some("tag"),
                None
            )
        );
        assert_eq!(
            parts("127.0.0.1:5000/kiln:slc-release_0123456789abcdef0123"),
            (
                "127.0.0.1:5000/kiln",
                Some("127.0.0.1:5000"),
                Some("slc-release_0123456789abcdef0123"),
                None
            )
        );
        assert_eq!(
            parts("kiln:slc-a_12"),
            ("kiln", None, Some("slc-a_12"), None)
        );
        assert_eq!(parts("team/kiln:x"), ("team/kiln", None, Some("x"), None));
        assert_eq!(
            parts("localhost/kiln:x"),
            ("localhost/kiln", Some("localhost"), Some("x"), None)
        );
        assert_eq!(
            parts("index.docker.io/team/kiln"),
            (
                "index.docker.io/team/kiln",
                Some("index.docker.io"),
                None,
                None
            )
        );
    }

    #[test]
    fn a_name_without_a_tag_has_none() {
        assert_eq!(parts("kiln"), ("kiln", None, None, None));
        assert_eq!(parts("latest"), ("latest", None, None, None));
        assert_eq!(
            parts("127.0.0.1:5000/kiln"),
            ("127.0.0.1:5000/kiln", Some("127.0.0.1:5000"), None, None)
        );
    }

    #[test]
    fn digests_with_and_without_a_tag() {
        let by_digest = format!("repo@{DIGEST}");
        assert_eq!(parts(&by_digest), ("repo", None, None, Some(DIGEST)));
        let both = format!("repo:tag@{DIGEST}");
        assert_eq!(parts(&both), ("repo", None, Some("tag"), Some(DIGEST)));
        let hosted = format!("localhost:5000/a/b:tag@{DIGEST}");
        assert_eq!(
            parts(&hosted),
            (
                "localhost:5000/a/b",
                Some("localhost:5000"),
                Some("tag"),
                Some(DIGEST)
            )
        );
    }

    #[test]
    fn what_is_no_reference_does_not_parse() {
        assert_eq!(ImageRef::parse(""), None);
        assert_eq!(ImageRef::parse("Kiln:x"), None);
        assert_eq!(ImageRef::parse("repo@sha256:short"), None);
        assert_eq!(ImageRef::parse("a b"), None);
    }
}
