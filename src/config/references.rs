//! Names that point at other declarations: `needs`, goal steps, a check's image and
//! environments. Only what a flavor declares itself is checked here; inherited steps
//! were checked in their own flavor.

use std::collections::HashSet;

use super::error::ConfigError;
use super::suggest;
use crate::model::Sources;
use crate::model::{Flavor, Spanned};

pub fn check(flavors: &[Flavor], sources: &Sources, errors: &mut Vec<ConfigError>) {
    for flavor in flavors {
        let own = flavor.name.as_str();
        let steps: Vec<&str> = flavor.steps.iter().map(|s| s.name.as_str()).collect();
        let known: HashSet<&str> = steps.iter().copied().collect();
        let unknown_step = |owner: String, name: &Spanned<String>| ConfigError::UnknownStep {
            src: sources.named(name.loc.source),
            span: name.loc.span,
            owner,
            name: name.value.clone(),
            flavor: own.to_owned(),
            help: suggest::help(&name.value, &steps, "steps of this flavor"),
        };
        for step in flavor.steps.iter().filter(|s| s.declared_in == own) {
            for need in &step.needs {
                if !known.contains(need.as_str()) {
                    errors.push(unknown_step(format!("step `{}`", step.name.value), need));
                }
            }
        }
        for goal in flavor
            .goals
            .iter()
            .filter(|g| g.name.loc.source == flavor.source)
        {
            for step in &goal.steps {
                if !known.contains(step.as_str()) {
                    errors.push(unknown_step(format!("goal `{}`", goal.name.value), step));
                }
            }
        }
        for check in flavor
            .checks
            .iter()
            .filter(|c| c.name.loc.source == flavor.source)
        {
            if !known.contains(check.image.as_str()) {
                errors.push(unknown_step(
                    format!("check `{}`", check.name.value),
                    &check.image,
                ));
            }
            let Some(environment) = &check.environment else {
                continue;
            };
            for case in &environment.cases {
                let Some(target) = flavors.iter().find(|f| f.name.value == case.flavor.value)
                else {
                    let names: Vec<&str> = flavors.iter().map(|f| f.name.as_str()).collect();
                    errors.push(ConfigError::UnknownFlavor {
                        src: sources.named(case.flavor.loc.source),
                        span: case.flavor.loc.span,
                        owner: format!(
                            "environment `{}` of check `{}`",
                            case.value.value, check.name.value
                        ),
                        name: case.flavor.value.clone(),
                        help: suggest::help(&case.flavor.value, &names, "flavors"),
                    });
                    continue;
                };
                let step = case.step.as_ref().unwrap_or(&check.image);
                if target.step(step).is_none() {
                    let steps: Vec<&str> = target.steps.iter().map(|s| s.name.as_str()).collect();
                    errors.push(ConfigError::UnknownStep {
                        src: sources.named(step.loc.source),
                        span: step.loc.span,
                        owner: format!(
                            "environment `{}` of check `{}`",
                            case.value.value, check.name.value
                        ),
                        name: step.value.clone(),
                        flavor: target.name.value.clone(),
                        help: suggest::help(&step.value, &steps, "steps of that flavor"),
                    });
                }
            }
        }
    }
}
