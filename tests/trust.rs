//! Trusting shared caches (docs/guarantees.md): signing keys, the record beside every
//! image kiln stores in the file cache or the registry, and loading the very bytes a
//! check read. Attacks are made as an attacker who can write the file cache folder or
//! push to the registry would make them: a derived image (`FROM` the step's image, one
//! `RUN` more) under the step's name, an entry without a signature, a tarball swapped
//! while it is loaded.

mod common;

use std::path::Path;

use common::docker::Registry;
use common::sandbox::{Kiln, docker_cli, summary, text};

/// A workspace of flavor `t`: `base` (busybox) and `release` on it, with `signing` set
/// to `signing` (KDL body) when given.
fn workspace(test: &str, registry: Option<&str>, signing: Option<&str>) -> Kiln {
    let kiln = Kiln::new(test, &[], registry);
    for (step, dockerfile) in [
        ("base", "FROM scratch\nCOPY busybox /bin/busybox\n"),
        (
            "release",
            "FROM {{ base }}\nCOPY release.txt /release.txt\n",
        ),
    ] {
        let dir = kiln.path(&format!("flavors/t/{step}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    }
    // Content of the test's own, so that no other test's image is this one.
    std::fs::write(kiln.path("flavors/t/release/release.txt"), &kiln.repository).unwrap();
    std::fs::write(
        kiln.path("flavors/t/flavor.kdl"),
        "flavor \"t\" {\n    step \"base\" { include \"/bin/busybox\" as=\"busybox\"; }\n    step \"release\" { needs \"base\"; }\n}\n",
    )
    .unwrap();
    if let Some(body) = signing {
        set_signing(&kiln, body);
    }
    kiln
}

/// Replaces the `signing` block of kiln.kdl.
fn set_signing(kiln: &Kiln, body: &str) {
    let path = kiln.path("kiln.kdl");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: String = match text.find("signing {") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    std::fs::write(&path, format!("{kept}signing {{\n{body}\n}}\n")).unwrap();
}

/// A new key: (its secret text, the `trust` line of its public key).
fn new_key(dir: &Path) -> (String, String) {
    let file = dir.join(format!("key-{}", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let output = assert_cmd::Command::cargo_bin("kiln")
        .unwrap()
        .arg("keygen")
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    let trust = shown
        .lines()
        .find(|l| l.trim_start().starts_with("trust "))
        .unwrap_or_else(|| panic!("keygen prints the trust line: {shown}"))
        .trim()
        .to_owned();
    let secret = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    (secret, trust)
}

/// The image and hash `kiln plan` gives step `step`.
fn planned(kiln: &Kiln, step: &str) -> (String, String) {
    let plan = common::sandbox::planned_at(kiln.root(), &[]);
    let (_, (image, hash, _)) = plan
        .into_iter()
        .find(|(node, _)| node.ends_with(&format!("/{step}")))
        .unwrap();
    (image, hash)
}

/// Builds `FROM image` one layer more (`/TAMPERED`), tagged `tag`: it inherits every
/// label of `image`, `io.kiln.hash` among them.
fn derive(image: &str, tag: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("docker")
        .args(["build", "-q", "-t", tag, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    write!(
        child.stdin.take().unwrap(),
        "FROM {image}\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo TAMPERED > /TAMPERED\"]\n"
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    image_id(tag).unwrap()
}

fn image_id(reference: &str) -> Option<String> {
    let output = std::process::Command::new("docker")
        .args(["image", "inspect", "-f", "{{.Id}}", reference])
        .output()
        .unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Runs kiln with the signing key `secret` (or none) at `-vv`; the key is never shown.
fn run(kiln: &Kiln, secret: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = kiln.command();
    cmd.arg("-vv").args(args).env_remove("KILN_SIGNING_KEY");
    if let Some(secret) = secret {
        cmd.env("KILN_SIGNING_KEY", secret);
    }
    let output = cmd.output().unwrap();
    if let Some(secret) = secret {
        let body = secret.split_once(':').unwrap().1;
        assert!(!text(&output).contains(body), "the key is never shown");
    }
    output
}

/// Whether any file under `dir` holds `needle`.
fn holds(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// With a key, an image derived from the step's image (its label is the step's hash)
/// put under the step's name in the file cache and in the registry is never used: the
/// record signed when kiln stored the step's image names another image id. The file
/// cache's tarball is moved aside, the registry's tag the pull applied removed, and the
/// step comes from the next tier or is built; with `require-signed` the run fails.
#[test]
fn a_derived_image_is_never_used_from_the_file_cache_or_the_registry() {
    let registry = Registry::start();
    let keys = tempfile::tempdir().unwrap();
    let (secret, trust) = new_key(keys.path());
    let kiln = workspace("trust-derived", Some(&registry.address), Some(&trust));
    let built = run(&kiln, Some(&secret), &["build", "--save", "--push"]);
    assert!(built.status.success(), "{}", text(&built));
    let (release, _) = planned(&kiln, "release");
    let genuine = image_id(&release).unwrap();
    let cache = kiln.path(".kiln/cache");
    let entry = kiln::cache::image::file::Entry::new(&cache, &release);
    let record = std::fs::read_to_string(&entry.record).unwrap();
    assert!(record.contains(&genuine), "{record}");
    assert!(record.contains("\"signature\""), "signed: {record}");

    // The file cache: the derived image saved under the step's name, with a checksum
    // that matches; the record stays.
    let derived_tag = format!("{}:derived", kiln.repository);
    let derived = derive(&release, &derived_tag);
    docker_cli(&["tag", &derived_tag, &release]);
    std::fs::write(&entry.tarball, docker_cli(&["save", &release])).unwrap();
    let digest = kiln::cache::image::file::file_sha256(&entry.tarball).unwrap();
    let name = entry.tarball.file_name().unwrap().to_string_lossy();
    std::fs::write(&entry.checksum, format!("{digest}  {name}\n")).unwrap();
    docker_cli(&["rmi", &release]);
    let output = run(&kiln, Some(&secret), &["build"]);
    assert!(output.status.success(), "{}", text(&output));
    let got = summary(&kiln.jobs().pop().unwrap());
    assert_eq!(got["t/release"], "registry", "{got:?}\n{}", text(&output));
    assert!(
        text(&output).contains("which kiln recorded"),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains("file cache"), "{}", text(&output));
    assert_eq!(image_id(&release).as_deref(), Some(genuine.as_str()));
    assert!(
        !entry.tarball.exists(),
        "the derived tarball was moved aside"
    );

    // The registry: the derived image pushed over the step's tag; the record stays.
    let remote = format!(
        "{}/{}:{}",
        registry.address,
        kiln.repository,
        release.rsplit_once(':').unwrap().1
    );
    docker_cli(&["tag", &derived_tag, &remote]);
    docker_cli(&["push", &remote]);
    docker_cli(&["rmi", &remote]);
    docker_cli(&["rmi", &release]);
    let output = run(&kiln, Some(&secret), &["build"]);
    assert!(output.status.success(), "{}", text(&output));
    let got = summary(&kiln.jobs().pop().unwrap());
    assert_eq!(got["t/release"], "built", "{got:?}\n{}", text(&output));
    assert!(
        text(&output).contains("registry: the image of"),
        "{}",
        text(&output)
    );
    assert_ne!(image_id(&release).as_deref(), Some(derived.as_str()));

    // With require-signed the same is an error.
    set_signing(&kiln, &format!("{trust}\nrequire-signed #true"));
    docker_cli(&["rmi", &release]);
    let output = run(&kiln, Some(&secret), &["build"]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("kiln::cache::untrusted"),
        "{}",
        text(&output)
    );
    assert_eq!(
        image_id(&release),
        None,
        "the derived image never got the tag"
    );

    assert_eq!(
        holds(kiln.root(), secret.split_once(':').unwrap().1.as_bytes()),
        Vec::<String>::new(),
        "the key is in no file of the workspace"
    );
}

/// An entry stored without a key is not used once kiln.kdl trusts a key (one warning,
/// the step is built), and a run that trusts keys but has none to sign stores nothing
/// into a shared tier (a clear error, not an entry others would refuse).
#[test]
fn unsigned_entries_are_not_used_and_a_reader_stores_none() {
    let keys = tempfile::tempdir().unwrap();
    let (_, trust) = new_key(keys.path());
    let kiln = workspace("trust-unsigned", None, None);
    let saved = run(&kiln, None, &["build", "--save"]);
    assert!(saved.status.success(), "{}", text(&saved));
    let (release, _) = planned(&kiln, "release");
    set_signing(&kiln, &trust);
    kiln.ok(&["clean", "--all"]);
    let output = run(&kiln, None, &["build"]);
    assert!(output.status.success(), "{}", text(&output));
    let got = summary(&kiln.jobs().pop().unwrap());
    assert_eq!(got["t/release"], "built", "{got:?}");
    assert!(
        text(&output).contains("not used: it is not signed"),
        "{}",
        text(&output)
    );
    assert!(image_id(&release).is_some());
    let output = run(&kiln, None, &["save"]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("kiln::cache::cannot_sign"),
        "{}",
        text(&output)
    );
}

/// `kiln keygen` writes a key only its owner reads, never over a file, and prints the
/// line readers trust it by; config refuses a key file inside the workspace, a
/// malformed key in KILN_SIGNING_KEY and `require-signed` with no key, each pointing at
/// what to change.
#[test]
fn keys_are_made_kept_outside_and_checked() {
    use std::os::unix::fs::PermissionsExt;
    let keys = tempfile::tempdir().unwrap();
    let (secret, trust) = new_key(keys.path());
    let file = keys.path().join(format!("key-{}", std::process::id()));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(trust.starts_with("trust \"ed25519:"), "{trust}");
    let again = assert_cmd::Command::cargo_bin("kiln")
        .unwrap()
        .arg("keygen")
        .arg(&file)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success() && shown.contains(&trust), "{shown}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        secret,
        "kept"
    );

    let kiln = workspace("trust-config", None, None);
    std::fs::write(kiln.path("signing.key"), format!("{secret}\n")).unwrap();
    set_signing(&kiln, "key-file \"signing.key\"");
    let output = run(&kiln, None, &["validate"]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("inside the workspace"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains(secret.split_once(':').unwrap().1));

    set_signing(&kiln, &format!("key-file \"{}\"", file.display()));
    kiln.ok(&["validate"]);
    set_signing(&kiln, "trust \"ed25519:AAAA\"\nrequire-signed #true");
    let output = run(&kiln, None, &["validate"]);
    assert!(
        text(&output).contains("kiln::config::key"),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains("trusted key"), "{}", text(&output));
    // A secret pasted where the public key belongs is named by its line, never shown.
    set_signing(&kiln, &format!("trust \"{secret}\""));
    let output = run(&kiln, None, &["validate"]);
    assert!(
        text(&output).contains("kiln::config::secret_key"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains(secret.split_once(':').unwrap().1));
    set_signing(&kiln, "require-signed #true");
    let output = run(&kiln, None, &["validate"]);
    assert!(
        text(&output).contains("no key to check signatures against"),
        "{}",
        text(&output)
    );
    set_signing(&kiln, &trust);
    let output = run(&kiln, Some("ed25519-secret:not-a-key"), &["validate"]);
    assert!(
        text(&output).contains("kiln::config::environment"),
        "{}",
        text(&output)
    );
}

/// The file cache loads the bytes its check read: a tarball rewritten after the check
/// — here one that would also tag another image — is stopped before its end, the
/// daemon loads nothing and no tag moves.
#[tokio::test]
async fn a_tarball_that_changed_after_its_check_is_never_loaded() {
    let kiln = workspace("trust-swap", None, None);
    kiln.ok(&["build"]);
    let (release, _) = planned(&kiln, "release");
    let (base, _) = planned(&kiln, "base");
    let victim = format!("{}:victim", kiln.repository);
    docker_cli(&["tag", &base, &victim]);
    let victim_id = image_id(&victim).unwrap();
    // What an attacker puts in place: another image under the step's name and the
    // victim's.
    let evil_tag = format!("{}:evil", kiln.repository);
    derive(&release, &evil_tag);
    let genuine_id = image_id(&release).unwrap();
    docker_cli(&["tag", &evil_tag, &release]);
    docker_cli(&["tag", &evil_tag, &victim]);
    let evil = docker_cli(&["save", &release, &victim]);
    docker_cli(&["tag", &base, &victim]);
    docker_cli(&["tag", &genuine_id, &release]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tar");
    std::fs::write(&path, &evil).unwrap();
    // Swapped the moment kiln opens the tarball (as an attacker watching the folder
    // with inotify would): renamed over it, or rewritten in place, after its first open
    // and after its second (a loader that opens the file again to load it would load
    // the swapped one then).
    kiln.ok(&["save"]);
    let entry = kiln::cache::image::file::Entry::new(&kiln.path(".kiln/cache"), &release);
    let genuine = dir.path().join("genuine.tar");
    std::fs::copy(&entry.tarball, &genuine).unwrap();
    for (opens, in_place) in [(1, false), (2, false), (1, true), (2, true)] {
        docker_cli(&["rmi", &release]);
        let next = entry.tarball.with_extension("swap");
        std::fs::copy(&path, &next).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut watcher = notify::recommended_watcher(tx).unwrap();
        use notify::Watcher;
        watcher
            .watch(
                entry.tarball.parent().unwrap(),
                notify::RecursiveMode::NonRecursive,
            )
            .unwrap();
        let swapper = {
            let (tarball, next) = (entry.tarball.clone(), next.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                for event in rx.into_iter().flatten() {
                    let opened = matches!(
                        event.kind,
                        notify::EventKind::Access(notify::event::AccessKind::Open(_))
                    );
                    if opened && event.paths.contains(&tarball) {
                        seen += 1;
                        if seen == opens {
                            if in_place {
                                std::fs::write(&tarball, std::fs::read(&next).unwrap()).unwrap();
                            } else {
                                std::fs::rename(&next, &tarball).unwrap();
                            }
                            return true;
                        }
                    }
                }
                false
            })
        };
        let output = kiln.command().args(["build"]).output().unwrap();
        drop(watcher);
        let swapped = swapper.join().unwrap();
        assert!(output.status.success(), "{}", text(&output));
        assert_eq!(
            image_id(&victim).as_deref(),
            Some(victim_id.as_str()),
            "swapped after open {opens} ({swapped}, in place: {in_place}): the victim's tag never moves: {}",
            text(&output)
        );
        // The bytes read are the genuine ones (a rename after the open, or a rewrite
        // after the copy), or a rewrite caught in the middle of the copy fails its
        // checksum and the step is built: never the attacker's image.
        let got = summary(&kiln.jobs().pop().unwrap());
        assert!(
            ["file", "built"].contains(&got["t/release"].as_str()),
            "{got:?}: {}",
            text(&output)
        );
        if !in_place {
            assert_eq!(got["t/release"], "file", "{}", text(&output));
        }
        assert_ne!(
            image_id(&release),
            image_id(&evil_tag),
            "never the swapped image"
        );
        // The genuine entry back for the next round.
        let _ = std::fs::remove_file(&next);
        std::fs::copy(&genuine, &entry.tarball).unwrap();
    }
}
