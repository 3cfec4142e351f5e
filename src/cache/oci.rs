//! The workspace's registry repository as the shared tiers speak to it directly
//! (oci-client): result artifacts and image records. One client per tier and run; a
//! loopback registry over plain HTTP (as the Docker daemon does) and never through a
//! proxy; others through the proxy the environment names, honouring `NO_PROXY`.

use std::collections::BTreeMap;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::CacheError;

/// A registry repository, `host[:port]/name`.
pub struct OciRepository {
    /// What errors call it: `results registry`, `registry`.
    tier: &'static str,
    repository: String,
    pub client: Client,
}

/// The hosts a loopback registry may be named by: never proxied.
const LOOPBACK: &str = "localhost,127.0.0.0/8,::1";

impl OciRepository {
    pub fn new(repository: &str, tier: &'static str) -> Self {
        let host = crate::docker::registry_host(repository)
            .unwrap_or_default()
            .to_owned();
        let loopback = is_loopback(&host);
        let protocol = if loopback {
            ClientProtocol::HttpsExcept(vec![host.clone()])
        } else {
            ClientProtocol::Https
        };
        let proxies = Proxies::from_environment();
        tracing::info!("registry {host}: {}", proxies.describe(&host, loopback));
        Self {
            tier,
            repository: repository.to_owned(),
            client: Client::new(ClientConfig {
                protocol,
                // A registry that hangs is given up on as the daemon is (its breaker
                // then keeps the run from asking it again).
                connect_timeout: Some(crate::docker::answer_within_from_env()),
                read_timeout: Some(crate::docker::answer_within_from_env()),
                // Explicit proxies turn off reqwest's own reading of the environment,
                // which proxies loopback addresses unless NO_PROXY names them.
                https_proxy: proxies.https.clone(),
                http_proxy: proxies.http.clone(),
                no_proxy: Some(proxies.no_proxy()),
                ..ClientConfig::default()
            }),
        }
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `<repository>:<tag>`, built from its parts: parsing a reference string compiles
    /// oci-spec's reference regex, 17 MB and tens of milliseconds a process. kiln.kdl's
    /// `registry` is checked when it is read; a tag is kiln's own (`result-<hex>`,
    /// `record-<hex>`).
    pub fn reference(&self, tag: &str) -> Result<Reference, CacheError> {
        let host = crate::docker::registry_host(&self.repository);
        match host.and_then(|host| {
            let path = self.repository.strip_prefix(host)?.strip_prefix('/')?;
            Some((host, path))
        }) {
            Some((registry, path)) => Ok(Reference::with_tag(
                registry.to_owned(),
                path.to_owned(),
                tag.to_owned(),
            )),
            None => {
                let reference = format!("{}:{tag}", self.repository);
                reference
                    .parse()
                    .map_err(|source| CacheError::Reference { reference, source })
            }
        }
    }

    pub fn auth(&self) -> RegistryAuth {
        match crate::docker::credentials(&self.repository) {
            Ok(Some(c)) => match (c.username, c.password) {
                (Some(user), Some(password)) => RegistryAuth::Basic(user, password),
                _ => RegistryAuth::Anonymous,
            },
            _ => RegistryAuth::Anonymous,
        }
    }

    pub fn failed(&self, what: &'static str, source: OciDistributionError) -> CacheError {
        CacheError::Registry {
            tier: self.tier,
            repository: self.repository.clone(),
            what,
            source,
        }
    }

    /// The manifest tagged `tag`, in one request; `None` when there is no such tag.
    pub async fn manifest(
        &self,
        tag: &str,
        what: &'static str,
    ) -> Result<Option<OciManifest>, CacheError> {
        let reference = self.reference(tag)?;
        match self.client.pull_manifest(&reference, &self.auth()).await {
            Ok((manifest, _)) => Ok(Some(manifest)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(self.failed(what, e)),
        }
    }

    /// Pushes a small artifact under `tag` whose facts are its manifest's annotations
    /// (its one layer and its config are an empty JSON object, the same blob for all).
    pub async fn push_annotated(
        &self,
        tag: &str,
        media_type: &str,
        annotations: BTreeMap<String, String>,
        what: &'static str,
    ) -> Result<(), CacheError> {
        let reference = self.reference(tag)?;
        let layers = vec![ImageLayer::new(b"{}".to_vec(), media_type.to_owned(), None)];
        let config = Config::new(b"{}".to_vec(), media_type.to_owned(), None);
        let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
        self.client
            .push(&reference, &layers, config, &self.auth(), Some(manifest))
            .await
            .map(|_| ())
            .map_err(|e| self.failed(what, e))
    }
}

/// A registry's "no such tag": a miss, not a failure.
pub fn is_missing(error: &OciDistributionError) -> bool {
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

fn is_loopback(host: &str) -> bool {
    let name = host
        .strip_prefix('[')
        .and_then(|h| h.split_once(']').map(|(h, _)| h))
        .unwrap_or_else(|| host.rsplit_once(':').map_or(host, |(h, _)| h));
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The proxies the environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, either
/// case) and the hosts it exempts (`NO_PROXY`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Proxies {
    https: Option<String>,
    http: Option<String>,
    no_proxy: Option<String>,
}

impl Proxies {
    fn from_environment() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| {
            get(name)
                .or_else(|| get(&name.to_ascii_lowercase()))
                .filter(|v| !v.trim().is_empty())
        };
        let all = var("ALL_PROXY");
        Self {
            https: var("HTTPS_PROXY").or_else(|| all.clone()),
            http: var("HTTP_PROXY").or(all),
            no_proxy: var("NO_PROXY"),
        }
    }

    /// `NO_PROXY` with the loopback added.
    fn no_proxy(&self) -> String {
        match &self.no_proxy {
            Some(list) => format!("{list},{LOOPBACK}"),
            None => LOOPBACK.to_owned(),
        }
    }

    /// Which proxy requests to `host` use, credentials left out (for `-v`).
    fn describe(&self, host: &str, loopback: bool) -> String {
        let Some(proxy) = self.https.as_ref().or(self.http.as_ref()) else {
            return "no proxy".to_owned();
        };
        if loopback {
            return "no proxy (a loopback registry is never proxied)".to_owned();
        }
        let exempt = self.no_proxy.as_deref().is_some_and(|list| {
            list.split(',').map(str::trim).any(|entry| {
                entry == "*"
                    || (!entry.is_empty()
                        && (host == entry
                            || host.split(':').next() == Some(entry.trim_start_matches('.'))
                            || host.ends_with(&format!(".{}", entry.trim_start_matches('.')))))
            })
        });
        if exempt {
            return "no proxy (NO_PROXY names it)".to_owned();
        }
        format!("through the proxy {}", without_credentials(proxy))
    }
}

/// `http://user:secret@proxy:3128` → `http://proxy:3128`.
fn without_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    match scheme {
        "" => rest.to_owned(),
        scheme => format!("{scheme}://{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "registry.example:5000",
            "10.0.0.1:5000",
            "localhost.example",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn proxies_from_the_environment_never_show_credentials() {
        let env = |name: &str| match name {
            "http_proxy" => Some("http://user:secret@proxy:3128".to_owned()),
            "NO_PROXY" => Some("internal.example".to_owned()),
            _ => None,
        };
        let proxies = Proxies::from_lookup(env);
        assert_eq!(
            proxies.http.as_deref(),
            Some("http://user:secret@proxy:3128")
        );
        assert_eq!(proxies.https, None);
        assert_eq!(proxies.no_proxy(), format!("internal.example,{LOOPBACK}"));
        let said = proxies.describe("registry.example:5000", false);
        assert_eq!(said, "through the proxy http://proxy:3128");
        assert!(
            proxies
                .describe("127.0.0.1:5000", true)
                .starts_with("no proxy")
        );
        assert!(
            proxies
                .describe("cache.internal.example", false)
                .starts_with("no proxy")
        );
        assert_eq!(
            Proxies::from_lookup(|_| None).describe("x", false),
            "no proxy"
        );
    }
}
