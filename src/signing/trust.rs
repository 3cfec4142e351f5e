//! The trust of a run: the keys whose signatures it accepts, the key it signs with, and
//! whether an entry without a good signature is an error or only not used.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

use super::{PublicKey, SecretKey, Statement};

/// Without keys (the default) nothing is signed or checked: a shared tier is trusted
/// as it is (docs/guarantees.md says what that means).
#[derive(Debug, Clone, Default)]
pub struct Trust {
    signer: Option<SecretKey>,
    /// The keys whose signatures count: those kiln.kdl trusts and the signer's own.
    trusted: Vec<PublicKey>,
    require: bool,
    /// Checks although no key is trusted (the key to check against could not be read):
    /// every shared entry is refused rather than every one accepted.
    closed: bool,
}

/// Why an entry's signature does not count.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Unverified {
    #[error("it is not signed")]
    Unsigned,
    #[error("its signature is malformed")]
    Malformed,
    #[error("it is signed by key {id}, which kiln.kdl does not trust")]
    UnknownKey { id: String },
    #[error("its signature by key {id} does not match its content")]
    Wrong { id: String },
}

impl Trust {
    /// `signer` signs; signatures of `trusted` keys and of the signer's count;
    /// `require`: an entry that fails verification fails the run.
    pub fn new(signer: Option<SecretKey>, mut trusted: Vec<PublicKey>, require: bool) -> Self {
        if let Some(signer) = &signer
            && !trusted.contains(&signer.public())
        {
            trusted.push(signer.public());
        }
        Self {
            signer,
            trusted,
            require,
            closed: false,
        }
    }

    /// A trust that accepts no shared entry and signs none: what a run holds when the
    /// key it was to check against cannot be read.
    pub fn closed(require: bool) -> Self {
        Self {
            require,
            closed: true,
            ..Self::default()
        }
    }

    /// The trust kiln.kdl's `signing` describes (`trusted` keys as text, the signing
    /// key's file, `require`), with the key in `KILN_SIGNING_KEY` winning over the file.
    pub fn load(
        trusted: &[String],
        key_file: Option<&std::path::Path>,
        require: bool,
    ) -> Result<Self, super::SigningError> {
        let trusted = trusted
            .iter()
            .map(|text| PublicKey::parse(text))
            .collect::<Result<Vec<_>, _>>()?;
        let signer = match SecretKey::from_environment()? {
            Some(key) => Some(key),
            None => key_file.map(SecretKey::read).transpose()?,
        };
        Ok(Self::new(signer, trusted, require))
    }

    /// Whether shared entries are checked (some key is trusted).
    pub fn checks(&self) -> bool {
        !self.trusted.is_empty() || self.closed
    }

    /// Whether an entry that fails verification fails the run.
    pub fn required(&self) -> bool {
        self.require
    }

    /// Whether entries written now are signed.
    pub fn signs(&self) -> bool {
        self.signer.is_some()
    }

    /// Whether writing to a shared tier makes sense: nothing is checked, or what is
    /// written is signed (a reader-only run writes nothing others would refuse).
    pub fn may_write(&self) -> bool {
        !self.checks() || self.signs()
    }

    /// The id of the key entries are signed with.
    pub fn signer_id(&self) -> Option<String> {
        self.signer.as_ref().map(|s| s.public().id())
    }

    /// The signature of `statement` (`<key id>:<base64>`), when there is a key.
    pub fn sign(&self, statement: &Statement) -> Option<String> {
        let signer = self.signer.as_ref()?;
        let signature = signer.sign(statement.bytes());
        Some(format!(
            "{}:{}",
            signer.public().id(),
            STANDARD.encode(signature)
        ))
    }

    /// Whether `signature` is a trusted key's over `statement`; always `Ok` when no
    /// key is trusted.
    pub fn verify(&self, statement: &Statement, signature: Option<&str>) -> Result<(), Unverified> {
        if !self.checks() {
            return Ok(());
        }
        let signature = signature.ok_or(Unverified::Unsigned)?;
        let (id, encoded) = signature.split_once(':').ok_or(Unverified::Malformed)?;
        let bytes: [u8; 64] = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(Unverified::Malformed)?;
        let key =
            self.trusted
                .iter()
                .find(|k| k.id() == id)
                .ok_or_else(|| Unverified::UnknownKey {
                    id: id.chars().take(16).collect(),
                })?;
        match key.verifies(statement.bytes(), &bytes) {
            true => Ok(()),
            false => Err(Unverified::Wrong { id: id.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_trusted_key_over_the_same_statement_verifies() {
        let ours = SecretKey::generate().unwrap();
        let theirs = SecretKey::generate().unwrap();
        let signer = Trust::new(Some(ours.clone()), Vec::new(), false);
        let reader = Trust::new(None, vec![ours.public()], true);
        let stranger = Trust::new(Some(theirs), Vec::new(), false);
        let statement = Statement::image("t", "hash", "sha256:id");
        let signature = signer.sign(&statement).unwrap();
        assert_eq!(reader.verify(&statement, Some(&signature)), Ok(()));
        assert!(!reader.signs() && !reader.may_write() && reader.checks());
        let other = Statement::image("t", "hash", "sha256:other");
        assert!(matches!(
            reader.verify(&other, Some(&signature)),
            Err(Unverified::Wrong { .. })
        ));
        assert_eq!(reader.verify(&statement, None), Err(Unverified::Unsigned));
        assert_eq!(
            reader.verify(&statement, Some("nonsense")),
            Err(Unverified::Malformed)
        );
        let forged = stranger.sign(&statement).unwrap();
        assert!(matches!(
            reader.verify(&statement, Some(&forged)),
            Err(Unverified::UnknownKey { .. })
        ));
        let closed = Trust::closed(false);
        assert!(closed.checks() && !closed.may_write());
        assert!(matches!(
            closed.verify(&statement, Some(&signature)),
            Err(Unverified::UnknownKey { .. })
        ));
        let open = Trust::default();
        assert_eq!(open.verify(&statement, None), Ok(()));
        assert!(open.may_write() && open.sign(&statement).is_none());
    }
}
