//! Which of the daemon's two builders builds: the `builder` setting (`auto`,
//! `buildkit`, `classic`) resolved against the daemon at hand.

use super::buildkit::Endpoint;
use super::client::Daemon;
use super::error::DockerError;
use crate::model::BuilderChoice;

/// The daemon's two builders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Backend {
    /// The legacy builder: a container committed per instruction.
    #[serde(rename = "classic")]
    Classic,
    /// BuildKit, built into the daemon: `/build?version=2`, with a session.
    #[serde(rename = "buildkit")]
    BuildKit,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Classic => "classic",
            Backend::BuildKit => "buildkit",
        }
    }
}

/// The builder a run uses, and why, for the run to say.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub backend: Backend,
    /// `builder auto: the daemon offers BuildKit`, `builder classic`, …
    pub why: String,
}

/// The oldest API with BuildKit builds (`/build?version=2`, `/session`): Docker 18.09.
const BUILDKIT_API: (usize, usize) = (1, 39);

impl Daemon {
    /// Resolves `choice` against this daemon. `buildkit` where kiln cannot reach
    /// BuildKit is an error; `auto` then falls back to classic and says why.
    pub async fn resolve_builder(&self, choice: BuilderChoice) -> Result<Resolved, DockerError> {
        let classic = |why: String| Resolved {
            backend: Backend::Classic,
            why,
        };
        match choice {
            BuilderChoice::Classic => return Ok(classic("builder classic".to_owned())),
            BuilderChoice::BuildKit => {
                if Endpoint::parse(self.address()).is_none() {
                    return Err(DockerError::BuildKitUnavailable {
                        address: self.address().to_owned(),
                    });
                }
                return Ok(Resolved {
                    backend: Backend::BuildKit,
                    why: "builder buildkit".to_owned(),
                });
            }
            BuilderChoice::Auto => {}
        }
        if Endpoint::parse(self.address()).is_none() {
            return Ok(classic(format!(
                "builder auto: kiln reaches BuildKit over a unix socket or tcp:// only, not {}",
                self.address()
            )));
        }
        let version = self.docker.client_version();
        if (version.major_version, version.minor_version) < BUILDKIT_API {
            return Ok(classic(format!(
                "builder auto: the daemon's API {}.{} predates BuildKit",
                version.major_version, version.minor_version
            )));
        }
        let os = self
            .answer(
                || "asking the daemon's version".to_owned(),
                self.docker.version(),
            )
            .await?
            .map_err(|source| self.unreachable("asking the daemon's version".to_owned(), source))?
            .os
            .unwrap_or_default();
        if !os.eq_ignore_ascii_case("linux") {
            return Ok(classic(format!(
                "builder auto: BuildKit builds no {os} images"
            )));
        }
        Ok(Resolved {
            backend: Backend::BuildKit,
            why: "builder auto: the daemon offers BuildKit".to_owned(),
        })
    }
}
