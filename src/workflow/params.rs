//! Workflow parameters: defaults, `--set NAME=VALUE`, and `{{ name }}` in task values.

use std::collections::BTreeMap;

use super::error::WorkflowError;
use crate::model::Workflow;

/// Splits `NAME=VALUE`.
pub fn parse_set(given: &str) -> Result<(String, String), WorkflowError> {
    match given.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(WorkflowError::BadSet {
            given: given.to_owned(),
        }),
    }
}

/// Every parameter's value: its default, overridden by `sets`.
pub fn resolve(
    workflow: &Workflow,
    sets: &[(String, String)],
) -> Result<BTreeMap<String, String>, WorkflowError> {
    let names: Vec<&str> = workflow.params.iter().map(|p| p.name.as_str()).collect();
    for (i, (name, value)) in sets.iter().enumerate() {
        if let Some((_, first)) = sets[..i].iter().find(|(n, _)| n == name) {
            return Err(WorkflowError::SetTwice {
                name: name.clone(),
                first: first.clone(),
                second: value.clone(),
            });
        }
        if !names.contains(&name.as_str()) {
            return Err(WorkflowError::UnknownParameter {
                workflow: workflow.name.value.clone(),
                name: name.clone(),
                help: if names.is_empty() {
                    format!("workflow `{}` takes no parameters", workflow.name.value)
                } else {
                    crate::config::suggest_help(name, &names, "parameters")
                },
            });
        }
    }
    let mut values = BTreeMap::new();
    for param in &workflow.params {
        let set = sets
            .iter()
            .rev()
            .find(|(n, _)| n == param.name.as_str())
            .map(|(_, v)| v.clone());
        match set.or_else(|| param.default.as_ref().map(|d| d.value.clone())) {
            Some(value) => {
                values.insert(param.name.value.clone(), value);
            }
            None => {
                return Err(WorkflowError::MissingParameter {
                    workflow: workflow.name.value.clone(),
                    name: param.name.value.clone(),
                });
            }
        }
    }
    Ok(values)
}

/// `text` with every `{{ name }}` replaced by its value (the configuration was validated:
/// names are known and braces closed; anything else is left as written).
pub fn fill(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        out.push_str(&rest[..open]);
        let name = rest[open + 2..open + close].trim();
        match values.get(name) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_parameters_and_parses_sets() {
        let values = BTreeMap::from([("goal".to_owned(), "release".to_owned())]);
        assert_eq!(fill("{{ goal }}-x {{goal}}", &values), "release-x release");
        assert_eq!(fill("{{ other }}", &values), "{{ other }}");
        assert_eq!(
            parse_set("goal=a=b").unwrap(),
            ("goal".to_owned(), "a=b".to_owned())
        );
        assert!(parse_set("novalue").is_err());
    }
}
