//! Labels kiln puts on what it creates, so it can find and remove them, and the one
//! `LABEL` instruction that writes a set of them.

use std::collections::HashMap;
use std::io::{Read, Write};

use base64::Engine;

use crate::hash::Manifest;

/// Present on every image kiln builds.
pub const MANAGED: &str = "io.kiln.managed";
pub const FLAVOR: &str = "io.kiln.flavor";
pub const STEP: &str = "io.kiln.step";
/// The full step hash (the tag holds only a prefix).
pub const HASH: &str = "io.kiln.hash";
/// The step's manifest (every input and its digest, `hash::Manifest`), for `kiln
/// explain`: it travels with the image, through save/load and the registry, to
/// machines whose job records never saw the build.
pub const MANIFEST: &str = "io.kiln.manifest";

pub const OCI_TITLE: &str = "org.opencontainers.image.title";
pub const OCI_DESCRIPTION: &str = "org.opencontainers.image.description";
pub const OCI_VERSION: &str = "org.opencontainers.image.version";
pub const OCI_VENDOR: &str = "org.opencontainers.image.vendor";

/// On environment containers of checks: `true`.
pub const CONTAINER: &str = "io.kiln.container";
/// The workspace a container belongs to (a hash of its root path).
pub const OWNER: &str = "io.kiln.owner";
/// The environment (`flavor/step`) a container runs.
pub const ENV_SLOT: &str = "io.kiln.env-slot";
/// The hash of image id, mounts and env the container was started with.
pub const FINGERPRINT: &str = "io.kiln.fingerprint";
/// The id of the image an environment container runs.
pub const ENV_IMAGE: &str = "io.kiln.env-image";
/// The lease of an environment container: runs using it hold a lock of that name
/// (`check::lease`), so that another run never removes it under them.
pub const LEASE: &str = "io.kiln.lease";
/// On an environment container started by a run that keeps its containers
/// (`--keep-env`, `kiln watch`): `true`. Others left behind belong to a run that was
/// killed, and the next run removes them.
pub const KEPT: &str = "io.kiln.kept";

/// `LABEL "k"="v" …` sorted by key, quoted the way the Dockerfile parser reads it, with
/// a newline: the instruction kiln appends to a rendered Dockerfile when it cannot label
/// an image by a config-only load (`relabel.rs`), and the history entry such a load
/// writes. One instruction for every label: the classic builder makes a container per
/// label passed through the build API, about a second each.
pub fn instruction(labels: &HashMap<String, String>) -> String {
    let quote = |s: &str| {
        let escaped: String = s
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect::<String>()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$");
        format!("\"{escaped}\"")
    };
    let mut pairs: Vec<(&String, &String)> = labels.iter().collect();
    pairs.sort();
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
        .collect();
    format!("LABEL {}\n", body.join(" "))
}

/// The most a manifest label may hold, encoded.
pub const MANIFEST_LIMIT: usize = 256 * 1024;

/// The [`MANIFEST`] label of `manifest`: gzip-compressed JSON in base64, or `None` when
/// it would be over [`MANIFEST_LIMIT`].
pub fn manifest_value(manifest: &Manifest) -> Option<String> {
    let json = serde_json::to_vec(manifest).ok()?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&json).ok()?;
    let compressed = gzip.finish().ok()?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(compressed);
    (encoded.len() <= MANIFEST_LIMIT).then_some(encoded)
}

/// The manifest a label holds, if it decodes to one whose hash checks out.
pub fn manifest_of(label: &str) -> Option<Manifest> {
    if label.len() > MANIFEST_LIMIT {
        return None;
    }
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(label.as_bytes())
        .ok()?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(16 * MANIFEST_LIMIT as u64)
        .read_to_end(&mut json)
        .ok()?;
    let manifest: Manifest = serde_json::from_slice(&json).ok()?;
    manifest.verify().then_some(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_one_quoted_instruction() {
        let labels = HashMap::from([
            ("b.key".to_owned(), "say \"hi\" $HOME\nnext".to_owned()),
            ("a.key".to_owned(), r"back\slash".to_owned()),
        ]);
        assert_eq!(
            instruction(&labels),
            "LABEL \"a.key\"=\"back\\\\slash\" \"b.key\"=\"say \\\"hi\\\" \\$HOME next\"\n"
        );
    }

    #[test]
    fn a_manifest_goes_into_a_label_and_back_and_a_forged_one_does_not() {
        let context = crate::hash::Context::default();
        let manifest = crate::hash::step_hash(&crate::hash::StepInputs {
            bases: Vec::new(),
            dockerfile: b"FROM scratch\n",
            args: vec![("A".to_owned(), "1".to_owned())],
            dependencies: vec![("base".to_owned(), "ab".repeat(32))],
            context: &context,
        });
        let label = manifest_value(&manifest).unwrap();
        assert!(label.len() < 1024, "{}", label.len());
        assert_eq!(manifest_of(&label), Some(manifest.clone()));
        // Entries that do not give the hash: not trusted.
        let mut forged = manifest;
        forged.hash = "00".repeat(32);
        assert_eq!(manifest_of(&manifest_value(&forged).unwrap()), None);
        assert_eq!(manifest_of("not base64 !"), None);
    }
}
