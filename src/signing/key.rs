//! ed25519 keys in the text form kiln.kdl, key files and `KILN_SIGNING_KEY` hold:
//! `ed25519:<base64>` for a public key, `ed25519-secret:<base64 seed>` for a secret one.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::SigningError;

/// The variable that holds a signing key (`ed25519-secret:…`); it wins over a key file.
pub const KEY_VARIABLE: &str = "KILN_SIGNING_KEY";

const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_PREFIX: &str = "ed25519-secret:";

/// A key whose signatures a run accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// The key a run signs with. Its `Debug` and `Display` show the public key's id only,
/// never the secret.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl PublicKey {
    pub fn parse(text: &str) -> Result<Self, SigningError> {
        if text.trim().starts_with(SECRET_PREFIX) {
            return Err(SigningError::SecretNotPublic);
        }
        let bad = || SigningError::BadKey {
            shown: shorten(text),
            kind: "an ed25519 public key",
        };
        let bytes =
            decode32(text.trim().strip_prefix(PUBLIC_PREFIX).ok_or_else(bad)?).ok_or_else(bad)?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| bad())
    }

    /// The first 16 hex digits of the key's SHA-256: what a signature names its key by.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }

    /// Whether `signature` is this key's over `message` (strict verification: no
    /// malleable encodings).
    pub fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", STANDARD.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id())
    }
}

impl SecretKey {
    /// A new key from the system's randomness.
    pub fn generate() -> Result<Self, SigningError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|source| SigningError::NoRandomness { source })?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// A key from its text form. The error never repeats the text.
    pub fn parse(text: &str) -> Result<Self, SigningError> {
        let bad = || SigningError::BadKey {
            shown: "(the secret key's text is not shown)".to_owned(),
            kind: "an ed25519 secret key",
        };
        let bytes =
            decode32(text.trim().strip_prefix(SECRET_PREFIX).ok_or_else(bad)?).ok_or_else(bad)?;
        Ok(Self(SigningKey::from_bytes(&bytes)))
    }

    /// The key in `KILN_SIGNING_KEY`, if it is set (and not empty).
    pub fn from_environment() -> Result<Option<Self>, SigningError> {
        match std::env::var(KEY_VARIABLE) {
            Ok(text) if !text.trim().is_empty() => Self::parse(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// The key in a key file.
    pub fn read(path: &Path) -> Result<Self, SigningError> {
        let text = std::fs::read_to_string(path).map_err(|source| SigningError::Unreadable {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Writes the key into a new file `path` that only its owner may read; never
    /// replaces a file.
    pub fn write_new(&self, path: &Path) -> Result<(), SigningError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let failed = |source| SigningError::Unwritable {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(failed)?;
        writeln!(
            file,
            "{SECRET_PREFIX}{}",
            STANDARD.encode(self.0.to_bytes())
        )
        .and_then(|()| file.sync_all())
        .map_err(failed)
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(of {})", self.public().id())
    }
}

fn decode32(text: &str) -> Option<[u8; 32]> {
    STANDARD.decode(text).ok()?.try_into().ok()
}

/// At most 60 characters of `text`, for an error message.
fn shorten(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_text() {
        let secret = SecretKey::generate().unwrap();
        let public = PublicKey::parse(&secret.public().to_string()).unwrap();
        assert_eq!(public, secret.public());
        let signature = secret.sign(b"message");
        assert!(public.verifies(b"message", &signature));
        assert!(!public.verifies(b"messagf", &signature));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        secret.write_new(&path).unwrap();
        assert_eq!(SecretKey::read(&path).unwrap().public(), public);
        assert!(secret.write_new(&path).is_err(), "never replaces a file");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn bad_keys_are_errors_that_never_show_a_secret() {
        assert!(PublicKey::parse("ed25519:AAAA").is_err());
        assert!(PublicKey::parse("rsa:AAAA").is_err());
        let secret = SecretKey::generate().unwrap();
        let mut text = format!("{SECRET_PREFIX}{}", STANDARD.encode(secret.0.to_bytes()));
        text.push('x');
        let error = SecretKey::parse(&text).unwrap_err().to_string();
        assert!(
            !error.contains(&text[SECRET_PREFIX.len()..SECRET_PREFIX.len() + 20]),
            "{error}"
        );
        assert!(!format!("{secret:?}").contains(&STANDARD.encode(secret.0.to_bytes())));
    }
}
