//! Entity discovery on real files: metadata formats, filters, keys.

mod common;

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
        ("\"\"", "empty"),
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
