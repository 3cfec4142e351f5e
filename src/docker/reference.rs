//! Image references, `[host[:port]/]path[:tag][@digest]`, split by the grammar of
//! Docker's distribution/reference and kept as written (the daemon's tag, pull and push
//! calls and the credentials lookup take the repository as the user wrote it).
//!
//! Written by hand rather than with `oci_client::Reference`, which parses the same
//! grammar with one large regex compiled on first use: 45 ms of a process's life
//! (measured, release build), more than a whole no-op rebuild, for each `kiln build`
//! that tags an image. The tests check this parser against `oci_client`'s on every
//! reference they use.

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
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest).filter(|d| is_digest(d))?.into()),
            None => (reference, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(colon) => {
                let colon = last_slash + colon;
                (&rest[..colon], Some(&rest[colon + 1..]))
            }
            None => (rest, None),
        };
        if tag.is_some_and(|tag| !is_tag(tag)) || repository.len() > 255 {
            return None;
        }
        let (host, path) = match repository.split_once('/') {
            Some((first, path))
                if first.contains(['.', ':']) || first == "localhost" || is_upper(first) =>
            {
                (Some(first), path)
            }
            _ => (None, repository),
        };
        if host.is_some_and(|host| !is_host(host)) || !path.split('/').all(is_component) {
            return None;
        }
        Some(Self {
            repository,
            host,
            tag,
            digest,
        })
    }
}

/// A first component with a capital letter can only be a host.
fn is_upper(first: &str) -> bool {
    first.bytes().any(|b| b.is_ascii_uppercase())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(|&b| alnum(b)) || !bytes.last().is_some_and(|&b| alnum(b)) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        if !(separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|b| b == b'-'))
        {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    tag.len() <= 128
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-')
}

/// A host name or address, with an optional port: `127.0.0.1:5000`, `[::1]:5000`.
fn is_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && !port.contains(']') => (name, Some(port)),
        _ => (host, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// `algorithm:hex`, a sha256 of 64 hex digits, another algorithm's of 32 or more.
fn is_digest(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    let hex = encoded.bytes().all(|b| b.is_ascii_hexdigit());
    let algorithm_ok = !algorithm.is_empty()
        && algorithm
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
    algorithm_ok
        && hex
        && match algorithm {
            "sha256" => encoded.len() == 64 && encoded.bytes().all(|b| !b.is_ascii_uppercase()),
            "sha512" => encoded.len() == 128 && encoded.bytes().all(|b| !b.is_ascii_uppercase()),
            _ => encoded.len() >= 32,
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

    /// Each reference the tests use, and a few more, split as `oci_client` splits it
    /// (its host as written: it puts a reference without one on Docker Hub).
    #[test]
    fn the_split_is_oci_clients() {
        let references = [
            "localhost:5000/a/b:tag",
            "127.0.0.1:5000/kiln:slc-release_0123456789abcdef0123",
            "kiln:slc-a_12",
            "team/kiln:x",
            "localhost/kiln:x",
            "kiln",
            "latest",
            "127.0.0.1:5000/kiln",
            "a__b/c-d--e.f:T_1.x-y",
            "Registry.Example.com/kiln",
            &format!("repo@{DIGEST}"),
            &format!("repo:tag@{DIGEST}"),
            &format!("localhost:5000/a/b:tag@{DIGEST}"),
            "",
            "Kiln:x",
            "repo@sha256:short",
            "a b",
            "a//b",
            "-a",
            "a:",
            "a:-x",
            "host:port/a",
            "a/b_/c",
        ];
        for reference in references {
            let ours = ImageRef::parse(reference);
            let theirs = oci_client::Reference::try_from(reference).ok();
            assert_eq!(
                ours.is_some(),
                theirs.is_some(),
                "{reference}: {ours:?} / {theirs:?}"
            );
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                assert_eq!(ours.digest, theirs.digest(), "{reference}");
                if ours.digest.is_some() {
                    assert_eq!(ours.tag, theirs.tag(), "{reference}");
                } else {
                    assert_eq!(
                        ours.tag.unwrap_or("latest"),
                        theirs.tag().unwrap_or("latest"),
                        "{reference}"
                    );
                }
                match ours.host {
                    Some(host) => assert_eq!(host, theirs.registry(), "{reference}"),
                    None => assert_eq!(theirs.registry(), "docker.io", "{reference}"),
                }
            }
        }
    }

    /// Docker takes an IPv6 host (the grammar `oci_client` follows predates it).
    #[test]
    fn an_ipv6_host() {
        assert_eq!(
            parts("[::1]:5000/kiln:x"),
            ("[::1]:5000/kiln", Some("[::1]:5000"), Some("x"), None)
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
