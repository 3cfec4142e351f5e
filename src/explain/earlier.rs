//! Earlier inputs of a step: the manifests the job records kept (every run that hashed
//! the step wrote one) and those on the step's images in the daemon (the
//! `io.kiln.manifest` label, which travels with the image to other machines).

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::docker::{Daemon, labels};
use crate::hash::Manifest;

/// Where an earlier manifest was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Origin {
    /// A job record (its folder name: when and by which command).
    JobRecord { job: String },
    /// The label of an image in the daemon.
    Image { image: String },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::JobRecord { job } => write!(f, "job record {job}"),
            Origin::Image { image } => write!(f, "the labels of {image}"),
        }
    }
}

/// An earlier manifest of a step.
#[derive(Debug, Clone)]
pub struct Earlier {
    pub manifest: Manifest,
    pub origin: Origin,
}

/// Every earlier manifest known, by step (`flavor-step` stem), newest job record first,
/// then the images'.
#[derive(Debug, Default)]
pub struct History {
    by_stem: HashMap<String, Vec<Earlier>>,
}

impl History {
    /// Reads the manifests of the job records in `job_dir` and, when a daemon is
    /// given, those on the workspace's images (`repository`).
    pub async fn read(
        job_dir: &Path,
        daemon: Option<&Daemon>,
        repository: &str,
    ) -> Result<Self, crate::docker::DockerError> {
        let mut history = History::default();
        let mut jobs: Vec<_> = std::fs::read_dir(job_dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        // Folder names start with their UTC time: newest first.
        jobs.sort();
        jobs.reverse();
        for job in jobs {
            let Ok(manifests) = std::fs::read_dir(job.join("manifests")) else {
                continue;
            };
            let name = job
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            for file in manifests.flatten() {
                let path = file.path();
                let Some(stem) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".json"))
                else {
                    continue;
                };
                let Some(manifest) = std::fs::read(&path)
                    .ok()
                    .and_then(|text| serde_json::from_slice::<Manifest>(&text).ok())
                    .filter(Manifest::verify)
                else {
                    continue;
                };
                history.push(
                    stem,
                    Earlier {
                        manifest,
                        origin: Origin::JobRecord { job: name.clone() },
                    },
                );
            }
        }
        if let Some(daemon) = daemon {
            let prefix = format!("{repository}:");
            for image in daemon.images_with_label(labels::MANIFEST, "").await? {
                let (Some(flavor), Some(step), Some(label)) = (
                    image.labels.get(labels::FLAVOR),
                    image.labels.get(labels::STEP),
                    image.labels.get(labels::MANIFEST),
                ) else {
                    continue;
                };
                let Some(tag) = image.tags.iter().find(|t| t.starts_with(&prefix)) else {
                    continue;
                };
                let Some(manifest) = labels::manifest_of(label) else {
                    continue;
                };
                history.push(
                    &format!("{flavor}-{step}"),
                    Earlier {
                        manifest,
                        origin: Origin::Image { image: tag.clone() },
                    },
                );
            }
        }
        Ok(history)
    }

    fn push(&mut self, stem: &str, earlier: Earlier) {
        let known = self.by_stem.entry(stem.to_owned()).or_default();
        if !known
            .iter()
            .any(|k| k.manifest.hash == earlier.manifest.hash)
        {
            known.push(earlier);
        }
    }

    /// What to compare the step's inputs `now` with: the newest manifest a job record
    /// kept with another hash; without one, of the images' manifests the one with the
    /// fewest differences.
    pub fn before(&self, stem: &str, now: &Manifest) -> Option<&Earlier> {
        let known = self.by_stem.get(stem)?;
        let others = known.iter().filter(|k| k.manifest.hash != now.hash);
        let recorded = others
            .clone()
            .find(|k| matches!(k.origin, Origin::JobRecord { .. }));
        recorded.or_else(|| others.min_by_key(|k| crate::hash::diff(&k.manifest, now).len()))
    }

    /// The manifest of the step whose hash is `hash`, if one is known.
    pub fn with_hash(&self, stem: &str, hash: &str) -> Option<&Earlier> {
        self.by_stem
            .get(stem)?
            .iter()
            .find(|k| k.manifest.hash == hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{Context, StepInputs, step_hash};

    fn manifest(dockerfile: &str) -> Manifest {
        step_hash(&StepInputs {
            bases: Vec::new(),
            dockerfile: dockerfile.as_bytes(),
            args: vec![("A".to_owned(), "1".to_owned())],
            dependencies: Vec::new(),
            context: &Context::default(),
        })
    }

    fn image(name: &str) -> Origin {
        Origin::Image {
            image: name.to_owned(),
        }
    }

    #[test]
    fn the_newest_job_record_is_compared_with_else_the_closest_image() {
        let now = manifest("FROM scratch\n");
        let mut history = History::default();
        let mut far = manifest("FROM other\n");
        far.entries
            .retain(|e| e.kind != crate::hash::EntryKind::Arg);
        far.hash = Manifest::compute_hash(&far.entries);
        history.push(
            "f-s",
            Earlier {
                manifest: far.clone(),
                origin: image("far"),
            },
        );
        history.push(
            "f-s",
            Earlier {
                manifest: manifest("FROM near\n"),
                origin: image("near"),
            },
        );
        history.push(
            "f-s",
            Earlier {
                manifest: now.clone(),
                origin: image("same"),
            },
        );
        // Only images: the closest other one (one change, against two).
        assert_eq!(history.before("f-s", &now).unwrap().origin, image("near"));
        // A job record's manifest wins over images.
        let job = Origin::JobRecord {
            job: "20261206T000000Z-build".to_owned(),
        };
        history.push(
            "f-s",
            Earlier {
                manifest: manifest("FROM job\n"),
                origin: job.clone(),
            },
        );
        assert_eq!(history.before("f-s", &now).unwrap().origin, job);
        assert_eq!(
            history.with_hash("f-s", &far.hash).unwrap().origin,
            image("far")
        );
        assert!(history.before("f-other", &now).is_none());
    }
}
