//! `kiln gc` against real files and the real daemon: a file cache over budget is
//! brought under it keeping each step's newest tarball, job records beyond `--keep` go,
//! images of old inputs go, and a build running beside a collection loses nothing it
//! needs.

mod common;

use common::sandbox::{Kiln, text};

fn two_steps(kiln: &Kiln) {
    kiln.busybox_flavor("g", "app", "FROM {{ base }}\nCOPY version /version\n");
    version(kiln, 0);
}

fn version(kiln: &Kiln, n: usize) {
    std::fs::write(kiln.path("flavors/g/app/version"), format!("{n}\n")).unwrap();
}

fn tarballs(kiln: &Kiln) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(kiln.path(".kiln/cache"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tar"))
        .collect();
    names.sort();
    names
}

fn exists(image: &str) -> bool {
    std::process::Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn a_cache_over_budget_keeps_each_steps_newest_and_old_records_and_images_go() {
    let kiln = Kiln::new("gc", &[], None);
    two_steps(&kiln);
    let mut apps = Vec::new();
    for n in 0..3 {
        version(&kiln, n);
        // Apart in time, so that the newest is plain.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        kiln.build(&["build", "--save"]);
        let job = kiln.jobs().pop().unwrap();
        apps.push(common::sandbox::summary_field(&job, "image")["g/app"].clone());
    }
    assert_eq!(tarballs(&kiln).len(), 4, "{:?}", tarballs(&kiln));
    assert_eq!(kiln.jobs().len(), 3);

    let dry = kiln.ok(&["gc", "--max-size", "1", "--keep", "1", "--dry-run"]);
    let shown = text(&dry);
    assert!(shown.contains("would remove tarball"), "{shown}");
    assert_eq!(tarballs(&kiln).len(), 4, "a dry run removes nothing");
    assert!(exists(&apps[0]));

    let output = kiln.ok(&["gc", "--max-size", "1", "--keep", "1"]);
    let shown = text(&output);
    let left = tarballs(&kiln);
    assert_eq!(left.len(), 2, "{left:?}\n{shown}");
    assert!(
        left.iter().any(|t| t.contains("g-base_")),
        "base's only tarball stays: {left:?}"
    );
    let newest = apps[2].replace(':', "_");
    assert!(
        left.iter().any(|t| t.starts_with(&newest)),
        "app's newest tarball stays: {left:?}"
    );
    assert!(shown.contains("over the budget"), "{shown}");
    assert_eq!(kiln.jobs().len(), 1, "--keep 1: {shown}");
    // The images of the app's old inputs went; the current ones stayed.
    assert!(!exists(&apps[0]) && !exists(&apps[1]), "{shown}");
    assert!(exists(&apps[2]), "{shown}");
}

#[test]
fn a_build_beside_a_collection_loses_nothing_it_needs() {
    let kiln = Kiln::new("gc-race", &[], None);
    two_steps(&kiln);
    for n in 0..3 {
        version(&kiln, n);
        kiln.build(&["build", "--save"]);
    }
    kiln.ok(&["clean", "--all"]);
    version(&kiln, 3);
    // The build loads base from its tarball and builds and saves a new app, while
    // collections with a budget of one byte run beside it.
    let mut build = kiln.process();
    build.args(["build", "--save"]);
    let mut child = build.spawn().unwrap();
    let mut collections = 0;
    while child.try_wait().unwrap().is_none() {
        let output = kiln
            .command()
            .args(["gc", "--max-size", "1", "--no-images"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        collections += 1;
    }
    assert!(child.wait().unwrap().success(), "the build succeeded");
    assert!(collections > 0);
    let job = kiln.jobs().pop().unwrap();
    let results = common::sandbox::summary(&job);
    assert_eq!(results["g/base"], "file", "{results:?}");
    assert_eq!(results["g/app"], "built", "{results:?}");
    let newest = common::sandbox::summary_field(&job, "image")["g/app"].replace(':', "_");
    assert!(
        tarballs(&kiln).iter().any(|t| t.starts_with(&newest)),
        "the new tarball stays: {:?}",
        tarballs(&kiln)
    );
}

/// `kiln gc --max-size 1 --keep 1` beside a running check whose record is no longer the
/// newest (a build finished after it started): the check holds its record, so gc leaves
/// it, says so, and the check's record is complete when it ends. (gc removed the running
/// command's record; the command then named a folder that no longer existed.)
#[test]
fn a_collection_never_removes_the_record_of_a_running_command() {
    let kiln = Kiln::new("gc-running", &["checkenv", "checkenv-debug"], None);
    kiln.add_example_data();
    kiln.add_to_flavor(
        "checkenv",
        r#"
    check "slow" {
        image "release"
        entities "data/entities/hell*/metadata.yml" key="key"
        run "sh" "-c" "echo started; sleep 6; echo done"
    }
"#,
    );
    kiln.ok(&["build", "--flavor", "checkenv"]);
    let before = kiln.jobs();
    let mut check = kiln.process();
    check
        .args(["check", "--flavor", "checkenv", "--check", "slow"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(kiln.path("check-stderr.txt")).unwrap());
    let mut child = check.spawn().unwrap();
    let started = std::time::Instant::now();
    let record = loop {
        let running = kiln.jobs().into_iter().find(|j| !before.contains(j));
        if let Some(record) = running.filter(|j| {
            std::fs::read_to_string(j.join("logs/check-checkenv-slow-hello.log"))
                .is_ok_and(|log| log.contains("started"))
        }) {
            break record;
        }
        assert!(
            started.elapsed().as_secs() < 60 && child.try_wait().unwrap().is_none(),
            "the check never started: {}",
            std::fs::read_to_string(kiln.path("check-stderr.txt")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // A newer record (in a later second: names sort by their time), so that the running
    // check's is beyond --keep 1.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    kiln.ok(&["build", "--flavor", "checkenv"]);
    let output = kiln.ok(&["gc", "--max-size", "1", "--keep", "1", "--no-images"]);
    let shown = text(&output);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the check still runs while gc does"
    );
    assert!(
        record.is_dir(),
        "the running check's record stays: {}\n{shown}",
        record.display()
    );
    assert!(
        shown.contains("kept 1 job record a running kiln holds")
            && shown.contains(&record.display().to_string()),
        "{shown}"
    );
    assert!(
        !before.iter().any(|j| j.exists()),
        "the old record went: {shown}"
    );
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{status:?}: {}",
        std::fs::read_to_string(kiln.path("check-stderr.txt")).unwrap_or_default()
    );
    // Complete: the summary, the results and the log the run wrote after gc.
    let results = std::fs::read_to_string(record.join("results/checkenv-slow/results.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", record.display()));
    assert!(results.contains("\"hello\""), "{results}");
    assert!(
        std::fs::read_to_string(record.join("logs/check-checkenv-slow-hello.log"))
            .unwrap()
            .contains("done")
    );
    assert!(common::sandbox::summary(&record).contains_key("checkenv/slow/hello"));
}
