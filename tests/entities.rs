//! Entity discovery on real files: metadata formats, filters, keys.

mod common;

use std::path::Path;

use common::workspace;
use kiln::check::{CheckError, discover};

const FLAVOR: &str = r#"flavor "env" {
    step "base" { include "/bin/busybox" as="busybox"; }
    check "models" {
        image "base"
        entities "data/**/meta.*" key="id"
        filter "type" "model"
        run "true"
    }
}
"#;

fn entities(files: &[(&str, &str)]) -> Result<Vec<(String, String)>, CheckError> {
    let mut all = vec![
        ("flavors/env/flavor.kdl", FLAVOR),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
    ];
    all.extend_from_slice(files);
    let dir = workspace(&all);
    let ws = kiln::config::load(dir.path()).unwrap();
    let check = &ws.flavor("env").unwrap().checks[0];
    discover(&ws.root, check).map(|found| {
        found
            .into_iter()
            .map(|e| {
                let folder = e
                    .folder
                    .strip_prefix(&ws.root)
                    .unwrap()
                    .display()
                    .to_string();
                (e.key, folder)
            })
            .collect()
    })
}

#[test]
fn yaml_json_and_kdl_metadata_are_read_and_filtered() {
    let found = entities(&[
        ("data/a/meta.yml", "id: alpha\ntype: model\nsteps: 3\n"),
        (
            "data/b/meta.json",
            r#"{"id": "beta", "type": "model", "nested": {"x": 1}}"#,
        ),
        ("data/deeper/c/meta.kdl", "id \"gamma\"\ntype \"model\"\n"),
        ("data/d/meta.yml", "id: delta\ntype: documentation\n"),
        ("data/e/other.yml", "id: epsilon\ntype: model\n"),
    ])
    .unwrap();
    assert_eq!(
        found,
        [
            ("alpha".to_owned(), "data/a".to_owned()),
            ("beta".to_owned(), "data/b".to_owned()),
            ("gamma".to_owned(), "data/deeper/c".to_owned()),
        ]
    );
}

#[test]
fn duplicate_keys_name_both_metadata_files() {
    let error = entities(&[
        ("data/one/meta.yml", "id: same\ntype: model\n"),
        ("data/two/meta.yml", "id: same\ntype: model\n"),
    ])
    .unwrap_err();
    assert!(
        matches!(&error, CheckError::DuplicateKey { key, first, second }
            if key == "same" && first == "data/one/meta.yml" && second == "data/two/meta.yml"),
        "{error:?}"
    );
    // Two metadata files in one folder are told apart.
    let error = entities(&[
        ("data/one/meta.yml", "id: same\ntype: model\n"),
        (
            "data/one/sub/meta.json",
            r#"{"id": "same", "type": "model"}"#,
        ),
    ])
    .unwrap_err();
    assert!(
        matches!(&error, CheckError::DuplicateKey { first, second, .. }
            if first == "data/one/meta.yml" && second == "data/one/sub/meta.json"),
        "{error:?}"
    );
}

#[test]
fn keys_that_would_name_paths_outside_the_job_record_are_refused() {
    for (key, reason) in [
        ("/tmp/evil", "path separator"),
        ("../../outside", "path separator"),
        ("..", "relative folder"),
        ("\"a\\u001bb\"", "control character"),
    ] {
        let error =
            entities(&[("data/x/meta.yml", &format!("id: {key}\ntype: model\n"))]).unwrap_err();
        assert!(
            matches!(&error, CheckError::BadKey { path, .. } if path == "data/x/meta.yml"),
            "{key}: {error:?}"
        );
        assert!(error.to_string().contains(reason), "{key}: {error}");
    }
    let found = entities(&[("data/x/meta.yml", "id: UXMFA-2.v1\ntype: model\n")]).unwrap();
    assert_eq!(found[0].0, "UXMFA-2.v1");
}

#[test]
fn a_missing_key_or_unreadable_metadata_is_an_error_naming_the_file() {
    let error = entities(&[("data/x/meta.yml", "type: model\n")]).unwrap_err();
    assert!(
        matches!(&error, CheckError::MissingKey { path, field } if path == "data/x/meta.yml" && field == "id"),
        "{error:?}"
    );
    let error = entities(&[("data/y/meta.yml", "id: [unclosed\n")]).unwrap_err();
    assert!(
        matches!(&error, CheckError::Metadata { path, .. } if path.ends_with("data/y/meta.yml")),
        "{error:?}"
    );
    let error = entities(&[("data/z/meta.yml", "- just\n- a list\n")]).unwrap_err();
    assert!(error.to_string().contains("not a map"), "{error}");
}

#[test]
fn the_example_data_repository_has_nine_entities_and_eight_models() {
    let ws = kiln::config::load(common::examples()).unwrap();
    let check = &ws.flavor("checkenv").unwrap().checks[0];
    let found = discover(&ws.root, check).unwrap();
    assert_eq!(found.len(), 8, "{found:?}");
    assert!(found.iter().all(|e| e.fields["type"] == "system_model"));
}

// Limits (issue 16 item 4): a contributed metadata file or a glob cannot crash discovery.

#[test]
fn kdl_metadata_nested_too_deep_is_an_error_naming_the_file_not_a_stack_overflow() {
    // 2.4 KB nested 600 deep aborted `kiln check` (and `kiln watch`, leaving its
    // container behind).
    let deep = format!(
        "id \"deep\"\ntype \"model\"\n{}{}\n",
        "a{".repeat(600),
        "}".repeat(600)
    );
    let error = entities(&[("data/x/meta.kdl", &deep)]).unwrap_err();
    assert!(
        matches!(&error, CheckError::MetadataLimit { path, .. } if path.ends_with("data/x/meta.kdl")),
        "{error:?}"
    );
    assert!(
        format!("{:?}", miette::Report::new(error)).contains("nest 65 deep at line 3"),
        "the cause says where"
    );
    // Garbage that made the parser recurse once per character is a syntax error.
    let garbage = format!("id \"g\"\n{}", "}".repeat(20_000));
    let error = entities(&[("data/x/meta.kdl", &garbage)]).unwrap_err();
    assert!(
        matches!(&error, CheckError::Metadata { path, .. } if path.ends_with("data/x/meta.kdl")),
        "{error:?}"
    );
    // Nesting kiln does not read is fine within the limit.
    let nested = format!(
        "id \"n\"\ntype \"model\"\n{}{}\n",
        "a{".repeat(10),
        "}".repeat(10)
    );
    assert_eq!(entities(&[("data/x/meta.kdl", &nested)]).unwrap()[0].0, "n");
}

#[test]
fn deep_yaml_and_json_metadata_are_errors_not_a_crash() {
    let deep = "[".repeat(10_000);
    for file in ["data/x/meta.yml", "data/x/meta.json"] {
        let error = entities(&[(file, &deep)]).unwrap_err();
        assert!(
            matches!(&error, CheckError::Metadata { path, .. } if path.ends_with(file)),
            "{file}: {error:?}"
        );
    }
}

#[test]
fn a_metadata_file_over_the_size_limit_is_refused_before_reading_it_whole() {
    let limit = kiln::config::limits::MAX_METADATA_BYTES as usize;
    let big = format!("id: big\ntype: model\n# {}\n", "x".repeat(limit));
    let error = entities(&[("data/x/meta.yml", &big)]).unwrap_err();
    assert!(
        matches!(&error, CheckError::MetadataLimit { path, source, .. }
            if path.ends_with("data/x/meta.yml")
                && matches!(**source, kiln::config::limits::LimitError::TooLarge { .. })),
        "{error:?}"
    );
}

#[test]
fn an_entity_glob_beyond_the_limits_is_an_error_naming_the_check_not_a_panic() {
    let dir = workspace(&[
        ("flavors/env/flavor.kdl", FLAVOR),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
    ]);
    let ws = kiln::config::load(dir.path()).unwrap();
    let mut check = ws.flavor("env").unwrap().checks[0].clone();
    let mut glob = "a".to_owned();
    for _ in 0..160 {
        glob = format!("{{a,{glob}}}");
    }
    check.entities.glob.value = format!("data/**/{glob}");
    let error = discover(&ws.root, &check).unwrap_err();
    assert!(
        matches!(&error, CheckError::EntityGlob { check, .. } if check == "models"),
        "{error:?}"
    );
}

/// ACKREP's `_template` entity has `key:` with nothing after it: that is an empty key,
/// said as such with a hint to exclude the folder; `exclude` leaves it out.
#[test]
fn an_empty_key_is_named_and_exclude_leaves_a_template_out() {
    let files = [
        ("data/a/meta.yml", "id: a\ntype: model\n"),
        ("data/_template/meta.yml", "id:\ntype: model\n"),
    ];
    let error = entities(&files).unwrap_err();
    assert!(
        matches!(&error, CheckError::EmptyKey { path, field, folder }
            if path == "data/_template/meta.yml" && field == "id" && folder == "data/_template"),
        "{error:?}"
    );
    let help = miette::Diagnostic::help(&error).unwrap().to_string();
    assert!(help.contains("exclude \"data/_template/**\""), "{help}");

    let with_exclude = FLAVOR.replace(
        "        run \"true\"",
        "        exclude \"data/_template/**\" \"data/drafts/**\"\n        run \"true\"",
    );
    let mut all = vec![
        ("flavors/env/flavor.kdl", with_exclude.as_str()),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
    ];
    all.extend_from_slice(&files);
    let dir = workspace(&all);
    let ws = kiln::config::load(dir.path()).unwrap();
    let check = &ws.flavor("env").unwrap().checks[0];
    let found: Vec<String> = discover(&ws.root, check)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(found, ["a"]);
}

#[test]
fn an_entity_glob_through_a_symlink_out_of_the_workspace_is_refused_and_one_inside_is_fine() {
    let flavor = FLAVOR.replace("data/**/meta.*", "datalink/*/meta.yml");
    let dir = workspace(&[
        ("flavors/env/flavor.kdl", &flavor),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
        ("data/inside/meta.yml", "id: inside\ntype: model\n"),
    ]);
    // A data folder elsewhere on the machine, reached through a link in the workspace.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(elsewhere.path().join("outside")).unwrap();
    std::fs::write(
        elsewhere.path().join("outside/meta.yml"),
        "id: outside\ntype: model\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("datalink")).unwrap();
    let ws = kiln::config::load(dir.path()).unwrap();
    let check = &ws.flavor("env").unwrap().checks[0];
    let error = discover(&ws.root, check).unwrap_err();
    assert!(
        matches!(&error, CheckError::LinkOutside { link, resolved, .. }
            if link == "datalink"
                && Path::new(resolved) == elsewhere.path().canonicalize().unwrap()),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("through the symlink `datalink`"),
        "{error}"
    );

    // The same link to a folder of the workspace: its entities are found.
    std::fs::remove_file(dir.path().join("datalink")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("data"), dir.path().join("datalink")).unwrap();
    let found: Vec<String> = discover(&ws.root, check)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(found, ["inside"]);

    // A link deeper in the folders a glob names, and an input glob's.
    std::fs::remove_file(dir.path().join("datalink")).unwrap();
    std::fs::create_dir_all(dir.path().join("datalink")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("datalink/deeper")).unwrap();
    let deeper =
        kiln::check::entity::glob_files(&ws.root, "datalink/deeper/*/meta.yml", "env/models/x")
            .unwrap_err();
    assert!(
        matches!(&deeper, CheckError::LinkOutside { link, what: "input glob", .. } if link == "datalink/deeper"),
        "{deeper:?}"
    );
}
