//! Decoding `workflows/<name>.kdl`.

use std::path::PathBuf;

use kdl::{KdlDocument, KdlNode};

use super::flavor::text;
use super::grammar;
use super::reader::{Reader, Shape, name_span};
use crate::model::{Param, ReportOutputs, Spanned, Task, TaskKind, Workflow};

const WORKFLOW: Shape = Shape::args(&["name"]).children();
const PARAM: Shape = Shape::args(&["name"]).props(&["default", "description"]);
const BUILD: Shape = Shape::args(&[]).props(&["flavor", "goal"]);
const CHECK: Shape = Shape::args(&[]).props(&["flavor", "name"]);
const EXPORT: Shape = Shape::args(&[]).props(&["flavor", "goal", "dir"]);
const CLEAN: Shape = Shape::args(&[]).props(&["flavor"]);
const REPORT: Shape = Shape::args(&[]).props(&["junit", "html", "json"]);

/// Folder a workflow's `export` task writes to when it names no `dir` (relative to the
/// workspace root): a visible folder, the workflow's product. Not `kiln export`'s
/// default, which is kiln's own folder (`DEFAULT_EXPORT_OUTPUT` in `cli/export.rs`).
pub const DEFAULT_EXPORT_TASK_DIR: &str = "exports";

/// Decodes every workflow of one file.
pub fn decode(r: &mut Reader, doc: &KdlDocument) -> Vec<Workflow> {
    let nodes = r.known(doc.nodes(), grammar::WORKFLOW_FILE, "a workflow file");
    nodes
        .into_iter()
        .filter_map(|node| decode_workflow(r, node))
        .collect()
}

fn decode_workflow(r: &mut Reader, node: &KdlNode) -> Option<Workflow> {
    r.shape(node, &WORKFLOW);
    let name = r.name(node, "workflow")?;
    let children = r.children(
        node,
        grammar::WORKFLOW,
        &format!("workflow `{}`", name.value),
    );
    r.at_most_once(&children, "description");
    let mut workflow = Workflow {
        name,
        description: None,
        source: r.id,
        params: Vec::new(),
        tasks: Vec::new(),
    };
    let mut params = super::reader::Seen::default();
    for child in children {
        let keyword = child.name().value();
        if keyword == "description" {
            workflow.description = text(r, child);
        } else if keyword == "param" {
            if let Some(param) = decode_param(r, child) {
                match params.first(&param.name, workflow.params.len()) {
                    Some(first) => super::flavor::duplicate(
                        r,
                        "parameter",
                        &workflow.params[first].name,
                        &param.name,
                    ),
                    None => workflow.params.push(param),
                }
            }
        } else if let Some(task) = decode_task(r, child) {
            workflow.tasks.push(task);
        }
    }
    Some(workflow)
}

fn decode_param(r: &mut Reader, node: &KdlNode) -> Option<Param> {
    r.shape(node, &PARAM);
    let name = r.name(node, "parameter")?;
    let default = r.prop(node, "default");
    let description = r.prop(node, "description").map(|d| d.value);
    Some(Param {
        name,
        default,
        description,
    })
}

fn decode_task(r: &mut Reader, node: &KdlNode) -> Option<Task> {
    let keyword = node.name().value();
    let shape = match keyword {
        "build" | "save" | "push" => &BUILD,
        "check" => &CHECK,
        "export" => &EXPORT,
        "clean" => &CLEAN,
        "report" => &REPORT,
        _ => unreachable!("filtered by grammar::WORKFLOW"),
    };
    r.shape(node, shape);
    let loc = r.loc(name_span(node));
    let flavor = r
        .prop(node, "flavor")
        .unwrap_or_else(|| Spanned::new("*".to_owned(), loc));
    let kind = match keyword {
        "build" => TaskKind::Build {
            goal: r.prop(node, "goal"),
        },
        "save" => TaskKind::Save {
            goal: r.prop(node, "goal"),
        },
        "push" => TaskKind::Push {
            goal: r.prop(node, "goal"),
        },
        "check" => TaskKind::Check {
            name: r.prop(node, "name"),
        },
        "export" => TaskKind::Export {
            goal: r.prop(node, "goal"),
            dir: PathBuf::from(
                r.prop(node, "dir")
                    .map(|d| d.value)
                    .unwrap_or_else(|| DEFAULT_EXPORT_TASK_DIR.to_owned()),
            ),
        },
        "clean" => TaskKind::Clean,
        _ => {
            let mut path = |key| r.prop(node, key).map(|p| PathBuf::from(p.value));
            TaskKind::Report(ReportOutputs {
                junit: path("junit"),
                html: path("html"),
                json: path("json"),
            })
        }
    };
    Some(Task { kind, flavor, loc })
}
