//! Paths inside the build context: relative, `/`-separated, each part a plain name.

/// `prefix/name`, or `name` at the context root (`prefix` empty).
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

/// The folders containing `path`, outermost first: `a/b/c` → `a`, `a/b`.
pub(crate) fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// `path` with empty parts (`a//b`, a trailing `/`) removed, or why it is not a
/// plain relative path: absolute, empty, or with a `.`, `..` or NUL.
pub(crate) fn normalize(path: &str) -> Result<String, &'static str> {
    if path.starts_with('/') {
        return Err("it is absolute");
    }
    if path.contains('\0') {
        return Err("it contains a NUL byte");
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" => {}
            "." | ".." => return Err("it has a `.` or `..` part"),
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err("it is empty");
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_outermost_first() {
        assert_eq!(parents("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(parents("a").count(), 0);
    }

    #[test]
    fn normalize_accepts_plain_paths_only() {
        assert_eq!(normalize("a//b/").unwrap(), "a/b");
        assert_eq!(normalize("busybox").unwrap(), "busybox");
        for bad in ["", "/", "/a", "./a", "a/../b", "a/.", "a\0b"] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
    }
}
