//! Images as tarballs: `docker save` and `docker load` through the API, and what a
//! tarball would give the daemon — its tags and its images' labels — read without
//! loading it.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use bollard::query_parameters::ImportImageOptionsBuilder;
use futures_util::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio_util::io::ReaderStream;

use super::client::Daemon;
use super::error::DockerError;

impl Daemon {
    /// Streams the image `reference` as a `docker save` tarball into `out`, however long
    /// that takes while the daemon answers (see [`Daemon::watch`]).
    pub async fn export(
        &self,
        reference: &str,
        out: &mut (dyn Write + Send),
    ) -> Result<u64, DockerError> {
        let mut stream = self.docker.export_image(reference);
        let mut written = 0u64;
        let saving = || format!("saving `{reference}`");
        while let Some(chunk) = self.watch(saving, stream.next()).await? {
            let chunk = chunk.map_err(|e| self.failed("saving", reference, e))?;
            out.write_all(&chunk).map_err(|source| DockerError::Io {
                path: reference.to_owned(),
                source,
            })?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    /// Loads a `docker save` tarball from `path` into the daemon; the tags the daemon
    /// says it applied (`Loaded image: …`), for the caller to hold against the ones it
    /// expected.
    pub async fn import(&self, path: &Path) -> Result<Vec<String>, DockerError> {
        let shown = path.display().to_string();
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|source| DockerError::Io {
                path: shown.clone(),
                source,
            })?;
        let options = ImportImageOptionsBuilder::default().quiet(true).build();
        let mut stream = self.docker.import_image_stream(
            options,
            ReaderStream::with_capacity(file, 1 << 20),
            None,
        );
        let mut tags = Vec::new();
        while let Some(item) = self
            .watch(|| format!("loading `{shown}`"), stream.next())
            .await?
        {
            let info = item.map_err(|e| self.loading("loading", &shown, e))?;
            if let Some(tag) = info
                .stream
                .as_deref()
                .and_then(|s| s.trim().strip_prefix("Loaded image: "))
            {
                tags.push(tag.to_owned());
            }
        }
        Ok(tags)
    }
}

/// What loading a `docker save` tarball would give the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveContents {
    /// Every tag loading it would apply, in docker's short form (see
    /// [`short_reference`]): the `RepoTags` of manifest.json, the legacy `repositories`
    /// file, and the image names of index.json (a daemon with the containerd image store
    /// reads those).
    pub tags: BTreeSet<String>,
    /// The labels of each image manifest.json lists, in its order.
    pub images: Vec<HashMap<String, String>>,
    /// The id each of those images gets when loaded (`sha256:` and the digest of its
    /// config), in the same order.
    pub ids: Vec<String>,
}

/// The most a metadata file of a tarball (manifest, image config) may take: they are a
/// few kilobytes; a bigger one is not read into memory.
const METADATA_LIMIT: u64 = 16 << 20;

/// Reads the tags and image labels of the `docker save` tarball at `path`, without
/// loading it. Blocking: walks every tar header (skipping the layers by seeking).
pub fn read_archive(path: &Path) -> Result<ArchiveContents, DockerError> {
    let unreadable = |source| DockerError::ArchiveRead {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(unreadable)?;
    const MANIFEST: &str = "manifest.json";
    const REPOSITORIES: &str = "repositories";
    const INDEX: &str = "index.json";
    let mut found = members(&file, |name| {
        [MANIFEST, REPOSITORIES, INDEX].contains(&name)
    })
    .map_err(unreadable)?;
    let manifest = found
        .remove(MANIFEST)
        .ok_or_else(|| DockerError::ArchiveIncomplete {
            path: path.to_owned(),
            missing: MANIFEST.to_owned(),
        })?;
    let items: Vec<ManifestItem> = decode(path, MANIFEST, &manifest)?;
    let mut tags: BTreeSet<String> = items
        .iter()
        .flat_map(|item| item.repo_tags.iter().flatten())
        .map(|tag| short_reference(tag))
        .collect();
    if let Some(data) = found.get(REPOSITORIES) {
        let repositories: HashMap<String, HashMap<String, String>> =
            decode(path, REPOSITORIES, data)?;
        for (repository, named) in repositories {
            tags.extend(
                named
                    .keys()
                    .map(|tag| short_reference(&format!("{repository}:{tag}"))),
            );
        }
    }
    if let Some(data) = found.get(INDEX) {
        let index: Index = decode(path, INDEX, data)?;
        tags.extend(
            index
                .manifests
                .iter()
                .filter_map(|m| m.annotations.get("io.containerd.image.name"))
                .map(|name| short_reference(name)),
        );
    }
    let configs: Vec<String> = items.iter().map(|i| member_name(&i.config)).collect();
    let blobs = members(&file, |name| configs.iter().any(|c| c == name)).map_err(unreadable)?;
    let mut images = Vec::new();
    let mut ids = Vec::new();
    for config in &configs {
        let data = blobs
            .get(config)
            .ok_or_else(|| DockerError::ArchiveIncomplete {
                path: path.to_owned(),
                missing: config.clone(),
            })?;
        let image: ImageConfig = decode(path, config, data)?;
        images.push(image.config.and_then(|c| c.labels).unwrap_or_default());
        ids.push(format!("sha256:{}", crate::hash::sha256_hex(data)));
    }
    Ok(ArchiveContents { tags, images, ids })
}

/// `docker.io/library/kiln:x` and `library/kiln:x` → `kiln:x`: the form `docker save`
/// writes and `docker images` shows. Other references are returned as they are.
pub fn short_reference(reference: &str) -> String {
    let rest = reference
        .strip_prefix("docker.io/")
        .or_else(|| reference.strip_prefix("index.docker.io/"))
        .unwrap_or(reference);
    match rest.strip_prefix("library/") {
        Some(name) if !name.contains('/') => name.to_owned(),
        _ => rest.to_owned(),
    }
}

#[derive(Deserialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<IndexManifest>,
}

#[derive(Deserialize)]
struct IndexManifest {
    #[serde(default)]
    annotations: HashMap<String, String>,
}

#[derive(Deserialize)]
struct ImageConfig {
    #[serde(default)]
    config: Option<ContainerConfig>,
}

#[derive(Deserialize)]
struct ContainerConfig {
    #[serde(rename = "Labels", default)]
    labels: Option<HashMap<String, String>>,
}

fn decode<T: DeserializeOwned>(path: &Path, file: &str, data: &[u8]) -> Result<T, DockerError> {
    serde_json::from_slice(data).map_err(|source| DockerError::ArchiveJson {
        path: path.to_owned(),
        file: file.to_owned(),
        source,
    })
}

/// Whether `name` (after [`member_name`]) is a clean relative path: no leading `/`, no
/// empty, `.` or `..` part.
fn canonical(name: &str) -> bool {
    let name = name.strip_suffix('/').unwrap_or(name);
    !name.is_empty()
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// A member's name as manifest.json writes it (`./x.json` → `x.json`).
fn member_name(name: &str) -> String {
    name.trim_start_matches("./").to_owned()
}

/// The content of the members of the tar at `path` that `wanted` picks. Every header is
/// read, so a tar that is not one fails here.
fn members(
    mut file: &File,
    wanted: impl Fn(&str) -> bool,
) -> std::io::Result<HashMap<String, Vec<u8>>> {
    use std::io::Seek;
    file.rewind()?;
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut found = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for entry in archive.entries_with_seek()? {
        let mut entry = entry?;
        let raw = entry.path()?.to_string_lossy().into_owned();
        let name = member_name(&raw);
        // Docker's untar cleans a name before it writes it (`/manifest.json`,
        // `x/../manifest.json` and `./manifest.json` are all its manifest, the last one
        // written winning): a name that is not already clean, or one twice, could make
        // the daemon read another manifest or config than this check.
        if !canonical(&name) || !seen.insert(name.clone()) {
            return Err(std::io::Error::other(format!(
                "the member name `{}` is not one `docker save` writes (not clean, or twice)",
                raw.escape_debug()
            )));
        }
        if !wanted(&name) {
            continue;
        }
        let size = entry.size();
        if size > METADATA_LIMIT {
            return Err(std::io::Error::other(format!(
                "`{name}` takes {size} bytes, more than any metadata file of `docker save`"
            )));
        }
        let mut data = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut data)?;
        found.insert(name, data);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_references_are_the_ones_docker_save_writes() {
        assert_eq!(short_reference("docker.io/library/kiln:x"), "kiln:x");
        assert_eq!(short_reference("library/kiln:x"), "kiln:x");
        assert_eq!(short_reference("docker.io/team/kiln:x"), "team/kiln:x");
        assert_eq!(
            short_reference("127.0.0.1:5000/library/kiln:x"),
            "127.0.0.1:5000/library/kiln:x"
        );
        assert_eq!(short_reference("kiln:x"), "kiln:x");
    }

    /// A tar of `files` (name, content).
    fn tar_file(dir: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, content.as_bytes())
                .unwrap();
        }
        let path = dir.join("image.tar");
        std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
        path
    }

    #[test]
    fn reads_every_tag_loading_would_apply_and_the_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = tar_file(
            dir.path(),
            &[
                ("abc/layer.tar", "layer"),
                (
                    "abc.json",
                    r#"{"config": {"Labels": {"io.kiln.hash": "h"}}}"#,
                ),
                (
                    "manifest.json",
                    r#"[{"Config": "abc.json", "RepoTags": ["kiln:a"], "Layers": ["abc/layer.tar"]}]"#,
                ),
                ("repositories", r#"{"kiln": {"b": "abc"}}"#),
                (
                    "index.json",
                    r#"{"manifests": [{"annotations": {"io.containerd.image.name": "docker.io/library/kiln:c"}}]}"#,
                ),
            ],
        );
        let contents = read_archive(&path).unwrap();
        assert_eq!(
            contents.tags.iter().map(String::as_str).collect::<Vec<_>>(),
            ["kiln:a", "kiln:b", "kiln:c"]
        );
        assert_eq!(
            contents.images,
            [HashMap::from([("io.kiln.hash".to_owned(), "h".to_owned())])]
        );
    }

    /// Docker's untar cleans a name before it writes it: a second manifest under an
    /// unclean name (`/manifest.json`, `x/../manifest.json`, `././manifest.json`) would
    /// be the one the daemon reads. Such a tar, and one with a name twice, is refused.
    #[test]
    fn unclean_or_doubled_member_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = r#"[{"Config": "c.json", "RepoTags": ["kiln:x"]}]"#;
        let config = r#"{"config": {"Labels": {}}}"#;
        for second in [
            "/manifest.json",
            "x/../manifest.json",
            "a//b",
            "manifest.json",
            "./c.json",
        ] {
            let mut builder = tar::Builder::new(Vec::new());
            for (name, content) in [
                ("manifest.json", manifest),
                ("c.json", config),
                (second, manifest),
            ] {
                let mut header = tar::Header::new_old();
                let field = &mut header.as_old_mut().name;
                field[..name.len()].copy_from_slice(name.as_bytes());
                header.set_size(content.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                builder.append(&header, content.as_bytes()).unwrap();
            }
            let path = dir.path().join("doubled.tar");
            std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
            match read_archive(&path) {
                Err(DockerError::ArchiveRead { source, .. }) => {
                    assert!(
                        source.to_string().contains("not one `docker save` writes"),
                        "{second}: {source}"
                    )
                }
                other => panic!("{second}: {other:?}"),
            }
        }
        let clean = tar_file(
            dir.path(),
            &[("manifest.json", manifest), ("c.json", config)],
        );
        assert_eq!(read_archive(&clean).unwrap().ids.len(), 1);
    }

    #[test]
    fn what_is_not_a_docker_save_tarball_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.tar");
        std::fs::write(&garbage, vec![0x5a; 4096]).unwrap();
        assert!(
            matches!(read_archive(&garbage), Err(DockerError::ArchiveRead { .. })),
            "{:?}",
            read_archive(&garbage)
        );
        let plain = tar_file(dir.path(), &[("hello.txt", "hello")]);
        assert!(matches!(
            read_archive(&plain),
            Err(DockerError::ArchiveIncomplete { missing, .. }) if missing == "manifest.json"
        ));
        let no_config = tar_file(
            dir.path(),
            &[(
                "manifest.json",
                r#"[{"Config": "gone.json", "RepoTags": []}]"#,
            )],
        );
        assert!(matches!(
            read_archive(&no_config),
            Err(DockerError::ArchiveIncomplete { missing, .. }) if missing == "gone.json"
        ));
        let bad_json = tar_file(dir.path(), &[("manifest.json", "{")]);
        assert!(matches!(
            read_archive(&bad_json),
            Err(DockerError::ArchiveJson { .. })
        ));
    }
}
