//! kiln's labels on the images it builds, put there by a config-only load instead of a
//! `LABEL` build step — and by a `LABEL` step when the daemon refuses that load —
//! against the real daemon.

mod common;

use std::collections::HashMap;

use bollard::models::ImageInspect;
use common::sandbox::{Kiln, text};
use kiln::docker::{BuildRequest, Daemon, labels};
use tokio_util::sync::CancellationToken;

/// Flavor `flavor`: `base` (busybox, a file of new content each run, an ENV, a port and
/// a label of its own) and `release` on top of it, with a description on two lines.
fn flavor(kiln: &Kiln, flavor: &str) {
    let nonce = format!("{flavor} {:?}\n", std::time::SystemTime::now());
    let files = [
        (
            "base/Dockerfile",
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY nonce /nonce\nENV KILN_TEST=1\nEXPOSE 8080\nLABEL \"from.dockerfile\"=\"kept\"\n",
        ),
        ("base/nonce", nonce.as_str()),
        (
            "release/Dockerfile",
            "FROM {{ base }}\nCOPY release.txt /release.txt\n",
        ),
        ("release/release.txt", "release\n"),
    ];
    for (path, content) in files {
        let path = kiln.path(&format!("flavors/{flavor}/{path}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    std::fs::write(
        kiln.path(&format!("flavors/{flavor}/flavor.kdl")),
        format!(
            "flavor \"{flavor}\" {{\n    step \"base\" {{ include \"/bin/busybox\" as=\"busybox\"; }}\n    step \"release\" {{\n        description \"The release\\non two lines\"\n        needs \"base\"\n    }}\n}}\n"
        ),
    )
    .unwrap();
}

/// What `kiln plan` says of each step: step name → (image, hash).
fn planned(kiln: &Kiln) -> HashMap<String, (String, String)> {
    common::sandbox::planned_at(kiln.root(), &[])
        .into_iter()
        .map(|(node, (image, hash, _))| {
            (node.rsplit_once('/').unwrap().1.to_owned(), (image, hash))
        })
        .collect()
}

/// Every label kiln gives the image of `step`.
fn kiln_labels(flavor: &str, step: &str, hash: &str) -> HashMap<String, String> {
    let mut expected = HashMap::from([
        (labels::MANAGED, "true".to_owned()),
        (labels::FLAVOR, flavor.to_owned()),
        (labels::STEP, step.to_owned()),
        (labels::HASH, hash.to_owned()),
        (labels::OCI_TITLE, format!("{flavor}/{step}")),
        (labels::OCI_VERSION, hash.to_owned()),
        (labels::OCI_VENDOR, "kiln".to_owned()),
    ]);
    if step == "release" {
        // One line: a label is one line however it is applied.
        expected.insert(
            labels::OCI_DESCRIPTION,
            "The release on two lines".to_owned(),
        );
    }
    expected
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn image_labels(image: &ImageInspect) -> HashMap<String, String> {
    image
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default()
}

fn layers(image: &ImageInspect) -> Vec<String> {
    image
        .root_fs
        .as_ref()
        .and_then(|r| r.layers.clone())
        .unwrap_or_default()
}

/// Asserts that `image` carries every label of `expected` (and the one its Dockerfile
/// set), and keeps what its Dockerfile set in its config.
fn assert_labelled(image: &ImageInspect, expected: &HashMap<String, String>) {
    let found = image_labels(image);
    for (key, value) in expected {
        assert_eq!(found.get(key), Some(value), "label {key}: {found:?}");
    }
    assert_eq!(
        found.get("from.dockerfile").map(String::as_str),
        Some("kept"),
        "{found:?}"
    );
    let config = image.config.as_ref().unwrap();
    assert!(
        config
            .env
            .iter()
            .flatten()
            .any(|e| e.as_str() == "KILN_TEST=1"),
        "{config:?}"
    );
    assert_eq!(
        config.exposed_ports.as_deref(),
        Some(&["8080/tcp".to_owned()][..]),
        "{config:?}"
    );
}

/// The image ids a build's log names as the build's own, left untagged.
fn built_ids(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| {
            let rest = line.split_once("the build's ")?.1;
            Some(rest.split_whitespace().next()?.to_owned())
        })
        .collect()
}

/// Removes images by id when dropped (only the image: its untagged parents stay, as
/// kiln's own removals leave them).
struct RemoveIds(Vec<String>);

impl Drop for RemoveIds {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut self.0);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                let Ok(daemon) = Daemon::connect().await else {
                    return;
                };
                for id in ids {
                    let _ = daemon.remove(&id, false).await;
                }
            });
        })
        .join();
    }
}

/// The step's rendered Dockerfile (as the job record holds it) built in the step's
/// context, without labels and untagged: a plain build of the same inputs. Tried
/// again, as kiln's own builds are, when the classic builder lost a cached layer to a
/// removal another test made meanwhile (`unable to find image`): the daemon is shared,
/// and identical content gives identical images.
fn plain_build(
    runtime: &tokio::runtime::Runtime,
    daemon: &Daemon,
    kiln: &Kiln,
    step: &str,
    dockerfile: String,
) -> String {
    let context = std::sync::Arc::new(
        kiln::hash::collect(&kiln::hash::ContextSpec {
            context: Some(kiln.path(&format!("flavors/lb/{step}"))),
            includes: if step == "base" {
                vec![("/bin/busybox".into(), "busybox".to_owned())]
            } else {
                Vec::new()
            },
            ..Default::default()
        })
        .unwrap(),
    );
    let backend = runtime.block_on(common::docker::backend(daemon));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let context = std::sync::Arc::clone(&context);
        let dockerfile = dockerfile.clone();
        let request = BuildRequest {
            name: format!("plain {step}"),
            tag: None,
            dockerfile: ".kiln/Dockerfile".to_owned(),
            args: HashMap::new(),
            labels: HashMap::new(),
            no_cache: false,
            context: Box::new(move |out| {
                kiln::hash::write_tar(
                    &context,
                    &[(".kiln/Dockerfile", dockerfile.as_bytes())],
                    out,
                )
            }),
            backend,
            secrets: Default::default(),
            on_step: Default::default(),
        };
        let mut log = Vec::new();
        match runtime.block_on(daemon.build(request, &mut log, &CancellationToken::new())) {
            Ok(id) => return id,
            Err(e) if attempt < 3 && e.to_string().contains("unable to find image") => {}
            Err(e) => panic!("{e}\n{}", String::from_utf8_lossy(&log)),
        }
    }
}

/// `kiln build` labels each image without a LABEL step: every kiln label is on it (with
/// the labels and config its Dockerfile set), its layers are those of a plain build of
/// the same Dockerfile, its history ends with the labels, the same build labelled again
/// is the same image, and it goes through the file cache and back.
#[test]
fn every_built_image_carries_the_labels_without_a_label_step() {
    let kiln = Kiln::new("labels", &[], None);
    flavor(&kiln, "lb");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let daemon = runtime.block_on(common::docker::daemon());
    let api = runtime.block_on(common::docker::api(&daemon));
    let mut created = RemoveIds(Vec::new());

    let built = kiln.build(&["build", "--save"]);
    assert_eq!(built["lb/base"], "built", "{built:?}");
    assert_eq!(built["lb/release"], "built", "{built:?}");
    let plan = planned(&kiln);
    let job = kiln.jobs().pop().unwrap();
    let mut labelled = HashMap::new();
    for step in ["base", "release"] {
        let (image, hash) = &plan[step];
        let log = std::fs::read_to_string(job.join(format!("logs/lb-{step}.log"))).unwrap();
        assert!(
            log.contains("kiln: labels applied by a config-only load"),
            "{log}"
        );
        let ids = built_ids(&log);
        assert_eq!(ids.len(), 1, "{log}");
        created.0.extend(ids.iter().cloned());
        let rendered =
            std::fs::read_to_string(job.join(format!("dockerfiles/lb-{step}.Dockerfile"))).unwrap();
        assert!(!rendered.contains("io.kiln"), "no LABEL step: {rendered}");

        let inspected = runtime.block_on(api.inspect_image(image)).unwrap();
        let mut expected = kiln_labels("lb", step, hash);
        // The manifest label holds the inputs the job record kept.
        let recorded: kiln::hash::Manifest = serde_json::from_str(
            &std::fs::read_to_string(job.join(format!("manifests/lb-{step}.json"))).unwrap(),
        )
        .unwrap();
        let manifest = image_labels(&inspected)
            .remove(labels::MANIFEST)
            .expect("the manifest label");
        assert_eq!(labels::manifest_of(&manifest), Some(recorded), "{step}");
        expected.insert(labels::MANIFEST.to_owned(), manifest);
        assert_labelled(&inspected, &expected);

        // The same layers as a plain build of the same Dockerfile and context.
        let plain = plain_build(&runtime, &daemon, &kiln, step, rendered);
        created.0.push(plain.clone());
        let plain = runtime.block_on(api.inspect_image(&plain)).unwrap();
        assert_eq!(layers(&inspected), layers(&plain), "{step}");
        assert!(!layers(&plain).is_empty());
        assert_ne!(
            image_labels(&plain).get(labels::HASH),
            Some(hash),
            "the plain build has not the step's labels"
        );

        // The history ends with the labels, an entry without a layer.
        let history = runtime.block_on(api.image_history(image)).unwrap();
        let newest = &history[0];
        assert!(
            newest.created_by.starts_with("LABEL ")
                && newest
                    .created_by
                    .contains(&format!("\"{}\"=\"{hash}\"", labels::HASH)),
            "{history:?}"
        );
        assert_eq!(newest.size, 0);
        assert!(
            history
                .iter()
                .any(|h| h.created_by.contains("COPY") && h.size > 0),
            "the build's entries stay: {history:?}"
        );

        // Labelling the same build with the same labels again gives the same image.
        let again = format!("{}:again-{step}", kiln.repository);
        let id = runtime
            .block_on(daemon.label_image(&ids[0], &expected, &again))
            .unwrap();
        assert_eq!(Some(&id), inspected.id.as_ref(), "{step}");
        labelled.insert(step, id);
    }

    // Through the file cache: the tarballs `--save` wrote load the same images.
    kiln.ok(&["clean", "--all"]);
    for (image, _) in plan.values() {
        assert!(
            runtime.block_on(daemon.inspect(image)).unwrap().is_none(),
            "{image} removed"
        );
    }
    let loaded = kiln.build(&["build"]);
    assert_eq!(loaded["lb/base"], "file", "{loaded:?}");
    assert_eq!(loaded["lb/release"], "file", "{loaded:?}");
    for step in ["base", "release"] {
        let (image, hash) = &plan[step];
        let inspected = runtime.block_on(api.inspect_image(image)).unwrap();
        assert_eq!(inspected.id.as_ref(), Some(&labelled[step]), "{step}");
        assert_labelled(&inspected, &kiln_labels("lb", step, hash));
    }
}

/// A daemon that refuses the config-only load (as one with the containerd image store
/// does without the layers' blobs): the image is built again with a `LABEL`
/// instruction, the log says why, and the step's tag is on the labelled image.
#[test]
fn a_refused_config_only_load_falls_back_to_a_label_step() {
    let kiln = Kiln::new("labels-fallback", &[], None);
    flavor(&kiln, "lb");
    let proxy = refusing_loads();
    let output = kiln
        .command()
        .arg("build")
        .env("DOCKER_HOST", proxy.docker_host())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let job = kiln.jobs().pop().unwrap();
    let summary = common::sandbox::summary(&job);
    assert_eq!(summary["lb/base"], "built", "{summary:?}");
    assert_eq!(summary["lb/release"], "built", "{summary:?}");
    let plan = planned(&kiln);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let daemon = runtime.block_on(common::docker::daemon());
    let api = runtime.block_on(common::docker::api(&daemon));
    for step in ["base", "release"] {
        let (image, hash) = &plan[step];
        let log = std::fs::read_to_string(job.join(format!("logs/lb-{step}.log"))).unwrap();
        assert!(
            log.contains("kiln: labels not applied to sha256:")
                && log.contains("by a config-only load (loading the labelled config of")
                && log.contains("building again with a LABEL instruction"),
            "{log}"
        );
        let rendered =
            std::fs::read_to_string(job.join(format!("dockerfiles/lb-{step}.Dockerfile"))).unwrap();
        assert!(
            rendered.contains("LABEL \"io.kiln.flavor\"=\"lb\""),
            "the Dockerfile sent last: {rendered}"
        );
        let inspected = runtime.block_on(api.inspect_image(image)).unwrap();
        assert_labelled(&inspected, &kiln_labels("lb", step, hash));
    }
}

/// A socket in front of the real daemon that answers every image load with the error a
/// daemon with the containerd image store gives a tarball without the layers' blobs,
/// and passes everything else through.
fn refusing_loads() -> common::proxy::Proxy {
    common::proxy::daemon_proxy(|seen| {
        if seen.contains("/images/load?") {
            let body = r#"{"message":"content digest sha256:0000: not found"}"#;
            common::proxy::Act::Answer(format!(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ))
        } else {
            common::proxy::Act::Pass
        }
    })
}
