//! Choosing flavors and goals: what `--flavor` and `--goal` select.

use crate::config;
use crate::config::glob::GlobError;
use crate::model::{Flavor, StepId, Workspace};

use super::error::PlanError;

/// Which steps of which flavors to build; their dependencies follow in the graph.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// Flavor names or globs; empty selects every flavor.
    pub flavors: Vec<String>,
    /// Goal (or step) names; empty selects each flavor's default goals.
    pub goals: Vec<String>,
    /// Every step of the chosen flavors, whatever the goals.
    pub all_steps: bool,
}

/// The flavors `patterns` name, each once, in name order.
pub fn flavors<'w>(
    workspace: &'w Workspace,
    patterns: &[String],
) -> Result<Vec<&'w Flavor>, PlanError> {
    if patterns.is_empty() {
        return Ok(workspace.flavors.iter().collect());
    }
    let mut chosen: Vec<&Flavor> = Vec::new();
    for pattern in patterns {
        let matched = config::select(pattern, &workspace.flavors).map_err(|e| match e {
            GlobError::Invalid(source) => PlanError::InvalidPattern {
                pattern: pattern.clone(),
                source,
            },
            // Beyond the glob limits: it selects nothing, and the help says why.
            limit => PlanError::UnknownFlavor {
                pattern: pattern.clone(),
                help: format!("the pattern cannot be used: {limit}; {}", limit.help()),
            },
        })?;
        if matched.is_empty() {
            let names: Vec<&str> = workspace.flavors.iter().map(|f| f.name.as_str()).collect();
            return Err(PlanError::UnknownFlavor {
                pattern: pattern.clone(),
                help: config::suggest_help(pattern, &names, "flavors"),
            });
        }
        for flavor in matched {
            if !chosen.iter().any(|c| c.name.value == flavor.name.value) {
                chosen.push(flavor);
            }
        }
    }
    chosen.sort_by(|a, b| a.name.value.cmp(&b.name.value));
    Ok(chosen)
}

/// The steps a goal names in `flavor`: a goal's steps, or the step of that name.
pub fn goal_steps<'f>(flavor: &'f Flavor, goal: &str) -> Option<Vec<&'f str>> {
    if let Some(goal) = flavor.goal(goal) {
        return Some(goal.steps.iter().map(|s| s.as_str()).collect());
    }
    flavor.step(goal).map(|s| vec![s.name.as_str()])
}

/// For each chosen flavor, the steps asked for.
pub fn targets<'w>(
    workspace: &'w Workspace,
    selection: &Selection,
) -> Result<Vec<(&'w Flavor, Vec<&'w str>)>, PlanError> {
    let chosen = flavors(workspace, &selection.flavors)?;
    if selection.all_steps {
        return Ok(chosen
            .into_iter()
            .map(|f| (f, f.steps.iter().map(|s| s.name.as_str()).collect()))
            .collect());
    }
    if selection.goals.is_empty() {
        return Ok(chosen.into_iter().map(|f| (f, f.default_steps())).collect());
    }
    // A flavor named exactly must have every goal; a glob takes the goal where it exists.
    let exact: Vec<&str> = selection
        .flavors
        .iter()
        .filter(|p| !config::is_glob(p))
        .map(String::as_str)
        .collect();
    for goal in &selection.goals {
        if !chosen.iter().any(|f| goal_steps(f, goal).is_some()) {
            let mut known: Vec<&str> = chosen
                .iter()
                .flat_map(|f| f.goals.iter().map(|g| g.name.as_str()))
                .collect();
            known.sort();
            known.dedup();
            return Err(PlanError::UnknownGoal {
                goal: goal.clone(),
                help: config::suggest_help(goal, &known, "goals"),
            });
        }
        for flavor in chosen.iter().filter(|f| exact.contains(&f.name.as_str())) {
            if goal_steps(flavor, goal).is_none() {
                let known: Vec<&str> = flavor.goals.iter().map(|g| g.name.as_str()).collect();
                return Err(PlanError::MissingGoal {
                    flavor: flavor.name.value.clone(),
                    goal: goal.clone(),
                    help: config::suggest_help(goal, &known, "goals of that flavor"),
                });
            }
        }
    }
    Ok(chosen
        .into_iter()
        .filter_map(|flavor| {
            let steps: Vec<&str> = selection
                .goals
                .iter()
                .filter_map(|g| goal_steps(flavor, g))
                .flatten()
                .collect();
            (!steps.is_empty()).then_some((flavor, steps))
        })
        .collect())
}

/// The steps a selection asks for, as ids.
pub fn step_targets(
    workspace: &Workspace,
    selection: &Selection,
) -> Result<Vec<StepId>, PlanError> {
    Ok(targets(workspace, selection)?
        .into_iter()
        .flat_map(|(flavor, steps)| {
            steps
                .into_iter()
                .map(move |step| StepId::new(flavor.name.value.clone(), step))
        })
        .collect())
}
