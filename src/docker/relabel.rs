//! Labels put on a built image without a build step.
//!
//! On the classic builder a `LABEL` instruction creates a container and commits it: about
//! a second per image. Instead, kiln writes the built image's config again with the
//! labels added and loads that config alone, as a `docker save` tarball holding only
//! `manifest.json` and the config: the daemon has every layer the config's
//! `rootfs.diff_ids` names already, so it skips them (tens of milliseconds).
//!
//! The daemon has no API for an image's raw config, so it is rebuilt from
//! `inspect_image` (architecture, variant, os, os version, author, comment, created,
//! the container config, the rootfs layers) and `image_history` — through bollard's
//! typed structs, written back with serde (their JSON keys are Docker's). What those
//! structs do not model is not carried over: `docker_version`, `container`,
//! `container_config`, and the runtime fields of `config` no Dockerfile sets
//! (`Hostname`, `Domainname`, `Attach*`, `Tty`, `OpenStdin`, `StdinOnce`, `Image`,
//! `NetworkDisabled`, `MacAddress`, `StopTimeout`). Every field a Dockerfile sets is
//! kept. `created` is the built image's, so labelling the same build twice gives the same
//! image id.
//!
//! The loaded image has no parent (load ignores a manifest's `Parent`): the built image
//! stays in the daemon, untagged, as the classic builder's instruction cache — like the
//! untagged parents [`Daemon::remove`] leaves, `docker image prune` frees it.

use std::collections::HashMap;

use bollard::body_full;
use bollard::models::{ImageConfig, ImageHistoryResponseItem, ImageInspect};
use bollard::query_parameters::ImportImageOptionsBuilder;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::client::Daemon;
use super::error::{DockerError, RelabelError};
use super::labels;

impl Daemon {
    /// Gives the image `built` (an id) `labels` by a config-only load, and the result the
    /// tag `tag` once it is checked: its rootfs layers are `built`'s and it carries every
    /// label. Returns the labelled image's id. On an error `tag` was not touched.
    pub async fn label_image(
        &self,
        built: &str,
        labels: &HashMap<String, String>,
        tag: &str,
    ) -> Result<String, RelabelError> {
        let image = self
            .answer(
                || format!("inspecting `{built}`"),
                self.docker.inspect_image(built),
            )
            .await?
            .map_err(|e| self.failed("inspecting", built, e))?;
        let history = self
            .answer(
                || format!("reading the history of `{built}`"),
                self.docker.image_history(built),
            )
            .await?
            .map_err(|e| self.failed("reading the history of", built, e))?;
        let config = image_config(built, &image, &history, labels)?;
        let layers = layers_of(built, &image)?;
        let id = format!("sha256:{}", hex::encode(Sha256::digest(&config)));
        let archive =
            config_archive(&config, &id, &layers).map_err(|source| RelabelError::Archive {
                image: built.to_owned(),
                source,
            })?;
        self.load_config(archive, built).await?;
        let loaded = self
            .answer(
                || format!("inspecting `{id}`"),
                self.docker.inspect_image(&id),
            )
            .await?;
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(e) if super::error::is_not_found(&e) => {
                return Err(RelabelError::NotLoaded {
                    image: built.to_owned(),
                    expected: id,
                });
            }
            Err(e) => return Err(self.failed("inspecting", &id, e).into()),
        };
        let found = loaded.root_fs.and_then(|r| r.layers).unwrap_or_default();
        if found != layers {
            return Err(RelabelError::OtherLayers {
                image: built.to_owned(),
                loaded: id,
                built: layers.len(),
                found: found.len(),
            });
        }
        let on_it = loaded.config.and_then(|c| c.labels).unwrap_or_default();
        let mut keys: Vec<&String> = labels.keys().collect();
        keys.sort();
        if let Some(key) = keys
            .into_iter()
            .find(|key| on_it.get(*key) != labels.get(*key))
        {
            return Err(RelabelError::LabelMissing {
                loaded: id,
                key: key.clone(),
            });
        }
        self.tag(&id, tag).await?;
        Ok(id)
    }

    /// Loads a config-only tarball (quietly: its answer is one line).
    async fn load_config(&self, archive: Vec<u8>, built: &str) -> Result<(), DockerError> {
        let options = ImportImageOptionsBuilder::default().quiet(true).build();
        let during = || format!("loading the labelled config of `{built}`");
        let mut stream = self
            .docker
            .import_image(options, body_full(Bytes::from(archive)), None);
        let answered = self
            .answer(during, async {
                while let Some(item) = stream.next().await {
                    item?;
                }
                Ok::<(), bollard::errors::Error>(())
            })
            .await?;
        answered.map_err(|e| self.loading("loading the labelled config of", built, e))
    }
}

/// An image config as `docker save` writes it (the keys kiln can fill).
#[derive(Serialize)]
struct Config<'a> {
    architecture: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    os: &'a str,
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    os_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
    created: &'a str,
    config: ImageConfig,
    rootfs: RootFs<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<History>>,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: &'a [String],
}

/// One entry of an image config's `history`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct History {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The config of the image `inspected` (id `built`) with `labels` added to the labels
/// its Dockerfile set, and a `LABEL` history entry: canonical JSON (keys sorted), so the
/// same image and labels always give the same bytes — and image id.
pub(crate) fn image_config(
    built: &str,
    inspected: &ImageInspect,
    history: &[ImageHistoryResponseItem],
    labels: &HashMap<String, String>,
) -> Result<Vec<u8>, RelabelError> {
    let incomplete = |field| RelabelError::Incomplete {
        image: built.to_owned(),
        field,
    };
    let layers = layers_of(built, inspected)?;
    let created = inspected
        .created
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| incomplete("Created"))?;
    let mut config = inspected.config.clone().unwrap_or_default();
    config
        .labels
        .get_or_insert_with(HashMap::new)
        .extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    // bollard reads an absent map as an empty list; write it absent again.
    for set in [&mut config.exposed_ports, &mut config.volumes] {
        if set.as_ref().is_some_and(Vec::is_empty) {
            *set = None;
        }
    }
    let history = history_of(history, layers.len()).map(|mut entries| {
        entries.push(History {
            created: Some(created.to_owned()),
            created_by: labels::instruction(labels).trim_end().to_owned(),
            comment: None,
            empty_layer: true,
        });
        entries
    });
    let config = Config {
        architecture: given(&inspected.architecture).ok_or_else(|| incomplete("Architecture"))?,
        variant: given(&inspected.variant),
        os: given(&inspected.os).ok_or_else(|| incomplete("Os"))?,
        os_version: given(&inspected.os_version),
        author: given(&inspected.author),
        comment: given(&inspected.comment),
        created,
        config,
        rootfs: RootFs {
            kind: "layers",
            diff_ids: &layers,
        },
        history,
    };
    let encode = |source| RelabelError::Encode {
        image: built.to_owned(),
        source,
    };
    // Through a `Value`, whose maps are sorted: bollard's are `HashMap`s.
    let value = serde_json::to_value(&config).map_err(encode)?;
    serde_json::to_vec(&value).map_err(encode)
}

/// The history of an image config, oldest first, from `image_history`'s answer (newest
/// first): or `None` when it cannot be told which entries made the `layers` layers.
///
/// `image_history` gives no `empty_layer`, only each entry's size: an entry of size 0 is
/// taken as empty. That is right when the entries of size > 0 are exactly as many as the
/// layers; a layer of size 0 (`RUN mkdir`, a COPY that changed nothing) makes them
/// fewer, and then the history is left out — it is optional in an image config, and
/// the daemon refuses one that names more non-empty layers than the rootfs has.
pub(crate) fn history_of(
    entries: &[ImageHistoryResponseItem],
    layers: usize,
) -> Option<Vec<History>> {
    let sized = entries.iter().filter(|e| e.size > 0).count();
    if sized != layers {
        return None;
    }
    Some(
        entries
            .iter()
            .rev()
            .map(|entry| History {
                created: timestamp(entry.created),
                created_by: entry.created_by.clone(),
                comment: Some(entry.comment.clone()).filter(|c| !c.is_empty()),
                empty_layer: entry.size == 0,
            })
            .collect(),
    )
}

/// Unix seconds as RFC 3339; none for a time before 1970 (Go's zero time, an entry
/// without a date).
fn timestamp(seconds: i64) -> Option<String> {
    let seconds = u64::try_from(seconds).ok()?;
    let time = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(seconds))?;
    Some(humantime::format_rfc3339_seconds(time).to_string())
}

/// A field of `inspect_image` that says something: set and not empty.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// The rootfs layers (diff ids) of the image `built`.
fn layers_of(built: &str, inspected: &ImageInspect) -> Result<Vec<String>, RelabelError> {
    inspected
        .root_fs
        .as_ref()
        .and_then(|r| r.layers.clone())
        .ok_or_else(|| RelabelError::Incomplete {
            image: built.to_owned(),
            field: "RootFS.Layers",
        })
}

/// A `docker save` tarball of one untagged image without its layers: `manifest.json`
/// (which still names a file for each layer, as load wants) and the config.
fn config_archive(config: &[u8], id: &str, layers: &[String]) -> std::io::Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Item<'a> {
        #[serde(rename = "Config")]
        config: &'a str,
        #[serde(rename = "RepoTags")]
        repo_tags: [&'a str; 0],
        #[serde(rename = "Layers")]
        layers: Vec<String>,
    }
    let name = format!("{}.json", id.trim_start_matches("sha256:"));
    let manifest = serde_json::to_vec(&[Item {
        config: &name,
        repo_tags: [],
        layers: layers
            .iter()
            .map(|l| format!("{}/layer.tar", l.trim_start_matches("sha256:")))
            .collect(),
    }])?;
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in [(name.as_str(), config), ("manifest.json", &manifest)] {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, path, data)?;
    }
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(created_by: &str, size: i64) -> ImageHistoryResponseItem {
        ImageHistoryResponseItem {
            id: "<missing>".to_owned(),
            created: 1_700_000_000,
            created_by: created_by.to_owned(),
            tags: Vec::new(),
            size,
            comment: String::new(),
        }
    }

    #[test]
    fn history_marks_entries_of_size_zero_empty_when_the_layers_add_up() {
        // Newest first, as image_history answers.
        let entries = [
            entry("CMD [\"sh\"]", 0),
            entry("COPY b /b", 20),
            entry("ENV A=1", 0),
            entry("COPY a /a", 10),
        ];
        let history = history_of(&entries, 2).unwrap();
        let got: Vec<(&str, bool)> = history
            .iter()
            .map(|h| (h.created_by.as_str(), h.empty_layer))
            .collect();
        assert_eq!(
            got,
            [
                ("COPY a /a", false),
                ("ENV A=1", true),
                ("COPY b /b", false),
                ("CMD [\"sh\"]", true)
            ]
        );
        assert_eq!(history[0].created.as_deref(), Some("2023-11-14T22:13:20Z"));
    }

    #[test]
    fn history_is_left_out_when_a_layer_has_size_zero() {
        // `RUN mkdir /x` made a layer the history shows with size 0: three layers, two
        // entries of size > 0 — which entry made which layer cannot be told.
        let entries = [
            entry("RUN mkdir /x", 0),
            entry("COPY b /b", 20),
            entry("COPY a /a", 10),
        ];
        assert_eq!(history_of(&entries, 3), None);
        // More sized entries than layers: inconsistent too.
        assert_eq!(history_of(&entries, 1), None);
        // No history at all for an image with layers.
        assert_eq!(history_of(&[], 1), None);
        assert_eq!(history_of(&[], 0), Some(Vec::new()));
    }

    #[test]
    fn an_entry_without_a_date_has_no_created() {
        let mut undated = entry("COPY a /a", 10);
        undated.created = -62_135_596_800;
        let history = history_of(&[undated], 1).unwrap();
        assert_eq!(history[0].created, None);
    }

    fn inspected() -> ImageInspect {
        ImageInspect {
            id: Some("sha256:built".to_owned()),
            created: Some("2026-12-07T10:00:00.123456789Z".to_owned()),
            architecture: Some("amd64".to_owned()),
            os: Some("linux".to_owned()),
            author: Some(String::new()),
            config: Some(ImageConfig {
                env: Some(vec!["PATH=/bin".to_owned()]),
                labels: Some(HashMap::from([
                    ("from.dockerfile".to_owned(), "yes".to_owned()),
                    (labels::STEP.to_owned(), "parent".to_owned()),
                ])),
                exposed_ports: Some(vec!["80/tcp".to_owned(), "22/tcp".to_owned()]),
                volumes: Some(Vec::new()),
                ..Default::default()
            }),
            root_fs: Some(bollard::models::ImageInspectRootFs {
                typ: "layers".to_owned(),
                layers: Some(vec!["sha256:aa".to_owned(), "sha256:bb".to_owned()]),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_config_merges_the_labels_and_adds_a_label_entry() {
        let entries = [
            entry("COPY b /b", 20),
            entry("ENV PATH=/bin", 0),
            entry("COPY a /a", 10),
        ];
        let labels = HashMap::from([
            (labels::STEP.to_owned(), "release".to_owned()),
            (labels::HASH.to_owned(), "abc".to_owned()),
        ]);
        let bytes = image_config("sha256:built", &inspected(), &entries, &labels).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["created"], "2026-12-07T10:00:00.123456789Z");
        assert_eq!(value["architecture"], "amd64");
        assert!(value.get("author").is_none(), "an empty author is left out");
        assert_eq!(
            value["config"]["Labels"],
            serde_json::json!({"from.dockerfile": "yes", "io.kiln.step": "release", "io.kiln.hash": "abc"})
        );
        assert_eq!(value["config"]["Env"], serde_json::json!(["PATH=/bin"]));
        assert_eq!(
            value["config"]["ExposedPorts"],
            serde_json::json!({"22/tcp": {}, "80/tcp": {}})
        );
        assert!(value["config"].get("Volumes").is_none(), "{value}");
        assert_eq!(
            value["rootfs"],
            serde_json::json!({"type": "layers", "diff_ids": ["sha256:aa", "sha256:bb"]})
        );
        let history = value["history"].as_array().unwrap();
        assert_eq!(history.len(), 4);
        assert_eq!(history[1]["empty_layer"], true);
        assert!(history[0].get("empty_layer").is_none());
        assert_eq!(
            history[3],
            serde_json::json!({
                "created": "2026-12-07T10:00:00.123456789Z",
                "created_by": "LABEL \"io.kiln.hash\"=\"abc\" \"io.kiln.step\"=\"release\"",
                "empty_layer": true,
            })
        );
        // The same image and labels give the same bytes, whatever order the maps hold.
        for _ in 0..5 {
            assert_eq!(
                image_config("sha256:built", &inspected(), &entries, &labels).unwrap(),
                bytes
            );
        }
        // Without a consistent history, none is written.
        let bytes = image_config("sha256:built", &inspected(), &entries[..1], &labels).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(value.get("history").is_none(), "{value}");
    }

    #[test]
    fn an_image_the_daemon_describes_without_layers_is_incomplete() {
        let mut image = inspected();
        image.root_fs = None;
        assert!(matches!(
            image_config("sha256:built", &image, &[], &HashMap::new()),
            Err(RelabelError::Incomplete {
                field: "RootFS.Layers",
                ..
            })
        ));
    }

    #[test]
    fn the_archive_holds_the_manifest_and_the_config_only() {
        let archive = config_archive(b"{}", "sha256:cafe", &["sha256:aa".to_owned()]).unwrap();
        let mut tar = tar::Archive::new(archive.as_slice());
        let mut files = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            files.push((entry.path().unwrap().display().to_string(), text));
        }
        assert_eq!(
            files,
            [
                ("cafe.json".to_owned(), "{}".to_owned()),
                (
                    "manifest.json".to_owned(),
                    r#"[{"Config":"cafe.json","RepoTags":[],"Layers":["aa/layer.tar"]}]"#
                        .to_owned()
                ),
            ]
        );
    }
}
