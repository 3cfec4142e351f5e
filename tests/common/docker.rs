//! Real parts for Docker tests: the running daemon, a registry started on a free
//! loopback port, unique image names, and cleanup of everything a test created.
//! A test that needs Docker fails (never skips) when the daemon is unreachable.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiln::docker::{Backend, Daemon};
use kiln::model::BuilderChoice;

/// Connects to the daemon or fails the test with the reason.
pub async fn daemon() -> Daemon {
    match Daemon::connect().await {
        Ok(daemon) => daemon,
        Err(e) => panic!("this test needs the Docker daemon: {e}"),
    }
}

/// The daemon's own API, for what a test looks at beyond what kiln asks of the daemon
/// (an image's layers and history, whether a container exists at all, images by
/// reference): a bollard client of the test's own, to the address `daemon` uses.
#[allow(dead_code, reason = "not every test binary looks past kiln's calls")]
pub async fn api(daemon: &Daemon) -> bollard::Docker {
    let address = daemon.address();
    let docker = bollard::Docker::connect_with_host(address)
        .unwrap_or_else(|e| panic!("connecting to the daemon at {address}: {e}"));
    docker
        .negotiate_version()
        .await
        .unwrap_or_else(|e| panic!("agreeing on an API version with {address}: {e}"))
}

/// The builder the tests build with: KILN_BUILDER (as kiln reads it, so the kiln
/// processes a test starts build with the same one), else auto. CI runs the build
/// tests once with each builder.
#[allow(dead_code, reason = "not every test binary builds through the library")]
pub async fn backend(daemon: &Daemon) -> Backend {
    let choice = std::env::var("KILN_BUILDER")
        .ok()
        .and_then(|name| BuilderChoice::parse(&name))
        .unwrap_or_default();
    daemon
        .resolve_builder(choice)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .backend
}

/// A repository name no other test uses, e.g. `kiln-test-1234-5`.
pub fn unique_repository(test: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clean: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("kiln-test-{clean}-{}-{n}", std::process::id())
}

/// Removes the environment containers of `owners` (workspaces, as labelled by kiln) and
/// every image whose reference matches `<repository>` (any tag) when dropped, even if
/// the test panicked.
pub struct ImageCleanup {
    pub repositories: Vec<String>,
    pub owners: Vec<String>,
}

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        let repositories = std::mem::take(&mut self.repositories);
        let owners = std::mem::take(&mut self.owners);
        // A fresh runtime on its own thread: Drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let Ok(daemon) = Daemon::connect().await else {
                    return;
                };
                // The workspace is gone: no lease is held, every container goes.
                let leases = tempfile::tempdir().unwrap();
                let leases = kiln::check::docker::lease::Leases::new(leases.path().to_owned());
                for owner in owners {
                    let _ =
                        kiln::check::docker::pool::Pool::remove_of(&daemon, &owner, None, &leases)
                            .await;
                }
                for repository in repositories {
                    remove_repository(&daemon, &repository).await;
                }
            });
        })
        .join();
    }
}

/// Removes every tag of `repository` from the daemon.
pub async fn remove_repository(daemon: &Daemon, repository: &str) {
    use bollard::query_parameters::ListImagesOptionsBuilder;
    use std::collections::HashMap;
    let filters: HashMap<String, Vec<String>> =
        HashMap::from([("reference".to_owned(), vec![format!("{repository}:*")])]);
    let options = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let Ok(images) = api(daemon).await.list_images(Some(options)).await else {
        return;
    };
    for image in images {
        for tag in image
            .repo_tags
            .iter()
            .filter(|t| t.starts_with(&format!("{repository}:")))
        {
            let _ = daemon.remove(tag, true).await;
        }
    }
}

/// A `docker-registry` (Debian's package) on a free loopback port, storing into a
/// temporary folder; stopped when dropped.
pub struct Registry {
    pub address: String,
    child: Child,
    _storage: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// A registry that wants `user` and `password` (htpasswd, bcrypt) for every request.
    pub fn start_with_login(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user, password)))
    }

    fn start_with(login: Option<(&str, &str)>) -> Registry {
        let binary = which("docker-registry").unwrap_or_else(|| {
            panic!("this test needs Debian's docker-registry (apt-get install docker-registry); .ci/run installs it")
        });
        let storage = tempfile::tempdir().unwrap();
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let config = storage.path().join("config.yml");
        let mut settings = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
            storage.path().join("data").display()
        );
        if let Some((user, password)) = login {
            let htpasswd = storage.path().join("htpasswd");
            let hash = bcrypt::hash(password, 5).unwrap();
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            settings.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(&config, settings).unwrap();
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let registry = Registry {
            address,
            child,
            _storage: storage,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(&self.address) {
                let _ = stream.write_all(
                    format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.address).as_bytes(),
                );
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not answer on {}", self.address);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn which(binary: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|path| path.is_file())
    })
}

/// A tar (in memory) holding `files` (path, content, mode).
pub fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, path, *content).unwrap();
    }
    builder.into_inner().unwrap()
}
