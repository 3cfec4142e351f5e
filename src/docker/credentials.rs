//! Registry credentials, looked up the way the docker CLI does, so a `docker login` works
//! for kiln too. In order: `KILN_REGISTRY_USER` + `KILN_REGISTRY_PASSWORD`; then
//! `config.json` in `$DOCKER_CONFIG` (default `~/.docker`): the registry's entry in
//! `credHelpers`, else `credsStore`, asked through `docker-credential-<name> get`; else
//! the registry's `auths` entry (`auth`, or `identitytoken`). Secrets are never put in
//! an error, a log or an event.
//!
//! Not the `docker_credential` crate (1.4.0; light and kept up, and it reads
//! `credHelpers`, `credsStore` and `auths`): it asks an `auths` entry before
//! `credsStore`, where the docker CLI asks the store, so a stale entry would win over
//! `docker login`'s; and its errors lose what kiln's name — a missing config.json and an
//! unreadable one are the same `ConfigReadError` (kiln: none, or an error naming the
//! file), malformed JSON has no position, a helper that cannot be started is
//! `HelperCommunicationError` without its name or the cause, and a helper's "credentials
//! not found" is a failure to pick out of its output. Wrapping it would keep most of
//! this file and change the order.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use bollard::auth::DockerCredentials;
use serde::Deserialize;

use super::error::DockerError;
use super::reference::ImageRef;

/// The registry host a reference names (`127.0.0.1:5000` of
/// `127.0.0.1:5000/kiln:x`); `None` for Docker Hub's implicit one, or what is no image
/// reference.
pub fn registry_host(reference: &str) -> Option<&str> {
    match ImageRef::parse(reference) {
        Some(parts) => parts.host,
        // What the grammar refuses (an upper-case path) still names its host, as the
        // daemon would read it: the first part, when it holds a `.` or `:` or is
        // `localhost`.
        None => reference
            .split_once('/')
            .map(|(first, _)| first)
            .filter(|first| first.contains(['.', ':']) || *first == "localhost"),
    }
}

/// Credentials for the registry of `reference`, if any are configured. A config file
/// kiln cannot read, or a credential helper that fails, is an error naming the file or
/// helper; "no credentials for this registry" is `None`.
pub fn credentials(reference: &str) -> Result<Option<DockerCredentials>, DockerError> {
    let Some(host) = registry_host(reference) else {
        return Ok(None);
    };
    if let (Ok(username), Ok(password)) = (
        std::env::var("KILN_REGISTRY_USER"),
        std::env::var("KILN_REGISTRY_PASSWORD"),
    ) {
        return Ok(Some(basic(host, username, password)));
    }
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(DockerError::CredentialsRead {
                host: host.to_owned(),
                path,
                source,
            });
        }
    };
    let config: DockerConfig =
        serde_json::from_str(&text).map_err(|source| DockerError::CredentialsJson {
            host: host.to_owned(),
            path: path.clone(),
            source,
        })?;
    if let Some(helper) = config
        .cred_helpers
        .get(host)
        .or(config.creds_store.as_ref())
    {
        return from_helper(helper, host);
    }
    match config.auths.get(host) {
        Some(entry) => from_auth_entry(entry, host, &path),
        None => Ok(None),
    }
}

/// Docker's client configuration, the parts kiln reads.
#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// What a credential helper answers to `get`.
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

fn config_path() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    Some(dir.join("config.json"))
}

fn basic(host: &str, username: String, password: String) -> DockerCredentials {
    DockerCredentials {
        username: Some(username),
        password: Some(password),
        serveraddress: Some(host.to_owned()),
        ..Default::default()
    }
}

fn from_auth_entry(
    entry: &AuthEntry,
    host: &str,
    path: &std::path::Path,
) -> Result<Option<DockerCredentials>, DockerError> {
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(DockerCredentials {
            identitytoken: Some(token.clone()),
            serveraddress: Some(host.to_owned()),
            ..Default::default()
        }));
    }
    let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let unreadable = || {
        credentials_error(
            host,
            format!(
                "the `auth` of `{host}` in {} is not base64 of `user:password`",
                path.display()
            ),
        )
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| unreadable())?;
    let decoded = String::from_utf8(decoded).map_err(|_| unreadable())?;
    let (username, password) = decoded.split_once(':').ok_or_else(unreadable)?;
    Ok(Some(basic(host, username.to_owned(), password.to_owned())))
}

/// Asks `docker-credential-<helper> get` for `host`. A helper that knows no
/// credentials for the host answers "credentials not found": that is `None`.
fn from_helper(helper: &str, host: &str) -> Result<Option<DockerCredentials>, DockerError> {
    let program = format!("docker-credential-{helper}");
    let failed = |message: String| credentials_error(host, format!("`{program} get`: {message}"));
    let helper_error = |source| DockerError::CredentialHelper {
        host: host.to_owned(),
        program: program.clone(),
        source,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(helper_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(host.as_bytes()).map_err(helper_error)?;
    }
    let output = child.wait_with_output().map_err(helper_error)?;
    if !output.status.success() {
        // Helpers print their error on stdout; it never holds the secret.
        let message = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let message = if message.is_empty() {
            String::from_utf8_lossy(&output.stderr).trim().to_owned()
        } else {
            message
        };
        if message.contains("credentials not found") {
            return Ok(None);
        }
        return Err(failed(format!("{} ({message})", output.status)));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|_| failed("its answer is not the JSON credential helpers print".to_owned()))?;
    // A helper stores an identity token under the user name `<token>`.
    if answer.username == "<token>" {
        return Ok(Some(DockerCredentials {
            identitytoken: Some(answer.secret),
            serveraddress: Some(host.to_owned()),
            ..Default::default()
        }));
    }
    Ok(Some(basic(host, answer.username, answer.secret)))
}

fn credentials_error(host: &str, message: String) -> DockerError {
    DockerError::Credentials {
        host: host.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_registry_host() {
        assert_eq!(
            registry_host("127.0.0.1:5000/kiln:x"),
            Some("127.0.0.1:5000")
        );
        assert_eq!(registry_host("localhost/kiln:x"), Some("localhost"));
        assert_eq!(registry_host("kiln:x"), None);
        assert_eq!(registry_host("team/kiln:x"), None);
        let digest = format!("sha256:{}", "0f".repeat(32));
        assert_eq!(
            registry_host(&format!("localhost:5000/a/b:tag@{digest}")),
            Some("localhost:5000")
        );
        assert_eq!(registry_host(&format!("repo@{digest}")), None);
    }

    #[test]
    fn reads_auths_entries_and_never_shows_the_secret() {
        let path = std::path::Path::new("/home/u/.docker/config.json");
        let entry = AuthEntry {
            auth: Some(base64::engine::general_purpose::STANDARD.encode("kiln:pa:ss")),
            identitytoken: None,
        };
        let found = from_auth_entry(&entry, "r:5000", path).unwrap().unwrap();
        assert_eq!(found.username.as_deref(), Some("kiln"));
        assert_eq!(found.password.as_deref(), Some("pa:ss"));
        assert_eq!(found.serveraddress.as_deref(), Some("r:5000"));

        let token = AuthEntry {
            auth: None,
            identitytoken: Some("tok".to_owned()),
        };
        let found = from_auth_entry(&token, "r:5000", path).unwrap().unwrap();
        assert_eq!(found.identitytoken.as_deref(), Some("tok"));

        let broken = AuthEntry {
            auth: Some("not base64 hunter2".to_owned()),
            identitytoken: None,
        };
        let error = from_auth_entry(&broken, "r:5000", path).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("r:5000"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_missing_helper_is_an_error_naming_it() {
        let error = from_helper("kiln-no-such-helper", "r:5000").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("docker-credential-kiln-no-such-helper"),
            "{error}"
        );
    }
}
