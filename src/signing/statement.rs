//! What kiln signs. A statement starts with its version and kind, so that a signature
//! over one kind never verifies as another, and holds each field length-prefixed, so
//! that no two field lists give the same bytes.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement(Vec<u8>);

impl Statement {
    /// An image kiln built for a step: its tag (`<flavor>-<step>_<hash prefix>`: two
    /// flavors with the same step give two images of one hash), the step's hash and the
    /// image's id (the digest of its config, which names every layer).
    pub fn image(tag: &str, hash: &str, image_id: &str) -> Self {
        Self::of("image", &[tag, hash, image_id])
    }

    /// An entity's result under `key`: the result itself, the inputs it was keyed on,
    /// its log and its artifacts tar, each by the digest of its bytes (`sha256:<hex>`,
    /// as a registry's descriptors name them, so that a reader checks the signature
    /// before it fetches anything); `None` when absent.
    pub fn result(
        key: &str,
        result: &str,
        inputs: Option<&str>,
        log: Option<&str>,
        artifacts: Option<&str>,
    ) -> Self {
        let or_none = |digest: Option<&str>| digest.unwrap_or("-").to_owned();
        Self::of(
            "result",
            &[
                key,
                result,
                &or_none(inputs),
                &or_none(log),
                &or_none(artifacts),
            ],
        )
    }

    fn of(kind: &str, fields: &[&str]) -> Self {
        let mut bytes = format!("kiln-signed-v1 {kind}\n").into_bytes();
        for field in fields {
            bytes.extend_from_slice(format!("{}:{field}\n", field.len()).as_bytes());
        }
        Self(bytes)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Statement;

    #[test]
    fn kinds_and_fields_never_give_the_same_bytes() {
        assert_ne!(
            Statement::image("t", "a", "b"),
            Statement::image("t", "ab", "")
        );
        assert_ne!(
            Statement::result("k", "r", None, None, None),
            Statement::result("k", "r", Some(""), None, None)
        );
        assert_ne!(
            Statement::result("k", "r", None, Some("log"), None),
            Statement::result("k", "r", None, None, Some("log"))
        );
        assert!(
            Statement::image("t", "h", "i")
                .bytes()
                .starts_with(b"kiln-signed-v1 image\n")
        );
    }
}
