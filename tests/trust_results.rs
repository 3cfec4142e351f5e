//! Results fetched from the registry are hostile: with a trusted key, a result whose
//! signature is missing or does not match what travels with it is never used (the entity
//! runs, one warning names the tier), and with `require-signed` it fails the run; without
//! keys results travel as before; a fetched log is bounded before it is fetched; a
//! loopback registry is never proxied; the signing key shows in no output and no file.
//!
//! The way the attacks were made: a real registry (Debian's docker-registry on a
//! loopback port), artifacts rewritten by the test through oci-client (or, for a 1 GiB
//! blob, streamed up by curl), the real daemon and the real kiln binary. Workspace A
//! produces and pushes results; workspace B, another folder with an empty `.kiln`, runs
//! the same check against the same registry repository.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::docker::{Registry, free_port};
use common::sandbox::{Kiln, text};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;

const FLAVOR: &str = "trusted";
const RESULT_TYPE: &str = "application/vnd.kiln.result.v1+json";
const LOG_TYPE: &str = "application/vnd.kiln.result.log.v1";
const SIGNATURE: &str = "io.kiln.signature";
/// What every entity prints before it fails: a run leaves it in the entity's log.
const OUTPUT: &str = "checking-the-entity-for-real";

/// A workspace of flavor `trusted` (busybox, and an environment step of content of its
/// own) whose check `c` runs each of `entities` and fails it (exit 3: `script-error`),
/// on registry repository `remote`, with `signing` (a KDL block, or "") in its kiln.kdl.
fn workspace(test: &str, remote: &str, signing: &str, entities: &[&str]) -> Kiln {
    let kiln = Kiln::new(test, &[], None);
    std::fs::write(
        kiln.path("kiln.kdl"),
        format!(
            "repository \"{}\"\nregistry \"{remote}\"\n{signing}\n",
            kiln.repository
        ),
    )
    .unwrap();
    kiln.busybox_flavor(
        FLAVOR,
        "env",
        "FROM {{ base }}\nRUN echo kiln-trust-results-test > /trust-results\n",
    );
    kiln.add_to_flavor(
        FLAVOR,
        &format!(
            r#"
    check "c" {{
        image "env"
        entities "data/*/metadata.yml" key="key"
        mount "data" "/data"
        run "sh" "-c" "echo {OUTPUT}; exit 3"
        timeout "30s"
    }}
"#
        ),
    );
    for entity in entities {
        std::fs::create_dir_all(kiln.path(&format!("data/{entity}"))).unwrap();
        std::fs::write(
            kiln.path(&format!("data/{entity}/metadata.yml")),
            format!("key: \"{entity}\"\n"),
        )
        .unwrap();
    }
    kiln
}

/// One `kiln check` of flavor `trusted`: its output, its job record and, by entity, its
/// class and whether a cache gave it.
struct Checked {
    output: Output,
    job: PathBuf,
    results: BTreeMap<String, (String, bool)>,
}

impl Checked {
    fn shown(&self) -> String {
        text(&self.output)
    }

    fn result(&self, entity: &str) -> &(String, bool) {
        self.results
            .get(entity)
            .unwrap_or_else(|| panic!("no result of {entity}: {}", self.shown()))
    }

    fn class(&self, entity: &str) -> &str {
        &self.result(entity).0
    }

    fn cached(&self, entity: &str) -> bool {
        self.result(entity).1
    }

    /// The lines of its output that warn about the results registry not using a result.
    fn refusals(&self) -> Vec<String> {
        self.shown()
            .lines()
            .filter(|l| l.contains("results registry") && l.contains("is not used"))
            .map(str::to_owned)
            .collect()
    }

    /// How many lines of its output name the results registry other than those refusing
    /// a result and the one saying that a reader without a key stores nothing there.
    fn other_registry_warnings(&self) -> usize {
        self.shown()
            .lines()
            .filter(|l| l.contains("results registry"))
            .filter(|l| !l.contains("is not used") && !l.contains("nothing is stored"))
            .count()
    }
}

/// `kiln check --flavor trusted ARGS` in `kiln`, with `setup` applied to the command.
fn check(kiln: &Kiln, args: &[&str], setup: impl FnOnce(&mut Command)) -> Checked {
    let mut command = kiln.process();
    command
        .env_remove("KILN_SIGNING_KEY")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .args(["check", "--flavor", FLAVOR])
        .args(args);
    setup(&mut command);
    let output = command.output().unwrap();
    read_check(kiln, output)
}

/// The newest job record of `kiln` and its results, for `output`.
fn read_check(kiln: &Kiln, output: Output) -> Checked {
    let job = kiln
        .jobs()
        .pop()
        .unwrap_or_else(|| panic!("no job record: {}", text(&output)));
    // A run that failed before its results were recorded has none.
    let file = job.join(format!("results/{FLAVOR}-c/results.json"));
    let json: Value = match std::fs::read_to_string(&file) {
        Ok(json) => serde_json::from_str(&json).unwrap(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Null,
        Err(e) => panic!("{}: {e}\n{}", file.display(), text(&output)),
    };
    let results = json["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                (
                    r["class"].as_str().unwrap_or_default().to_owned(),
                    r["cached"] == true,
                ),
            )
        })
        .collect();
    Checked {
        output,
        job,
        results,
    }
}

/// A new signing key made by `kiln keygen` in a folder outside every workspace: the
/// key file's text (`ed25519-secret:…`) and the `signing` block that trusts it.
struct Key {
    _dir: tempfile::TempDir,
    secret: String,
    trust: String,
}

impl Key {
    fn new() -> Key {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("signing.key");
        let output = Command::new(assert_cmd::cargo::cargo_bin("kiln"))
            .arg("keygen")
            .arg(&file)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        let printed = String::from_utf8(output.stdout).unwrap();
        let trust = printed
            .lines()
            .find(|l| l.trim_start().starts_with("trust \"ed25519:"))
            .unwrap_or_else(|| panic!("keygen prints a trust line: {printed}"))
            .trim()
            .to_owned();
        let secret = std::fs::read_to_string(&file).unwrap().trim().to_owned();
        assert!(secret.starts_with("ed25519-secret:"), "{secret}");
        Key {
            _dir: dir,
            secret,
            trust,
        }
    }

    /// The `signing` block of kiln.kdl trusting this key, with `extra` nodes.
    fn signing(&self, extra: &str) -> String {
        format!("signing {{\n    {}\n    {extra}\n}}", self.trust)
    }

    /// The secret part of the key: what must show nowhere.
    fn secret_base64(&self) -> &str {
        self.secret.strip_prefix("ed25519-secret:").unwrap()
    }
}

/// Asserts that `secret` is in none of `outputs` and in no file under `dir`.
fn assert_never_shown(secret: &str, outputs: &[&Output], dir: &Path) {
    for output in outputs {
        let shown = text(output);
        assert!(
            !shown.contains(secret),
            "the secret key is in the output:\n{shown}"
        );
    }
    let files = files_under(dir);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !bytes
                .windows(secret.len())
                .any(|window| window == secret.as_bytes()),
            "the secret key is in {}",
            file.display()
        );
    }
    assert!(
        dir.join(".kiln/jobs").is_dir() && files.len() > 10,
        "the scan read the job records too ({} files)",
        files.len()
    );
}

/// The registry repository as the test speaks to it: to read what kiln pushed and to
/// rewrite it.
struct Remote {
    runtime: tokio::runtime::Runtime,
    client: Client,
    /// `host:port/name`
    repository: String,
}

impl Remote {
    fn new(registry: &Registry, name: &str) -> Remote {
        Remote {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: Client::new(ClientConfig {
                protocol: ClientProtocol::Http,
                ..ClientConfig::default()
            }),
            repository: format!("{}/{name}", registry.address),
        }
    }

    fn reference(&self, tag: &str) -> Reference {
        format!("{}:{tag}", self.repository).parse().unwrap()
    }

    /// The result tags of the repository, by the entity each holds (as its manifest's
    /// annotations say).
    fn result_tags(&self) -> BTreeMap<String, String> {
        let tags = self
            .runtime
            .block_on(self.client.list_tags(
                &self.reference("latest"),
                &RegistryAuth::Anonymous,
                None,
                None,
            ))
            .unwrap()
            .tags;
        tags.into_iter()
            .filter(|t| t.starts_with("result-"))
            .map(|tag| {
                let entity =
                    self.manifest(&tag).annotations.unwrap()["io.kiln.result.entity"].clone();
                (entity, tag)
            })
            .collect()
    }

    fn manifest(&self, tag: &str) -> OciImageManifest {
        match self
            .runtime
            .block_on(
                self.client
                    .pull_manifest(&self.reference(tag), &RegistryAuth::Anonymous),
            )
            .unwrap()
            .0
        {
            OciManifest::Image(manifest) => manifest,
            other => panic!("{tag} is no image manifest: {other:?}"),
        }
    }

    fn put_manifest(&self, tag: &str, manifest: OciImageManifest) {
        self.runtime
            .block_on(
                self.client
                    .push_manifest(&self.reference(tag), &OciManifest::Image(manifest)),
            )
            .unwrap();
    }

    /// Replaces the layer of `media_type` of the artifact under `tag` with what `change`
    /// makes of it; the manifest keeps everything else, its annotations (the signature)
    /// too.
    fn change_layer(&self, tag: &str, media_type: &str, change: impl FnOnce(Vec<u8>) -> Vec<u8>) {
        let mut manifest = self.manifest(tag);
        let layer = manifest
            .layers
            .iter_mut()
            .find(|l| l.media_type == media_type)
            .unwrap_or_else(|| panic!("{tag} has no {media_type} layer"));
        let reference = self.reference(tag);
        let mut old = Vec::new();
        self.runtime
            .block_on(self.client.pull_blob(&reference, &*layer, &mut old))
            .unwrap();
        let new = change(old.clone());
        assert_ne!(new, old, "the forgery changes the layer");
        let digest = format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&new))
        );
        self.runtime
            .block_on(self.client.push_blob(&reference, new.clone(), &digest))
            .unwrap();
        layer.digest = digest;
        layer.size = new.len() as i64;
        self.put_manifest(tag, manifest);
    }

    /// Pushes the artifact under `tag` again without its signature.
    fn strip_signature(&self, tag: &str) {
        let mut manifest = self.manifest(tag);
        let removed = manifest.annotations.as_mut().unwrap().remove(SIGNATURE);
        assert!(removed.is_some(), "{tag} was signed");
        self.put_manifest(tag, manifest);
    }

    fn signed(&self, tag: &str) -> bool {
        self.manifest(tag)
            .annotations
            .unwrap_or_default()
            .contains_key(SIGNATURE)
    }
}

/// The result JSON with its class (and exit code) made a success.
fn made_a_success(result: Vec<u8>) -> Vec<u8> {
    let mut result: Value = serde_json::from_slice(&result).unwrap();
    assert_eq!(result["class"], "script-error", "{result}");
    result["class"] = "success".into();
    result["exit_code"] = 0.into();
    serde_json::to_vec_pretty(&result).unwrap()
}

/// Workspace A with `KILN_SIGNING_KEY` set and its public key trusted: checks
/// `entities` (verbosely, at `RUST_LOG=trace`, so that the leak scan sees everything),
/// pushes their signed results; the key shows in no output and no file of A.
fn signed_results(test: &str, registry: &Registry, key: &Key, entities: &[&str]) -> Kiln {
    let name = common::docker::unique_repository(test);
    let remote = format!("{}/{name}", registry.address);
    let a = workspace(&format!("{test}-a"), &remote, &key.signing(""), entities);
    let produced = check(&a, &["-vv"], |c| {
        c.env("KILN_SIGNING_KEY", &key.secret)
            .env("RUST_LOG", "trace");
    });
    for entity in entities {
        assert_eq!(
            produced.class(entity),
            "script-error",
            "{}",
            produced.shown()
        );
        assert!(!produced.cached(entity), "{}", produced.shown());
    }
    let results = a.ok(&["results"]);
    assert_never_shown(key.secret_base64(), &[&produced.output, &results], a.root());
    a
}

/// The registry repository name of workspace `kiln` (`registry` of its kiln.kdl).
fn remote_of(kiln: &Kiln) -> String {
    let settings = std::fs::read_to_string(kiln.path("kiln.kdl")).unwrap();
    settings
        .lines()
        .find_map(|l| l.strip_prefix("registry \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap()
        .to_owned()
}

/// What is left of `remote` once its registry's address is taken off: the repository's
/// name.
fn name_in(remote: &str, registry: &Registry) -> String {
    remote
        .strip_prefix(&format!("{}/", registry.address))
        .unwrap()
        .to_owned()
}

/// With a trusted key, a result whose class was rewritten (the old signature kept) and
/// one pushed without a signature are not used: each entity runs and is the failure it
/// is, with one warning per refused result naming the results registry; an untouched
/// signed result beside them is used (so the reader does verify and accept).
#[test]
fn a_forged_class_or_an_unsigned_result_is_never_used() {
    let registry = Registry::start();
    let key = Key::new();
    let entities = ["genuine", "forged", "unsigned"];
    let a = signed_results("forged-class", &registry, &key, &entities);
    let remote = Remote::new(&registry, &name_in(&remote_of(&a), &registry));
    let tags = remote.result_tags();
    assert_eq!(tags.len(), 3, "{tags:?}");
    assert!(tags.values().all(|t| remote.signed(t)), "A signs: {tags:?}");
    remote.change_layer(&tags["forged"], RESULT_TYPE, made_a_success);
    remote.strip_signature(&tags["unsigned"]);

    let b = workspace(
        "forged-class-b",
        &remote_of(&a),
        &key.signing(""),
        &entities,
    );
    let run = check(&b, &[], |_| {});
    let shown = run.shown();
    assert!(run.cached("genuine"), "the signed result is used: {shown}");
    assert_eq!(run.class("genuine"), "script-error", "{shown}");
    for entity in ["forged", "unsigned"] {
        assert!(!run.cached(entity), "{entity} runs: {shown}");
        assert_eq!(run.class(entity), "script-error", "{entity}: {shown}");
        let log =
            std::fs::read_to_string(run.job.join(format!("logs/check-{FLAVOR}-c-{entity}.log")))
                .unwrap();
        assert!(log.contains(OUTPUT), "{entity} ran: {log}");
    }
    let refusals = run.refusals();
    assert_eq!(refusals.len(), 2, "one warning per refused result: {shown}");
    assert_eq!(run.other_registry_warnings(), 0, "{shown}");
    let naming = |tag: &str| -> Vec<&String> {
        refusals
            .iter()
            .filter(|l| l.contains(&format!("`{tag}`")))
            .collect()
    };
    let forged = naming(&tags["forged"]);
    assert_eq!(forged.len(), 1, "{shown}");
    assert!(forged[0].contains("does not match its content"), "{shown}");
    let unsigned = naming(&tags["unsigned"]);
    assert_eq!(unsigned.len(), 1, "{shown}");
    assert!(unsigned[0].contains("not signed"), "{shown}");
    assert_eq!(run.output.status.code(), Some(1), "{shown}");
}

/// With a trusted key, a result whose log was rewritten (result and signature kept) is
/// not used: the entity runs, and its log is the one it printed.
#[test]
fn a_forged_log_is_never_used() {
    let registry = Registry::start();
    let key = Key::new();
    let entities = ["genuine", "relogged"];
    let a = signed_results("forged-log", &registry, &key, &entities);
    let remote = Remote::new(&registry, &name_in(&remote_of(&a), &registry));
    let tags = remote.result_tags();
    remote.change_layer(&tags["relogged"], LOG_TYPE, |_| {
        b"all good, nothing to see here\n".to_vec()
    });

    let b = workspace("forged-log-b", &remote_of(&a), &key.signing(""), &entities);
    let run = check(&b, &[], |_| {});
    let shown = run.shown();
    assert!(run.cached("genuine"), "{shown}");
    assert!(!run.cached("relogged"), "the forged result runs: {shown}");
    assert_eq!(run.class("relogged"), "script-error", "{shown}");
    let log = std::fs::read_to_string(run.job.join(format!("logs/check-{FLAVOR}-c-relogged.log")))
        .unwrap();
    assert!(
        log.contains(OUTPUT) && !log.contains("nothing to see"),
        "{log}"
    );
    let refusals = run.refusals();
    assert_eq!(refusals.len(), 1, "{shown}");
    assert!(refusals[0].contains(&tags["relogged"]), "{shown}");
    assert_eq!(run.other_registry_warnings(), 0, "{shown}");
}

/// With `require-signed #true`, a forged result fails the run with
/// `kiln::cache::untrusted` instead of being passed over.
#[test]
fn require_signed_makes_a_forged_result_an_error() {
    let registry = Registry::start();
    let key = Key::new();
    let a = signed_results("require-signed", &registry, &key, &["forged"]);
    let remote = Remote::new(&registry, &name_in(&remote_of(&a), &registry));
    let tags = remote.result_tags();
    remote.change_layer(&tags["forged"], RESULT_TYPE, made_a_success);

    let b = workspace(
        "require-signed-b",
        &remote_of(&a),
        &key.signing("require-signed #true"),
        &["forged"],
    );
    let run = check(&b, &[], |_| {});
    let shown = run.shown();
    assert!(!run.output.status.success(), "{shown}");
    assert!(shown.contains("kiln::cache::untrusted"), "{shown}");
    assert!(shown.contains(&tags["forged"]), "names the result: {shown}");
    assert!(
        !run.results.contains_key("forged"),
        "the forged result is not recorded: {shown}"
    );
}

/// Without a key anywhere, results travel as before: a signed result (A had a key) and
/// an unsigned one (A had none) are both used.
#[test]
fn without_keys_signed_and_unsigned_results_travel() {
    let registry = Registry::start();
    let key = Key::new();
    let name = common::docker::unique_repository("no-keys");
    let remote_name = format!("{}/{name}", registry.address);
    let entities = ["signed", "unsigned"];
    let a = workspace("no-keys-a", &remote_name, "", &entities);
    let unsigned = check(&a, &["unsigned"], |_| {});
    assert!(!unsigned.cached("unsigned"), "{}", unsigned.shown());
    let signed = check(&a, &["-vv", "signed"], |c| {
        c.env("KILN_SIGNING_KEY", &key.secret)
            .env("RUST_LOG", "trace");
    });
    assert!(!signed.cached("signed"), "{}", signed.shown());
    assert_never_shown(key.secret_base64(), &[&signed.output], a.root());
    let remote = Remote::new(&registry, &name);
    let tags = remote.result_tags();
    assert!(remote.signed(&tags["signed"]));
    assert!(!remote.signed(&tags["unsigned"]));

    let b = workspace("no-keys-b", &remote_name, "", &entities);
    let run = check(&b, &[], |_| {});
    for entity in entities {
        assert!(run.cached(entity), "{entity}: {}", run.shown());
        assert_eq!(run.class(entity), "script-error");
    }
    assert!(run.refusals().is_empty(), "{}", run.shown());
}

/// A result whose log layer is 1 GiB (streamed up by curl from a sparse file, never
/// held in memory) is refused by its declared size before it is fetched: the entity
/// runs, the warning names the size, kiln stays under 64 MB of RSS and its job record
/// holds no log over 1 MiB.
#[test]
fn a_1_gib_fetched_log_is_refused_before_it_is_fetched() {
    let registry = Registry::start();
    let name = common::docker::unique_repository("huge-log");
    let remote_name = format!("{}/{name}", registry.address);
    let a = workspace("huge-log-a", &remote_name, "", &["huge"]);
    check(&a, &[], |_| {});
    let remote = Remote::new(&registry, &name);
    let tag = remote.result_tags()["huge"].clone();

    let scratch = tempfile::tempdir().unwrap();
    let huge = scratch.path().join("log");
    const SIZE: u64 = 1 << 30;
    std::fs::File::create(&huge).unwrap().set_len(SIZE).unwrap();
    let digest = upload(&registry, &name, &huge);
    let mut manifest = remote.manifest(&tag);
    let log = manifest
        .layers
        .iter_mut()
        .find(|l| l.media_type == LOG_TYPE)
        .unwrap();
    log.digest = digest;
    log.size = SIZE as i64;
    remote.put_manifest(&tag, manifest);
    drop(scratch);

    let b = workspace("huge-log-b", &remote_name, "", &["huge"]);
    b.ok(&["build", "--flavor", FLAVOR]);
    let rss = tempfile::NamedTempFile::new().unwrap();
    let mut command = b.process();
    command.args(["check", "--flavor", FLAVOR]);
    let output = timed(&command, rss.path()).output().unwrap();
    let run = read_check(&b, output);
    let shown = run.shown();
    assert!(!run.cached("huge"), "the entity runs: {shown}");
    assert_eq!(run.class("huge"), "script-error");
    let refusals = run.refusals();
    assert_eq!(refusals.len(), 1, "{shown}");
    assert!(
        refusals[0].contains(&SIZE.to_string()),
        "names the size: {shown}"
    );
    let kilobytes: u64 = std::fs::read_to_string(rss.path())
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        kilobytes < 64 * 1024,
        "kiln's peak RSS was {kilobytes} kB: {shown}"
    );
    for file in files_under(&run.job) {
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size <= 1 << 20, "{} is {size} bytes", file.display());
    }
}

/// Uploads `file` as a blob of repository `name` in one streamed request (curl, as
/// the distribution API's monolithic upload), returning its digest.
fn upload(registry: &Registry, name: &str, file: &Path) -> String {
    let sum = Command::new("sha256sum").arg(file).output().unwrap();
    assert!(sum.status.success(), "{}", text(&sum));
    let digest = format!(
        "sha256:{}",
        String::from_utf8(sum.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
    );
    let started = Command::new("curl")
        .args([
            "-sS",
            "--noproxy",
            "*",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-X",
            "POST",
        ])
        .arg(format!(
            "http://{}/v2/{name}/blobs/uploads/",
            registry.address
        ))
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&started.stdout).into_owned();
    let location = headers
        .lines()
        .find_map(|l| {
            let (field, value) = l.split_once(':')?;
            field
                .eq_ignore_ascii_case("location")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no upload location: {}", text(&started)));
    let location = match location.starts_with('/') {
        true => format!("http://{}{location}", registry.address),
        false => location,
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let put = Command::new("curl")
        .args(["-sS", "--noproxy", "*", "-f", "-X", "PUT"])
        .args(["-H", "Content-Type: application/octet-stream"])
        .arg("--upload-file")
        .arg(file)
        .arg(format!("{location}{separator}digest={digest}"))
        .output()
        .unwrap();
    assert!(put.status.success(), "{}", text(&put));
    digest
}

/// `command` run under `/usr/bin/time`, which writes its peak RSS (kB) to `out`.
fn timed(command: &Command, out: &Path) -> Command {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M", "-o"])
        .arg(out)
        .arg(command.get_program())
        .args(command.get_args());
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => timed.env(name, value),
            None => timed.env_remove(name),
        };
    }
    timed
}

/// The regular files under `dir`, in every folder below it (symlinks left out).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files
}

/// With `HTTP_PROXY` and `HTTPS_PROXY` naming a proxy nobody answers on (with a
/// password in it), results still travel through a loopback registry; `-v` says the
/// registry is spoken to without a proxy, and the password shows nowhere.
#[test]
fn a_loopback_registry_is_never_proxied() {
    let registry = Registry::start();
    let proxy = format!("http://user:s3cret@127.0.0.1:{}", free_port());
    let proxied = |c: &mut Command| {
        for variable in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            c.env(variable, &proxy);
        }
    };
    let name = common::docker::unique_repository("proxied");
    let remote_name = format!("{}/{name}", registry.address);
    let a = workspace("proxied-a", &remote_name, "", &["travels"]);
    let pushed = check(&a, &["-v"], proxied);
    let b = workspace("proxied-b", &remote_name, "", &["travels"]);
    let fetched = check(&b, &["-vv"], |c| {
        proxied(c);
        c.env("RUST_LOG", "trace");
    });
    assert!(
        fetched.cached("travels"),
        "the result travelled: {}",
        fetched.shown()
    );
    assert_eq!(fetched.class("travels"), "script-error");
    let said = format!("registry {}: no proxy", registry.address);
    assert!(pushed.shown().contains(&said), "{}", pushed.shown());
    for run in [&pushed, &fetched] {
        assert!(!run.shown().contains("s3cret"), "{}", run.shown());
    }
}

/// A reader that trusts a key builds a step whose image the registry does not have
/// without a warning: there is no image there to refuse, as there is no tarball to
/// refuse in the file cache.
#[test]
fn a_trusting_reader_is_not_warned_about_an_image_the_registry_lacks() {
    let registry = Registry::start();
    let key = Key::new();
    let name = common::docker::unique_repository("lacks");
    let b = workspace(
        "lacks",
        &format!("{}/{name}", registry.address),
        &key.signing(""),
        &["unused"],
    );
    let output = b
        .process()
        .env_remove("KILN_SIGNING_KEY")
        .args(["build", "--flavor", FLAVOR])
        .output()
        .unwrap();
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        !shown.contains("WARN") && !shown.contains("no record"),
        "the registry has no image of either step: {shown}"
    );
}
