//! What kiln records of an image it stores in a shared tier: the step's hash and the
//! image's id — the digest of its config, which names every layer and history entry —
//! signed when this run has a signing key. The `io.kiln.hash` label is only a claim: an
//! image built `FROM` the step's image inherits it. The record tells the two apart.
//!
//! The file cache keeps it beside the tarball (`<name>.tar.record.json`); the registry
//! as the annotations of a small artifact tagged `record-<hash>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cache::Refusal;
use crate::signing::{Statement, Trust};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub hash: String,
    pub image_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The most a record file may take: a record is a few hundred bytes.
pub const RECORD_LIMIT: u64 = 64 * 1024;

const HASH: &str = "io.kiln.record.hash";
const IMAGE_ID: &str = "io.kiln.record.image-id";
const SIGNATURE: &str = "io.kiln.signature";

impl Record {
    /// The record of image `image_id` of the step hashed `hash`, signed if `trust` has
    /// a key.
    pub fn new(hash: &str, image_id: &str, trust: &Trust) -> Self {
        Self {
            hash: hash.to_owned(),
            image_id: image_id.to_owned(),
            signature: trust.sign(&Statement::image(hash, image_id)),
        }
    }

    /// Whether the record vouches for an image of the step hashed `hash`: it is of that
    /// hash and, when kiln.kdl trusts keys, signed by one of them.
    pub fn vouches(&self, hash: &str, trust: &Trust) -> Result<(), Refusal> {
        if self.hash != hash {
            return Err(Refusal::OtherStep {
                expected: hash.to_owned(),
                found: self.hash.clone(),
            });
        }
        trust.verify(
            &Statement::image(&self.hash, &self.image_id),
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
        serde_json::from_slice(bytes).map_err(|_| Refusal::BadRecord)
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut annotations = BTreeMap::from([
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
        Ok(Self {
            hash: get(HASH)?,
            image_id: get(IMAGE_ID)?,
            signature: annotations.get(SIGNATURE).cloned(),
        })
    }
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
        let record = Record::new("h", "sha256:a", &signer);
        assert_eq!(record.vouches("h", &reader), Ok(()));
        assert!(matches!(
            record.vouches("g", &reader),
            Err(Refusal::OtherStep { .. })
        ));
        assert_eq!(record.matches("sha256:a"), Ok(()));
        assert!(matches!(
            record.matches("sha256:b"),
            Err(Refusal::NotRecorded { .. })
        ));
        let forged = Record {
            image_id: "sha256:b".to_owned(),
            ..record.clone()
        };
        assert!(matches!(
            forged.vouches("h", &reader),
            Err(Refusal::Signature(_))
        ));
        let unsigned = Record::new("h", "sha256:a", &Trust::default());
        assert!(matches!(
            unsigned.vouches("h", &reader),
            Err(Refusal::Signature(_))
        ));
        assert_eq!(unsigned.vouches("h", &Trust::default()), Ok(()));
        assert_eq!(Record::from_json(&record.to_json()), Ok(record.clone()));
        assert_eq!(Record::from_annotations(&record.annotations()), Ok(record));
        assert_eq!(unrecorded(&reader), Err(Refusal::NoRecord));
        assert_eq!(unrecorded(&Trust::default()), Ok(()));
    }
}
