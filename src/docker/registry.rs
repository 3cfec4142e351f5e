//! A registry: asking for an image without pulling it, pulling, pushing. Credentials come
//! from the environment (KILN_REGISTRY_USER, KILN_REGISTRY_PASSWORD) or
//! ~/.docker/config.json (`auths`), and are never printed.

use base64::Engine;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{CreateImageOptionsBuilder, PushImageOptionsBuilder};
use futures_util::StreamExt;

use super::client::Daemon;
use super::error::{DockerError, is_not_found};
use super::image::split_reference;

impl Daemon {
    /// Whether the registry holds `reference`, asked through the daemon's distribution
    /// endpoint: nothing is pulled. An unreachable registry is an error, not "absent".
    pub async fn registry_has(&self, reference: &str) -> Result<bool, DockerError> {
        match self
            .docker
            .inspect_registry_image(reference, credentials(reference))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) if e.to_string().contains("manifest unknown") => Ok(false),
            Err(e) => Err(DockerError::request(
                "asking the registry for",
                reference,
                e,
            )),
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
            .create_image(Some(options), None, credentials(reference));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| DockerError::request("pulling", reference, e))?;
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::request("pulling", reference, message));
            }
        }
        Ok(())
    }

    pub async fn push(&self, reference: &str) -> Result<(), DockerError> {
        let (repo, tag) = split_reference(reference);
        let options = PushImageOptionsBuilder::default().tag(tag).build();
        let mut stream = self
            .docker
            .push_image(repo, Some(options), credentials(reference));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| DockerError::request("pushing", reference, e))?;
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::request("pushing", reference, message));
            }
        }
        Ok(())
    }
}

/// The registry host of a reference: the part before the first `/`, when it looks like
/// a host.
fn registry_host(reference: &str) -> Option<&str> {
    let (host, _) = reference.split_once('/')?;
    (host.contains(['.', ':']) || host == "localhost").then_some(host)
}

/// Credentials for the registry of `reference`, if any are configured.
fn credentials(reference: &str) -> Option<DockerCredentials> {
    let host = registry_host(reference)?;
    if let (Ok(username), Ok(password)) = (
        std::env::var("KILN_REGISTRY_USER"),
        std::env::var("KILN_REGISTRY_PASSWORD"),
    ) {
        return Some(DockerCredentials {
            username: Some(username),
            password: Some(password),
            serveraddress: Some(host.to_owned()),
            ..Default::default()
        });
    }
    let home = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))?;
    let text = std::fs::read_to_string(home.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let auth = config["auths"][host]["auth"].as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some(DockerCredentials {
        username: Some(username.to_owned()),
        password: Some(password.to_owned()),
        serveraddress: Some(host.to_owned()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::registry_host;

    #[test]
    fn finds_the_registry_host() {
        assert_eq!(
            registry_host("127.0.0.1:5000/kiln:x"),
            Some("127.0.0.1:5000")
        );
        assert_eq!(registry_host("localhost/kiln:x"), Some("localhost"));
        assert_eq!(registry_host("kiln:x"), None);
        assert_eq!(registry_host("team/kiln:x"), None);
    }
}
