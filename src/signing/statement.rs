//! What kiln signs. A statement starts with its version and kind, so that a signature
//! over one kind never verifies as another, and holds each field length-prefixed, so
//! that no two field lists give the same bytes.

use sha2::{Digest, Sha256};

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
    /// its log and its artifacts tar, each by its SHA-256 (`-` when absent).
    pub fn result(
        key: &str,
        result: &[u8],
        inputs: Option<&[u8]>,
        log: Option<&[u8]>,
        artifacts: Option<&[u8]>,
    ) -> Self {
        let digest = |bytes: Option<&[u8]>| {
            bytes.map_or_else(|| "-".to_owned(), |b| hex::encode(Sha256::digest(b)))
        };
        Self::of(
            "result",
            &[
                key,
                &digest(Some(result)),
                &digest(inputs),
                &digest(log),
                &digest(artifacts),
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
            Statement::result("k", b"r", None, None, None),
            Statement::result("k", b"r", Some(b""), None, None)
        );
        assert_ne!(
            Statement::result("k", b"r", None, Some(b"log"), None),
            Statement::result("k", b"r", None, None, Some(b"log"))
        );
        assert!(
            Statement::image("t", "h", "i")
                .bytes()
                .starts_with(b"kiln-signed-v1 image\n")
        );
    }
}
