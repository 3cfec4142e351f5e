//! `kiln list`: what the workspace declares.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::CliError;
use crate::model::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    Flavors,
    Steps,
    Goals,
    Checks,
    Workflows,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// What to list (default: everything)
    #[arg(value_enum)]
    pub what: Option<What>,
}

pub fn run(workspace: &Workspace, args: &ListArgs, out: &mut impl Write) -> Result<(), CliError> {
    let all = [
        What::Flavors,
        What::Steps,
        What::Goals,
        What::Checks,
        What::Workflows,
    ];
    let sections: Vec<What> = match args.what {
        Some(what) => vec![what],
        None => all.to_vec(),
    };
    let titled = sections.len() > 1;
    for (n, what) in sections.into_iter().enumerate() {
        if titled {
            if n > 0 {
                writeln!(out)?;
            }
            writeln!(out, "{}:", format!("{what:?}").to_lowercase())?;
        }
        let rows = rows(workspace, what);
        if rows.is_empty() {
            writeln!(out, "  (none)")?;
        }
        let width = rows
            .iter()
            .map(|(a, _)| a.chars().count())
            .max()
            .unwrap_or(0);
        for (name, detail) in rows {
            if detail.is_empty() {
                writeln!(out, "  {name}")?;
            } else {
                writeln!(out, "  {name:<width$}  {detail}")?;
            }
        }
    }
    Ok(())
}

fn rows(workspace: &Workspace, what: What) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    match what {
        What::Flavors => {
            for f in &workspace.flavors {
                let mut detail = format!(
                    "{} steps, {} goals, {} checks",
                    f.steps.len(),
                    f.goals.len(),
                    f.checks.len()
                );
                if let Some(base) = &f.extends {
                    detail = format!("extends {}; {detail}", base.value);
                }
                if let Some(d) = &f.description {
                    detail = format!("{detail} — {d}");
                }
                rows.push((f.name.value.clone(), detail));
            }
        }
        What::Steps => {
            for f in &workspace.flavors {
                for s in &f.steps {
                    let needs: Vec<&str> = s.needs.iter().map(|n| n.as_str()).collect();
                    let mut detail = if needs.is_empty() {
                        String::new()
                    } else {
                        format!("needs {}", needs.join(", "))
                    };
                    if s.declared_in != f.name.value {
                        detail = format!(
                            "{detail}{}from {}",
                            if detail.is_empty() { "" } else { "; " },
                            s.declared_in
                        );
                    }
                    rows.push((format!("{}/{}", f.name.value, s.name.value), detail));
                }
            }
        }
        What::Goals => {
            for f in &workspace.flavors {
                for g in &f.goals {
                    let steps: Vec<&str> = g.steps.iter().map(|s| s.as_str()).collect();
                    let mut detail = format!("steps {}", steps.join(", "));
                    if g.default {
                        detail.push_str(" (default)");
                    }
                    rows.push((format!("{}/{}", f.name.value, g.name.value), detail));
                }
            }
        }
        What::Checks => {
            for f in &workspace.flavors {
                for c in &f.checks {
                    let detail = format!(
                        "image {}; entities {}",
                        c.image.value, c.entities.glob.value
                    );
                    rows.push((format!("{}/{}", f.name.value, c.name.value), detail));
                }
            }
        }
        What::Workflows => {
            for w in &workspace.workflows {
                let tasks: Vec<&str> = w.tasks.iter().map(|t| t.kind.keyword()).collect();
                let mut detail = tasks.join(" → ");
                if let Some(d) = &w.description {
                    detail = format!("{detail} — {d}");
                }
                rows.push((w.name.value.clone(), detail));
            }
        }
    }
    rows
}
