//! `signing` in kiln.kdl — the keys whose signatures shared cache entries must carry,
//! the file of the key this machine signs with, and whether an entry that fails
//! verification fails the run — and the signing key in `KILN_SIGNING_KEY`, which CI
//! systems hand over as a secret:
//!
//! ```kdl
//! signing {
//!     trust "ed25519:…"          // one or more; `kiln keygen` prints the line
//!     key-file "~/.config/kiln/signing.key"
//!     require-signed #true
//! }
//! ```

use std::path::{Path, PathBuf};

use kdl::KdlNode;

use super::error::ConfigError;
use super::grammar;
use super::reader::{Reader, Shape, name_span};
use crate::model::{Signing, resolved};
use crate::signing::{KEY_VARIABLE, PublicKey, SecretKey, SigningError};

const SIGNING: Shape = Shape::args(&[]).children();
const ONE_VALUE: Shape = Shape::args(&["value"]);

pub fn decode(r: &mut Reader, node: &KdlNode, root: &Path) -> Signing {
    r.shape(node, &SIGNING);
    let children = r.children(node, grammar::SIGNING, "signing");
    r.at_most_once(&children, "key-file");
    r.at_most_once(&children, "require-signed");
    let mut signing = Signing::default();
    let mut signer = from_variable(r.errors);
    let mut require = None;
    for child in children {
        if !r.shape(child, &ONE_VALUE) {
            continue;
        }
        match child.name().value() {
            "trust" => {
                let Some(text) = r.arg(child, 0, "trust") else {
                    continue;
                };
                match PublicKey::parse(&text.value) {
                    Ok(_) => signing.trusted.push(text.value),
                    Err(SigningError::SecretNotPublic) => {
                        let offset = text.loc.span.offset();
                        let line = r.file.text[..offset.min(r.file.text.len())]
                            .matches('\n')
                            .count()
                            + 1;
                        r.push(ConfigError::SecretKey {
                            file: r.file.display.clone(),
                            line,
                        });
                    }
                    Err(source) => r.push(ConfigError::Key {
                        src: r.src(),
                        span: text.loc.span,
                        what: "trusted key",
                        source,
                        help: "write the line `kiln keygen <key file>` prints: trust \"ed25519:<44 base64 characters>\"",
                    }),
                }
            }
            "key-file" => {
                let Some(text) = r.arg(child, 0, "key-file") else {
                    continue;
                };
                let path = expand(&text.value, root);
                if inside(&path, root) {
                    r.invalid(
                        text.loc.span,
                        "key-file",
                        "the signing key is inside the workspace",
                        "keep it outside, where it is never committed, hashed or mounted (e.g. \"~/.config/kiln/signing.key\"), or hand it over in KILN_SIGNING_KEY",
                    );
                } else if signer.is_none() {
                    match SecretKey::read(&path) {
                        Ok(key) => {
                            signer = Some(key);
                            signing.key_file = Some(path);
                        }
                        Err(source) => r.push(ConfigError::Key {
                            src: r.src(),
                            span: text.loc.span,
                            what: "key-file",
                            source,
                            help: "write one with `kiln keygen <file>`, or remove `key-file` to only check signatures",
                        }),
                    }
                }
            }
            "require-signed" => {
                if let Some(value) = r.arg_bool(child, 0, "require-signed") {
                    require = Some((value, name_span(child)));
                }
            }
            _ => unreachable!("filtered by grammar::SIGNING"),
        }
    }
    signing.require_signed = require.is_some_and(|(value, _)| value);
    if let Some((true, span)) = require
        && signing.trusted.is_empty()
        && signer.is_none()
    {
        r.invalid(
            span,
            "require-signed",
            "no key to check signatures against",
            "add `trust \"ed25519:…\"` (`kiln keygen` prints it) or set KILN_SIGNING_KEY",
        );
    }
    signing
}

/// Checks the key in `KILN_SIGNING_KEY`, if set, for a workspace whose kiln.kdl has no
/// `signing` (the cache reads it when it signs).
pub fn check_environment(errors: &mut Vec<ConfigError>) {
    from_variable(errors);
}

fn from_variable(errors: &mut Vec<ConfigError>) -> Option<SecretKey> {
    match SecretKey::from_environment() {
        Ok(key) => key,
        Err(source) => {
            errors.push(ConfigError::Environment {
                variable: KEY_VARIABLE,
                source,
            });
            None
        }
    }
}

/// `~/…` from the home folder; otherwise relative to the workspace root.
fn expand(text: &str, root: &Path) -> PathBuf {
    match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => root.join(text),
    }
}

/// Whether `path` is inside `root`, symlinks resolved as far as they exist.
fn inside(path: &Path, root: &Path) -> bool {
    resolved(path).starts_with(resolved(root))
}
