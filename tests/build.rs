//! `kiln build` and friends against the real daemon (and a real registry): what is
//! built, what is reused and from which tier, on the EXASLCT-shaped example flavor.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::docker::Registry;
use common::sandbox::{Kiln, exit_within, planned_at, text, with_result};

/// Every one of the 11 steps: the goals whose closure is the whole flavor.
const ALL: &[&str] = &[
    "build",
    "-g",
    "security_scan",
    "-g",
    "flavor_test_build_run",
];

fn nodes(steps: &[&str]) -> Vec<String> {
    let mut nodes: Vec<String> = steps.iter().map(|s| format!("slc/{s}")).collect();
    nodes.sort();
    nodes
}

#[test]
fn builds_only_what_changed() {
    let kiln = Kiln::new("incremental", &["slc"], None);

    let cold = kiln.build(ALL);
    assert_eq!(cold.len(), 11, "{cold:?}");
    assert_eq!(
        with_result(&cold, "built").len(),
        11,
        "a cold build builds every step: {cold:?}"
    );

    let warm = kiln.build(ALL);
    assert_eq!(
        with_result(&warm, "daemon").len(),
        11,
        "a second build builds nothing: {warm:?}"
    );

    // Touching a file changes only its mtime: nothing to build.
    let file = kiln.path("flavors/slc/flavor_customization/requirements.txt");
    let content = std::fs::read(&file).unwrap();
    std::fs::write(&file, &content).unwrap();
    let touched = kiln.build(ALL);
    assert_eq!(
        with_result(&touched, "built"),
        Vec::<String>::new(),
        "touch: {touched:?}"
    );

    // A transparent arg (a proxy) is passed but not hashed.
    let proxied = kiln.build_with(ALL, |cmd| {
        cmd.env("HTTP_PROXY", "http://proxy.invalid:3128");
    });
    assert_eq!(
        with_result(&proxied, "built"),
        Vec::<String>::new(),
        "transparent arg: {proxied:?}"
    );

    // A content change rebuilds the step and everything depending on it, nothing else.
    std::fs::write(&file, [content.as_slice(), b"extra-package\n"].concat()).unwrap();
    let changed = kiln.build(ALL);
    assert_eq!(
        with_result(&changed, "built"),
        nodes(&[
            "flavor_customization",
            "flavor_test_build_run",
            "release",
            "security_scan"
        ]),
        "content change: {changed:?}"
    );

    // The executable bit is an input.
    let script = kiln.path("flavors/slc/build_run/build.sh");
    let mut mode = std::fs::metadata(&script).unwrap().permissions();
    mode.set_mode(mode.mode() ^ 0o111);
    std::fs::set_permissions(&script, mode).unwrap();
    let exec = kiln.build(ALL);
    assert_eq!(
        with_result(&exec, "built"),
        nodes(&["build_run", "release", "security_scan"]),
        "exec bit: {exec:?}"
    );

    // An image-changing arg rebuilds its step and dependents.
    let config = kiln.path("flavors/slc/flavor.kdl");
    let kdl = std::fs::read_to_string(&config).unwrap();
    assert!(kdl.contains(r#"arg "PYTHON_VERSION" "3.11""#));
    std::fs::write(
        &config,
        kdl.replace(
            r#"arg "PYTHON_VERSION" "3.11""#,
            r#"arg "PYTHON_VERSION" "3.12""#,
        ),
    )
    .unwrap();
    let arg = kiln.build(ALL);
    assert_eq!(
        with_result(&arg, "built"),
        nodes(&[
            "base_test_build_run",
            "build_run",
            "flavor_base_deps",
            "flavor_customization",
            "flavor_test_build_run",
            "language_deps",
            "release",
            "security_scan",
        ]),
        "image-changing arg: {arg:?}"
    );

    // --force-rebuild-from: the step and its dependents, whatever the caches hold.
    let forced = kiln.build(&[ALL, &["--force-rebuild-from", "flavor_customization"]].concat());
    assert_eq!(
        with_result(&forced, "built"),
        nodes(&[
            "flavor_customization",
            "flavor_test_build_run",
            "release",
            "security_scan"
        ]),
        "--force-rebuild-from: {forced:?}"
    );

    // The job record holds each node's log, rendered Dockerfile and manifest, and events.
    let job = kiln.jobs().pop().unwrap();
    let rendered = std::fs::read_to_string(job.join("dockerfiles/slc-release.Dockerfile")).unwrap();
    assert!(
        rendered.contains(&format!(
            "FROM {}:slc-flavor_customization_",
            kiln.repository
        )),
        "{rendered}"
    );
    // The labels are not a build step: a config-only load puts them on the image.
    assert!(!rendered.contains("LABEL"), "{rendered}");
    let log = std::fs::read_to_string(job.join("logs/slc-release.log")).unwrap();
    assert!(
        log.contains("kiln: labels applied by a config-only load"),
        "{log}"
    );
    let manifest = std::fs::read_to_string(job.join("manifests/slc-release.json")).unwrap();
    assert!(manifest.contains("release.txt"), "{manifest}");
    let events = std::fs::read_to_string(job.join("events.jsonl")).unwrap();
    assert_eq!(
        events
            .lines()
            .filter(|l| l.contains(r#""kind":"succeeded""#))
            .count(),
        11,
        "{events}"
    );
}

#[test]
fn two_checkouts_at_different_paths_give_identical_tags() {
    let a = Kiln::new("checkout", &["slc"], None);
    let b = tempfile::tempdir().unwrap();
    let nested = b.path().join("some/deeper/checkout");
    common::sandbox::copy_dir(a.root(), &nested);
    let plan = |root: &std::path::Path| {
        planned_at(root, &ALL[1..])
            .into_iter()
            .map(|(_, (image, _, _))| image)
            .collect::<Vec<_>>()
    };
    let here = plan(a.root());
    assert_eq!(here.len(), 11);
    assert_eq!(here, plan(&nested));
    assert!(
        here.iter()
            .all(|i| i.starts_with(&format!("{}:slc-", a.repository))),
        "{here:?}"
    );
}

#[test]
fn no_build_fails_listing_what_would_need_building() {
    let kiln = Kiln::new("no-build", &["slc"], None);
    let output = kiln
        .command()
        .args(["build", "--no-build"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("kiln::build::no_build"), "{stderr}");
    assert!(stderr.contains("10 images would need building"), "{stderr}");
    assert!(
        stderr.contains(&format!("slc/release ({}:slc-release_", kiln.repository)),
        "{stderr}"
    );
    assert!(kiln.jobs().is_empty(), "nothing ran");
}

#[test]
fn cache_tiers_files_then_registry() {
    let registry = Registry::start();
    let kiln = Kiln::new("tiers", &["slc"], Some(&registry.address));

    let first = kiln.build(&["build", "--save", "--push"]);
    assert_eq!(with_result(&first, "built").len(), 10, "{first:?}");
    let cache = kiln.path(".kiln/cache");
    let tarballs = |suffix: &str| {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(suffix))
            .count()
    };
    assert_eq!(tarballs(".tar"), 10);
    assert_eq!(tarballs(".tar.sha256"), 10);

    // Images gone from the daemon: every one is loaded from its tarball.
    kiln.ok(&["clean", "--all"]);
    let from_files = kiln.build(&["build"]);
    assert_eq!(with_result(&from_files, "file").len(), 10, "{from_files:?}");

    // A corrupt tarball is moved aside; its image comes from the next tier.
    let release = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.to_string_lossy().contains("slc-release_")
                && p.extension().is_some_and(|e| e == "tar")
        })
        .unwrap();
    let mut bytes = std::fs::read(&release).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&release, bytes).unwrap();
    kiln.ok(&["clean", "--all"]);
    let corrupt = kiln.build(&["build"]);
    assert_eq!(
        with_result(&corrupt, "registry"),
        vec!["slc/release".to_owned()],
        "{corrupt:?}"
    );
    assert_eq!(with_result(&corrupt, "file").len(), 9, "{corrupt:?}");
    assert!(!release.exists(), "the corrupt tarball was moved aside");
    assert_eq!(tarballs(".tar.corrupt"), 1);

    // Without files, everything comes from the registry.
    std::fs::remove_dir_all(&cache).unwrap();
    kiln.ok(&["clean", "--all"]);
    let pulled = kiln.build(&["build"]);
    assert_eq!(with_result(&pulled, "registry").len(), 10, "{pulled:?}");

    // Export: the release image as .tar.gz with a checksum file sha256sum accepts.
    let out = kiln.path("export");
    kiln.ok(&[
        "export",
        "--flavor",
        "slc",
        "--output",
        out.to_str().unwrap(),
    ]);
    let archives: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(archives.len(), 2, "{archives:?}");
    let archive = archives.iter().find(|a| a.ends_with(".tar.gz")).unwrap();
    assert!(archive.starts_with("slc-release_"), "{archive}");
    let check = std::process::Command::new("sha256sum")
        .args(["-c", &format!("{archive}.sha256")])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));
}

#[test]
fn failing_step_stops_the_run_or_lets_other_branches_finish() {
    let kiln = Kiln::new("failing", &[], None);
    let busybox_step = |name: &str, extra: &str| {
        std::fs::create_dir_all(kiln.path(&format!("flavors/f/{name}"))).unwrap();
        std::fs::write(
            kiln.path(&format!("flavors/f/{name}/Dockerfile")),
            format!("FROM scratch\nCOPY busybox /bin/busybox\n{extra}"),
        )
        .unwrap();
    };
    busybox_step(
        "a_bad",
        "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo about to fail; exit 3\"]\n",
    );
    busybox_step("b_good", "");
    std::fs::create_dir_all(kiln.path("flavors/f/c_after")).unwrap();
    std::fs::write(
        kiln.path("flavors/f/c_after/Dockerfile"),
        "FROM {{ b_good }}\n",
    )
    .unwrap();
    std::fs::write(
        kiln.path("flavors/f/flavor.kdl"),
        r#"flavor "f" {
    step "a_bad" { include "/bin/busybox" as="busybox"; }
    step "b_good" { include "/bin/busybox" as="busybox"; }
    step "c_after" { needs "b_good"; }
}
"#,
    )
    .unwrap();

    // Fail-fast, one job: a_bad runs first and fails; nothing new starts.
    let output = kiln.command().args(["build", "-j", "1"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("f/a_bad failed"), "{stderr}");
    assert!(
        stderr.contains("echo about to fail; exit 3"),
        "the failing instruction: {stderr}"
    );
    assert!(
        stderr.contains("about to fail"),
        "the log excerpt: {stderr}"
    );
    assert!(
        stderr.contains("full log:") && stderr.contains("f-a_bad.log"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 3 nodes failed"), "{stderr}");
    let job = kiln.jobs().pop().unwrap();
    let results = common::sandbox::summary(&job);
    assert_eq!(results["f/a_bad"], "failed");
    assert_eq!(results["f/b_good"], "skipped");
    assert_eq!(results["f/c_after"], "skipped");

    // --keep-going: the independent branch finishes.
    let output = kiln
        .command()
        .args(["build", "-j", "1", "--keep-going"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let results = common::sandbox::summary(&kiln.jobs().pop().unwrap());
    assert_eq!(results["f/a_bad"], "failed");
    assert_eq!(results["f/b_good"], "built");
    assert_eq!(results["f/c_after"], "built");
}

#[test]
fn interrupt_stops_the_build_and_leaves_no_partial_files() {
    let kiln = Kiln::new("interrupt", &[], None);
    std::fs::create_dir_all(kiln.path("flavors/s/slow")).unwrap();
    std::fs::write(
        kiln.path("flavors/s/slow/Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sleep\", \"60\"]\n",
    )
    .unwrap();
    std::fs::write(
        kiln.path("flavors/s/flavor.kdl"),
        "flavor \"s\" {\n    step \"slow\" { include \"/bin/busybox\" as=\"busybox\"; }\n    step \"quick\" { include \"/bin/busybox\" as=\"busybox\"; }\n}\n",
    )
    .unwrap();
    // A step that is built and saved while `slow` runs: the interrupt keeps its tarball.
    std::fs::create_dir_all(kiln.path("flavors/s/quick")).unwrap();
    std::fs::write(
        kiln.path("flavors/s/quick/Dockerfile"),
        format!(
            "FROM scratch\nCOPY busybox /bin/busybox\nLABEL test.nonce=\"{}\"\n",
            kiln.root().display()
        ),
    )
    .unwrap();
    let child = kiln
        .process()
        .args(["build", "--save", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the slow step runs and the quick one is saved, then press Ctrl-C.
    let saved = |kiln: &Kiln| {
        std::fs::read_dir(kiln.path(".kiln/cache"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().ends_with(".tar.sha256"))
            })
            .unwrap_or(false)
    };
    let started = std::time::Instant::now();
    loop {
        let events = kiln
            .jobs()
            .pop()
            .and_then(|j| std::fs::read_to_string(j.join("logs/s-slow.log")).ok())
            .unwrap_or_default();
        if events.contains("sleep") && saved(&kiln) {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "the build did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopped = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(
        stopped.elapsed().as_secs() < 30,
        "Ctrl-C stops the build promptly"
    );
    assert_eq!(output.status.code(), Some(130), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("interrupted"));
    let results = common::sandbox::summary(&kiln.jobs().pop().unwrap());
    assert_eq!(results["s/slow"], "cancelled");
    assert_eq!(results["s/quick"], "built");
    // The cache holds the finished tarball of `quick` with a checksum that matches,
    // nothing of `slow`, and no half-written file (lock files aside).
    let mut files: Vec<String> = std::fs::read_dir(kiln.path(".kiln/cache"))
        .expect("the cache folder exists: quick was saved")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        3,
        "one tarball, its record and its checksum: {files:?}"
    );
    assert!(
        files[0].contains("quick") && files[0].ends_with(".tar"),
        "{files:?}"
    );
    assert_eq!(files[1], format!("{}.record.json", files[0]), "{files:?}");
    assert_eq!(files[2], format!("{}.sha256", files[0]), "{files:?}");
    let verified = std::process::Command::new("sha256sum")
        .args(["--check", "--status", &files[2]])
        .current_dir(kiln.path(".kiln/cache"))
        .status()
        .unwrap();
    assert!(verified.success(), "the kept tarball is whole");
}

#[test]
fn an_unreachable_daemon_is_a_clear_error() {
    let kiln = Kiln::new("unreachable", &["slc"], None);
    let output = kiln
        .command()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["build"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("kiln::docker::unreachable"), "{stderr}");
    assert!(
        stderr.contains("DOCKER_HOST"),
        "the help names DOCKER_HOST: {stderr}"
    );
    // An empty DOCKER_HOST means unset, as for the docker CLI.
    let empty = kiln
        .command()
        .env("DOCKER_HOST", "")
        .args(["plan", "--flavor", "slc"])
        .output()
        .unwrap();
    assert_eq!(empty.status.code(), Some(0), "{}", text(&empty));
}

#[test]
fn a_registry_that_wants_a_login_gets_it_from_env_config_or_helper() {
    const PASSWORD: &str = "kiln-s3cret-pw";
    let registry = Registry::start_with_login("kiln", PASSWORD);
    let kiln = Kiln::new("login", &[], Some(&registry.address));
    for (step, dockerfile) in [
        ("base", "FROM scratch\nCOPY busybox /bin/busybox\n"),
        (
            "release",
            "FROM {{ base }}\nRUN [\"/bin/busybox\", \"touch\", \"/release\"]\n",
        ),
    ] {
        std::fs::create_dir_all(kiln.path(&format!("flavors/login/{step}"))).unwrap();
        std::fs::write(
            kiln.path(&format!("flavors/login/{step}/Dockerfile")),
            dockerfile,
        )
        .unwrap();
    }
    std::fs::write(
        kiln.path("flavors/login/flavor.kdl"),
        r#"flavor "login" {
    step "base" { include "/bin/busybox" as="busybox"; }
    step "release" { needs "base"; }
}
"#,
    )
    .unwrap();
    let docker_config = tempfile::tempdir().unwrap();
    let run = |args: &[&str], setup: &dyn Fn(&mut assert_cmd::Command)| {
        let mut cmd = kiln.command();
        cmd.args(args)
            .env_remove("KILN_REGISTRY_USER")
            .env_remove("KILN_REGISTRY_PASSWORD")
            .env("DOCKER_CONFIG", docker_config.path());
        setup(&mut cmd);
        let output = cmd.output().unwrap();
        let shown = text(&output);
        assert!(
            !shown.contains(PASSWORD),
            "the password is never shown: {shown}"
        );
        (output.status.code(), shown)
    };

    // No credentials at all: a clear error naming the registry and how to log in.
    let (code, shown) = run(&["push", "--flavor", "login"], &|_| {});
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("kiln::docker::unauthorized"), "{shown}");
    assert!(
        shown.contains(&format!("docker login {}", registry.address)),
        "{shown}"
    );

    // A wrong password from the environment is refused the same way.
    let (code, shown) = run(&["push", "--flavor", "login"], &|cmd| {
        cmd.env("KILN_REGISTRY_USER", "kiln")
            .env("KILN_REGISTRY_PASSWORD", "wrong-password");
    });
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("kiln::docker::unauthorized"), "{shown}");
    assert!(!shown.contains("wrong-password"), "{shown}");

    // `docker login`'s entry in config.json: pushed.
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("kiln:{PASSWORD}"));
    std::fs::write(
        docker_config.path().join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.address
        ),
    )
    .unwrap();
    let (code, shown) = run(&["push", "--flavor", "login"], &|_| {});
    assert_eq!(code, Some(0), "{shown}");
    // Each push is a node of its own now (`login/<step>:push`), shown as `pushed <tag>`.
    assert_eq!(shown.matches("  pushed ").count(), 2, "{shown}");

    // A credential helper (credsStore): the images come back from the registry.
    kiln.ok(&["clean", "--all"]);
    let helpers = tempfile::tempdir().unwrap();
    let asked = helpers.path().join("asked");
    let helper = helpers.path().join("docker-credential-kilntest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread -r host\necho \"$host\" >> {}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"kiln\",\"Secret\":\"{PASSWORD}\"}}' \"$host\"\n",
            asked.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        docker_config.path().join("config.json"),
        r#"{"auths": {}, "credsStore": "kilntest"}"#,
    )
    .unwrap();
    let path = std::env::join_paths(
        std::iter::once(helpers.path().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let before = kiln.jobs();
    let (code, shown) = run(&["build", "--flavor", "login"], &|cmd| {
        cmd.env("PATH", &path);
    });
    assert_eq!(code, Some(0), "{shown}");
    let job = kiln
        .jobs()
        .into_iter()
        .find(|j| !before.contains(j))
        .unwrap();
    let pulled = common::sandbox::summary(&job);
    assert_eq!(
        pulled.values().filter(|r| *r == "registry").count(),
        2,
        "{pulled:?}"
    );
    let asked = std::fs::read_to_string(&asked).unwrap();
    assert!(
        asked.lines().all(|host| host == registry.address) && !asked.is_empty(),
        "{asked}"
    );

    // Nothing kiln wrote holds the password.
    for entry in walk(&kiln.path(".kiln")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PASSWORD),
            "{} holds the password",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Starts `kiln ARGS` in the workspace, waits until a temporary file shows up in
/// `watched`, interrupts it, and returns its exit code.
fn interrupt_when_writing(kiln: &Kiln, args: &[&str], watched: &std::path::Path) -> Option<i32> {
    let mut child = kiln
        .process()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let writing = std::fs::read_dir(watched)
            .map(|dir| {
                dir.flatten()
                    .any(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            })
            .unwrap_or(false);
        if writing {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "{args:?} ended before writing"
        );
        assert!(std::time::Instant::now() < deadline, "{args:?} never wrote");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: kill only sends a signal to the child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    child.wait().unwrap().code()
}

/// Interrupted while writing an export archive or a file-cache tarball, kiln stops
/// (exit 130) and leaves neither a half-written file nor a finished one behind.
#[test]
fn an_interrupted_export_or_save_leaves_nothing_half_written() {
    let kiln = Kiln::new("interrupt-write", &[], None);
    let step = kiln.path("flavors/big/release");
    std::fs::create_dir_all(&step).unwrap();
    std::fs::write(
        kiln.path("flavors/big/flavor.kdl"),
        "flavor \"big\" {\n    step \"release\"\n}\n",
    )
    .unwrap();
    std::fs::write(step.join("Dockerfile"), "FROM scratch\nCOPY blob /blob\n").unwrap();
    // Incompressible, so that writing it takes a moment.
    let mut blob = vec![0u8; 64 << 20];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for chunk in blob.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(step.join("blob"), blob).unwrap();
    let output = kiln.command().args(["build"]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));

    let exports = kiln.path("exports");
    let code = interrupt_when_writing(
        &kiln,
        &["export", "--output", exports.to_str().unwrap()],
        &exports,
    );
    assert_eq!(code, Some(130));
    let left: Vec<_> = std::fs::read_dir(&exports).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");

    let cache = kiln.path(".kiln/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let code = interrupt_when_writing(&kiln, &["save"], &cache);
    assert_eq!(code, Some(130));
    let left: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// An image that cannot be removed (a container kiln does not own uses it) is not a
/// success: `kiln clean` says so and exits 1; the next clean, once it is free, removes it.
#[test]
fn clean_fails_when_an_image_cannot_be_removed() {
    let kiln = Kiln::new("clean-busy", &["checkenv", "checkenv-debug"], None);
    std::fs::create_dir_all(kiln.path("data")).unwrap();
    // An image id of this test's own: were the same content built under another name
    // on this shared daemon, removing our tag would only untag it and succeed.
    let file = kiln.path("flavors/checkenv/flavor.kdl");
    let declared = std::fs::read_to_string(&file).unwrap().replace(
        "step \"release\" {",
        &format!(
            "step \"release\" {{\n        arg \"KILN_TEST_OWNER\" \"{}\"",
            kiln.repository
        ),
    );
    std::fs::write(&file, declared).unwrap();
    kiln.build(&["build", "--flavor", "checkenv"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let daemon = runtime.block_on(common::docker::daemon());
    let release = runtime
        .block_on(daemon.images_with_label(kiln::docker::labels::MANAGED, "true"))
        .unwrap()
        .into_iter()
        .flat_map(|i| i.tags)
        .find(|t| t.starts_with(&format!("{}:checkenv-release_", kiln.repository)))
        .expect("the release image");
    let container = runtime
        .block_on(daemon.start_container(&kiln::docker::ContainerSpec {
            image: release.clone(),
            name: None,
            labels: std::collections::HashMap::from([(
                "io.kiln.test".to_owned(),
                kiln.repository.clone(),
            )]),
            mounts: vec![],
            env: vec![],
        }))
        .unwrap();

    let output = kiln
        .command()
        .args(["clean", "--flavor", "checkenv"])
        .output()
        .unwrap();
    runtime
        .block_on(daemon.remove_container(&container))
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("kiln::cli::clean_incomplete"),
        "{}",
        text(&output)
    );
    let output = kiln
        .command()
        .args(["clean", "--flavor", "checkenv"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains(&format!("removed {release}")),
        "{}",
        text(&output)
    );
}

/// A registry that cannot be reached is asked once per run, not once per step (a
/// registry that hangs costs the daemon's timeout each time).
#[test]
fn an_unreachable_registry_is_asked_once_per_run() {
    let kiln = Kiln::new("registry-down", &["slc"], Some("127.0.0.1:9"));
    let output = kiln
        .command()
        .args(["plan", "--flavor", "slc", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let warnings: Vec<String> = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["warnings"].to_string())
        .collect();
    assert!(warnings.len() > 2, "{warnings:?}");
    let asked: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("registry skipped") && !w.contains("earlier in this run"))
        .collect();
    assert_eq!(asked.len(), 1, "{warnings:#?}");
    assert!(
        warnings
            .iter()
            .filter(|w| w.contains("earlier in this run"))
            .count()
            == warnings.len() - 1,
        "{warnings:#?}"
    );
}

/// A tarball that matches its checksum but holds another image (copied over by hand,
/// say) is not loaded: kiln reads the tags it would apply first, moves the file aside
/// and builds.
#[test]
fn a_cached_tarball_of_the_wrong_image_is_not_trusted() {
    let kiln = Kiln::new("wrong-tarball", &["checkenv", "checkenv-debug"], None);
    std::fs::create_dir_all(kiln.path("data")).unwrap();
    kiln.build(&["build", "--flavor", "checkenv", "--save"]);
    let cache = kiln.path(".kiln/cache");
    let find = |part: &str, ext: &str| {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.contains(part) && name.ends_with(ext)
            })
            .unwrap()
    };
    let release = find("checkenv-release_", ".tar");
    std::fs::copy(find("checkenv-base_", ".tar"), &release).unwrap();
    std::fs::copy(
        find("checkenv-base_", ".tar.sha256"),
        find("checkenv-release_", ".tar.sha256"),
    )
    .unwrap();
    kiln.ok(&["clean", "--all"]);
    let output = kiln
        .command()
        .args(["build", "--flavor", "checkenv"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("does not hold"),
        "the warning says why: {}",
        text(&output)
    );
    let summary = common::sandbox::summary(&kiln.jobs().pop().unwrap());
    assert_eq!(
        with_result(&summary, "built"),
        ["checkenv/release"],
        "{summary:?}"
    );
    assert_eq!(with_result(&summary, "file"), ["checkenv/base"]);
    assert!(!release.exists(), "moved aside");
}

/// Docker's empty-layer bug (moby/moby#37965): on the classic builder, a COPY that
/// changes nothing (files identical to the parent's, and kiln's contexts have mtime 0)
/// makes an empty layer, and a COPY right after it fails with "failed to get layer …:
/// layer does not exist" the first time. kiln retries such a build and says so. BuildKit
/// has no such bug: the same Dockerfiles build at the first attempt.
#[test]
fn a_build_that_loses_a_layer_is_retried_until_it_gets_through() {
    let kiln = Kiln::new("lostlayer", &[], None);
    // `a` puts scripts/ and tools/ in its image; `b` copies both again (empty layers),
    // each followed by another COPY: two places where Docker's empty-layer bug strikes.
    for step in ["a", "b"] {
        for folder in ["scripts", "tools"] {
            let dir = kiln.path(&format!("flavors/l/{step}/{folder}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("run.sh"), format!("echo {folder}\n")).unwrap();
        }
    }
    // New content each run, so that no cached layer of an earlier run hides the bug.
    let nonce = format!("{:?}", std::time::SystemTime::now());
    std::fs::write(kiln.path("flavors/l/a/nonce"), &nonce).unwrap();
    std::fs::write(
        kiln.path("flavors/l/a/Dockerfile"),
        "FROM scratch\nCOPY nonce /nonce\nCOPY scripts /scripts\nCOPY tools /tools\n",
    )
    .unwrap();
    for folder in ["more", "extra"] {
        std::fs::create_dir_all(kiln.path(&format!("flavors/l/b/{folder}"))).unwrap();
        std::fs::write(kiln.path(&format!("flavors/l/b/{folder}/data")), "x\n").unwrap();
    }
    std::fs::write(
        kiln.path("flavors/l/b/Dockerfile"),
        "FROM {{ a }}\nCOPY scripts /scripts\nCOPY more /more\nCOPY tools /tools\nCOPY extra /extra\n",
    )
    .unwrap();
    std::fs::write(
        kiln.path("flavors/l/flavor.kdl"),
        "flavor \"l\" {\n    step \"a\"\n    step \"b\" { needs \"a\"; }\n}\n",
    )
    .unwrap();
    let built = kiln.build(&["--builder", "classic", "build", "-g", "b"]);
    assert_eq!(built["l/a"], "built", "{built:?}");
    assert_eq!(built["l/b"], "built", "{built:?}");
    let job = kiln.jobs().pop().unwrap();
    let log = std::fs::read_to_string(job.join("logs/l-b.log")).unwrap();
    let retries = log
        .matches("kiln: retried after the daemon lost a layer")
        .count();
    assert!(
        retries >= 1,
        "the first attempt hit the bug and was retried:\n{log}"
    );
    let events = std::fs::read_to_string(job.join("events.jsonl")).unwrap();
    assert!(
        events.contains("retried") && events.contains("moby/moby#37965"),
        "the retry is a warning of the step: {events}"
    );
    let rebuilt = kiln.build(&[
        "--builder",
        "buildkit",
        "build",
        "-g",
        "b",
        "--force-rebuild",
    ]);
    assert_eq!(rebuilt["l/b"], "built", "{rebuilt:?}");
    let job = kiln.jobs().pop().unwrap();
    let log = std::fs::read_to_string(job.join("logs/l-b.log")).unwrap();
    assert!(
        !log.contains("kiln: retried") && log.contains("COPY extra /extra"),
        "BuildKit builds it at once:\n{log}"
    );
}

/// A flavor `flavor` of two quick steps: `base` (busybox) and `release` on top of it.
fn two_steps(kiln: &Kiln, flavor: &str) {
    for (step, dockerfile) in [
        ("base", "FROM scratch\nCOPY busybox /bin/busybox\n"),
        ("release", "FROM {{ base }}\n"),
    ] {
        let dir = kiln.path(&format!("flavors/{flavor}/{step}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    }
    std::fs::write(
        kiln.path(&format!("flavors/{flavor}/flavor.kdl")),
        format!(
            "flavor \"{flavor}\" {{\n    step \"base\" {{ include \"/bin/busybox\" as=\"busybox\"; }}\n    step \"release\" {{ needs \"base\"; }}\n}}\n"
        ),
    )
    .unwrap();
}

/// What `kiln plan` says of each step: step name → (image, hash, source).
fn planned(kiln: &Kiln) -> std::collections::BTreeMap<String, (String, String, String)> {
    planned_with(kiln, &[])
}

/// Writes the checksum sidecar of `tarball` the way `kiln save` does.
fn write_sidecar(entry: &kiln::cache::image::file::Entry) {
    let digest = kiln::cache::image::file::file_sha256(&entry.tarball).unwrap();
    let name = entry.tarball.file_name().unwrap().to_string_lossy();
    std::fs::write(&entry.checksum, format!("{digest}  {name}\n")).unwrap();
}

/// The files of the cache folder whose name ends with `suffix`.
fn cached(kiln: &Kiln, suffix: &str) -> Vec<String> {
    std::fs::read_dir(kiln.path(".kiln/cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect()
}

/// The hash label of the image tagged `tag`, if the daemon has it.
fn hash_label(
    runtime: &tokio::runtime::Runtime,
    daemon: &kiln::docker::Daemon,
    tag: &str,
) -> Option<String> {
    runtime
        .block_on(daemon.inspect(tag))
        .unwrap()
        .and_then(|i| i.labels.get(kiln::docker::labels::HASH).cloned())
}

/// Another image saved under the expected name — tagged with it, so that loading it
/// gives the daemon the expected tag — with a checksum that matches, is not used: its
/// `io.kiln.hash` label is not the step's hash. The tarball is moved aside; the step
/// is built.
#[test]
fn a_cached_tarball_of_another_image_under_the_expected_name_is_not_trusted() {
    let kiln = Kiln::new("retagged-tarball", &[], None);
    two_steps(&kiln, "rt");
    kiln.build(&["build", "--save"]);
    let plan = planned(&kiln);
    let (base, release) = (&plan["base"].0, &plan["release"].0);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let daemon = runtime.block_on(common::docker::daemon());
    let entry = kiln::cache::image::file::Entry::new(&kiln.path(".kiln/cache"), release);
    runtime.block_on(daemon.remove(release, false)).unwrap();
    runtime.block_on(daemon.tag(base, release)).unwrap();
    let mut tarball = Vec::new();
    runtime
        .block_on(daemon.export(release, &mut tarball))
        .unwrap();
    std::fs::write(&entry.tarball, tarball).unwrap();
    write_sidecar(&entry);
    runtime.block_on(daemon.remove(release, false)).unwrap();

    let output = kiln.command().args(["build"]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let summary = common::sandbox::summary(&kiln.jobs().pop().unwrap());
    assert_eq!(summary["rt/release"], "built", "{summary:?}");
    assert!(
        text(&output).contains("io.kiln.hash"),
        "the warning says why: {}",
        text(&output)
    );
    assert_eq!(
        hash_label(&runtime, &daemon, release).as_deref(),
        Some(plan["release"].1.as_str())
    );
    assert!(!entry.tarball.exists(), "moved aside");
    assert_eq!(cached(&kiln, ".tar.corrupt").len(), 1);
}

/// What sits in the registry under a step's tag is pulled, but not used unless its
/// `io.kiln.hash` label is the step's hash: the tag the pull applied is removed (only
/// the tag: the image stays for the other tags it has) and the step is built.
#[test]
fn a_registry_image_of_another_step_is_not_used() {
    let registry = Registry::start();
    let kiln = Kiln::new("wrong-remote", &[], Some(&registry.address));
    two_steps(&kiln, "wr");
    kiln.build(&["build", "--push"]);
    let plan = planned(&kiln);
    let (base, release) = (&plan["base"].0, &plan["release"].0);
    let remote = |local: &str| {
        format!(
            "{}/{}:{}",
            registry.address,
            kiln.repository,
            local.rsplit_once(':').unwrap().1
        )
    };
    // The base image pushed over release's tag in the registry. The tag is removed
    // first rather than moved: the release image keeps no reference to the registry
    // repository (its digest), which the cleanup of tags would leave behind.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let daemon = runtime.block_on(common::docker::daemon());
    runtime
        .block_on(daemon.remove(&remote(release), false))
        .unwrap();
    runtime
        .block_on(daemon.tag(base, &remote(release)))
        .unwrap();
    runtime.block_on(daemon.push(&remote(release))).unwrap();
    kiln.ok(&["clean", "--all"]);

    let output = kiln.command().args(["build"]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let summary = common::sandbox::summary(&kiln.jobs().pop().unwrap());
    assert_eq!(summary["wr/base"], "registry", "{summary:?}");
    assert_eq!(summary["wr/release"], "built", "{summary:?}");
    assert!(
        text(&output).contains("which kiln recorded"),
        "the warning says why: {}",
        text(&output)
    );
    assert_eq!(
        hash_label(&runtime, &daemon, release).as_deref(),
        Some(plan["release"].1.as_str())
    );
    assert!(
        runtime
            .block_on(daemon.inspect(&remote(release)))
            .unwrap()
            .is_none(),
        "the tag the pull applied is removed"
    );
    assert_eq!(
        hash_label(&runtime, &daemon, base).as_deref(),
        Some(plan["base"].1.as_str()),
        "the image it pointed at stays, with its other tags"
    );
}

/// A tarball whose manifest tags more than the expected image (here also the base
/// step's tag) is not loaded: loading it would move that tag to another image.
#[test]
fn loading_a_tarball_never_moves_another_tag() {
    use std::io::Read;
    let kiln = Kiln::new("retag-on-load", &[], None);
    two_steps(&kiln, "rl");
    kiln.build(&["build", "--save"]);
    let plan = planned(&kiln);
    let (base, release) = (&plan["base"].0, &plan["release"].0);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let daemon = runtime.block_on(common::docker::daemon());
    let base_id = runtime.block_on(daemon.inspect(base)).unwrap().unwrap().id;

    // release's own tarball, its manifest naming base's tag too.
    let entry = kiln::cache::image::file::Entry::new(&kiln.path(".kiln/cache"), release);
    let mut archive = tar::Archive::new(std::fs::File::open(&entry.tarball).unwrap());
    let mut rewritten = tar::Builder::new(Vec::new());
    for item in archive.entries().unwrap() {
        let mut item = item.unwrap();
        let mut header = item.header().clone();
        let name = item.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        item.read_to_end(&mut data).unwrap();
        if name == "manifest.json" {
            let mut manifest: serde_json::Value = serde_json::from_slice(&data).unwrap();
            manifest[0]["RepoTags"] = serde_json::json!([release, base]);
            data = serde_json::to_vec(&manifest).unwrap();
            header.set_size(data.len() as u64);
            header.set_cksum();
        }
        rewritten.append(&header, data.as_slice()).unwrap();
    }
    std::fs::write(&entry.tarball, rewritten.into_inner().unwrap()).unwrap();
    write_sidecar(&entry);
    runtime.block_on(daemon.remove(release, false)).unwrap();

    let output = kiln.command().args(["build"]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        runtime.block_on(daemon.inspect(base)).unwrap().unwrap().id,
        base_id,
        "base's tag stays on base's image: {}",
        text(&output)
    );
    let summary = common::sandbox::summary(&kiln.jobs().pop().unwrap());
    assert_eq!(summary["rl/release"], "built", "{summary:?}");
    assert!(
        text(&output).contains(base.as_str()),
        "the warning names the other tag: {}",
        text(&output)
    );
    assert!(!entry.tarball.exists(), "moved aside");
}

/// A tarball that matches its checksum but is no tar the daemon can read is a corrupt
/// tarball — not an unreachable daemon: moved aside, the step built, and `--save`
/// writes a good one, which the next run loads.
#[test]
fn a_tarball_the_daemon_refuses_is_corrupt_and_saved_again() {
    let kiln = Kiln::new("refused-tarball", &[], None);
    two_steps(&kiln, "rf");
    kiln.build(&["build", "--save"]);
    let release = planned(&kiln)["release"].0.clone();
    let entry = kiln::cache::image::file::Entry::new(&kiln.path(".kiln/cache"), &release);
    let garbage: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&entry.tarball, garbage).unwrap();
    write_sidecar(&entry);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let daemon = runtime.block_on(common::docker::daemon());
    runtime.block_on(daemon.remove(&release, false)).unwrap();

    let output = kiln.command().args(["build", "--save"]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let shown = text(&output);
    assert!(!shown.contains("cannot reach"), "{shown}");
    assert!(shown.contains("corrupt"), "{shown}");
    let summary = common::sandbox::summary(&kiln.jobs().pop().unwrap());
    assert_eq!(summary["rf/release"], "built", "{summary:?}");
    assert_eq!(cached(&kiln, ".tar.corrupt").len(), 1, "moved aside");
    assert!(entry.present(), "saved again");

    runtime.block_on(daemon.remove(&release, false)).unwrap();
    let again = kiln.build(&["build"]);
    assert_eq!(again["rf/release"], "file", "{again:?}");
}

/// An empty checksum sidecar is a miss: `kiln plan` does not count on the file, and
/// `--save` writes the tarball and its checksum again.
#[test]
fn an_empty_sidecar_is_a_miss_that_save_rewrites() {
    let kiln = Kiln::new("empty-sidecar", &[], None);
    two_steps(&kiln, "es");
    kiln.build(&["build", "--save"]);
    let release = planned(&kiln)["release"].0.clone();
    let entry = kiln::cache::image::file::Entry::new(&kiln.path(".kiln/cache"), &release);
    std::fs::write(&entry.checksum, "").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let daemon = runtime.block_on(common::docker::daemon());
    runtime.block_on(daemon.remove(&release, false)).unwrap();

    assert_eq!(planned(&kiln)["release"].2, "built", "not from the file");
    let saved = kiln.build(&["build", "--save"]);
    assert_eq!(saved["es/release"], "built", "{saved:?}");
    let sidecar = std::fs::read_to_string(&entry.checksum).unwrap();
    assert_eq!(
        sidecar.split_whitespace().next(),
        Some(
            kiln::cache::image::file::file_sha256(&entry.tarball)
                .unwrap()
                .as_str()
        ),
        "the checksum is written again: {sidecar:?}"
    );
}

/// Two `kiln build --save` at once on one workspace: the second waits for the first's
/// lock on each image and reuses what it got, instead of building and saving it again.
#[test]
fn two_builds_at_once_build_and_save_each_image_once() {
    let kiln = Kiln::new("twobuilds", &[], None);
    sleeping_step(&kiln, "t", 3);
    let spawn = || {
        kiln.process()
            .args(["build", "--save", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let second = spawn();
    let first = first.wait_with_output().unwrap();
    let second = second.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let jobs = kiln.jobs();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let mut tiers: Vec<String> = jobs
        .iter()
        .map(|job| common::sandbox::summary(job)["t/slow"].clone())
        .collect();
    tiers.sort();
    assert_eq!(tiers, ["built", "daemon"], "built once, reused once");
    // One save wrote the tarball; the other found it there.
    let written: Vec<bool> = [&first, &second]
        .iter()
        .flat_map(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter(|event| event["result"]["type"] == "saved")
                .map(|event| event["result"]["written"].as_bool().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut written = written;
    written.sort();
    assert_eq!(written, [false, true], "saved once");
}

/// Transparent args are passed to the build but never logged: not with RUST_LOG=trace
/// (the Docker client's debug lines print each request's query, build args included),
/// not in a failing build's error, the events, or any file of the job record.
#[test]
fn a_transparent_arg_appears_in_no_output_or_file() {
    const SECRET: &str = "Pa55w0rdInProxyUrl";
    let kiln = Kiln::new("secret", &[], None);
    for (step, run) in [("good", "true"), ("bad", "false")] {
        std::fs::create_dir_all(kiln.path(&format!("flavors/s/{step}"))).unwrap();
        std::fs::write(
            kiln.path(&format!("flavors/s/{step}/Dockerfile")),
            format!(
                "FROM scratch\nARG HTTP_PROXY\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"{run}\"]\n"
            ),
        )
        .unwrap();
    }
    std::fs::write(
        kiln.path("flavors/s/flavor.kdl"),
        "flavor \"s\" {\n    step \"good\" {\n        include \"/bin/busybox\" as=\"busybox\"\n        arg \"HTTP_PROXY\" env=\"HTTP_PROXY\" transparent=#true\n    }\n    step \"bad\" {\n        include \"/bin/busybox\" as=\"busybox\"\n        arg \"HTTP_PROXY\" env=\"HTTP_PROXY\" transparent=#true\n    }\n}\n",
    )
    .unwrap();
    let output = kiln
        .command()
        .args(["-vvv", "build", "--json", "--keep-going", "--force-rebuild"])
        .env("RUST_LOG", "trace")
        .env(
            "HTTP_PROXY",
            format!("http://user:{SECRET}@proxy.invalid:3128"),
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "the bad step fails");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TRACE"), "trace logging was on");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(SECRET));
    assert!(!stderr.contains(SECRET), "stderr leaks the secret");
    for file in walk(&kiln.path(".kiln")) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "{} leaks the secret",
            file.display()
        );
    }
}

/// Ctrl-C while a large context is being hashed stops kiln at once: hashing stops
/// between two reads of a file (it ran to the end before, 54 s for 2.3 GB).
#[test]
fn an_interrupt_stops_the_hashing_of_a_large_context() {
    let kiln = Kiln::new("bighash", &[], None);
    std::fs::create_dir_all(kiln.path("flavors/h/big")).unwrap();
    std::fs::write(
        kiln.path("flavors/h/big/Dockerfile"),
        "FROM scratch\nCOPY . /x\n",
    )
    .unwrap();
    std::fs::write(
        kiln.path("flavors/h/flavor.kdl"),
        "flavor \"h\" {\n    step \"big\"\n}\n",
    )
    .unwrap();
    // 16 GiB that take no disk: reading and hashing them takes minutes.
    for name in ["a", "b"] {
        std::fs::File::create(kiln.path(&format!("flavors/h/big/{name}")))
            .unwrap()
            .set_len(8 << 30)
            .unwrap();
    }
    let mut child = kiln
        .process()
        .arg("build")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The run has begun once its job record exists; the step's hashing right after.
    let started = std::time::Instant::now();
    while kiln.jobs().is_empty() {
        assert!(started.elapsed().as_secs() < 30, "the run did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let (code, _) = exit_within(&mut child, std::time::Duration::from_secs(20));
    assert!(code.is_some(), "kiln still hashing 20 s after Ctrl-C");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", text(&output));
}

/// A socket in front of the real daemon that breaks the connection carrying a build
/// one second after the build request went through: the daemon, as far as kiln can
/// tell, went away mid-build.
fn breaking_proxy() -> common::proxy::Proxy {
    common::proxy::daemon_proxy(|seen| {
        if seen.contains("/build?") {
            common::proxy::Act::BreakAfter(std::time::Duration::from_secs(1))
        } else {
            common::proxy::Act::Pass
        }
    })
}

/// A daemon that goes away mid-build is reported as such, not as the Dockerfile line
/// that was running failing.
#[test]
fn a_daemon_lost_mid_build_is_not_a_failed_dockerfile_line() {
    let kiln = Kiln::new("lostdaemon", &[], None);
    sleeping_step(&kiln, "d", 5);
    let proxy = breaking_proxy();
    let output = kiln
        .command()
        .arg("build")
        .env("DOCKER_HOST", proxy.docker_host())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let shown = text(&output);
    assert!(
        shown.contains("kiln::docker::unreachable") && shown.contains("building `"),
        "{shown}"
    );
    assert!(!shown.contains("kiln::docker::build_failed"), "{shown}");
}

/// What a daemon lost mid-request shows: `kiln::docker::unreachable` naming its address
/// and what kiln was doing, in kiln's words — never the HTTP client's raw text.
fn assert_unreachable(shown: &str, address: &str, during: &str) {
    assert!(
        shown.contains("kiln::docker::unreachable")
            && shown.contains(&format!("cannot reach the Docker daemon at {address}"))
            && shown.contains(during),
        "{shown}"
    );
    for raw in [
        "hyper",
        "client error",
        "request_failed",
        "connection closed before message",
    ] {
        assert!(!shown.contains(raw), "`{raw}` shown: {shown}");
    }
}

/// A daemon that dies while a save streams its image (4 KiB into the answer): the save
/// fails as `kiln::docker::unreachable` naming the daemon, not as raw hyper text; `-vv`
/// adds the request that failed.
#[test]
fn a_daemon_lost_mid_save_is_named() {
    let kiln = Kiln::new("lost-save", &[], None);
    kiln.busybox_flavor("s", "app", "FROM {{ base }}\nCOPY nonce /nonce\n");
    std::fs::write(
        kiln.path("flavors/s/app/nonce"),
        format!("{:?}", std::time::SystemTime::now()),
    )
    .unwrap();
    kiln.ok(&["build"]);
    let saving = |request: &str| request.contains("/images/") && request.contains("/get");
    let proxy = common::proxy::dying_daemon(saving, 4096);
    let output = kiln
        .command()
        .arg("save")
        .env("DOCKER_HOST", proxy.docker_host())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_unreachable(&text(&output), &proxy.docker_host(), "saving `");

    let proxy = common::proxy::dying_daemon(saving, 4096);
    let output = kiln
        .command()
        .args(["-vv", "save"])
        .env("DOCKER_HOST", proxy.docker_host())
        .output()
        .unwrap();
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains(&format!(
            "a request to the Docker daemon at {} failed (saving `",
            proxy.docker_host()
        )),
        "-vv names the request: {shown}"
    );
}

/// Flavor `flavor` with one step, `slow`, whose build sleeps `seconds` — of new content
/// each time, so that no layer an earlier run cached makes it quick.
fn sleeping_step(kiln: &Kiln, flavor: &str, seconds: u32) {
    let dir = kiln.path(&format!("flavors/{flavor}/slow"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("nonce"),
        format!("{:?}", std::time::SystemTime::now()),
    )
    .unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY nonce /nonce\nRUN [\"/bin/busybox\", \"sleep\", \"{seconds}\"]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        kiln.path(&format!("flavors/{flavor}/flavor.kdl")),
        format!(
            "flavor \"{flavor}\" {{\n    step \"slow\" {{ include \"/bin/busybox\" as=\"busybox\"; }}\n}}\n"
        ),
    )
    .unwrap();
}

#[test]
fn build_info_puts_exaslcts_files_in_every_image_and_is_an_input() {
    let kiln = Kiln::new("build-info", &["slc"], None);
    let before = planned(&kiln);
    kiln.add_to_flavor("slc", "build-info #true");
    let after = planned(&kiln);
    for (step, (_, hash, _)) in &before {
        assert_ne!(&after[step].1, hash, "{step}: the setting is an input");
    }

    let built = kiln.build(&["build", "-g", "release"]);
    assert!(built.values().all(|r| r == "built"), "{built:?}");
    let image = &after["release"].0;
    let run = |args: &[&str]| {
        let output = std::process::Command::new("docker")
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--entrypoint",
                "/bin/busybox",
                image,
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        String::from_utf8(output.stdout).unwrap()
    };
    // The release image holds its own files and, through its parents, theirs.
    let listed = run(&["ls", "/build_info/image_info", "/build_info/dockerfiles"]);
    for step in [
        "release",
        "flavor_customization",
        "language_deps",
        "udfclient_deps",
    ] {
        assert_eq!(
            listed.matches(&format!("slc-{step}\n")).count(),
            2,
            "{step}: {listed}"
        );
    }
    let info: serde_json::Value =
        serde_json::from_str(&run(&["cat", "/build_info/image_info/slc-release"])).unwrap();
    assert_eq!(info["step"], "release");
    assert_eq!(
        info["depends_on"]["flavor_customization"],
        after["flavor_customization"].0.as_str()
    );
    let dockerfile = run(&["cat", "/build_info/dockerfiles/slc-release"]);
    assert!(
        dockerfile.contains(&format!("FROM {}", after["flavor_customization"].0)),
        "the rendered Dockerfile: {dockerfile}"
    );
}

#[test]
fn shortcut_gets_only_the_goal_unless_something_on_its_needs_is_built() {
    let kiln = Kiln::new("shortcut", &["slc"], None);
    let goal = ["build", "--shortcut", "-g", "release"];
    kiln.build(&["build", "--save", "-g", "release"]);
    kiln.ok(&["clean", "--all"]);
    let tags = || {
        let output = std::process::Command::new("docker")
            .args(["images", &kiln.repository, "--format", "{{.Tag}}"])
            .output()
            .unwrap();
        let mut steps: Vec<String> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|tag| {
                tag.rsplit_once('_')
                    .unwrap()
                    .0
                    .trim_start_matches("slc-")
                    .to_owned()
            })
            .collect();
        steps.sort();
        steps
    };

    // kiln plan says what it will leave where it is.
    let plan = planned_with(&kiln, &["--shortcut", "-g", "release"]);
    let left: Vec<&String> = plan
        .iter()
        .filter(|(_, (_, _, source))| source == "shortcut")
        .map(|(step, _)| step)
        .collect();
    assert_eq!(left.len(), 6, "{plan:?}");
    assert_eq!(plan["release"].2, "file");

    let loaded = kiln.build(&goal);
    assert_eq!(with_result(&loaded, "file"), ["slc/release"], "{loaded:?}");
    assert_eq!(with_result(&loaded, "shortcut").len(), 6, "{loaded:?}");
    assert_eq!(tags(), ["release"], "only the goal is in the daemon");

    // A change to the goal: its build needs the images it is built on, only those.
    let file = kiln.path("flavors/slc/release/release.txt");
    std::fs::write(&file, "changed\n").unwrap();
    let rebuilt = kiln.build(&goal);
    assert_eq!(
        with_result(&rebuilt, "built"),
        ["slc/release"],
        "{rebuilt:?}"
    );
    assert_eq!(
        tags(),
        [
            "build_run",
            "flavor_base_deps",
            "flavor_customization",
            "release",
            "release"
        ],
        "the direct needs were loaded for the build, nothing below them"
    );
}

/// What `kiln plan ARGS` says of each step: step name → (image, hash, source).
fn planned_with(
    kiln: &Kiln,
    args: &[&str],
) -> std::collections::BTreeMap<String, (String, String, String)> {
    planned_at(kiln.root(), args)
        .into_iter()
        .map(|(node, planned)| (node.rsplit_once('/').unwrap().1.to_owned(), planned))
        .collect()
}

#[test]
fn a_forced_rebuild_runs_every_instruction_again() {
    let kiln = Kiln::new("fresh", &[], None);
    let dir = kiln.path("flavors/f/stamp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox date +%s%N > /stamp\"]\n",
    )
    .unwrap();
    std::fs::write(
        kiln.path("flavors/f/flavor.kdl"),
        "flavor \"f\" { step \"stamp\" { include \"/bin/busybox\" as=\"busybox\"; } }\n",
    )
    .unwrap();
    let image = || planned(&kiln)["stamp"].0.clone();
    let stamp = || {
        let output = std::process::Command::new("docker")
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--entrypoint",
                "/bin/busybox",
            ])
            .args([image().as_str(), "cat", "/stamp"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        String::from_utf8(output.stdout).unwrap()
    };
    kiln.build(&["build"]);
    let first = stamp();
    // Gone from the daemon, built again: the layer cache answers the RUN.
    kiln.ok(&["clean", "--all"]);
    assert_eq!(kiln.build(&["build"])["f/stamp"], "built");
    assert_eq!(stamp(), first, "an ordinary build takes the cached layer");
    // Forced: the RUN runs again.
    assert_eq!(
        kiln.build(&["build", "--force-rebuild"])["f/stamp"],
        "built"
    );
    assert_ne!(stamp(), first, "--force-rebuild ran the RUN again");
}

#[test]
fn a_running_build_says_which_instruction_it_is_on() {
    let kiln = Kiln::new("status", &[], None);
    // A nonce in the RUN line: no cache of another test or run answers it.
    let nonce = format!("{}-{}", std::process::id(), line!());
    kiln.busybox_flavor(
        "s",
        "app",
        &format!("FROM {{{{ base }}}}\nRUN echo {nonce} > /nonce\n"),
    );
    let output = kiln.ok(&["build", "--json"]);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let of_app: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["id"].as_str().is_some_and(|id| id.starts_with("s/app")))
        .collect();
    let kinds: Vec<&str> = of_app.iter().filter_map(|e| e["kind"].as_str()).collect();
    let status = of_app
        .iter()
        .position(|e| {
            e["kind"] == "status"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("RUN echo") && m.contains(&nonce))
        })
        .unwrap_or_else(|| panic!("no status names the RUN: {kinds:?}\n{}", text(&output)));
    // Said while the build ran: after its start, before its end.
    let node = &of_app[status]["node"];
    let position = |kind: &str| {
        of_app
            .iter()
            .position(|e| &e["node"] == node && e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} event: {kinds:?}"))
    };
    assert!(
        position("started") < status && status < position("succeeded"),
        "{kinds:?}"
    );
}

#[test]
fn a_base_image_kiln_does_not_build_is_an_input_of_the_steps_on_it() {
    let kiln = Kiln::new("external-base", &[], None);
    // The base: made outside kiln (here by the docker CLI), under a name of the test's
    // repository so that the test's clean-up removes it.
    let base = format!("{}:external-base", kiln.repository);
    let context = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", context.path().join("busybox")).unwrap();
    let make_base = |version: &str| {
        std::fs::write(context.path().join("version"), version).unwrap();
        std::fs::write(
            context.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY version /version\n",
        )
        .unwrap();
        common::sandbox::docker_cli(&[
            "build",
            "-q",
            "-t",
            &base,
            context.path().to_str().unwrap(),
        ]);
    };
    make_base("1");
    let dir = kiln.path("flavors/e/env");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {base}\nCOPY marker /marker\n"),
    )
    .unwrap();
    std::fs::write(dir.join("marker"), "m\n").unwrap();
    std::fs::write(
        kiln.path("flavors/e/flavor.kdl"),
        "flavor \"e\" { step \"env\"; }\n",
    )
    .unwrap();

    assert_eq!(kiln.build(&["build"])["e/env"], "built");
    assert_eq!(kiln.build(&["build"])["e/env"], "daemon");

    // The base rebuilt under the same name: the step's inputs changed.
    make_base("2");
    let output = kiln.ok(&["explain", "e/env"]);
    let shown = text(&output);
    assert!(shown.contains("would be built"), "{shown}");
    assert!(
        shown.contains(&format!("base image `{base}` changed")),
        "{shown}"
    );
    assert_eq!(kiln.build(&["build"])["e/env"], "built");
    assert_eq!(kiln.build(&["build"])["e/env"], "daemon");

    // A base the daemon lacks and no registry has: a clear error, before any build.
    common::sandbox::docker_cli(&["image", "rm", &base]);
    std::fs::write(dir.join("marker"), "m2\n").unwrap();
    let output = kiln.command().arg("build").output().unwrap();
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("kiln::build::base_unavailable"), "{shown}");
}
