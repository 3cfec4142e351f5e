//! The second result tier: results as small OCI artifacts in the workspace's registry
//! repository (tag `result-<key>`, beside its images), through oci-client. The key is
//! content only, so another machine, checkout or CI job finds it. The artifact: a
//! config blob holding the inputs the result was keyed on, then the result, its log and
//! its artifacts tar as layers, each of its own media type.

use std::collections::BTreeMap;

use async_trait::async_trait;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::source::ResultSource;
use super::tier::{ResultTier, Stored};
use crate::cache::CacheError;

const CONFIG_TYPE: &str = "application/vnd.kiln.result.inputs.v1+json";
const RESULT_TYPE: &str = "application/vnd.kiln.result.v1+json";
const LOG_TYPE: &str = "application/vnd.kiln.result.log.v1";
const ARTIFACTS_TYPE: &str = "application/vnd.kiln.result.artifacts.v1.tar";

pub struct RegistryResults {
    repository: String,
    client: Client,
}

impl RegistryResults {
    /// Results in `repository` (the `registry` setting, `host:port/name`). A registry on
    /// the loopback is spoken to over plain HTTP, as the Docker daemon does.
    pub fn new(repository: &str) -> Self {
        let host = crate::docker::registry_host(repository)
            .unwrap_or_default()
            .to_owned();
        let loopback =
            host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
        let protocol = if loopback {
            ClientProtocol::HttpsExcept(vec![host])
        } else {
            ClientProtocol::Https
        };
        Self {
            repository: repository.to_owned(),
            client: Client::new(ClientConfig {
                protocol,
                ..ClientConfig::default()
            }),
        }
    }

    fn reference(&self, key: &str) -> Result<Reference, CacheError> {
        let reference = format!("{}:result-{key}", self.repository);
        reference
            .parse()
            .map_err(|source| CacheError::Reference { reference, source })
    }

    fn auth(&self) -> RegistryAuth {
        match crate::docker::credentials(&self.repository) {
            Ok(Some(c)) => match (c.username, c.password) {
                (Some(user), Some(password)) => RegistryAuth::Basic(user, password),
                _ => RegistryAuth::Anonymous,
            },
            _ => RegistryAuth::Anonymous,
        }
    }

    fn failed(&self, what: &'static str, source: OciDistributionError) -> CacheError {
        CacheError::Registry {
            repository: self.repository.clone(),
            what,
            source,
        }
    }
}

#[async_trait]
impl ResultTier for RegistryResults {
    fn source(&self) -> ResultSource {
        ResultSource::Registry
    }

    /// Asks for the manifest only.
    async fn probe(&self, key: &str) -> Result<bool, CacheError> {
        let reference = self.reference(key)?;
        match self
            .client
            .fetch_manifest_digest(&reference, &self.auth())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(self.failed("asking for a result", e)),
        }
    }

    async fn fetch(&self, key: &str) -> Result<Option<Stored>, CacheError> {
        let reference = self.reference(key)?;
        let accepted = vec![RESULT_TYPE, LOG_TYPE, ARTIFACTS_TYPE];
        let image = match self.client.pull(&reference, &self.auth(), accepted).await {
            Ok(image) => image,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(self.failed("asking for a result", e)),
        };
        let mut stored = Stored {
            inputs: Some(image.config.data.to_vec()),
            ..Stored::default()
        };
        let mut result = None;
        for layer in image.layers {
            match layer.media_type.as_str() {
                RESULT_TYPE => result = Some(layer.data.to_vec()),
                LOG_TYPE => stored.log = Some(layer.data.to_vec()),
                ARTIFACTS_TYPE => stored.artifacts = Some(layer.data.to_vec()),
                _ => {}
            }
        }
        Ok(result.map(|result| Stored { result, ..stored }))
    }

    async fn store(&self, key: &str, stored: &Stored) -> Result<(), CacheError> {
        let reference = self.reference(key)?;
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
        let config = Config::new(inputs, CONFIG_TYPE.to_owned(), None);
        let mut annotations = BTreeMap::from([("io.kiln.result.key".to_owned(), key.to_owned())]);
        annotations.extend(stored.annotations.clone());
        let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
        self.client
            .push(&reference, &layers, config, &self.auth(), Some(manifest))
            .await
            .map(|_| ())
            .map_err(|e| self.failed("pushing a result", e))
    }
}

/// A registry's "no such tag": a miss, not a failure.
fn is_missing(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}
