//! The second result tier: results as small OCI artifacts in the workspace's registry
//! repository (tag `result-<key>`, beside its images), through oci-client. The key is
//! content only, so another machine, checkout or CI job finds it. The artifact: a
//! config blob holding the inputs the result was keyed on, then the result, its log and
//! its artifacts tar as layers, each of its own media type; with a signing key, a
//! signature over all of them in the manifest's annotations.
//!
//! What comes back is hostile: every blob is bounded by what kiln ever stores (a bigger
//! one is refused before it is fetched, and a stream that runs past its size is cut),
//! checked against its digest, and, when kiln.kdl trusts keys, the signature must be a
//! trusted key's over exactly these digests (checked before anything is fetched).

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures_util::StreamExt;
use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OciManifest};

use super::source::ResultSource;
use super::tier::{ARTIFACTS_CAP, Answer, LOG_CAP, ResultTier, Stored};
use crate::cache::oci::{OciRepository, is_missing};
use crate::cache::{CacheError, Refusal};
use crate::signing::{Statement, Trust};

const CONFIG_TYPE: &str = "application/vnd.kiln.result.inputs.v1+json";
const RESULT_TYPE: &str = "application/vnd.kiln.result.v1+json";
const LOG_TYPE: &str = "application/vnd.kiln.result.log.v1";
const ARTIFACTS_TYPE: &str = "application/vnd.kiln.result.artifacts.v1.tar";
/// The annotation that holds the signature.
const SIGNATURE: &str = "io.kiln.signature";
/// The most a result's JSON or its inputs' JSON may take: a result is a few kilobytes.
const JSON_CAP: u64 = 4 << 20;
/// The most an artifacts tar may take: the artifacts' cap and their tar headers.
const TAR_CAP: u64 = ARTIFACTS_CAP + (4 << 20);

pub struct RegistryResults {
    repository: OciRepository,
    trust: Trust,
}

impl RegistryResults {
    /// Results in `repository` (the `registry` setting, `host:port/name`), signed and
    /// checked as `trust` says.
    pub fn new(repository: &str, trust: Trust) -> Self {
        Self {
            repository: OciRepository::new(repository, "results registry"),
            trust,
        }
    }

    /// The blob `descriptor` names, refused over `limit` bytes and checked against its
    /// digest.
    async fn blob(
        &self,
        reference: &oci_client::Reference,
        descriptor: &OciDescriptor,
        what: &'static str,
        limit: u64,
    ) -> Result<Result<Vec<u8>, Refusal>, CacheError> {
        let size = u64::try_from(descriptor.size).unwrap_or(u64::MAX);
        if size > limit {
            return Ok(Err(Refusal::Oversized { what, size, limit }));
        }
        let mut stream = self
            .repository
            .client
            .pull_blob_stream(reference, descriptor)
            .await
            .map_err(|e| self.repository.failed("fetching a result", e))?;
        let mut bytes = Vec::with_capacity(size as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                self.repository.failed(
                    "fetching a result",
                    oci_client::errors::OciDistributionError::IoError(e),
                )
            })?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > size {
                return Ok(Err(Refusal::Oversized {
                    what,
                    size: bytes.len() as u64,
                    limit: size,
                }));
            }
        }
        let digest = digest_of(&bytes);
        if digest != descriptor.digest {
            return Ok(Err(Refusal::Digest {
                what,
                expected: descriptor.digest.clone(),
                found: digest,
            }));
        }
        Ok(Ok(bytes))
    }
}

#[async_trait]
impl ResultTier for RegistryResults {
    fn source(&self) -> ResultSource {
        ResultSource::Registry
    }

    /// Asks for the manifest only.
    async fn probe(&self, key: &str) -> Result<bool, CacheError> {
        let reference = self.repository.reference(&format!("result-{key}"))?;
        match self
            .repository
            .client
            .fetch_manifest_digest(&reference, &self.repository.auth())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(self.repository.failed("asking for a result", e)),
        }
    }

    async fn fetch(&self, key: &str) -> Result<Answer, CacheError> {
        let tag = format!("result-{key}");
        let manifest = match self
            .repository
            .manifest(&tag, "asking for a result")
            .await?
        {
            Some(OciManifest::Image(manifest)) => manifest,
            Some(OciManifest::ImageIndex(_)) | None => return Ok(Answer::Missing),
        };
        let reference = self.repository.reference(&tag)?;
        // One layer of each kind, and the signature checked against the digests the
        // manifest names before anything is fetched; each blob is then checked against
        // its digest as it comes.
        let mut layers: BTreeMap<&str, &OciDescriptor> = BTreeMap::new();
        for layer in &manifest.layers {
            let kind = layer.media_type.as_str();
            if [RESULT_TYPE, LOG_TYPE, ARTIFACTS_TYPE].contains(&kind)
                && layers.insert(kind, layer).is_some()
            {
                return Ok(Answer::Refused(Refusal::Layers {
                    media_type: kind.to_owned(),
                }));
            }
        }
        let Some(result_layer) = layers.get(RESULT_TYPE).copied() else {
            return Ok(Answer::Missing);
        };
        let digest = |kind| layers.get(kind).map(|d| d.digest.as_str());
        let statement = Statement::result(
            key,
            &result_layer.digest,
            Some(&manifest.config.digest),
            digest(LOG_TYPE),
            digest(ARTIFACTS_TYPE),
        );
        let signature = manifest
            .annotations
            .as_ref()
            .and_then(|a| a.get(SIGNATURE))
            .map(String::as_str);
        if let Err(why) = self.trust.verify(&statement, signature) {
            return Ok(Answer::Refused(why.into()));
        }
        macro_rules! take {
            ($blob:expr) => {
                match $blob? {
                    Ok(bytes) => bytes,
                    Err(refusal) => return Ok(Answer::Refused(refusal)),
                }
            };
        }
        let inputs = take!(
            self.blob(&reference, &manifest.config, "inputs", JSON_CAP)
                .await
        );
        let result = take!(
            self.blob(&reference, result_layer, "result", JSON_CAP)
                .await
        );
        let mut stored = Stored {
            result,
            inputs: Some(inputs),
            ..Stored::default()
        };
        if let Some(layer) = layers.get(LOG_TYPE) {
            stored.log = Some(take!(
                self.blob(&reference, layer, "log", LOG_CAP as u64).await
            ));
        }
        if let Some(layer) = layers.get(ARTIFACTS_TYPE) {
            stored.artifacts = Some(take!(
                self.blob(&reference, layer, "artifacts", TAR_CAP).await
            ));
        }
        Ok(Answer::Found(stored))
    }

    async fn store(&self, key: &str, stored: &Stored) -> Result<(), CacheError> {
        if !self.trust.may_write() {
            return Err(CacheError::CannotSign {
                tier: "results registry",
            });
        }
        let reference = self.repository.reference(&format!("result-{key}"))?;
        let mut layers = vec![ImageLayer::new(
            stored.result.clone(),
            RESULT_TYPE.to_owned(),
            None,
        )];
        if let Some(log) = &stored.log {
            layers.push(ImageLayer::new(log.clone(), LOG_TYPE.to_owned(), None));
        }
        if let Some(tar) = &stored.artifacts {
            layers.push(ImageLayer::new(
                tar.clone(),
                ARTIFACTS_TYPE.to_owned(),
                None,
            ));
        }
        let inputs = stored.inputs.clone().unwrap_or_else(|| b"null".to_vec());
        let digest = digest_of;
        let statement = Statement::result(
            key,
            &digest(&stored.result),
            Some(&digest(&inputs)),
            stored.log.as_deref().map(digest).as_deref(),
            stored.artifacts.as_deref().map(digest).as_deref(),
        );
        let config = Config::new(inputs, CONFIG_TYPE.to_owned(), None);
        let mut annotations = BTreeMap::from([("io.kiln.result.key".to_owned(), key.to_owned())]);
        annotations.extend(stored.annotations.clone());
        if let Some(signature) = self.trust.sign(&statement) {
            annotations.insert(SIGNATURE.to_owned(), signature);
        }
        let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
        self.repository
            .client
            .push(
                &reference,
                &layers,
                config,
                &self.repository.auth(),
                Some(manifest),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.repository.failed("pushing a result", e))
    }
}

/// `sha256:<hex>` of `bytes`, as a registry's descriptors name a blob.
fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::hash::sha256_hex(bytes))
}
