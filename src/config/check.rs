//! Decoding `check` blocks of a flavor.

use std::path::Path;

use kdl::KdlNode;

use super::error::ConfigError;
use super::flavor::text;
use super::grammar;
use super::reader::{Reader, Shape, name_span};
use super::template_names;
use crate::model::{
    Check, EntitySource, EnvironmentCase, EnvironmentSelect, Filter, Mount, Outcome, Spanned,
};

const CHECK: Shape = Shape::args(&["name"]).children();
const IMAGE: Shape = Shape::args(&["step name"]);
const ENTITIES: Shape = Shape::args(&["glob"]).props(&["key"]);
const FILTER: Shape = Shape::args(&["field", "value"]);
const ENVIRONMENT: Shape = Shape::args(&[]).props(&["field"]).children();
const WHEN: Shape = Shape::args(&["value"]).props(&["flavor", "step"]);
const RUN: Shape = Shape::list("command");
const ENV: Shape = Shape::args(&["name", "value"]);
const MOUNT: Shape = Shape::args(&["host path", "container path"]).props(&["readonly"]);
const WORKDIR: Shape = Shape::args(&["container path"]);
const TIMEOUT: Shape = Shape::args(&["duration"]);
const OUTCOME: Shape = Shape::args(&[]).props(&["success", "inaccurate"]);
const ARTIFACTS: Shape = Shape::list("glob");
const EXCLUDE: Shape = Shape::list("glob");
const INPUTS: Shape = Shape::list("glob");

/// Metadata field holding an entity's key when `entities` names none.
pub const DEFAULT_KEY_FIELD: &str = "key";

pub fn decode(r: &mut Reader, node: &KdlNode, root: &Path) -> Option<Check> {
    r.shape(node, &CHECK);
    let name = r.name(node, "check")?;
    let children = r.children(node, grammar::CHECK, &format!("check `{}`", name.value));
    for once in [
        "description",
        "image",
        "entities",
        "environment",
        "run",
        "workdir",
        "timeout",
        "outcome",
    ] {
        r.at_most_once(&children, once);
    }
    let mut description = None;
    let mut image = None;
    let mut entities = None;
    let mut filters = Vec::new();
    let mut environment = None;
    let mut run = Vec::new();
    let mut env = Vec::new();
    let mut mounts = Vec::new();
    let mut workdir = None;
    let mut timeout = None;
    let mut outcome = Outcome::default();
    let mut inputs = Vec::new();
    let mut artifacts = Vec::new();
    let mut exclude = Vec::new();
    for child in &children {
        let child = *child;
        match child.name().value() {
            "description" => description = text(r, child),
            "image" => {
                r.shape(child, &IMAGE);
                image = r.arg(child, 0, "step name");
            }
            "entities" => {
                r.shape(child, &ENTITIES);
                if let Some(glob) = r.arg(child, 0, "entity glob").filter(|g| valid_glob(r, g)) {
                    let key = r
                        .prop(child, "key")
                        .unwrap_or_else(|| Spanned::new(DEFAULT_KEY_FIELD.to_owned(), glob.loc));
                    entities = Some(EntitySource {
                        glob,
                        key,
                        exclude: Vec::new(),
                    });
                }
            }
            "filter" => {
                r.shape(child, &FILTER);
                if let (Some(field), Some(value)) =
                    (r.arg(child, 0, "field"), r.arg(child, 1, "value"))
                {
                    filters.push(Filter { field, value });
                }
            }
            "environment" => environment = decode_environment(r, child),
            "run" => {
                r.shape(child, &RUN);
                run = r.args_from(child, 0, "command");
                if !valid_templates(r, &name.value, &run) {
                    run.clear();
                }
            }
            "env" => {
                r.shape(child, &ENV);
                if let (Some(k), Some(v)) =
                    (r.arg(child, 0, "variable name"), r.arg(child, 1, "value"))
                {
                    env.push((k, v.value));
                }
            }
            "mount" => mounts.extend(decode_mount(r, child, root)),
            "workdir" => {
                r.shape(child, &WORKDIR);
                workdir = r.arg(child, 0, "workdir").filter(|w| container_path(r, w));
            }
            "timeout" => {
                r.shape(child, &TIMEOUT);
                if let Some(t) = r.arg(child, 0, "timeout") {
                    match humantime::parse_duration(&t.value) {
                        Ok(d) if !d.is_zero() => timeout = Some(Spanned::new(d, t.loc)),
                        Ok(_) => r.invalid(
                            t.loc.span,
                            "timeout",
                            "a zero timeout",
                            "give a positive duration such as \"90s\" or \"3m\"",
                        ),
                        Err(e) => r.invalid(
                            t.loc.span,
                            "timeout",
                            e.to_string(),
                            "durations look like \"90s\", \"3m\" or \"1h 30m\"",
                        ),
                    }
                }
            }
            "outcome" => {
                r.shape(child, &OUTCOME);
                if let Some(code) = r.prop_int(child, "success", 0..=255) {
                    outcome.success = vec![code.value as u8];
                }
                if let Some(code) = r.prop_int(child, "inaccurate", 0..=255) {
                    outcome.inaccurate = vec![code.value as u8];
                }
                if outcome
                    .success
                    .iter()
                    .any(|c| outcome.inaccurate.contains(c))
                {
                    r.invalid(
                        name_span(child),
                        "outcome",
                        "the same exit code is both success and inaccurate",
                        "give each class its own exit code",
                    );
                }
            }
            "exclude" => {
                r.shape(child, &EXCLUDE);
                let globs = r.args_from(child, 0, "glob");
                exclude.extend(globs.into_iter().filter(|g| valid_glob(r, g)));
            }
            "artifacts" => {
                r.shape(child, &ARTIFACTS);
                let globs = r.args_from(child, 0, "glob");
                artifacts.extend(globs.into_iter().filter(|g| valid_glob(r, g)));
            }
            "inputs" => {
                r.shape(child, &INPUTS);
                let globs = r.args_from(child, 0, "glob");
                if valid_templates(r, &name.value, &globs) {
                    inputs.extend(globs.into_iter().filter(|g| relative_glob(r, g)));
                }
            }
            _ => unreachable!("filtered by grammar::CHECK"),
        }
    }
    let mut missing = |what: &str, example: &str| {
        r.push(ConfigError::MissingValue {
            src: r.src(),
            span: name.loc.span,
            node: format!("check `{}`", name.value),
            what: format!("`{what}`"),
            help: format!("add it inside the check block, e.g. {example}"),
        });
    };
    if image.is_none() {
        missing("image", "image \"release\"");
    }
    if entities.is_none() && !children.iter().any(|c| c.name().value() == "entities") {
        missing("entities", "entities \"data/*/metadata.yml\" key=\"key\"");
    }
    if run.is_empty() && !children.iter().any(|c| c.name().value() == "run") {
        missing("run", "run \"sh\" \"run.sh\" \"{{ entity.dir }}\"");
    }
    let mut entities = entities?;
    entities.exclude = exclude;
    Some(Check {
        name,
        description,
        image: image?,
        entities,
        filters,
        environment,
        run,
        env,
        mounts,
        workdir,
        timeout,
        outcome,
        artifacts,
        inputs,
    })
}

/// Whether an `inputs` glob stays inside the workspace as written: relative, no `..`
/// (what a template puts in is checked per entity, when it is rendered).
fn relative_glob(r: &mut Reader, glob: &Spanned<String>) -> bool {
    let value = &glob.value;
    if value.starts_with('/') || value.split('/').any(|part| part == "..") {
        r.invalid(
            glob.loc.span,
            "glob",
            "an input glob leaves the workspace".to_owned(),
            "write it relative to the workspace root, without `..`, e.g. inputs \"problems/{{ entity.problem }}/**\"".to_owned(),
        );
        return false;
    }
    true
}

/// Whether `glob` compiles within the limits of [`super::glob`]; reports it if not.
fn valid_glob(r: &mut Reader, glob: &Spanned<String>) -> bool {
    match super::glob::matcher(&glob.value) {
        Ok(_) => true,
        Err(e) => {
            r.invalid(glob.loc.span, "glob", e.to_string(), e.help());
            false
        }
    }
}

/// Whether each of `args` is a template within the limits of [`super::template`] that
/// minijinja parses; reports those that are not, and every top-level name other than
/// `entity` they use (found now, since it needs no entity).
fn valid_templates(r: &mut Reader, check: &str, args: &[Spanned<String>]) -> bool {
    let mut valid = true;
    for arg in args {
        if let Err(limit) = super::template::check(&arg.value) {
            r.invalid(
                arg.loc.span,
                "template",
                limit.to_string(),
                format!(
                    "`{{{{ … }}}}` and `{{% … %}}` tags are at most {} bytes, with brackets and blocks nested at most {} deep; keep the command simple and move logic into a script",
                    super::template::MAX_TAG_BYTES,
                    super::template::MAX_TEMPLATE_NESTING
                ),
            );
            valid = false;
            continue;
        }
        match template_names::lookups(&arg.value) {
            Ok(lookups) => undefined_names(r, check, arg, &lookups),
            Err(e) => {
                let span = e.range().map_or(arg.loc.span, |range| {
                    template_names::span_in_argument(&r.file.text, arg.loc.span, &arg.value, range)
                });
                r.invalid(
                    span,
                    "template",
                    e.detail().map_or_else(|| e.kind().to_string(), str::to_owned),
                    "a `run` argument is a minijinja template: `{{ entity.dir }}` inserts a value; write a literal `{{` as `{{ '{{' }}`",
                );
                valid = false;
            }
        }
    }
    valid
}

/// Reports each top-level name of `lookups` other than `entity`, once per argument.
fn undefined_names(r: &mut Reader, check: &str, arg: &Spanned<String>, lookups: &[Vec<String>]) {
    let mut reported: Vec<&str> = Vec::new();
    for path in lookups {
        let name = path[0].as_str();
        if name == template_names::ENTITY || reported.contains(&name) {
            continue;
        }
        reported.push(name);
        let span = template_names::locate(&arg.value, path, 0).map_or(arg.loc.span, |range| {
            template_names::span_in_argument(&r.file.text, arg.loc.span, &arg.value, range)
        });
        let known = "a `run` template knows only `entity`: entity.key, entity.dir (inside the container), entity.host_dir, entity.path and each metadata field as entity.<field>";
        let help = match super::suggest::closest(name, [template_names::ENTITY]) {
            Some(best) => format!("did you mean `{best}`? {known}"),
            None => known.to_owned(),
        };
        r.push(ConfigError::UndefinedName {
            src: r.src(),
            span,
            check: check.to_owned(),
            name: name.to_owned(),
            help,
        });
    }
}

fn container_path(r: &mut Reader, path: &Spanned<String>) -> bool {
    if path.value.starts_with('/') {
        return true;
    }
    r.invalid(
        path.loc.span,
        "container path",
        format!("`{}` is not absolute", path.value),
        "paths inside the container start with `/`, e.g. \"/data\"",
    );
    false
}

fn decode_environment(r: &mut Reader, node: &KdlNode) -> Option<EnvironmentSelect> {
    r.shape(node, &ENVIRONMENT);
    let field = r.prop(node, "field");
    let children = r.children(node, grammar::ENVIRONMENT, "environment");
    let mut cases = Vec::new();
    for when in children {
        r.shape(when, &WHEN);
        let value = r.arg(when, 0, "metadata value");
        let flavor = r.prop(when, "flavor");
        let step = r.prop(when, "step");
        if flavor.is_none() {
            r.push(ConfigError::MissingValue {
                src: r.src(),
                span: name_span(when),
                node: "`when`".to_owned(),
                what: "`flavor`".to_owned(),
                help: "name the flavor whose image runs these entities: when \"value\" flavor=\"name\"".to_owned(),
            });
        }
        if let (Some(value), Some(flavor)) = (value, flavor) {
            cases.push(EnvironmentCase {
                value,
                flavor,
                step,
            });
        }
    }
    let Some(field) = field else {
        r.push(ConfigError::MissingValue {
            src: r.src(),
            span: name_span(node),
            node: "`environment`".to_owned(),
            what: "`field`".to_owned(),
            help: "name the metadata field that picks the environment: environment field=\"compatible_environment\" { … }".to_owned(),
        });
        return None;
    };
    Some(EnvironmentSelect { field, cases })
}

fn decode_mount(r: &mut Reader, node: &KdlNode, root: &Path) -> Option<Mount> {
    r.shape(node, &MOUNT);
    let host = r.arg(node, 0, "host path");
    let target = r
        .arg(node, 1, "container path")
        .filter(|t| container_path(r, t));
    let readonly = r.prop_bool(node, "readonly").unwrap_or(true);
    let (host, target) = (host?, target?);
    Some(Mount {
        source: Spanned::new(root.join(&host.value), host.loc),
        target,
        readonly,
    })
}
