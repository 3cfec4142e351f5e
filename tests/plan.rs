//! Planning: which nodes and edges a selection of flavors and goals produces.

mod common;

use common::workspace;
use kiln::plan::{self, PlanError, Selection};

const FILES: &[(&str, &str)] = &[
    (
        "flavors/a/flavor.kdl",
        r#"flavor "a" {
    step "base"
    step "lib" { needs "base"; }
    step "app" { needs "lib" "base"; }
    step "test" { needs "app"; }
    step "docs"
    goal "app" default=#true
    goal "checks" { steps "test" "docs"; }
}
"#,
    ),
    ("flavors/a/base/Dockerfile", ""),
    ("flavors/a/lib/Dockerfile", ""),
    ("flavors/a/app/Dockerfile", ""),
    ("flavors/a/test/Dockerfile", ""),
    ("flavors/a/docs/Dockerfile", ""),
    ("flavors/b/flavor.kdl", "flavor \"b\" { step \"only\"; }\n"),
    ("flavors/b/only/Dockerfile", ""),
];

fn ids(graph: &kiln::plan::Graph) -> Vec<String> {
    graph
        .node_ids()
        .map(|n| graph.id_of(n).unwrap().to_owned())
        .collect()
}

/// The plan builder's graph of a selection (what `kiln graph` and `kiln build` run).
fn build_graph(
    ws: &kiln::model::Workspace,
    selection: &Selection,
) -> Result<kiln::plan::Graph, PlanError> {
    let plan = plan::Plan {
        build: plan::step_targets(ws, selection)?,
        ..plan::Plan::default()
    };
    plan::build(ws, &plan)
}

fn selection(flavors: &[&str], goals: &[&str]) -> Selection {
    Selection {
        flavors: flavors.iter().map(|s| s.to_string()).collect(),
        goals: goals.iter().map(|s| s.to_string()).collect(),
        all_steps: false,
    }
}

#[test]
fn default_goals_select_their_steps_and_what_they_need() {
    let dir = workspace(FILES);
    let ws = kiln::config::load(dir.path()).unwrap();
    let graph = build_graph(&ws, &selection(&["a"], &[])).unwrap();
    assert_eq!(ids(&graph), ["a/base", "a/lib", "a/app"]);
    assert_eq!(
        plan::edges(&graph),
        [
            ("a/base".to_string(), "a/app".to_string()),
            ("a/base".to_string(), "a/lib".to_string()),
            ("a/lib".to_string(), "a/app".to_string()),
        ]
    );
}

#[test]
fn a_flavor_without_default_goals_builds_every_step() {
    let dir = workspace(FILES);
    let ws = kiln::config::load(dir.path()).unwrap();
    let graph = build_graph(&ws, &selection(&["b"], &[])).unwrap();
    assert_eq!(ids(&graph), ["b/only"]);
}

#[test]
fn goals_and_step_names_select_subgraphs() {
    let dir = workspace(FILES);
    let ws = kiln::config::load(dir.path()).unwrap();
    let graph = build_graph(&ws, &selection(&["a"], &["checks"])).unwrap();
    assert_eq!(
        ids(&graph),
        ["a/base", "a/docs", "a/lib", "a/app", "a/test"]
    );
    let graph = build_graph(&ws, &selection(&["a"], &["lib"])).unwrap();
    assert_eq!(ids(&graph), ["a/base", "a/lib"]);
}

#[test]
fn a_glob_applies_a_goal_where_it_exists() {
    let dir = workspace(FILES);
    let ws = kiln::config::load(dir.path()).unwrap();
    let graph = build_graph(&ws, &selection(&["*"], &["only"])).unwrap();
    assert_eq!(ids(&graph), ["b/only"]);
    let graph = build_graph(&ws, &selection(&[], &[])).unwrap();
    assert_eq!(
        graph.len(),
        4,
        "every flavor's defaults: a/{{base,lib,app}} and b/only"
    );
}

#[test]
fn all_steps_ignores_goals() {
    let dir = workspace(FILES);
    let ws = kiln::config::load(dir.path()).unwrap();
    let all = Selection {
        all_steps: true,
        ..selection(&["a"], &[])
    };
    let graph = build_graph(&ws, &all).unwrap();
    assert_eq!(
        ids(&graph),
        ["a/base", "a/docs", "a/lib", "a/app", "a/test"]
    );
}

#[test]
fn unknown_selections_are_errors_with_suggestions() {
    let dir = workspace(FILES);
    let ws = kiln::config::load(dir.path()).unwrap();
    match build_graph(&ws, &selection(&["c"], &[])) {
        Err(PlanError::UnknownFlavor { pattern, .. }) => assert_eq!(pattern, "c"),
        other => panic!("expected unknown flavor, got {other:?}"),
    }
    match build_graph(&ws, &selection(&["a"], &["chekcs"])) {
        Err(PlanError::UnknownGoal { help, .. }) => assert_eq!(help, "did you mean `checks`?"),
        other => panic!("expected unknown goal, got {other:?}"),
    }
    match build_graph(&ws, &selection(&["a", "b"], &["checks"])) {
        Err(PlanError::MissingGoal { flavor, .. }) => assert_eq!(flavor, "b"),
        other => panic!("expected a missing goal in b, got {other:?}"),
    }
}

#[test]
fn output_formats_describe_the_same_graph() {
    let dir = workspace(FILES);
    let ws = kiln::config::load(dir.path()).unwrap();
    let graph = build_graph(&ws, &selection(&["a"], &[])).unwrap();
    let dot = plan::to_dot(&graph);
    assert_eq!(dot.matches(" -> ").count(), 3);
    assert!(dot.contains("\"a/base\" -> \"a/lib\";"));
    let mermaid = plan::to_mermaid(&graph);
    assert_eq!(mermaid.matches(" --> ").count(), 3);
    let json: serde_json::Value = serde_json::from_str(&plan::to_json(&graph)).unwrap();
    assert_eq!(json["format"], 1);
    assert_eq!(json["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(json["nodes"][2]["id"], "a/app");
    assert_eq!(
        json["nodes"][2]["needs"],
        serde_json::json!(["a/base", "a/lib"])
    );
    assert_eq!(json["edges"].as_array().unwrap().len(), 3);
}
