//! Decoding `flavors/<name>/flavor.kdl`: the flavor, its steps and goals.

use std::path::Path;

use kdl::{KdlDocument, KdlNode};

use super::check;
use super::error::ConfigError;
use super::grammar;
use super::reader::{Reader, Seen, Shape, name_span, positional};
use crate::model::{
    ArgValue, BuildArg, Flavor, Goal, Include, IncludeOrigin, Secret, SecretSource, Spanned, Step,
};

const FLAVOR: Shape = Shape::args(&["name"]).props(&["extends"]).children();
const STEP: Shape = Shape::args(&["name"]).children();
const STEP_FOLDERS: Shape = Shape::args(&["path"]).props(&["layout"]);
const GOAL: Shape = Shape::args(&["name"]).props(&["default"]).children();
const TEXT: Shape = Shape::args(&["text"]);
const SWITCH: Shape = Shape::args(&["enabled"]);
const PATH: Shape = Shape::args(&["path"]);
const NEEDS: Shape = Shape::list("step name");
const STEPS: Shape = Shape::list("step name");
const INCLUDE: Shape = Shape::args(&["path"]).props(&["as"]);
const ARG: Shape =
    Shape::args(&["name"])
        .optional(&["value"])
        .props(&["env", "default", "transparent"]);
const IGNORE: Shape = Shape::list("glob");
const SECRET: Shape = Shape::args(&["id"]).props(&["env", "file"]);

/// Decodes the one flavor a `flavor.kdl` holds. `dir` is the folder of the file.
pub fn decode(r: &mut Reader, doc: &KdlDocument, dir: &Path, root: &Path) -> Option<Flavor> {
    let nodes = r.known(doc.nodes(), grammar::FLAVOR_FILE, "flavor.kdl");
    let mut flavors = nodes.into_iter();
    let Some(node) = flavors.next() else {
        r.push(ConfigError::MissingValue {
            src: r.src(),
            span: (0, 0).into(),
            node: "`flavor.kdl`".to_owned(),
            what: "a `flavor` node".to_owned(),
            help: "declare the flavor: flavor \"name\" { step \"base\" { … } }".to_owned(),
        });
        return None;
    };
    for extra in flavors {
        r.invalid(
            name_span(extra),
            "flavor.kdl",
            "a second flavor in one file",
            "each flavor lives in its own folder: flavors/<name>/flavor.kdl",
        );
    }
    decode_flavor(r, node, dir, root)
}

fn decode_flavor(r: &mut Reader, node: &KdlNode, dir: &Path, root: &Path) -> Option<Flavor> {
    r.shape(node, &FLAVOR);
    let name = r.name(node, "flavor")?;
    let extends = r.prop(node, "extends");
    let children = r.children(node, grammar::FLAVOR, &format!("flavor `{}`", name.value));
    r.at_most_once(&children, "description");
    r.at_most_once(&children, "step-folders");
    r.at_most_once(&children, "build-info");
    // Read before the steps, which it gives their default folders, wherever it stands.
    let folders = children
        .iter()
        .find(|c| c.name().value() == "step-folders")
        .map_or_else(
            || StepFolders {
                dir: dir.to_owned(),
                layout: Layout::Context,
            },
            |node| step_folders(r, node, dir),
        );
    let mut flavor = Flavor {
        name,
        description: None,
        extends,
        dir: dir.to_owned(),
        source: r.id,
        steps: Vec::new(),
        goals: Vec::new(),
        checks: Vec::new(),
        build_info: None,
    };
    let (mut steps, mut goals, mut checks) = (Seen::default(), Seen::default(), Seen::default());
    for child in children {
        match child.name().value() {
            "description" => flavor.description = text(r, child),
            "step-folders" => {}
            "build-info" => {
                r.shape(child, &SWITCH);
                flavor.build_info = r.arg_bool(child, 0, "build-info");
            }
            "step" => {
                if let Some(step) = decode_step(r, child, &flavor, &folders) {
                    match steps.first(&step.name, flavor.steps.len()) {
                        Some(first) => duplicate(r, "step", &flavor.steps[first].name, &step.name),
                        None => flavor.steps.push(step),
                    }
                }
            }
            "goal" => {
                if let Some(goal) = decode_goal(r, child) {
                    match goals.first(&goal.name, flavor.goals.len()) {
                        Some(first) => duplicate(r, "goal", &flavor.goals[first].name, &goal.name),
                        None => flavor.goals.push(goal),
                    }
                }
            }
            "check" => {
                if let Some(check) = check::decode(r, child, root) {
                    match checks.first(&check.name, flavor.checks.len()) {
                        Some(first) => {
                            duplicate(r, "check", &flavor.checks[first].name, &check.name)
                        }
                        None => flavor.checks.push(check),
                    }
                }
            }
            _ => unreachable!("filtered by grammar::FLAVOR"),
        }
    }
    Some(flavor)
}

/// Reports `again` as a second definition of `first` within the same file.
pub fn duplicate(
    r: &mut Reader,
    kind: &'static str,
    first: &Spanned<String>,
    again: &Spanned<String>,
) {
    r.push(ConfigError::Duplicate {
        src: r.src(),
        span: again.loc.span,
        first: Some(first.loc.span),
        kind,
        name: again.value.clone(),
        help: format!(
            "`{}` may be defined once here; rename or remove one of them",
            again.value
        ),
        elsewhere: Vec::new(),
    });
}

/// A `description "…"`-like node's text.
pub fn text(r: &mut Reader, node: &KdlNode) -> Option<String> {
    r.shape(node, &TEXT);
    r.arg(node, 0, "text").map(|t| t.value)
}

/// Where a flavor's step folders live and what they are (`step-folders`).
struct StepFolders {
    /// The folder holding one folder per step (absolute).
    dir: std::path::PathBuf,
    layout: Layout,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A step's folder is its build context (kiln's default).
    Context,
    /// A step's context is made of includes, its folder going in as `<step>/`
    /// (EXASLCT's layout).
    Subfolder,
}

fn step_folders(r: &mut Reader, node: &KdlNode, dir: &Path) -> StepFolders {
    let path = path_arg(r, node, &STEP_FOLDERS);
    let layout = match r.prop(node, "layout") {
        None => Layout::Context,
        Some(layout) => match layout.value.as_str() {
            "context" => Layout::Context,
            "subfolder" => Layout::Subfolder,
            other => {
                r.invalid(
                    layout.loc.span,
                    "step-folders layout",
                    format!("`{other}` is not a layout"),
                    format!(
                        "layout is \"context\" (a step's folder is its context) or \"subfolder\" (the context is made of includes, the step's folder going in as <step>/){}",
                        super::closest(other, ["context", "subfolder"])
                            .map(|best| format!("; did you mean `{best}`?"))
                            .unwrap_or_default()
                    ),
                );
                Layout::Context
            }
        },
    };
    StepFolders {
        dir: path.map_or_else(|| dir.to_owned(), |p| dir.join(p.value)),
        layout,
    }
}

fn decode_step(
    r: &mut Reader,
    node: &KdlNode,
    flavor: &Flavor,
    folders: &StepFolders,
) -> Option<Step> {
    r.shape(node, &STEP);
    let name = r.name(node, "step")?;
    let children = r.children(node, grammar::STEP, &format!("step `{}`", name.value));
    for once in ["description", "context", "dockerfile"] {
        r.at_most_once(&children, once);
    }
    let folder = Spanned::new(folders.dir.join(&name.value), name.loc);
    let mut step = Step {
        description: None,
        declared_in: flavor.name.value.clone(),
        context: None,
        dockerfile: Spanned::new(Default::default(), name.loc),
        needs: Vec::new(),
        includes: Vec::new(),
        args: Vec::new(),
        ignore: Vec::new(),
        secrets: Vec::new(),
        name,
    };
    // The context as declared: `None` when not, `Some(None)` for `context #null` or a
    // value already reported as wrong.
    let mut context: Option<Option<Spanned<std::path::PathBuf>>> = None;
    let mut dockerfile = None;
    let (mut targets, mut args, mut secrets) = (Seen::default(), Seen::default(), Seen::default());
    // The layout's step folder goes into the context unless the step names its own.
    let declares_context = children.iter().any(|c| c.name().value() == "context");
    if folders.layout == Layout::Subfolder && !declares_context {
        let include = Include {
            source: folder.clone(),
            target: Spanned::new(step.name.value.clone(), step.name.loc),
            origin: IncludeOrigin::StepFolder,
        };
        targets.first(&include.target, 0);
        step.includes.push(include);
    }
    for child in children {
        match child.name().value() {
            "description" => step.description = text(r, child),
            "context" => {
                let null = positional(child)
                    .next()
                    .is_some_and(|e| e.value().is_null());
                context = Some(if null {
                    r.shape(child, &PATH);
                    None
                } else {
                    path_arg(r, child, &PATH)
                        .map(|path| Spanned::new(flavor.dir.join(&path.value), path.loc))
                });
            }
            "dockerfile" => {
                if let Some(path) = path_arg(r, child, &PATH) {
                    dockerfile = Some(Spanned::new(flavor.dir.join(&path.value), path.loc));
                }
            }
            "needs" => {
                r.shape(child, &NEEDS);
                step.needs.extend(r.args_from(child, 0, "step name"));
            }
            "include" => {
                let Some(include) = decode_include(r, child, &flavor.dir) else {
                    continue;
                };
                match targets.first(&include.target, step.includes.len()) {
                    Some(first) => duplicate(
                        r,
                        "include target",
                        &step.includes[first].target,
                        &include.target,
                    ),
                    None => step.includes.push(include),
                }
            }
            "arg" => {
                let Some(arg) = decode_arg(r, child) else {
                    continue;
                };
                match args.first(&arg.name, step.args.len()) {
                    Some(first) => duplicate(r, "build arg", &step.args[first].name, &arg.name),
                    None => step.args.push(arg),
                }
            }
            "secret" => {
                let Some(secret) = decode_secret(r, child, &flavor.dir) else {
                    continue;
                };
                match secrets.first(&secret.id, step.secrets.len()) {
                    Some(first) => duplicate(r, "secret", &step.secrets[first].id, &secret.id),
                    None => step.secrets.push(secret),
                }
            }
            "ignore" => {
                r.shape(child, &IGNORE);
                for glob in r.args_from(child, 0, "glob") {
                    if let Err(e) = super::glob::matcher(&glob.value) {
                        r.invalid(glob.loc.span, "ignore glob", e.to_string(), e.help());
                    } else {
                        step.ignore.push(glob);
                    }
                }
            }
            _ => unreachable!("filtered by grammar::STEP"),
        }
    }
    let context_node = children_named(node, "context");
    step.context = match (context, folders.layout) {
        (Some(declared), _) => declared,
        (None, Layout::Context) => Some(folder.clone()),
        (None, Layout::Subfolder) => None,
    };
    step.dockerfile = match (dockerfile, &step.context, context_node) {
        (Some(dockerfile), _, _) => dockerfile,
        (None, Some(context), _) => Spanned::new(context.value.join("Dockerfile"), context.loc),
        (None, None, None) => Spanned::new(folder.value.join("Dockerfile"), folder.loc),
        (None, None, Some(context_node)) => {
            // `context #null` without a Dockerfile: nothing to default to. A wrong
            // context value is reported already; the Dockerfile stays unknown.
            if positional(context_node)
                .next()
                .is_some_and(|e| e.value().is_null())
            {
                r.push(ConfigError::MissingValue {
                    src: r.src(),
                    span: name_span(context_node),
                    node: format!("step `{}`", step.name.value),
                    what: "a `dockerfile`".to_owned(),
                    help: "a context made of includes has no folder to find a Dockerfile in; name it: dockerfile \"path/to/Dockerfile\"".to_owned(),
                });
            }
            Spanned::new(Default::default(), step.name.loc)
        }
    };
    Some(step)
}

/// The last child of `node` named `name`.
fn children_named<'n>(node: &'n KdlNode, name: &str) -> Option<&'n KdlNode> {
    node.children()?
        .nodes()
        .iter()
        .rev()
        .find(|c| c.name().value() == name)
}

fn path_arg(r: &mut Reader, node: &KdlNode, shape: &Shape) -> Option<Spanned<String>> {
    r.shape(node, shape);
    let path = r.arg(node, 0, "path")?;
    if path.value.is_empty() {
        r.invalid(
            path.loc.span,
            "path",
            "the path is empty",
            if node.name().value() == "context" {
                "write \".\" for the flavor's own folder, or `context #null` for a context made of the includes only"
            } else {
                "write \".\" for the flavor's own folder"
            },
        );
        return None;
    }
    Some(path)
}

fn decode_include(r: &mut Reader, node: &KdlNode, dir: &Path) -> Option<Include> {
    let path = path_arg(r, node, &INCLUDE)?;
    let source = Spanned::new(dir.join(&path.value), path.loc);
    let target = match r.prop(node, "as") {
        Some(target) => target,
        None => {
            let file_name = Path::new(&path.value)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            match file_name {
                Some(n) => Spanned::new(n, path.loc),
                None => {
                    r.invalid(
                        path.loc.span,
                        "include",
                        "the path has no file name to use inside the context",
                        "say where it goes: include \"…\" as=\"name\"",
                    );
                    return None;
                }
            }
        }
    };
    let inside = Path::new(&target.value);
    if target.value.is_empty()
        || inside.is_absolute()
        || inside
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        r.invalid(
            target.loc.span,
            "include target",
            format!("`{}` is not a plain path inside the context", target.value),
            "`as` is a relative path inside the build context, without `..`, e.g. as=\"tools/busybox\"",
        );
        return None;
    }
    Some(Include {
        source,
        target,
        origin: IncludeOrigin::Declared,
    })
}

fn decode_arg(r: &mut Reader, node: &KdlNode) -> Option<BuildArg> {
    r.shape(node, &ARG);
    let name = r.arg(node, 0, "build arg name")?;
    let literal = r.arg(node, 1, "build arg value");
    let env = r.prop(node, "env");
    let default = r.prop(node, "default");
    let transparent = r.prop_bool(node, "transparent").unwrap_or(false);
    let mut ok = true;
    if !name
        .value
        .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        || !name
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        r.invalid(
            name.loc.span,
            "build arg name",
            format!("`{}` is not a valid build arg name", name.value),
            "build arg names are letters, digits and `_`, e.g. PYTHON_VERSION",
        );
        ok = false;
    }
    let value = match (literal, env) {
        (Some(value), None) => {
            if let Some(default) = &default {
                r.invalid(
                    default.loc.span,
                    "build arg",
                    "`default` only applies with `env`",
                    "remove `default` or read the value from the environment with env=\"VAR\"",
                );
                ok = false;
            }
            ArgValue::Literal(value.value)
        }
        (None, Some(var)) => ArgValue::Env {
            var: var.value,
            default: default.map(|d| d.value),
        },
        (Some(value), Some(_)) => {
            r.invalid(value.loc.span, "build arg", "both a value and `env` are given", "give either a value: arg \"NAME\" \"value\", or a variable: arg \"NAME\" env=\"VAR\"");
            return None;
        }
        (None, None) => {
            r.push(ConfigError::MissingValue {
                src: r.src(),
                span: name.loc.span,
                node: "`arg`".to_owned(),
                what: "a value".to_owned(),
                help: "give either a value: arg \"NAME\" \"value\", or a variable: arg \"NAME\" env=\"VAR\"".to_owned(),
            });
            return None;
        }
    };
    ok.then_some(BuildArg {
        name,
        value,
        transparent,
    })
}

fn decode_secret(r: &mut Reader, node: &KdlNode, dir: &Path) -> Option<Secret> {
    r.shape(node, &SECRET);
    let id = r.arg(node, 0, "secret id")?;
    let env = r.prop(node, "env");
    let file = r.prop(node, "file");
    let mut ok = true;
    if id.value.is_empty()
        || !id
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        r.invalid(
            id.loc.span,
            "secret id",
            format!("`{}` is not a valid secret id", id.value),
            "secret ids are letters, digits and `_`, `.`, `-`, as `RUN --mount=type=secret,id=…` names them",
        );
        ok = false;
    }
    let source = match (env, file) {
        (Some(var), None) if !var.value.is_empty() => SecretSource::Env(var.value),
        (None, Some(path)) if !path.value.is_empty() => SecretSource::File(dir.join(path.value)),
        (Some(value), None) | (None, Some(value)) => {
            r.invalid(
                value.loc.span,
                "secret",
                "the name is empty",
                "name the environment variable or file the secret is read from",
            );
            return None;
        }
        (Some(var), Some(_)) => {
            r.invalid(
                var.loc.span,
                "secret",
                "both `env` and `file` are given",
                "read the secret from one place: secret \"id\" env=\"VAR\", or secret \"id\" file=\"path\"",
            );
            return None;
        }
        (None, None) => {
            r.push(ConfigError::MissingValue {
                src: r.src(),
                span: id.loc.span,
                node: "`secret`".to_owned(),
                what: "where its value comes from".to_owned(),
                help: "read it from the environment: secret \"id\" env=\"VAR\", or from a file: secret \"id\" file=\"path\"".to_owned(),
            });
            return None;
        }
    };
    ok.then_some(Secret { id, source })
}

fn decode_goal(r: &mut Reader, node: &KdlNode) -> Option<Goal> {
    r.shape(node, &GOAL);
    let name = r.name(node, "goal")?;
    let default = r.prop_bool(node, "default").unwrap_or(false);
    let children = r.children(node, grammar::GOAL, &format!("goal `{}`", name.value));
    r.at_most_once(&children, "description");
    let mut goal = Goal {
        description: None,
        steps: Vec::new(),
        default,
        name,
    };
    for child in children {
        match child.name().value() {
            "description" => goal.description = text(r, child),
            "steps" => {
                r.shape(child, &STEPS);
                goal.steps.extend(r.args_from(child, 0, "step name"));
            }
            _ => unreachable!("filtered by grammar::GOAL"),
        }
    }
    if goal.steps.is_empty() {
        goal.steps.push(goal.name.clone());
    }
    Some(goal)
}
