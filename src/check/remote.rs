//! Results that travel through the registry: with a `registry` in kiln.kdl, a result a
//! run produced is pushed there as a small OCI artifact — tag `result-<key>` in the
//! workspace's registry repository, beside its images — and a run that misses its local
//! result cache looks there before running the entity. The key is content only
//! (`inputs.rs`), so another machine, checkout or CI job finds it.
//!
//! The artifact: a config blob holding the inputs the result was keyed on (so `kiln
//! explain` works from it), then the result (`results.json` layout), its log (the last
//! [`LOG_CAP`] bytes) and its artifacts as a tar (left out over [`ARTIFACTS_CAP`]).
//! What comes back is checked as hostile: the result must be of the entity and key
//! asked for, and its artifacts are unpacked as a copy out of a container is
//! (`transfer.rs`): regular files with plain relative paths only, bounded in count and
//! size.
//!
//! A registry that fails (unreachable, refusing) is warned about once; the run goes on
//! with its local cache only.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::artifacts::{Copied, Limits};
use super::error::CheckError;
use super::inputs::EntityInputs;
use super::results::EntityResult;

const CONFIG_TYPE: &str = "application/vnd.kiln.result.inputs.v1+json";
const RESULT_TYPE: &str = "application/vnd.kiln.result.v1+json";
const LOG_TYPE: &str = "application/vnd.kiln.result.log.v1";
const ARTIFACTS_TYPE: &str = "application/vnd.kiln.result.artifacts.v1.tar";

/// The most of a log that travels (its end).
pub const LOG_CAP: usize = 1024 * 1024;
/// Artifacts larger than this in all stay home (the result travels without them).
pub const ARTIFACTS_CAP: u64 = 16 * 1024 * 1024;
/// At most this many artifact files come back from the registry.
const MAX_ARTIFACTS: usize = 1000;

/// The registry repository results go to, and whether it still answers.
pub struct RemoteResults {
    repository: String,
    client: Client,
    failed: AtomicBool,
}

/// A result fetched from the registry, with what came with it.
pub struct Fetched {
    pub result: EntityResult,
    pub inputs: EntityInputs,
    pub log: Option<Vec<u8>>,
    pub artifacts: Option<Vec<u8>>,
}

impl RemoteResults {
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
            failed: AtomicBool::new(false),
        }
    }

    fn reference(&self, key: &str) -> Option<Reference> {
        format!("{}:result-{key}", self.repository).parse().ok()
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

    /// Whether the registry is still asked (it has not failed in this run).
    pub fn usable(&self) -> bool {
        !self.failed.load(Ordering::Relaxed)
    }

    /// The first failure is a warning; the registry is not asked again in this run.
    fn fail(&self, what: &str, error: &dyn std::fmt::Display) {
        if !self.failed.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "results registry {}: {what} failed ({error}); results stay local for the rest of this run",
                self.repository
            );
        }
    }

    /// Whether the registry has a result under `key` (its manifest only is asked for).
    pub async fn has(&self, key: &str) -> bool {
        if !self.usable() {
            return false;
        }
        let Some(reference) = self.reference(key) else {
            return false;
        };
        match self
            .client
            .fetch_manifest_digest(&reference, &self.auth())
            .await
        {
            Ok(_) => true,
            Err(e) if is_missing(&e) => false,
            Err(e) => {
                self.fail("asking for a result", &e);
                false
            }
        }
    }

    /// The result of `key`, if the registry has one of entity `entity` of `check`.
    pub async fn get(&self, key: &str, check: &str, entity: &str) -> Option<Fetched> {
        if !self.usable() {
            return None;
        }
        let reference = self.reference(key)?;
        let accepted = vec![RESULT_TYPE, LOG_TYPE, ARTIFACTS_TYPE];
        let image = match self.client.pull(&reference, &self.auth(), accepted).await {
            Ok(image) => image,
            Err(e) if is_missing(&e) => return None,
            Err(e) => {
                self.fail("asking for a result", &e);
                return None;
            }
        };
        let inputs: EntityInputs = serde_json::from_slice(&image.config.data).ok()?;
        let mut result = None;
        let (mut log, mut artifacts) = (None, None);
        for layer in image.layers {
            match layer.media_type.as_str() {
                RESULT_TYPE => result = serde_json::from_slice::<EntityResult>(&layer.data).ok(),
                LOG_TYPE => log = Some(layer.data.to_vec()),
                ARTIFACTS_TYPE => artifacts = Some(layer.data.to_vec()),
                _ => {}
            }
        }
        let result = result?;
        // Only what was asked for: another entity's result under this tag is no answer.
        if result.check != check || result.key != entity || inputs.key() != key {
            tracing::warn!(
                "results registry {}: the result under `result-{key}` is not of {check}/{entity}; ignored",
                self.repository
            );
            return None;
        }
        Some(Fetched {
            result,
            inputs,
            log,
            artifacts,
        })
    }

    /// Pushes `result` under `key`, with its inputs, its log and the artifacts under
    /// `artifacts_dir` (the job record's copies).
    pub async fn put(
        &self,
        key: &str,
        result: &EntityResult,
        inputs: &EntityInputs,
        artifacts_dir: &Path,
    ) {
        if !self.usable() {
            return;
        }
        let Some(reference) = self.reference(key) else {
            return;
        };
        let Ok(result_json) = serde_json::to_vec(result) else {
            return;
        };
        let Ok(inputs_json) = serde_json::to_vec(inputs) else {
            return;
        };
        let mut layers = vec![ImageLayer::new(result_json, RESULT_TYPE.to_owned(), None)];
        if let Some(log) = result
            .log
            .as_ref()
            .and_then(|l| read_tail(Path::new(l), LOG_CAP))
        {
            layers.push(ImageLayer::new(log, LOG_TYPE.to_owned(), None));
        }
        if !result.artifacts.is_empty() {
            match pack(artifacts_dir, &result.artifacts) {
                Some(tar) => layers.push(ImageLayer::new(tar, ARTIFACTS_TYPE.to_owned(), None)),
                None => tracing::info!(
                    "{}/{}: artifacts over {ARTIFACTS_CAP} bytes stay local",
                    result.check,
                    result.key
                ),
            }
        }
        let config = Config::new(inputs_json, CONFIG_TYPE.to_owned(), None);
        let annotations = BTreeMap::from([
            ("io.kiln.result.key".to_owned(), key.to_owned()),
            ("io.kiln.result.check".to_owned(), result.check.clone()),
            ("io.kiln.result.entity".to_owned(), result.key.clone()),
            ("io.kiln.result.class".to_owned(), result.class.to_string()),
        ]);
        let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
        if let Err(e) = self
            .client
            .push(&reference, &layers, config, &self.auth(), Some(manifest))
            .await
        {
            self.fail("pushing a result", &e);
        }
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

/// The last `cap` bytes of the file at `path`.
fn read_tail(path: &Path, cap: usize) -> Option<Vec<u8>> {
    let data = std::fs::read(path).ok()?;
    Some(data[data.len().saturating_sub(cap)..].to_vec())
}

/// A tar of `files` (relative paths under `dir`, regular files only); `None` over the cap.
fn pack(dir: &Path, files: &[String]) -> Option<Vec<u8>> {
    let mut total = 0u64;
    let mut builder = tar::Builder::new(Vec::new());
    for file in files {
        let path = dir.join(file);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() {
            continue;
        }
        total += meta.len();
        if total > ARTIFACTS_CAP {
            return None;
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(meta.len());
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let data = std::fs::File::open(&path).ok()?;
        builder.append_data(&mut header, file, data).ok()?;
    }
    builder.into_inner().ok()
}

/// Unpacks a fetched artifacts tar into `target` as a copy out of a container is
/// ([`transfer::artifacts`](super::transfer::artifacts)): regular files only, no path
/// leaving it, at most [`MAX_ARTIFACTS`] files and [`ARTIFACTS_CAP`] bytes.
pub fn unpack(tar_data: &[u8], target: &Path) -> Result<Copied, CheckError> {
    let mut everything = globset::GlobSetBuilder::new();
    everything.add(globset::Glob::new("**").expect("the glob is valid"));
    let everything = everything.build().expect("the glob set is valid");
    let limits = Limits {
        files: MAX_ARTIFACTS,
        bytes: ARTIFACTS_CAP,
        ..Limits::default()
    };
    super::transfer::artifacts(tar_data, "", &everything, target, limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_pack_and_unpack_and_a_hostile_tar_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("from/_data")).unwrap();
        std::fs::write(dir.path().join("from/_data/plot.svg"), "<svg/>").unwrap();
        let tar = pack(&dir.path().join("from"), &["_data/plot.svg".to_owned()]).unwrap();
        let unpacked = unpack(&tar, &dir.path().join("to")).unwrap().files;
        assert_eq!(unpacked, ["_data/plot.svg"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("to/_data/plot.svg")).unwrap(),
            "<svg/>"
        );

        // A tar naming a path outside, and a link: nothing lands outside `to`.
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        header.set_entry_type(tar::EntryType::Regular);
        header.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"../escaped.tx");
        header.set_cksum();
        builder.append(&header, &b"evil"[..]).unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder
            .append_link(&mut link, "link", "/etc/passwd")
            .unwrap();
        let hostile = builder.into_inner().unwrap();
        let unpacked = unpack(&hostile, &dir.path().join("to2")).unwrap().files;
        assert!(unpacked.is_empty(), "{unpacked:?}");
        assert!(!dir.path().join("escaped.tx").exists());
        assert!(!dir.path().join("to2/link").exists());
    }
}
