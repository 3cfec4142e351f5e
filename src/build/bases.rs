//! External base images: a `FROM` (or `COPY --from`) naming an image kiln does not build
//! — ACKREP's environments start from images made elsewhere. Its identity is an input
//! of the step's hash, so a base rebuilt or re-pulled under the same name rebuilds what
//! stands on it (and reruns the checks that run in it) instead of leaving everything
//! "cached" on the old one.
//!
//! Which references are external is read from the Dockerfile rendered with stand-in
//! names for the steps it needs (so no hash is needed yet): not `scratch`, not a stage
//! of the same Dockerfile, not a needed step, and not one made of build args (`FROM
//! $BASE`: left to the builder, and said in the docs). A reference's identity is its
//! repo digest where the daemon has one (the registry's, the same on every machine),
//! else its image id; one the daemon lacks is pulled first when the run may build, and
//! is otherwise "not in the daemon" (a hash no image has: the step would be built).

use std::collections::{BTreeMap, BTreeSet};

use crate::docker::Daemon;
use crate::model::Step;

use super::dockerfile;
use super::error::BuildError;

/// The identity of an external base the daemon does not have (and was not pulled).
pub const NOT_IN_DAEMON: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Identities of external base images, by reference as written.
#[derive(Debug, Clone, Default)]
pub struct Bases {
    identities: BTreeMap<String, String>,
}

impl Bases {
    /// The `(reference, identity)` of each external base of `step` (whose Dockerfile
    /// is `template`), for its hash; a reference not resolved here hashes as
    /// [`NOT_IN_DAEMON`].
    pub fn of(&self, step: &Step, template: &str) -> Vec<(String, String)> {
        let needs: Vec<&str> = step.needs.iter().map(|n| n.value.as_str()).collect();
        self.of_named(&step.name.value, &needs, template)
    }

    fn of_named(&self, name: &str, needs: &[&str], template: &str) -> Vec<(String, String)> {
        external(name, needs, template)
            .into_iter()
            .map(|reference| {
                let identity = self
                    .identities
                    .get(&reference)
                    .cloned()
                    .unwrap_or_else(|| NOT_IN_DAEMON.to_owned());
                (reference, identity)
            })
            .collect()
    }

    /// The identities the daemon has of every external base of every step of
    /// `workspace` (nothing pulled): what `kiln explain` and `kiln gc` hash with.
    pub async fn of_workspace(
        workspace: &crate::model::Workspace,
        daemon: &Daemon,
    ) -> Result<Self, BuildError> {
        let references: BTreeSet<String> = workspace
            .flavors
            .iter()
            .flat_map(|f| &f.steps)
            .filter_map(|step| {
                let template = std::fs::read_to_string(&step.dockerfile.value).ok()?;
                Some(of_step(step, &template))
            })
            .flatten()
            .collect();
        let mut bases = Self::default();
        bases.resolve(daemon, references, false).await?;
        Ok(bases)
    }

    /// Asks `daemon` for each reference (pulling those it lacks when `pull`), adding
    /// their identities.
    pub async fn resolve(
        &mut self,
        daemon: &Daemon,
        references: impl IntoIterator<Item = String>,
        pull: bool,
    ) -> Result<(), BuildError> {
        for reference in references {
            if self.identities.contains_key(&reference) {
                continue;
            }
            let mut info = daemon.inspect(&reference).await?;
            if info.is_none() && pull {
                daemon
                    .pull(&reference)
                    .await
                    .map_err(|source| BuildError::BaseUnavailable {
                        reference: reference.clone(),
                        source: Box::new(source),
                    })?;
                info = daemon.inspect(&reference).await?;
            }
            if let Some(info) = info {
                self.identities.insert(reference, identity(&info));
            }
        }
        Ok(())
    }
}

/// The digest that identifies an image: of its first repo digest, else its id.
fn identity(info: &crate::docker::ImageInfo) -> String {
    let digest = info.repo_digests.first().map_or(info.id.as_str(), |d| {
        d.rsplit_once('@').map_or(d.as_str(), |(_, digest)| digest)
    });
    digest.trim_start_matches("sha256:").to_owned()
}

/// The external references of `step`'s Dockerfile `template`, sorted.
pub fn of_step(step: &Step, template: &str) -> Vec<String> {
    let needs: Vec<&str> = step.needs.iter().map(|n| n.value.as_str()).collect();
    external(&step.name.value, &needs, template)
}

/// The external references of the Dockerfile `template` of step `name`, which needs
/// `needs`, sorted; none when it does not render or parse (the build reports that).
fn external(name: &str, needs: &[&str], template: &str) -> Vec<String> {
    let stand_ins: Vec<(String, String)> = needs
        .iter()
        .map(|need| ((*need).to_owned(), stand_in(need)))
        .collect();
    let Ok(rendered) = dockerfile::render(name, "Dockerfile", template, &stand_ins) else {
        return Vec::new();
    };
    let Ok(parsed) = parse_dockerfile::parse(&rendered) else {
        return Vec::new();
    };
    let mut stages = BTreeSet::new();
    let mut found = BTreeSet::new();
    let mut consider = |reference: &str, stages: &BTreeSet<String>| {
        let lower = reference.to_ascii_lowercase();
        if reference.is_empty()
            || lower == "scratch"
            || reference.contains('$')
            || stages.contains(&lower)
            || reference.starts_with(STAND_IN)
            || reference.chars().all(|c| c.is_ascii_digit())
        {
            return;
        }
        found.insert(reference.to_owned());
    };
    for instruction in &parsed.instructions {
        match instruction {
            parse_dockerfile::Instruction::From(from) => {
                consider(&from.image.value, &stages);
                if let Some((_, name)) = &from.as_ {
                    stages.insert(name.value.to_ascii_lowercase());
                }
            }
            parse_dockerfile::Instruction::Copy(copy) => {
                for flag in copy.options.iter().filter(|f| f.name.value == "from") {
                    if let Some(value) = &flag.value {
                        consider(&value.value, &stages);
                    }
                }
            }
            _ => {}
        }
    }
    found.into_iter().collect()
}

const STAND_IN: &str = "kiln-needed-step-";

fn stand_in(need: &str) -> String {
    format!("{STAND_IN}{need}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_images_kiln_does_not_build_are_external() {
        let template = "FROM {{ base }} AS one\nFROM scratch\nFROM debian:12 AS two\n\
                        COPY --from=one /a /a\nCOPY --from=registry.local/tools:1 /t /t\n\
                        COPY --from=0 /b /b\nARG IMAGE=x\nFROM $IMAGE\nFROM two\n";
        assert_eq!(
            external("app", &["base"], template),
            ["debian:12", "registry.local/tools:1"]
        );
        assert!(external("app", &["base"], "FROM {{ base }}\nRUN true\n").is_empty());
    }

    #[test]
    fn an_unresolved_base_hashes_as_not_in_the_daemon() {
        let bases = Bases::default();
        assert_eq!(
            bases.of_named("app", &[], "FROM ackrep/env:latest\n"),
            [("ackrep/env:latest".to_owned(), NOT_IN_DAEMON.to_owned())]
        );
    }

    #[test]
    fn identity_is_the_repo_digest_else_the_id() {
        let mut info = crate::docker::ImageInfo {
            id: "sha256:aaa".to_owned(),
            labels: Default::default(),
            tags: vec![],
            repo_digests: vec![],
        };
        assert_eq!(identity(&info), "aaa");
        info.repo_digests = vec!["localhost:5000/x@sha256:bbb".to_owned()];
        assert_eq!(identity(&info), "bbb");
    }
}
