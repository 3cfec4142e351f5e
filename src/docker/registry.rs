//! A registry: asking for an image without pulling it, pulling, pushing. Credentials come
//! from `credentials.rs` and are never printed; a registry that refuses them (or wants
//! some) is `DockerError::Unauthorized`, with a help line on how to log in.

use bollard::query_parameters::{CreateImageOptionsBuilder, PushImageOptionsBuilder};
use futures_util::StreamExt;

use super::client::Daemon;
use super::credentials::{credentials, registry_host};
use super::error::{DockerError, RequestFailure, is_not_found, is_transport};
use super::image::split_reference;

impl Daemon {
    /// Whether the registry holds `reference`, asked through the daemon's distribution
    /// endpoint: nothing is pulled. An unreachable registry is an error, not "absent".
    pub async fn registry_has(&self, reference: &str) -> Result<bool, DockerError> {
        // The daemon asks the registry: as long as that takes, while the daemon answers.
        let asked = self.watch(
            || format!("asking the registry for `{reference}`"),
            self.docker
                .inspect_registry_image(reference, credentials(reference)?),
        );
        match asked.await? {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) if e.to_string().contains("manifest unknown") => Ok(false),
            Err(e) => Err(self.registry_failed("asking the registry for", reference, e)),
        }
    }

    pub async fn pull(&self, reference: &str) -> Result<(), DockerError> {
        let (repo, tag) = split_reference(reference);
        let options = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag)
            .build();
        let mut stream = self
            .docker
            .create_image(Some(options), None, credentials(reference)?);
        let pulling = || format!("pulling `{reference}`");
        while let Some(item) = self.watch(pulling, stream.next()).await? {
            let info = item.map_err(|e| self.registry_failed("pulling", reference, e))?;
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(registry_error("pulling", reference, message));
            }
        }
        Ok(())
    }

    pub async fn push(&self, reference: &str) -> Result<(), DockerError> {
        let (repo, tag) = split_reference(reference);
        let options = PushImageOptionsBuilder::default().tag(tag).build();
        let mut stream = self
            .docker
            .push_image(repo, Some(options), credentials(reference)?);
        let pushing = || format!("pushing `{reference}`");
        while let Some(item) = self.watch(pushing, stream.next()).await? {
            let info = item.map_err(|e| self.registry_failed("pushing", reference, e))?;
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(registry_error("pushing", reference, message));
            }
        }
        Ok(())
    }

    /// A registry request through the daemon that failed with `error`: the connection
    /// to the daemon failing is [`DockerError::Unreachable`] (see [`Daemon::failed`]),
    /// anything answered goes to [`registry_error`].
    fn registry_failed(
        &self,
        action: &'static str,
        reference: &str,
        error: bollard::errors::Error,
    ) -> DockerError {
        if is_transport(&error) {
            return self.unreachable(format!("{action} `{reference}`"), error);
        }
        registry_error(action, reference, error)
    }
}

/// A failed registry request: `Unauthorized` when the registry wants a login or refused
/// the one given, else `Request`.
fn registry_error(
    action: &'static str,
    reference: &str,
    failure: impl Into<RequestFailure>,
) -> DockerError {
    let failure = failure.into();
    let lower = failure.to_string().to_lowercase();
    let refused = [
        "no basic auth credentials",
        "unauthorized",
        "authentication required",
        "status code 401",
        "denied",
    ]
    .iter()
    .any(|marker| lower.contains(marker));
    if refused {
        DockerError::Unauthorized {
            action,
            image: reference.to_owned(),
            host: registry_host(reference).unwrap_or("docker.io").to_owned(),
            source: failure,
        }
    } else {
        DockerError::request(action, reference, failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_login_is_unauthorized_and_names_the_host() {
        let error = registry_error(
            "pushing",
            "127.0.0.1:5000/kiln:x",
            "Head \"http://127.0.0.1:5000/v2/kiln/manifests/x\": no basic auth credentials",
        );
        assert!(
            matches!(&error, DockerError::Unauthorized { host, .. } if host == "127.0.0.1:5000"),
            "{error:?}"
        );
        let other = registry_error("pushing", "127.0.0.1:5000/kiln:x", "connection refused");
        assert!(matches!(other, DockerError::Request { .. }), "{other:?}");
    }
}
