//! What a workflow names: flavors (by name or glob), goals, checks and its own
//! parameters inside `{{ … }}`.

use super::error::ConfigError;
use super::glob::GlobError;
use super::suggest;
use crate::model::Sources;
use crate::model::{Flavor, Spanned, TaskKind, Workflow};

pub fn check(
    workflows: &[Workflow],
    flavors: &[Flavor],
    sources: &Sources,
    errors: &mut Vec<ConfigError>,
) {
    let flavor_names: Vec<&str> = flavors.iter().map(|f| f.name.as_str()).collect();
    for workflow in workflows {
        let params: Vec<&str> = workflow.params.iter().map(|p| p.name.as_str()).collect();
        for task in &workflow.tasks {
            let owner = format!(
                "`{}` task of workflow `{}`",
                task.kind.keyword(),
                workflow.name.value
            );
            if matches!(task.kind, TaskKind::Report(_)) {
                continue;
            }
            let Some(pattern) = render(&task.flavor, workflow, &params, &owner, sources, errors)
            else {
                continue;
            };
            let matched = match select(&pattern, flavors) {
                Ok(matched) => matched,
                Err(e) => {
                    let help = match e {
                        GlobError::Invalid(_) => {
                            "name a flavor, or match several with a glob such as \"*\" or \"sci-*\""
                                .to_owned()
                        }
                        _ => e.help(),
                    };
                    errors.push(ConfigError::invalid(
                        sources.named(task.flavor.loc.source),
                        task.flavor.loc.span,
                        "flavor pattern",
                        e.to_string(),
                        help,
                    ));
                    continue;
                }
            };
            if matched.is_empty() {
                errors.push(ConfigError::UnknownFlavor {
                    src: sources.named(task.flavor.loc.source),
                    span: task.flavor.loc.span,
                    owner: owner.clone(),
                    name: pattern.clone(),
                    help: suggest::help(&pattern, &flavor_names, "flavors"),
                });
                continue;
            }
            let exact = !is_glob(&pattern);
            if let Some(goal) = task.kind.goal() {
                let Some(goal_name) = render(goal, workflow, &params, &owner, sources, errors)
                else {
                    continue;
                };
                let lacking: Vec<&&Flavor> = matched
                    .iter()
                    .filter(|f| !has_target(f, &goal_name))
                    .collect();
                // A glob builds the goal where it exists; an exact name must have it.
                if (exact && !lacking.is_empty()) || lacking.len() == matched.len() {
                    let flavor = lacking[0];
                    errors.push(unknown_goal(&owner, goal, &goal_name, flavor, sources));
                }
            }
            if let TaskKind::Check { name: Some(name) } = &task.kind {
                let Some(check) = render(name, workflow, &params, &owner, sources, errors) else {
                    continue;
                };
                let has = |f: &&Flavor| f.checks.iter().any(|c| c.name.value == check);
                if (exact && !matched.iter().all(has)) || !matched.iter().any(has) {
                    let flavor = matched.iter().find(|f| !has(f)).unwrap_or(&matched[0]);
                    let checks: Vec<&str> = flavor.checks.iter().map(|c| c.name.as_str()).collect();
                    errors.push(ConfigError::invalid(
                        sources.named(name.loc.source),
                        name.loc.span,
                        "check name",
                        format!("flavor `{}` has no check `{check}`", flavor.name.value),
                        suggest::help(&check, &checks, "checks of that flavor"),
                    ));
                }
            }
        }
    }
}

/// A goal names a `goal`, or else a step (an implicit goal of that step).
pub fn has_target(flavor: &Flavor, name: &str) -> bool {
    flavor.goal(name).is_some() || flavor.step(name).is_some()
}

pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// The flavors a name or glob selects, in name order.
pub fn select<'f>(pattern: &str, flavors: &'f [Flavor]) -> Result<Vec<&'f Flavor>, GlobError> {
    let matcher = super::glob::matcher(pattern)?;
    Ok(flavors
        .iter()
        .filter(|f| matcher.is_match(f.name.as_str()))
        .collect())
}

fn unknown_goal(
    owner: &str,
    goal: &Spanned<String>,
    name: &str,
    flavor: &Flavor,
    sources: &Sources,
) -> ConfigError {
    let mut targets: Vec<&str> = flavor.goals.iter().map(|g| g.name.as_str()).collect();
    targets.extend(flavor.steps.iter().map(|s| s.name.as_str()));
    ConfigError::UnknownGoal {
        src: sources.named(goal.loc.source),
        span: goal.loc.span,
        owner: owner.to_owned(),
        name: name.to_owned(),
        flavor: flavor.name.value.clone(),
        help: suggest::help(name, &targets, "goals and steps of that flavor"),
    }
}

/// Substitutes parameter defaults into `{{ name }}`; reports unknown parameters.
/// `None` when the value cannot be known before the run (unknown parameter or no default).
fn render(
    value: &Spanned<String>,
    workflow: &Workflow,
    params: &[&str],
    owner: &str,
    sources: &Sources,
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    let mut out = String::new();
    let mut rest = value.value.as_str();
    let mut known = true;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find("}}") else {
            errors.push(ConfigError::invalid(
                sources.named(value.loc.source),
                value.loc.span,
                "template",
                "`{{` is never closed".to_owned(),
                "parameters are written {{ name }}".to_owned(),
            ));
            return None;
        };
        let name = rest[open + 2..open + close].trim();
        match workflow.params.iter().find(|p| p.name.value == name) {
            Some(param) => match &param.default {
                Some(default) => out.push_str(&default.value),
                None => known = false,
            },
            None => {
                errors.push(ConfigError::UnknownParameter {
                    src: sources.named(value.loc.source),
                    span: value.loc.span,
                    owner: owner.to_owned(),
                    name: name.to_owned(),
                    help: if params.is_empty() {
                        format!("declare it in the workflow: param \"{name}\" default=\"…\"")
                    } else {
                        suggest::help(name, params, "parameters")
                    },
                });
                known = false;
            }
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    known.then_some(out)
}
