//! Resolving derived flavors: `flavor "b" extends="a"` starts from a's steps, goals and
//! checks and replaces or adds what b declares.

use std::collections::BTreeMap;

use super::error::ConfigError;
use super::suggest;
use crate::model::Flavor;
use crate::model::Sources;

/// Resolves `extends` for every flavor. Flavors whose base is unknown or part of an
/// extends cycle are reported and kept as they are.
pub fn resolve(
    flavors: Vec<Flavor>,
    sources: &Sources,
    errors: &mut Vec<ConfigError>,
) -> Vec<Flavor> {
    let mut declared: BTreeMap<String, Flavor> = flavors
        .into_iter()
        .map(|f| (f.name.value.clone(), f))
        .collect();
    let names: Vec<String> = declared.keys().cloned().collect();
    // `declared` loses each flavor as it is resolved; `candidates` in messages come from
    // both maps, so every flavor is offered.
    let mut resolved: BTreeMap<String, Flavor> = BTreeMap::new();
    for name in &names {
        let mut chain = Vec::new();
        resolve_one(
            name,
            &mut declared,
            &mut resolved,
            &mut chain,
            sources,
            errors,
        );
    }
    resolved.into_values().collect()
}

fn resolve_one(
    name: &str,
    declared: &mut BTreeMap<String, Flavor>,
    resolved: &mut BTreeMap<String, Flavor>,
    chain: &mut Vec<String>,
    sources: &Sources,
    errors: &mut Vec<ConfigError>,
) {
    if resolved.contains_key(name) {
        return;
    }
    let Some(flavor) = declared.remove(name) else {
        return;
    };
    let Some(base_name) = flavor.extends.clone() else {
        resolved.insert(name.to_owned(), flavor);
        return;
    };
    if let Some(start) = chain
        .iter()
        .position(|c| *c == base_name.value)
        .or((base_name.value == name).then_some(chain.len()))
    {
        let mut cycle: Vec<&str> = chain[start..].iter().map(String::as_str).collect();
        cycle.push(name);
        cycle.push(&base_name.value);
        errors.push(ConfigError::Cycle {
            src: sources.named(base_name.loc.source),
            edges: vec![miette::LabeledSpan::at(
                base_name.loc.span,
                "extends back into itself",
            )],
            path: format!("flavor {}", cycle.join(" extends ")),
            help: "a derived flavor cannot extend itself, directly or through others; remove one `extends`".to_owned(),
            elsewhere: Vec::new(),
        });
        resolved.insert(name.to_owned(), flavor);
        return;
    }
    chain.push(name.to_owned());
    resolve_one(&base_name.value, declared, resolved, chain, sources, errors);
    chain.pop();
    let Some(base) = resolved.get(&base_name.value) else {
        let candidates: Vec<&str> = declared
            .keys()
            .chain(resolved.keys())
            .map(String::as_str)
            .filter(|c| *c != name)
            .collect();
        errors.push(ConfigError::UnknownFlavor {
            src: sources.named(base_name.loc.source),
            span: base_name.loc.span,
            owner: format!("`extends` of flavor `{name}`"),
            name: base_name.value.clone(),
            help: suggest::help(&base_name.value, &candidates, "flavors"),
        });
        resolved.insert(name.to_owned(), flavor);
        return;
    };
    let merged = merge(base, flavor);
    resolved.insert(name.to_owned(), merged);
}

/// `derived` on top of `base`: same-named steps, goals and checks replace the base's in
/// place; new ones follow.
fn merge(base: &Flavor, derived: Flavor) -> Flavor {
    fn overlay<T: Clone>(base: &[T], own: Vec<T>, key: impl Fn(&T) -> &str) -> Vec<T> {
        let mut out: Vec<T> = base.to_vec();
        let mut at: std::collections::HashMap<String, usize> = base
            .iter()
            .enumerate()
            .map(|(i, b)| (key(b).to_owned(), i))
            .collect();
        for item in own {
            match at.get(key(&item)) {
                Some(&i) => out[i] = item,
                None => {
                    at.insert(key(&item).to_owned(), out.len());
                    out.push(item);
                }
            }
        }
        out
    }
    Flavor {
        description: derived.description.or_else(|| base.description.clone()),
        build_info: derived.build_info.or(base.build_info),
        steps: overlay(&base.steps, derived.steps, |s| s.name.as_str()),
        goals: overlay(&base.goals, derived.goals, |g| g.name.as_str()),
        checks: overlay(&base.checks, derived.checks, |c| c.name.as_str()),
        ..derived
    }
}
