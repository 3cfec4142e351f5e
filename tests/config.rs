//! Decoding: what the typed model holds for valid configuration, defaults included.

mod common;

use std::time::Duration;

use common::{error_codes, workspace};
use kiln::model::ArgValue;

const BASE: &[(&str, &str)] = &[
    ("flavors/sci/base/Dockerfile", "FROM scratch\n"),
    ("flavors/sci/deps/Dockerfile", "FROM {{ base }}\n"),
    ("flavors/sci/release/Dockerfile", "FROM {{ deps }}\n"),
    (
        "flavors/sci/flavor.kdl",
        r#"flavor "sci" {
    description "Scientific environment"
    step "base" {
        include "/bin/sh"
        include "/bin/sh" as="tools/shell"
    }
    step "deps" {
        needs "base"
        arg "SOLVER" "rk45"
        arg "HTTP_PROXY" env="HTTP_PROXY" transparent=#true
        arg "MIRROR" env="MIRROR" default="none"
        ignore "**/__pycache__" "*.tmp"
    }
    step "release" { needs "deps" "base"; }
    goal "release" default=#true
    goal "all" { steps "release" "deps"; description "everything"; }
    check "models" {
        image "release"
        entities "data/*/metadata.yml"
        filter "type" "system_model"
        environment field="compatible_environment" {
            when "sci_env" flavor="sci"
            when "other" flavor="sci" step="deps"
        }
        run "sh" "/run.sh" "{{ entity.dir }}"
        env "MPLBACKEND" "Agg"
        mount "data" "/data"
        mount "out" "/out" readonly=#false
        workdir "/data"
        timeout "3m"
        outcome success=0 inaccurate=2
        artifacts "_data/*.png" "*.html"
    }
}
"#,
    ),
    ("data/", ""),
    ("out/", ""),
];

#[test]
fn decodes_steps_with_their_defaults() {
    let dir = workspace(BASE);
    let ws = kiln::config::load(dir.path()).unwrap();
    let root = dir.path().canonicalize().unwrap();
    let sci = ws.flavor("sci").unwrap();
    assert_eq!(sci.description.as_deref(), Some("Scientific environment"));
    let base = sci.step("base").unwrap();
    assert_eq!(
        base.context.as_ref().unwrap().value,
        root.join("flavors/sci/base")
    );
    assert_eq!(
        base.dockerfile.value,
        root.join("flavors/sci/base/Dockerfile")
    );
    let targets: Vec<&str> = base.includes.iter().map(|i| i.target.as_str()).collect();
    assert_eq!(targets, ["sh", "tools/shell"]);
    let deps = sci.step("deps").unwrap();
    assert_eq!(deps.args.len(), 3);
    assert_eq!(deps.args[0].value, ArgValue::Literal("rk45".into()));
    assert!(!deps.args[0].transparent);
    assert!(deps.args[1].transparent);
    assert_eq!(
        deps.args[2].value,
        ArgValue::Env {
            var: "MIRROR".into(),
            default: Some("none".into())
        }
    );
    let ignore: Vec<&str> = deps.ignore.iter().map(|g| g.as_str()).collect();
    assert_eq!(ignore, ["**/__pycache__", "*.tmp"]);
    let needs: Vec<&str> = sci
        .step("release")
        .unwrap()
        .needs
        .iter()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(needs, ["deps", "base"]);
}

#[test]
fn goals_default_to_the_step_of_their_name() {
    let dir = workspace(BASE);
    let ws = kiln::config::load(dir.path()).unwrap();
    let sci = ws.flavor("sci").unwrap();
    let release = sci.goal("release").unwrap();
    assert!(release.default);
    assert_eq!(
        release.steps.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        ["release"]
    );
    let all = sci.goal("all").unwrap();
    assert!(!all.default);
    assert_eq!(all.description.as_deref(), Some("everything"));
    assert_eq!(sci.default_steps(), ["release"]);
}

#[test]
fn decodes_a_check_block() {
    let dir = workspace(BASE);
    let ws = kiln::config::load(dir.path()).unwrap();
    let check = &ws.flavor("sci").unwrap().checks[0];
    assert_eq!(check.image.as_str(), "release");
    assert_eq!(check.entities.glob.as_str(), "data/*/metadata.yml");
    assert_eq!(
        check.entities.key.as_str(),
        "key",
        "key field defaults to `key`"
    );
    assert_eq!(check.filters[0].field.as_str(), "type");
    let env = check.environment.as_ref().unwrap();
    assert_eq!(env.field.as_str(), "compatible_environment");
    assert_eq!(env.cases[1].step.as_ref().unwrap().as_str(), "deps");
    assert_eq!(check.run.len(), 3);
    assert_eq!(check.env[0].1, "Agg");
    assert!(check.mounts[0].readonly, "mounts are read-only unless told");
    assert!(!check.mounts[1].readonly);
    assert_eq!(check.workdir.as_ref().unwrap().as_str(), "/data");
    assert_eq!(
        check.timeout.as_ref().unwrap().value,
        Duration::from_secs(180)
    );
    assert_eq!(check.outcome.success, [0]);
    assert_eq!(check.outcome.inaccurate, [2]);
    assert_eq!(check.artifacts.len(), 2);
}

#[test]
fn settings_have_defaults_and_overrides() {
    let dir = workspace(BASE);
    let ws = kiln::config::load(dir.path()).unwrap();
    let root = dir.path().canonicalize().unwrap();
    assert_eq!(ws.settings.repository, "kiln");
    assert_eq!(ws.settings.cache_dir, root.join(".kiln/cache"));
    assert_eq!(ws.settings.jobs, None);
    assert!(ws.settings.registry.is_none());

    let mut files = BASE.to_vec();
    files.push((
        "kiln.kdl",
        "registry \"127.0.0.1:5000/kiln\"\nrepository \"team/kiln\"\ncache-dir \"/var/cache/kiln\"\njobs 3\n",
    ));
    let dir = workspace(&files);
    let ws = kiln::config::load(dir.path()).unwrap();
    assert_eq!(
        ws.settings.registry.unwrap().as_str(),
        "127.0.0.1:5000/kiln"
    );
    assert_eq!(ws.settings.repository, "team/kiln");
    assert_eq!(
        ws.settings.cache_dir,
        std::path::Path::new("/var/cache/kiln")
    );
    assert_eq!(ws.settings.jobs, Some(3));
}

#[test]
fn derived_flavor_replaces_one_step_and_inherits_the_rest() {
    let mut files = BASE.to_vec();
    files.extend([
        (
            "flavors/sci-custom/flavor.kdl",
            "flavor \"sci-custom\" extends=\"sci\" {\n    step \"deps\" { needs \"base\"; arg \"SOLVER\" \"bdf\"; }\n    step \"extra\" { needs \"release\"; }\n}\n",
        ),
        ("flavors/sci-custom/deps/Dockerfile", "FROM {{ base }}\n"),
        ("flavors/sci-custom/extra/Dockerfile", "FROM {{ release }}\n"),
    ]);
    let dir = workspace(&files);
    let ws = kiln::config::load(dir.path()).unwrap();
    let root = dir.path().canonicalize().unwrap();
    let custom = ws.flavor("sci-custom").unwrap();
    let names: Vec<&str> = custom.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["base", "deps", "release", "extra"],
        "replaced in place, new appended"
    );
    let deps = custom.step("deps").unwrap();
    assert_eq!(deps.declared_in, "sci-custom");
    assert_eq!(
        deps.context.as_ref().unwrap().value,
        root.join("flavors/sci-custom/deps")
    );
    assert_eq!(deps.args[0].value, ArgValue::Literal("bdf".into()));
    let base = custom.step("base").unwrap();
    assert_eq!(base.declared_in, "sci");
    assert_eq!(
        base.context.as_ref().unwrap().value,
        root.join("flavors/sci/base"),
        "inherited paths stay the base's"
    );
    assert!(custom.goal("release").is_some(), "goals are inherited");
    assert_eq!(custom.checks.len(), 1, "checks are inherited");
    assert_eq!(
        custom.description.as_deref(),
        Some("Scientific environment")
    );
    assert_eq!(
        ws.flavor("sci").unwrap().steps.len(),
        3,
        "the base is untouched"
    );
}

#[test]
fn errors_of_all_files_come_at_once() {
    let mut files = BASE.to_vec();
    files.extend([
        ("kiln.kdl", "jobs 0\n"),
        (
            "flavors/other/flavor.kdl",
            "flavor \"other\" { step \"x\" { needs \"y\"; }; }\n",
        ),
        (
            "workflows/ci.kdl",
            "workflow \"ci\" { build flavor=\"nope\"; }\n",
        ),
    ]);
    let dir = workspace(&files);
    let codes = error_codes(dir.path());
    assert_eq!(
        codes,
        [
            "kiln::config::invalid_value",
            "kiln::config::unknown_step",
            "kiln::config::path_missing",
            "kiln::config::unknown_flavor",
        ]
    );
}

#[test]
fn workflows_decode_tasks_and_params() {
    let mut files = BASE.to_vec();
    files.push((
        "workflows/ci.kdl",
        r#"workflow "ci" {
    description "CI"
    param "goal" default="release" description="what to build"
    build flavor="s*" goal="{{ goal }}"
    check name="models"
    save goal="release"
    push flavor="sci"
    export flavor="sci" goal="all" dir="out"
    clean
    report junit="reports/junit.xml" html="reports/index.html"
}
"#,
    ));
    let dir = workspace(&files);
    let ws = kiln::config::load(dir.path()).unwrap();
    let ci = ws.workflow("ci").unwrap();
    let kinds: Vec<&str> = ci.tasks.iter().map(|t| t.kind.keyword()).collect();
    assert_eq!(
        kinds,
        [
            "build", "check", "save", "push", "export", "clean", "report"
        ]
    );
    assert_eq!(
        ci.tasks[1].flavor.as_str(),
        "*",
        "flavor defaults to every flavor"
    );
    assert_eq!(ci.params[0].default.as_ref().unwrap().as_str(), "release");
    assert_eq!(ci.tasks[0].kind.goal().unwrap().as_str(), "{{ goal }}");
}

#[test]
fn workspace_root_is_found_upward() {
    let dir = workspace(BASE);
    let nested = dir.path().join("flavors/sci/base");
    assert_eq!(kiln::config::find_root(&nested).unwrap(), dir.path());
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(kiln::config::find_root(empty.path()), None);
}

#[test]
fn a_missing_context_does_not_also_report_its_default_dockerfile() {
    let dir = workspace(&[("flavors/a/flavor.kdl", "flavor \"a\" { step \"base\"; }\n")]);
    assert_eq!(error_codes(dir.path()), ["kiln::config::path_missing"]);
}

#[test]
fn wrong_kind_of_path_is_reported() {
    let dir = workspace(&[
        (
            "flavors/a/flavor.kdl",
            "flavor \"a\" { step \"base\" { dockerfile \"base\"; }; }\n",
        ),
        ("flavors/a/base/Dockerfile", ""),
    ]);
    assert_eq!(error_codes(dir.path()), ["kiln::config::invalid_value"]);
}

#[test]
fn a_registry_that_is_no_repository_reference_is_reported() {
    for bad in ["http://127.0.0.1:5000/kiln", "", "127.0.0.1:5000/Team"] {
        let dir = workspace(&[
            ("kiln.kdl", &format!("registry \"{bad}\"\n")),
            ("flavors/a/flavor.kdl", "flavor \"a\" { step \"base\"; }\n"),
            ("flavors/a/base/Dockerfile", "FROM scratch\n"),
        ]);
        assert_eq!(
            error_codes(dir.path()),
            ["kiln::config::invalid_value"],
            "{bad:?}"
        );
    }
    let dir = workspace(&[
        ("kiln.kdl", "registry \"127.0.0.1:5000/team/kiln\"\n"),
        ("flavors/a/flavor.kdl", "flavor \"a\" { step \"base\"; }\n"),
        ("flavors/a/base/Dockerfile", "FROM scratch\n"),
    ]);
    assert!(error_codes(dir.path()).is_empty());
}

#[test]
fn a_name_too_long_for_an_image_tag_is_reported() {
    let long = "s".repeat(51);
    let dir = workspace(&[
        (
            "flavors/a/flavor.kdl",
            &format!("flavor \"a\" {{ step \"{long}\"; }}\n"),
        ),
        (&format!("flavors/a/{long}/Dockerfile"), "FROM scratch\n"),
    ]);
    assert_eq!(error_codes(dir.path()), ["kiln::config::invalid_value"]);
    let fine = "s".repeat(50);
    let dir = workspace(&[
        (
            "flavors/a/flavor.kdl",
            &format!("flavor \"a\" {{ step \"{fine}\"; }}\n"),
        ),
        (&format!("flavors/a/{fine}/Dockerfile"), "FROM scratch\n"),
    ]);
    assert!(error_codes(dir.path()).is_empty());
}

// Limits (issue 16 item 4): every input has a depth and size limit and gets a diagnostic,
// never a crash. Each of these crashed, panicked or was accepted before.

/// `{a,{a,…{a,a}…}}`, `levels` deep: globset's compile_matcher panics at 160.
fn nested_glob(levels: usize) -> String {
    let mut glob = "a".to_owned();
    for _ in 0..levels {
        glob = format!("{{a,{glob}}}");
    }
    glob
}

const ENV_FLAVOR: &str = "flavors/env/flavor.kdl";

fn env_flavor(entities: &str, run: &str) -> String {
    format!(
        r#"flavor "env" {{
    step "base" {{ include "/bin/busybox" as="busybox"; }}
    check "models" {{
        image "base"
        entities "{entities}" key="id"
        run "{run}"
    }}
}}
"#
    )
}

#[test]
fn a_kiln_kdl_nested_too_deep_is_a_diagnostic_not_a_stack_overflow() {
    // 8 KB of nested braces aborted kiln (exit 134).
    let text = "a{".repeat(2700) + &"}".repeat(2700);
    let dir = workspace(&[("kiln.kdl", &text)]);
    let errors = kiln::config::load(dir.path()).unwrap_err();
    let codes = error_codes(dir.path());
    assert_eq!(codes, ["kiln::config::too_deep"]);
    match &errors.errors[0] {
        kiln::config::ConfigError::TooDeep {
            span, depth, limit, ..
        } => {
            assert_eq!(*limit, kiln::config::limits::MAX_NESTING);
            assert_eq!(*depth, limit + 1);
            // The label points at the brace that opens the level too many.
            assert_eq!(span.offset(), 2 * limit + 1);
        }
        other => panic!("{other:?}"),
    }
    // Up to the limit is fine (an unknown node, not a crash).
    let depth = kiln::config::limits::MAX_NESTING;
    let text = "a{".repeat(depth) + &"}".repeat(depth);
    let dir = workspace(&[("kiln.kdl", &text)]);
    assert_eq!(error_codes(dir.path()), ["kiln::config::unknown_node"]);
}

#[test]
fn nested_block_comments_and_garbage_are_diagnostics_not_a_stack_overflow() {
    let comments = "/*".repeat(1000) + &"*/".repeat(1000);
    let dir = workspace(&[("kiln.kdl", &comments)]);
    assert_eq!(error_codes(dir.path()), ["kiln::config::too_deep"]);
    // Each stray `}` made the parser recurse once more, resuming after an error.
    let garbage = "}".repeat(20_000);
    let dir = workspace(&[("kiln.kdl", &garbage)]);
    let codes = error_codes(dir.path());
    assert_eq!(
        codes.first().map(String::as_str),
        Some("kiln::config::syntax")
    );
    // Thousands of syntax errors: the first are shown, the rest counted.
    assert_eq!(codes.len(), kiln::config::limits::MAX_ERRORS + 1);
    assert_eq!(codes.last().unwrap(), "kiln::config::too_many_errors");
}

#[test]
fn a_configuration_file_over_the_size_limit_is_refused_before_parsing() {
    let limit = kiln::config::limits::MAX_CONFIG_BYTES as usize;
    let text = format!("jobs 4\n// {}\n", "x".repeat(limit));
    let dir = workspace(&[("kiln.kdl", &text)]);
    let errors = kiln::config::load(dir.path()).unwrap_err();
    assert!(
        matches!(&errors.errors[..], [kiln::config::ConfigError::TooLarge { path, size, .. }]
            if path == "kiln.kdl" && *size == text.len() as u64),
        "{errors:?}"
    );
}

/// `kiln validate` of a workspace whose kiln.kdl is `text`: exit code and stderr.
fn validate_text(text: &str) -> (Option<i32>, String) {
    let dir = workspace(&[("kiln.kdl", text)]);
    let output = assert_cmd::Command::cargo_bin("kiln")
        .unwrap()
        .args(["--color", "never", "validate", "--workspace"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_line_too_wide_to_draw_is_refused_not_a_panic() {
    let limit = kiln::config::limits::MAX_LINE_COLUMNS;
    // A mistake past column 65,535 made miette's renderer panic (exit 101); so did one
    // behind 17,000 tabs, each drawn 4 wide.
    for padding in [" ".repeat(65_600), "\t".repeat(17_000)] {
        let (code, shown) = validate_text(&format!("repository \"x\"{padding}bogus 1\n"));
        assert_eq!(code, Some(2), "{shown}");
        assert!(shown.contains("kiln::config::line_too_long"), "{shown}");
        assert!(shown.contains("`kiln.kdl` line 1 is"), "{shown}");
        assert!(
            shown.len() < 2000,
            "the line is not shown: {} bytes",
            shown.len()
        );
    }
    // As wide as a line may be, a mistake at its end is drawn where it is.
    for padding in [" ".repeat(limit - 30), "\t".repeat(limit / 4 - 10)] {
        let (code, shown) = validate_text(&format!("repository \"x\"{padding}bogus 1\n"));
        assert_eq!(code, Some(2), "{shown:.2000}");
        assert!(
            shown.contains("kiln::config::unexpected_argument"),
            "{shown:.2000}"
        );
    }
}

#[test]
fn thousands_of_duplicates_are_counted_not_all_reported() {
    // Each reported diagnostic is drawn by reading its file up to its span: 25,000 of
    // them on one file took 10 s, 100,000 took minutes.
    let text = "jobs 4\n".repeat(5000);
    let dir = workspace(&[("kiln.kdl", &text)]);
    let errors = kiln::config::load(dir.path()).unwrap_err();
    let shown = kiln::config::limits::MAX_ERRORS;
    assert_eq!(errors.errors.len(), shown + 1);
    assert!(
        matches!(errors.errors[shown], kiln::config::ConfigError::TooManyErrors { omitted, .. } if omitted == 4999 - shown),
        "{:?}",
        errors.errors[shown]
    );
    assert_eq!(errors.total(), 4999);
    assert_eq!(
        errors.to_string(),
        "4999 configuration errors in the workspace"
    );
}

#[test]
fn a_long_dependency_cycle_labels_a_few_of_its_edges() {
    let n = 300;
    let mut flavor = String::from("flavor \"f\" {\n");
    for i in 0..n {
        flavor.push_str(&format!(
            "  step \"s{i}\" {{ context \"ctx\"; needs \"s{}\"; }}\n",
            (i + 1) % n
        ));
    }
    flavor.push_str("}\n");
    let dir = workspace(&[
        ("flavors/f/flavor.kdl", &flavor),
        ("flavors/f/ctx/Dockerfile", "FROM scratch\n"),
    ]);
    let errors = kiln::config::load(dir.path()).unwrap_err();
    match &errors.errors[..] {
        [kiln::config::ConfigError::Cycle { edges, path, .. }] => {
            assert!(edges.len() <= 12, "{} labels", edges.len());
            assert!(path.starts_with("s0 → s1 → "), "{path}");
            assert!(path.ends_with("s299 → s0"), "{path}");
            assert!(
                path.contains(&format!("… {} more steps …", n - 13)),
                "{path}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_glob_nested_too_deep_is_a_diagnostic_at_its_value_not_a_panic() {
    let glob = format!("data/**/{}", nested_glob(160));
    let dir = workspace(&[
        (ENV_FLAVOR, &env_flavor(&glob, "true")),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
    ]);
    let errors = kiln::config::load(dir.path()).unwrap_err();
    match &errors.errors[..] {
        [kiln::config::ConfigError::InvalidValue { reason, span, .. }] => {
            assert!(reason.contains("nest 160 deep"), "{reason}");
            let text = std::fs::read_to_string(dir.path().join(ENV_FLAVOR)).unwrap();
            assert_eq!(&text[span.offset()..span.offset() + 9], "\"data/**/");
        }
        other => panic!("{other:?}"),
    }
    // A workflow's flavor pattern: `validate` panicked compiling it.
    let dir = workspace(&[
        (ENV_FLAVOR, &env_flavor("data/*/meta.yml", "true")),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
        (
            "workflows/ci.kdl",
            &format!(
                "workflow \"ci\" {{\n    build flavor=\"{}\"\n}}\n",
                nested_glob(160)
            ),
        ),
    ]);
    assert_eq!(error_codes(dir.path()), ["kiln::config::invalid_value"]);
}

#[test]
fn a_flavor_pattern_nested_too_deep_selects_nothing_with_a_reason() {
    // `kiln graph --flavor '{a,{a,…}}'` panicked.
    let dir = workspace(&[
        (ENV_FLAVOR, &env_flavor("data/*/meta.yml", "true")),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
    ]);
    let ws = kiln::config::load(dir.path()).unwrap();
    let error = kiln::plan::flavors(&ws, &[nested_glob(160)]).unwrap_err();
    assert!(
        matches!(&error, kiln::plan::PlanError::UnknownFlavor { help, .. } if help.contains("nest 160 deep")),
        "{error:?}"
    );
    assert_eq!(
        kiln::plan::flavors(&ws, &["{e,x}nv".to_owned()])
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_run_template_beyond_the_limits_is_a_diagnostic() {
    // minijinja overflows the stack on a few thousand chained operators.
    let template = format!("{{{{ {}1 }}}}", "-".repeat(5000));
    let dir = workspace(&[
        (ENV_FLAVOR, &env_flavor("data/*/meta.yml", &template)),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
    ]);
    let errors = kiln::config::load(dir.path()).unwrap_err();
    assert!(
        matches!(&errors.errors[..], [kiln::config::ConfigError::InvalidValue { what, .. }] if what == "template"),
        "{errors:?}"
    );
    // An ordinary one passes.
    let dir = workspace(&[
        (
            ENV_FLAVOR,
            &env_flavor("data/*/meta.yml", "{{ entity.dir }}/run.sh"),
        ),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
    ]);
    kiln::config::load(dir.path()).unwrap();
}

/// The text of the flavor file at an error's span.
fn spanned(dir: &std::path::Path, span: miette::SourceSpan) -> String {
    let text = std::fs::read_to_string(dir.join(ENV_FLAVOR)).unwrap();
    text[span.offset()..span.offset() + span.len()].to_owned()
}

#[test]
fn a_run_template_naming_anything_but_entity_is_an_error_at_the_name() {
    let dir = workspace(&[
        (
            ENV_FLAVOR,
            &env_flavor(
                "data/*/meta.yml",
                "{{ entity.dir }}/{{ entiti.key }} {{ entiti.dir }} {{ range(2)|length }} {{ images }}",
            ),
        ),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
    ]);
    let errors = kiln::config::load(dir.path()).unwrap_err();
    let found: Vec<(String, String, String)> = errors
        .errors
        .iter()
        .map(|e| match e {
            kiln::config::ConfigError::UndefinedName {
                span, name, help, ..
            } => (name.clone(), spanned(dir.path(), *span), help.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(found.len(), 2, "each name once, globals known: {found:?}");
    assert_eq!(found[0].0, "entiti");
    assert_eq!(found[0].1, "entiti", "the span is the name");
    assert!(
        found[0].2.starts_with("did you mean `entity`?"),
        "{found:?}"
    );
    assert_eq!(found[1].0, "images");
    assert!(!found[1].2.contains("did you mean"), "{found:?}");
    assert_eq!(
        error_codes(dir.path()),
        [
            "kiln::config::undefined_name",
            "kiln::config::undefined_name"
        ]
    );

    // A template minijinja cannot parse is an error at load too, not per entity.
    let dir = workspace(&[
        (ENV_FLAVOR, &env_flavor("data/*/meta.yml", "{{ entity.dir ")),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
    ]);
    let errors = kiln::config::load(dir.path()).unwrap_err();
    assert!(
        matches!(&errors.errors[..], [kiln::config::ConfigError::InvalidValue { what, .. }] if what == "template"),
        "{errors:?}"
    );
}

/// EXASLCT's layout: step folders under `flavor_base/`, each sent as `<step>/` in a
/// context made of includes, with shared folders mapped in.
const EXASLCT_LAYOUT: &[(&str, &str)] = &[
    ("ext/scripts/install.sh", "true\n"),
    (
        "flavors/py/flavor_base/udfclient_deps/Dockerfile",
        "FROM scratch\n",
    ),
    (
        "flavors/py/flavor_base/udfclient_deps/packages/apt",
        "curl\n",
    ),
    (
        "flavors/py/flavor_base/language_deps/Dockerfile",
        "FROM {{ udfclient_deps }}\n",
    ),
    ("flavors/py/other/Dockerfile.custom", "FROM scratch\n"),
    (
        "flavors/py/flavor.kdl",
        r#"flavor "py" {
    step "udfclient_deps" { include "../../ext/scripts" as="scripts"; }
    step "language_deps" { needs "udfclient_deps"; }
    step "custom" {
        context #null
        dockerfile "other/Dockerfile.custom"
        include "../../ext/scripts" as="scripts"
    }
    step-folders "flavor_base" layout="subfolder"
}
"#,
    ),
];

#[test]
fn subfolder_layout_makes_contexts_of_includes() {
    let dir = workspace(EXASLCT_LAYOUT);
    let ws = kiln::config::load(dir.path()).unwrap();
    let root = dir.path().canonicalize().unwrap();
    let flavor = &ws.flavors[0];
    let step = flavor.step("udfclient_deps").unwrap();
    assert!(step.context.is_none(), "no context folder");
    let base = root.join("flavors/py/flavor_base/udfclient_deps");
    assert_eq!(step.dockerfile.value, base.join("Dockerfile"));
    let includes: Vec<(std::path::PathBuf, &str)> = step
        .includes
        .iter()
        .map(|i| (i.source.value.clone(), i.target.value.as_str()))
        .collect();
    assert_eq!(
        includes,
        vec![
            (base.clone(), "udfclient_deps"),
            (root.join("flavors/py/../../ext/scripts"), "scripts"),
        ]
    );
    let custom = flavor.step("custom").unwrap();
    assert!(custom.context.is_none());
    assert_eq!(
        custom.includes.len(),
        1,
        "an explicit context replaces the layout's"
    );
    assert_eq!(
        custom.dockerfile.value,
        root.join("flavors/py/other/Dockerfile.custom")
    );

    // The context holds the step folder as a subfolder plus the mapped folder.
    let spec = kiln::hash::ContextSpec::for_step(step, Vec::new());
    let context = kiln::hash::collect(&spec).unwrap();
    let paths: Vec<&str> = context.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "scripts/install.sh",
            "udfclient_deps/Dockerfile",
            "udfclient_deps/packages/apt"
        ]
    );
}

#[test]
fn step_folders_without_layout_only_move_the_default_context() {
    let dir = workspace(&[
        ("flavors/a/steps/base/Dockerfile", "FROM scratch\n"),
        (
            "flavors/a/flavor.kdl",
            "flavor \"a\" { step-folders \"steps\"; step \"base\"; }",
        ),
    ]);
    let ws = kiln::config::load(dir.path()).unwrap();
    let step = ws.flavors[0].step("base").unwrap();
    let root = dir.path().canonicalize().unwrap();
    assert_eq!(
        step.context.as_ref().unwrap().value,
        root.join("flavors/a/steps/base")
    );
    assert!(step.includes.is_empty());
}

#[test]
fn layout_mistakes_are_one_error_each() {
    let codes = |kdl: &str, files: &[(&str, &str)]| {
        let mut all = vec![("flavors/a/flavor.kdl", kdl)];
        all.extend_from_slice(files);
        let dir = workspace(&all);
        error_codes(dir.path())
    };
    // An empty context: one error, not a second one about a default path never written.
    assert_eq!(
        codes("flavor \"a\" { step \"s\" { context \"\"; } }", &[]),
        ["kiln::config::invalid_value"]
    );
    // A context of includes needs a Dockerfile.
    assert_eq!(
        codes(
            "flavor \"a\" { step \"s\" { context #null; include \"x\"; } }",
            &[("flavors/a/x", "")]
        ),
        ["kiln::config::missing_value"]
    );
    // A missing step folder is one error, not also its Dockerfile.
    assert_eq!(
        codes(
            "flavor \"a\" { step-folders \"base\" layout=\"subfolder\"; step \"s\"; }",
            &[("flavors/a/base/", "")]
        ),
        ["kiln::config::path_missing"]
    );
    // A misspelt layout.
    assert_eq!(
        codes(
            "flavor \"a\" { step-folders \".\" layout=\"subfolders\"; step \"s\"; }",
            &[("flavors/a/s/Dockerfile", "FROM scratch\n")]
        ),
        ["kiln::config::invalid_value"]
    );
    // The step folder's name is taken inside the context.
    assert_eq!(
        codes(
            "flavor \"a\" { step-folders \".\" layout=\"subfolder\"; step \"s\" { include \"x\" as=\"s\"; } }",
            &[
                ("flavors/a/s/Dockerfile", "FROM scratch\n"),
                ("flavors/a/x", "")
            ]
        ),
        ["kiln::config::duplicate"]
    );
}

#[test]
fn a_missing_host_file_says_how_to_get_it() {
    let dir = workspace(&[
        ("flavors/a/base/Dockerfile", "FROM scratch\n"),
        (
            "flavors/a/flavor.kdl",
            "flavor \"a\" { step \"base\" { include \"/nonexistent/kiln-test/busybox\"; } }\n",
        ),
    ]);
    let errors = kiln::config::load(dir.path()).unwrap_err().errors;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let help = miette::Diagnostic::help(&errors[0]).unwrap().to_string();
    assert!(help.contains("a file of this machine"), "{help}");
    assert!(help.contains("apt-get install busybox-static"), "{help}");
}

#[test]
fn the_builder_setting_and_step_secrets_decode() {
    let dir = workspace(&[
        ("kiln.kdl", "builder \"classic\"\n"),
        (
            "flavors/a/flavor.kdl",
            "flavor \"a\" { step \"base\" { secret \"token\" env=\"TOKEN\"; secret \"netrc\" file=\"../netrc\"; } }\n",
        ),
        ("flavors/a/base/Dockerfile", "FROM scratch\n"),
    ]);
    let ws = kiln::config::load(dir.path()).unwrap();
    assert_eq!(ws.settings.builder, kiln::model::BuilderChoice::Classic);
    let secrets = &ws.flavors[0].steps[0].secrets;
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[0].id.value, "token");
    assert_eq!(
        secrets[0].source,
        kiln::model::SecretSource::Env("TOKEN".to_owned())
    );
    let kiln::model::SecretSource::File(path) = &secrets[1].source else {
        panic!("{:?}", secrets[1].source)
    };
    assert!(path.ends_with("flavors/a/../netrc"), "{}", path.display());

    let defaults = workspace(&[
        ("flavors/a/flavor.kdl", "flavor \"a\" { step \"base\"; }\n"),
        ("flavors/a/base/Dockerfile", "FROM scratch\n"),
    ]);
    let ws = kiln::config::load(defaults.path()).unwrap();
    assert_eq!(ws.settings.builder, kiln::model::BuilderChoice::Auto);
}

#[test]
fn a_bad_builder_or_secret_is_reported_all_at_once() {
    let dir = workspace(&[
        ("kiln.kdl", "builder \"docker\"\n"),
        (
            "flavors/a/flavor.kdl",
            r#"flavor "a" {
    step "base" {
        secret "token" env="A" file="b"
        secret "no way"  env="A"
        secret "empty"
        secret "dup" env="A"
        secret "dup" env="B"
    }
}
"#,
        ),
        ("flavors/a/base/Dockerfile", "FROM scratch\n"),
    ]);
    assert_eq!(
        error_codes(dir.path()),
        [
            "kiln::config::invalid_value",
            "kiln::config::invalid_value",
            "kiln::config::invalid_value",
            "kiln::config::missing_value",
            "kiln::config::duplicate"
        ]
    );
}
