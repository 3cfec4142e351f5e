//! What reading a key can fail with.

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum SigningError {
    /// Text that is no key of the kind asked for.
    #[error("`{shown}` is not {kind}")]
    #[diagnostic(
        code(kiln::signing::bad_key),
        help(
            "a public key is `ed25519:` and 44 base64 characters, as `kiln keygen` prints it; a signing key file holds `ed25519-secret:` and 44 base64 characters"
        )
    )]
    BadKey {
        /// The text, shortened, and never a secret key's.
        shown: String,
        kind: &'static str,
    },

    /// A secret key where a public one belongs: never repeated.
    #[error("this is a secret signing key, not a public key (its text is not shown)")]
    #[diagnostic(
        code(kiln::signing::secret_not_public),
        help(
            "remove it, and treat it as leaked: write a new key with `kiln keygen`, and trust the `ed25519:…` line it prints"
        )
    )]
    SecretNotPublic,

    #[error("cannot read the signing key file `{path}`")]
    #[diagnostic(code(kiln::signing::unreadable))]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write the signing key file `{path}`")]
    #[diagnostic(code(kiln::signing::unwritable))]
    Unwritable {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("the system gave no random bytes for a new key")]
    #[diagnostic(code(kiln::signing::no_randomness))]
    NoRandomness {
        #[source]
        source: getrandom::Error,
    },
}
