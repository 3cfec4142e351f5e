//! What kiln records of an image it stores in a shared tier: its tag (the part after
//! the repository: the same in every checkout), the step's hash and the image's id — the digest of its config, which names every layer and history entry —
//! signed when this run has a signing key. The `io.kiln.hash` label is only a claim: an
//! image built `FROM` the step's image inherits it. The record tells the two apart.
//!
//! The file cache keeps it beside the tarball (`<name>.tar.record.json`); the registry
//! as the annotations of a small artifact tagged `record-<sha256 of the tag>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cache::Refusal;
use crate::signing::{Statement, Trust};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub tag: String,
    pub hash: String,
    pub image_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The most a record file may take: a record is a few hundred bytes.
pub const RECORD_LIMIT: u64 = 64 * 1024;

const TAG: &str = "io.kiln.record.tag";
const HASH: &str = "io.kiln.record.hash";
const IMAGE_ID: &str = "io.kiln.record.image-id";
const SIGNATURE: &str = "io.kiln.signature";

impl Record {
    /// The record of image `image_id` tagged `image` (its tag is what is recorded) of
    /// the step hashed `hash`, signed if `trust` has a key.
    pub fn new(image: &str, hash: &str, image_id: &str, trust: &Trust) -> Self {
        let tag = tag_of(image).to_owned();
        Self {
            signature: trust.sign(&Statement::image(&tag, hash, image_id)),
            tag,
            hash: hash.to_owned(),
            image_id: image_id.to_owned(),
        }
    }

    /// Whether the record vouches for an image tagged `image` of the step hashed
    /// `hash`: it is of that tag and hash and, when kiln.kdl trusts keys, signed by one
    /// of them.
    pub fn vouches(&self, image: &str, hash: &str, trust: &Trust) -> Result<(), Refusal> {
        if self.hash != hash || self.tag != tag_of(image) {
            return Err(Refusal::OtherStep {
                expected: format!("{}@{hash}", tag_of(image)),
                found: format!("{}@{}", self.tag, self.hash),
            });
        }
        trust.verify(
            &Statement::image(&self.tag, &self.hash, &self.image_id),
            self.signature.as_deref(),
        )?;
        Ok(())
    }

    /// Whether `image_id` is the image recorded.
    pub fn matches(&self, image_id: &str) -> Result<(), Refusal> {
        match self.image_id == image_id {
            true => Ok(()),
            false => Err(Refusal::NotRecorded {
                recorded: self.image_id.clone(),
                found: image_id.to_owned(),
            }),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).unwrap_or_default();
        json.push(b'\n');
        json
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, Refusal> {
        if bytes.len() as u64 > RECORD_LIMIT {
            return Err(Refusal::BadRecord);
        }
        serde_json::from_slice::<Self>(bytes)
            .map_err(|_| Refusal::BadRecord)?
            .checked()
    }

    /// The record, if each field has the shape kiln writes: what a stranger wrote
    /// reaches warnings and the terminal only as such.
    fn checked(self) -> Result<Self, Refusal> {
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        let tag_ok = !self.tag.is_empty()
            && self.tag.len() <= 128
            && self
                .tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        let id_ok = self
            .image_id
            .strip_prefix("sha256:")
            .is_some_and(|d| hex(d, 64));
        let signature_ok = self.signature.as_deref().is_none_or(|s| {
            s.split_once(':').is_some_and(|(id, sig)| {
                hex(id, 16)
                    && sig.len() <= 100
                    && sig
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            })
        });
        match tag_ok && hex(&self.hash, 64) && id_ok && signature_ok {
            true => Ok(self),
            false => Err(Refusal::BadRecord),
        }
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut annotations = BTreeMap::from([
            (TAG.to_owned(), self.tag.clone()),
            (HASH.to_owned(), self.hash.clone()),
            (IMAGE_ID.to_owned(), self.image_id.clone()),
        ]);
        if let Some(signature) = &self.signature {
            annotations.insert(SIGNATURE.to_owned(), signature.clone());
        }
        annotations
    }

    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Result<Self, Refusal> {
        let get = |name| annotations.get(name).cloned().ok_or(Refusal::BadRecord);
        Self {
            tag: get(TAG)?,
            hash: get(HASH)?,
            image_id: get(IMAGE_ID)?,
            signature: annotations.get(SIGNATURE).cloned(),
        }
        .checked()
    }
}

/// The tag of `image` (`repo:tag` → `tag`): the same in every checkout of a workspace.
pub fn tag_of(image: &str) -> &str {
    crate::docker::split_reference(image).1
}

/// The registry tag of the record of `image`: `record-` and the SHA-256 of its tag.
pub fn registry_tag(image: &str) -> String {
    format!(
        "record-{}",
        crate::hash::sha256_hex(tag_of(image).as_bytes())
    )
}

/// What a tier without a record of the image may do: when kiln.kdl trusts keys, use
/// nothing unrecorded; otherwise an entry stored before records existed is used as
/// before, on its label.
pub fn unrecorded(trust: &Trust) -> Result<(), Refusal> {
    match trust.checks() {
        true => Err(Refusal::NoRecord),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{SecretKey, Trust};

    #[test]
    fn a_record_vouches_for_its_step_and_image_only() {
        let key = SecretKey::generate().unwrap();
        let signer = Trust::new(Some(key.clone()), Vec::new(), false);
        let reader = Trust::new(None, vec![key.public()], false);
        let (h, g) = ("a".repeat(64), "b".repeat(64));
        let (a, b) = (format!("sha256:{h}"), format!("sha256:{g}"));
        let record = Record::new("kiln:f-s_h", &h, &a, &signer);
        assert_eq!(record.vouches("other/kiln:f-s_h", &h, &reader), Ok(()));
        for (image, hash) in [("kiln:f-s_h", &g), ("kiln:g-s_h", &h)] {
            assert!(matches!(
                record.vouches(image, hash, &reader),
                Err(Refusal::OtherStep { .. })
            ));
        }
        assert_eq!(record.matches(&a), Ok(()));
        assert!(matches!(
            record.matches(&b),
            Err(Refusal::NotRecorded { .. })
        ));
        let forged = Record {
            image_id: b.clone(),
            ..record.clone()
        };
        assert!(matches!(
            forged.vouches("kiln:f-s_h", &h, &reader),
            Err(Refusal::Signature(_))
        ));
        let unsigned = Record::new("kiln:f-s_h", &h, &a, &Trust::default());
        assert!(matches!(
            unsigned.vouches("kiln:f-s_h", &h, &reader),
            Err(Refusal::Signature(_))
        ));
        assert_eq!(
            unsigned.vouches("kiln:f-s_h", &h, &Trust::default()),
            Ok(())
        );
        assert_eq!(Record::from_json(&record.to_json()), Ok(record.clone()));
        assert_eq!(
            Record::from_annotations(&record.annotations()),
            Ok(record.clone())
        );
        let hostile = Record {
            tag: "x\u{1b}]0;owned\u{7}".to_owned(),
            ..record
        };
        assert_eq!(
            Record::from_json(&hostile.to_json()),
            Err(Refusal::BadRecord)
        );
        assert_eq!(unrecorded(&reader), Err(Refusal::NoRecord));
        assert_eq!(unrecorded(&Trust::default()), Ok(()));
        assert_ne!(registry_tag("a:f-s_h"), registry_tag("a:g-s_h"));
        assert_eq!(registry_tag("a:f-s_h"), registry_tag("b/c:f-s_h"));
    }
}
