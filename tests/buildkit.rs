//! BuildKit builds against the real daemon, with the example workspace
//! examples/buildkit: a step with a cache mount and a build secret. The secret reaches
//! the RUN (the step fails without it) and appears in no image, log, job record or
//! output; the cache mount outlives the image and is in no layer; the classic builder
//! refuses the step naming it.
//!
//! The daemon is shared: the test's workspace has its own image repository, its cache
//! mount its own id, and the cache record it leaves in BuildKit is pruned by its id.

mod common;

use std::path::Path;

use common::sandbox::{Kiln, copy_dir, docker_cli as docker, summary_field, text};

/// A copy of the example workspace under a repository and cache id of its own.
fn example(test: &str) -> (Kiln, String) {
    let kiln = Kiln::new(test, &[], None);
    let from = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/buildkit"));
    copy_dir(&from.join("flavors"), &kiln.path("flavors"));
    let settings = std::fs::read_to_string(from.join("kiln.kdl")).unwrap();
    let own = r#"repository "kiln-buildkit-example""#;
    assert!(settings.contains(own), "{settings}");
    std::fs::write(
        kiln.path("kiln.kdl"),
        settings.replace(own, &format!("repository \"{}\"", kiln.repository)),
    )
    .unwrap();
    // The cache mount's id, and a mark in its RUN line that names the cache record
    // BuildKit keeps for it (its description holds the command).
    let nonce = kiln.repository.clone();
    let dockerfile = kiln.path("flavors/tools/packages/Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    assert!(text.contains("id=kiln-example-downloads"), "{text}");
    let text = text
        .replace("id=kiln-example-downloads", &format!("id={nonce}"))
        .replace(
            "/var/cache/downloads\n",
            &format!("/var/cache/downloads # {nonce}\n"),
        );
    std::fs::write(&dockerfile, text).unwrap();
    (kiln, nonce)
}

/// Prunes the BuildKit cache records whose description holds `nonce` when dropped.
struct CacheRecords(String);

impl Drop for CacheRecords {
    fn drop(&mut self) {
        let Ok(listed) = std::process::Command::new("docker")
            .args(["system", "df", "-v", "--format", "{{json .BuildCache}}"])
            .output()
        else {
            return;
        };
        let records: Vec<serde_json::Value> =
            serde_json::from_slice(&listed.stdout).unwrap_or_default();
        for record in records {
            let mine = record["Description"]
                .as_str()
                .is_some_and(|d| d.contains(&self.0));
            if let (true, Some(id)) = (mine, record["ID"].as_str()) {
                let _ = std::process::Command::new("docker")
                    .args(["builder", "prune", "--force", "--filter"])
                    .arg(format!("id={id}"))
                    .output();
            }
        }
    }
}

/// A file of `image`, read by a container without network.
fn file_of(image: &str, path: &str) -> String {
    let out = docker(&["run", "--rm", "--network", "none", image, "cat", path]);
    String::from_utf8(out).unwrap()
}

fn image_of(kiln: &Kiln, node: &str) -> String {
    let job = kiln.jobs().pop().unwrap();
    summary_field(&job, "image")
        .remove(node)
        .unwrap_or_else(|| panic!("no image of {node} in {}", job.display()))
}

fn every_file(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            every_file(&entry.path(), out);
        } else {
            out.push(entry.path());
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_cache_mount_outlives_the_image_and_a_secret_reaches_only_the_run() {
    let (kiln, nonce) = example("bk-example");
    let _records = CacheRecords(nonce.clone());
    let secret = format!("token-{nonce}-value");
    // With every log line kiln and its libraries write, too.
    let build = |token: &str| {
        let output = kiln
            .command()
            .args(["--builder", "buildkit", "build"])
            .env("MIRROR_TOKEN", token)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        output
    };

    let first = build(&secret);
    let image = image_of(&kiln, "tools/packages");
    let log = file_of(&image, "/opt/packages/fetch.log");
    assert_eq!(
        log, "zlib 1.3.1: downloaded\nlibffi 3.4.6: downloaded\n",
        "a cold cache downloads every package"
    );
    let cache = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "ls",
        "-A",
        "/var/cache/downloads",
    ]);
    assert!(cache.is_empty(), "the downloads are in no layer: {cache:?}");

    // A changed package list runs the RUN again; the cache mount still holds what the
    // first build downloaded.
    let list = kiln.path("flavors/tools/packages/packages.txt");
    let mut packages = std::fs::read_to_string(&list).unwrap();
    packages.push_str("xz 5.6.2\n");
    std::fs::write(&list, packages).unwrap();
    let second = build(&secret);
    let changed = image_of(&kiln, "tools/packages");
    assert_ne!(changed, image);
    assert_eq!(
        file_of(&changed, "/opt/packages/fetch.log"),
        "zlib 1.3.1: from the download cache\nlibffi 3.4.6: from the download cache\nxz 5.6.2: downloaded\n"
    );

    // Another token changes no hash: nothing is built again.
    let third = build("another-token");
    let job = kiln.jobs().pop().unwrap();
    let summary = std::fs::read_to_string(job.join("summary.json")).unwrap();
    assert!(
        !summary.contains("\"built\""),
        "a secret is not an input: {summary}"
    );

    // The token is nowhere: not in either image (layers, config, history), not in
    // kiln's output, not in a file kiln wrote.
    for image in [&image, &changed] {
        let saved = docker(&["save", image]);
        assert!(!contains(&saved, &secret), "{image} holds the secret");
        let history = docker(&["history", "--no-trunc", image]);
        assert!(!contains(&history, &secret));
    }
    for output in [&first, &second, &third] {
        assert!(!contains(&output.stdout, &secret) && !contains(&output.stderr, &secret));
    }
    let mut files = Vec::new();
    every_file(&kiln.path(".kiln"), &mut files);
    assert!(files.len() > 5, "the job records are there: {files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, &secret),
            "{} holds the secret",
            file.display()
        );
    }
    // The build log says what BuildKit did, step by step.
    let log_dir = kiln.jobs()[1].join("logs");
    let log = std::fs::read_to_string(log_dir.join("tools-packages.log")).unwrap();
    assert!(
        log.contains("RUN --mount=type=cache") && log.contains("DONE"),
        "{log}"
    );
}

#[test]
fn the_step_fails_without_its_secret_and_the_classic_builder_names_it() {
    let (kiln, nonce) = example("bk-refused");
    let _records = CacheRecords(nonce);
    let unset = kiln
        .command()
        .args(["--builder", "buildkit", "build"])
        .env_remove("MIRROR_TOKEN")
        .output()
        .unwrap();
    let shown = text(&unset);
    assert_eq!(unset.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("kiln::build::secret_unset") && shown.contains("$MIRROR_TOKEN"),
        "{shown}"
    );

    let classic = kiln
        .command()
        .args(["--builder", "classic", "build"])
        .env("MIRROR_TOKEN", "x")
        .output()
        .unwrap();
    let shown = text(&classic);
    assert_eq!(classic.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("kiln::build::secrets_need_buildkit")
            && shown.contains("step `tools/packages` declares build secrets (mirror-token)"),
        "{shown}"
    );
    // The step without secrets was built by the classic builder all the same.
    let job = kiln.jobs().pop().unwrap();
    let summary = std::fs::read_to_string(job.join("summary.json")).unwrap();
    assert!(summary.contains("tools/base"), "{summary}");
}

#[test]
fn a_failing_instruction_is_shown_at_its_dockerfile_line_by_both_builders() {
    let kiln = Kiln::new("bk-fails", &[], None);
    kiln.busybox_flavor(
        "f",
        "broken",
        "FROM {{ base }}\n# prepare\nRUN echo preparing\nRUN echo broken-output \\\n    && exit 3\nRUN echo never\n",
    );
    for builder in ["buildkit", "classic"] {
        let output = kiln
            .command()
            .args(["--builder", builder, "build", "-g", "broken"])
            .output()
            .unwrap();
        let shown = text(&output);
        assert_eq!(output.status.code(), Some(1), "{builder}: {shown}");
        assert!(
            shown.contains("failed at flavors/f/broken/Dockerfile:4:")
                && shown.contains("RUN echo broken-output")
                && shown.contains("failed here"),
            "{builder}: {shown}"
        );
        assert!(
            shown.contains("broken-output") && !shown.contains("never"),
            "{builder}: the output tail is shown: {shown}"
        );
        assert!(
            shown.contains("full log:") && shown.contains("f-broken.log"),
            "{builder}: {shown}"
        );
    }
}

/// The builder is in no hash: an image one builder built is the other's too, and a
/// rebuild by the other gets the same tag, with kiln's labels.
#[test]
fn both_builders_give_the_same_tags_and_reuse_each_others_images() {
    let kiln = Kiln::new("bk-same", &[], None);
    kiln.busybox_flavor(
        "s",
        "app",
        "FROM {{ base }}\nCOPY app.txt /app.txt\nRUN wc -c /app.txt > /size\n",
    );
    std::fs::write(
        kiln.path("flavors/s/app/app.txt"),
        kiln.repository.as_bytes(),
    )
    .unwrap();
    let classic = kiln.build(&["--builder", "classic", "build", "-g", "app"]);
    assert_eq!(classic["s/app"], "built", "{classic:?}");
    let classic_tag = image_of(&kiln, "s/app");

    let reused = kiln.build(&["--builder", "buildkit", "build", "-g", "app"]);
    assert_eq!(reused["s/app"], "daemon", "{reused:?}");
    assert_eq!(image_of(&kiln, "s/app"), classic_tag);

    let rebuilt = kiln.build(&[
        "--builder",
        "buildkit",
        "build",
        "-g",
        "app",
        "--force-rebuild",
    ]);
    assert_eq!(rebuilt["s/app"], "built", "{rebuilt:?}");
    assert_eq!(image_of(&kiln, "s/app"), classic_tag);
    let labels = docker(&[
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        &classic_tag,
    ]);
    let labels: serde_json::Value = serde_json::from_slice(&labels).unwrap();
    assert!(
        labels["io.kiln.hash"]
            .as_str()
            .is_some_and(|h| classic_tag.contains(&h[..20])),
        "{labels}"
    );
    assert_eq!(
        file_of(&classic_tag, "/size").split_whitespace().next(),
        Some(kiln.repository.len().to_string().as_str())
    );
    let job = kiln.jobs().pop().unwrap();
    let summary = std::fs::read_to_string(job.join("summary.json")).unwrap();
    assert!(summary.contains("\"builder\": \"buildkit\""), "{summary}");
}

/// A `FROM` of an image kiln does not build, in a registry that wants a login. Named
/// through a build arg (`FROM $BASE`, which kiln does not track), BuildKit pulls it
/// itself and asks kiln's session for the login (the credentials kiln pushes with);
/// named plainly, kiln pulls it first with the same credentials (it is an input of the
/// hash). Without them both pulls are refused.
#[test]
fn buildkit_pulls_a_base_from_a_registry_that_wants_a_login_through_kilns_session() {
    const PASSWORD: &str = "kiln-bk-pw";
    let registry = common::docker::Registry::start_with_login("kiln", PASSWORD);
    let kiln = Kiln::new("bk-login", &[], Some(&registry.address));
    std::fs::create_dir_all(kiln.path("flavors/ext/base")).unwrap();
    std::fs::create_dir_all(kiln.path("flavors/ext/app")).unwrap();
    std::fs::write(
        kiln.path("flavors/ext/base/Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    )
    .unwrap();
    std::fs::write(
        kiln.path("flavors/ext/flavor.kdl"),
        "flavor \"ext\" { step \"base\" { include \"/bin/busybox\" as=\"busybox\"; } }\n",
    )
    .unwrap();
    let login = |cmd: &mut assert_cmd::Command| {
        cmd.env("KILN_REGISTRY_USER", "kiln")
            .env("KILN_REGISTRY_PASSWORD", PASSWORD);
    };
    let pushed = kiln.build_with(&["push"], login);
    assert_eq!(pushed["ext/base"], "built", "{pushed:?}");
    let local = image_of(&kiln, "ext/base");
    let remote = format!("{}/{local}", registry.address);
    // Only the registry has it now: the app step's FROM names it as an outside base.
    kiln.ok(&["clean", "--all"]);
    let _ = std::process::Command::new("docker")
        .args(["rmi", &remote])
        .output();
    std::fs::write(
        kiln.path("flavors/ext/app/Dockerfile"),
        format!("ARG BASE={remote}\nFROM $BASE\nRUN [\"/bin/busybox\", \"touch\", \"/app\"]\n"),
    )
    .unwrap();
    std::fs::write(
        kiln.path("flavors/ext/flavor.kdl"),
        "flavor \"ext\" { step \"app\"; }\n",
    )
    .unwrap();

    let refused = kiln
        .command()
        .args(["--builder", "buildkit", "build"])
        .env_remove("KILN_REGISTRY_USER")
        .env_remove("KILN_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", kiln.path("no-docker-config"))
        .output()
        .unwrap();
    let shown = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{shown}");
    assert!(shown.contains("401 Unauthorized"), "{shown}");

    let output = kiln
        .command()
        .args(["--builder", "buildkit", "build"])
        .env("KILN_REGISTRY_USER", "kiln")
        .env("KILN_REGISTRY_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    let built = image_of(&kiln, "ext/app");
    docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &built,
        "/bin/busybox",
        "test",
        "-f",
        "/app",
    ]);

    // Named plainly: kiln pulls the base first, with the login or refused without.
    kiln.ok(&["clean", "--all"]);
    let _ = std::process::Command::new("docker")
        .args(["rmi", &remote])
        .output();
    std::fs::write(
        kiln.path("flavors/ext/app/Dockerfile"),
        format!("FROM {remote}\nRUN [\"/bin/busybox\", \"touch\", \"/app\"]\n"),
    )
    .unwrap();
    let refused = kiln
        .command()
        .args(["--builder", "buildkit", "build"])
        .env_remove("KILN_REGISTRY_USER")
        .env_remove("KILN_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", kiln.path("no-docker-config"))
        .output()
        .unwrap();
    let shown = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("kiln::build::base_unavailable") && shown.contains("wants a login"),
        "{shown}"
    );
    let pulled = kiln.build_with(&["build"], login);
    assert_eq!(pulled["ext/app"], "built", "{pulled:?}");
    let _ = std::process::Command::new("docker")
        .args(["rmi", &remote])
        .output();
}
