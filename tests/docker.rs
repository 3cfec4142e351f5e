//! The Docker layer against the real daemon and a real registry.

mod common;

use std::collections::HashMap;

use common::docker::{ImageCleanup, Registry, backend, daemon, tar_of, unique_repository};
use kiln::cache::image::file::{self, Lookup};
use kiln::docker::{Backend, BuildRequest, DockerError, SecretValues, labels};
use tokio_util::sync::CancellationToken;

fn request(
    backend: Backend,
    tag: &str,
    dockerfile: &str,
    extra: &[(&'static str, &'static [u8], u32)],
) -> BuildRequest {
    let mut files: Vec<(&str, Vec<u8>, u32)> =
        vec![("Dockerfile", dockerfile.as_bytes().to_vec(), 0o644)];
    files.extend(extra.iter().map(|(p, c, m)| (*p, c.to_vec(), *m)));
    let owned: Vec<(String, Vec<u8>, u32)> = files
        .into_iter()
        .map(|(p, c, m)| (p.to_owned(), c, m))
        .collect();
    BuildRequest {
        name: tag.to_owned(),
        tag: Some(tag.to_owned()),
        dockerfile: "Dockerfile".to_owned(),
        args: HashMap::new(),
        labels: HashMap::from([
            (labels::MANAGED.to_owned(), "true".to_owned()),
            (labels::STEP.to_owned(), "hello".to_owned()),
        ]),
        no_cache: false,
        context: Box::new(move |out| {
            let refs: Vec<(&str, &[u8], u32)> = owned
                .iter()
                .map(|(p, c, m)| (p.as_str(), c.as_slice(), *m))
                .collect();
            out.write_all(&tar_of(&refs))
        }),
        backend,
        secrets: SecretValues::default(),
        on_step: Default::default(),
    }
}

#[tokio::test]
async fn builds_an_image_with_labels_and_finds_it() {
    let daemon = daemon().await;
    let repo = unique_repository("build");
    let _cleanup = ImageCleanup {
        repositories: vec![repo.clone()],
        owners: vec![],
    };
    let tag = format!("{repo}:one");
    // Content of this test's own (see registry_push_lookup_and_pull).
    let content: &'static [u8] = format!("{repo}\n").into_bytes().leak();
    let mut log = Vec::new();
    let id = daemon
        .build(
            request(
                backend(&daemon).await,
                &tag,
                "FROM scratch\nCOPY hello.txt /hello.txt\n",
                &[("hello.txt", content, 0o644)],
            ),
            &mut log,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(id.starts_with("sha256:"), "{id}");
    let info = daemon.inspect(&tag).await.unwrap().expect("the tag exists");
    assert_eq!(info.id, id);
    assert_eq!(
        info.labels.get(labels::STEP).map(String::as_str),
        Some("hello")
    );
    assert!(
        String::from_utf8_lossy(&log).contains("COPY hello.txt"),
        "the log holds the build output"
    );
    assert!(
        daemon
            .inspect(&format!("{repo}:absent"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_failing_build_names_the_instruction_and_shows_the_tail() {
    let daemon = daemon().await;
    let repo = unique_repository("fail");
    let _cleanup = ImageCleanup {
        repositories: vec![repo.clone()],
        owners: vec![],
    };
    let mut log = Vec::new();
    let error = daemon
        .build(
            request(
                backend(&daemon).await,
                &format!("{repo}:x"),
                "FROM scratch\nCOPY missing.txt /m\n",
                &[],
            ),
            &mut log,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    match error {
        DockerError::BuildFailed {
            instruction,
            message,
            tail,
            ..
        } => {
            assert_eq!(instruction.as_deref(), Some("COPY missing.txt /m"));
            assert!(message.contains("missing.txt"), "{message}");
            // Each builder's progress names the instruction.
            // The classic builder counts the LABEL steps the request's labels add;
            // BuildKit does not count `FROM scratch`.
            let step = match backend(&daemon).await {
                Backend::Classic => "Step 2/4 : COPY missing.txt /m",
                Backend::BuildKit => "[1/1] COPY missing.txt /m",
            };
            assert!(tail.contains(step), "{tail}");
        }
        other => panic!("expected a build failure, got {other}"),
    }
}

#[tokio::test]
async fn file_cache_round_trip_and_corrupt_tarball() {
    let daemon = daemon().await;
    let repo = unique_repository("file-cache");
    let _cleanup = ImageCleanup {
        repositories: vec![repo.clone()],
        owners: vec![],
    };
    let tag = format!("{repo}:saved");
    let hash = "ab".repeat(32);
    // Content of this test's own (see registry_push_lookup_and_pull).
    let content: &'static [u8] = format!("{repo}\n").into_bytes().leak();
    let mut labelled = request(
        backend(&daemon).await,
        &tag,
        "FROM scratch\nCOPY a.txt /a.txt\n",
        &[("a.txt", content, 0o644)],
    );
    labelled
        .labels
        .insert(labels::HASH.to_owned(), hash.clone());
    daemon
        .build(labelled, &mut std::io::sink(), &CancellationToken::new())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let size = file::store(&daemon, dir.path(), &tag, &hash, &Default::default())
        .await
        .unwrap();
    assert!(size > 0);
    let entry = file::Entry::new(dir.path(), &tag);
    assert!(entry.present());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files remain: {leftovers:?}"
    );

    daemon.remove(&tag, true).await.unwrap();
    assert!(daemon.inspect(&tag).await.unwrap().is_none());
    assert!(matches!(
        file::load(
            &daemon,
            dir.path(),
            &dir.path().join("scratch"),
            &tag,
            &hash,
            &Default::default(),
        )
        .await
        .unwrap(),
        Lookup::Loaded
    ));
    assert!(
        daemon.inspect(&tag).await.unwrap().is_some(),
        "loaded back from the tarball"
    );

    // Truncate the tarball: the checksum no longer matches.
    let bytes = std::fs::read(&entry.tarball).unwrap();
    std::fs::write(&entry.tarball, &bytes[..bytes.len() / 2]).unwrap();
    daemon.remove(&tag, true).await.unwrap();
    match file::load(
        &daemon,
        dir.path(),
        &dir.path().join("scratch"),
        &tag,
        &hash,
        &Default::default(),
    )
    .await
    .unwrap()
    {
        Lookup::Corrupt {
            moved_to: Some(moved),
            ..
        } => {
            assert!(moved.is_file(), "kept for inspection");
            assert!(!entry.tarball.exists(), "never loaded again");
        }
        other => panic!("expected a corrupt tarball, got {other:?}"),
    }
    assert!(daemon.inspect(&tag).await.unwrap().is_none());
    assert!(matches!(
        file::load(
            &daemon,
            dir.path(),
            &dir.path().join("scratch"),
            &tag,
            &hash,
            &Default::default(),
        )
        .await
        .unwrap(),
        Lookup::Missing
    ));
}

#[tokio::test]
async fn registry_push_lookup_and_pull() {
    let daemon = daemon().await;
    let registry = Registry::start();
    let repo = unique_repository("registry");
    let remote_repo = format!("{}/{repo}", registry.address);
    let _cleanup = ImageCleanup {
        repositories: vec![repo.clone(), remote_repo.clone()],
        owners: vec![],
    };
    let local = format!("{repo}:pushed");
    let remote = format!("{remote_repo}:pushed");
    // Content of this test's own: a layer no other test builds, so none removes it
    // mid-build (the classic builder fails with "unable to find image" then).
    let content: &'static [u8] = format!("{repo}\n").into_bytes().leak();
    daemon
        .build(
            request(
                backend(&daemon).await,
                &local,
                "FROM scratch\nCOPY r.txt /r.txt\n",
                &[("r.txt", content, 0o644)],
            ),
            &mut std::io::sink(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(
        !daemon.registry_has(&remote).await.unwrap(),
        "not pushed yet"
    );
    daemon.tag(&local, &remote).await.unwrap();
    daemon.push(&remote).await.unwrap();
    assert!(daemon.registry_has(&remote).await.unwrap());
    daemon.remove(&remote, true).await.unwrap();
    daemon.remove(&local, true).await.unwrap();
    daemon.pull(&remote).await.unwrap();
    assert!(
        daemon.inspect(&remote).await.unwrap().is_some(),
        "pulled back"
    );

    drop(registry);
    let down = daemon.registry_has(&remote).await;
    assert!(
        down.is_err(),
        "a registry that is down is an error, not a miss: {down:?}"
    );
}

/// A file the daemon reads and refuses ("invalid tar header", sent in its answer's
/// stream) is the file's fault, not a daemon that cannot be reached.
#[tokio::test]
async fn a_tarball_the_daemon_refuses_is_not_an_unreachable_daemon() {
    let daemon = daemon().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.tar");
    let garbage: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, garbage).unwrap();
    match daemon.import(&path).await.map(|_| ()) {
        Err(DockerError::Request { .. }) => {}
        other => panic!("expected the daemon to refuse the file, got {other:?}"),
    }
}

/// Ctrl-C 2 s into a build and into a check against a socket that takes connections and
/// never answers, with the default timeout (30 s): each exits 130 within a second of the
/// signal. (A build ended 10 s later and a check 27 s later, both with exit 1: the
/// connection was not interruptible.)
#[test]
fn an_interrupt_ends_a_run_against_a_black_hole_within_a_second() {
    let kiln = common::sandbox::Kiln::new("black-hole", &["checkenv", "checkenv-debug"], None);
    kiln.add_example_data();
    let socket = kiln.path("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming() {
            held.push(connection);
        }
    });
    let address = format!("unix://{}", socket.display());
    for args in [
        ["build", "--flavor", "checkenv"],
        ["check", "--flavor", "checkenv"],
    ] {
        let stderr = kiln.path("stderr.txt");
        let mut child = kiln
            .process()
            .args(args)
            .env("DOCKER_HOST", &address)
            .env_remove("KILN_DOCKER_TIMEOUT")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_secs(2));
        assert!(
            child.try_wait().unwrap().is_none(),
            "{args:?} waits on the daemon: {}",
            std::fs::read_to_string(&stderr).unwrap()
        );
        // SAFETY: kill only sends a signal to the child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        let (code, took) =
            common::sandbox::exit_within(&mut child, std::time::Duration::from_secs(40));
        let shown = std::fs::read_to_string(&stderr).unwrap();
        eprintln!("{args:?}: exit {code:?} {took:?} after the interrupt");
        assert_eq!(code, Some(130), "{args:?} after {took:?}: {shown}");
        // A second is the promise; the slack is for a loaded machine.
        assert!(took.as_millis() < 1500, "{args:?} took {took:?}: {shown}");
    }
}

/// A daemon whose socket takes connections and never answers: kiln reports it, naming
/// its address, within KILN_DOCKER_TIMEOUT (here 2 s) rather than bollard's 2 minutes
/// for each call (negotiating the version, then the ping).
#[test]
fn a_daemon_that_never_answers_is_named_within_the_timeout() {
    let kiln = common::sandbox::Kiln::new("silent-daemon", &["slc"], None);
    let socket = kiln.path("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming() {
            held.push(connection);
        }
    });
    let address = format!("unix://{}", socket.display());
    let mut child = kiln
        .process()
        .args(["build", "--flavor", "slc"])
        .env("DOCKER_HOST", &address)
        .env("KILN_DOCKER_TIMEOUT", "2")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(kiln.path("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let (status, took) =
        common::sandbox::exit_within(&mut child, std::time::Duration::from_secs(30));
    let shown = std::fs::read_to_string(kiln.path("stderr.txt")).unwrap();
    assert!(status.is_some(), "still waiting after {took:?}:\n{shown}");
    assert!(took.as_secs() < 10, "took {took:?}:\n{shown}");
    assert_eq!(status, Some(1), "{shown}");
    assert!(
        shown.contains("kiln::docker::not_answering")
            && shown.contains(&format!(
                "the Docker daemon at {address} did not answer within 2 s"
            )),
        "{shown}"
    );
}
