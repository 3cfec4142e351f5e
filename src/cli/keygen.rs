//! `kiln keygen FILE`: a signing key for shared caches (docs/guarantees.md). Writes a new
//! ed25519 secret key to FILE (readable by its owner only; never over an existing file)
//! and prints the `trust` line kiln.kdl needs; for an existing key file, prints its line
//! again.

use std::io::Write;
use std::path::PathBuf;

use super::CliError;
use crate::signing::SecretKey;

#[derive(Debug, Clone, clap::Args)]
pub struct KeygenArgs {
    /// Where the secret key goes: outside the workspace (e.g. ~/.config/kiln/signing.key),
    /// or into a CI secret as KILN_SIGNING_KEY
    pub file: PathBuf,
}

pub fn run(args: &KeygenArgs, out: &mut impl Write) -> Result<(), CliError> {
    let (key, made) = if args.file.exists() {
        (SecretKey::read(&args.file)?, false)
    } else {
        let key = SecretKey::generate()?;
        key.write_new(&args.file)?;
        (key, true)
    };
    if made {
        writeln!(
            out,
            "wrote a new signing key to {} (keep it secret: only its owner may read it)",
            args.file.display()
        )?;
    } else {
        writeln!(out, "{} holds a signing key", args.file.display())?;
    }
    writeln!(
        out,
        "readers trust what it signs with this in kiln.kdl:\n\nsigning {{\n    trust \"{}\"\n}}",
        key.public()
    )?;
    Ok(())
}
