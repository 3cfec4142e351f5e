//! The metadata fields a check's `run` template uses (`{{ entity.solver }}`), checked
//! against the entities discovery finds before anything runs (`kiln validate`, `kiln
//! plan`): a field no entity has would fail every entity at run time, one that some
//! entities lack would fail those.

use std::collections::BTreeSet;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

use super::entity::{Entity, discover};
use super::error::CheckError;
use crate::config::template_names::{self, BUILT_IN_FIELDS, ENTITY};
use crate::model::{Check, Spanned, Workspace};

/// Entity keys named in a warning, at most.
const KEYS_SHOWN: usize = 5;
/// Metadata fields listed in a help line, at most.
const FIELDS_SHOWN: usize = 12;

/// `entity.X` in a `run` template where no entity of the check has a field `X`.
#[derive(Debug, Error, Diagnostic)]
#[error("the `run` template of check `{check}` uses `entity.{field}`, a field no entity has")]
#[diagnostic(code(kiln::check::undefined_field))]
pub struct UndefinedField {
    pub check: String,
    pub field: String,
    #[source_code]
    pub src: NamedSource<Arc<String>>,
    #[label("{label}")]
    pub span: SourceSpan,
    pub entities: usize,
    /// "none of the 3 entities has `dri`".
    pub label: String,
    #[help]
    pub help: String,
}

/// `entity.X` in a `run` template where some entities of the check lack `X`: those
/// fail with `kiln::check::template` when they run, the others run.
#[derive(Debug, Error, Diagnostic)]
#[error(
    "the `run` template of check `{check}` uses `entity.{field}`, a field missing from {missing} of {entities} entities"
)]
#[diagnostic(code(kiln::check::field_missing), severity(Warning))]
pub struct FieldMissing {
    pub check: String,
    pub field: String,
    #[source_code]
    pub src: NamedSource<Arc<String>>,
    #[label("missing from {missing} of {entities}")]
    pub span: SourceSpan,
    pub missing: usize,
    pub entities: usize,
    #[help]
    pub help: String,
}

/// A problem of a check's `run` template found before the run.
#[derive(Debug, Error, Diagnostic)]
pub enum FieldProblem {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Undefined(Box<UndefinedField>),

    /// The entities could not be discovered (a metadata file that cannot be read, two
    /// entities with one key): `kiln check` would stop on it too.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Discovery(Box<CheckError>),
}

/// What checking the fields of some checks found.
#[derive(Debug, Default)]
pub struct Findings {
    pub errors: Vec<FieldProblem>,
    pub warnings: Vec<FieldMissing>,
}

/// Checks the fields every `run` template of `checks` uses against the check's
/// entities. A check whose templates use no metadata field is not discovered; a check
/// with no entities says nothing. A check a derived flavor inherits is checked once.
pub fn check_fields<'c>(
    workspace: &Workspace,
    checks: impl IntoIterator<Item = &'c Check>,
) -> Findings {
    let mut findings = Findings::default();
    let mut seen = Vec::new();
    for check in checks {
        if seen.contains(&check.name.loc) {
            continue;
        }
        seen.push(check.name.loc);
        let uses = field_uses(check);
        if uses.is_empty() {
            continue;
        }
        let entities = match discover(&workspace.root, check) {
            Ok(entities) => entities,
            Err(e) => {
                findings.errors.push(FieldProblem::Discovery(Box::new(e)));
                continue;
            }
        };
        if entities.is_empty() {
            continue;
        }
        for (arg, path) in uses {
            judge(workspace, check, &entities, arg, &path, &mut findings);
        }
    }
    findings
}

/// Each `entity.<field>` lookup of the check's `run` arguments that is no built-in, once
/// per argument and field.
fn field_uses(check: &Check) -> Vec<(&Spanned<String>, Vec<String>)> {
    let mut uses = Vec::new();
    for arg in &check.run {
        // A template that does not parse was reported when the workspace loaded.
        let Ok(lookups) = template_names::lookups(&arg.value) else {
            continue;
        };
        let mut fields = BTreeSet::new();
        for path in lookups {
            if path.len() > 1
                && path[0] == ENTITY
                && !BUILT_IN_FIELDS.contains(&path[1].as_str())
                && fields.insert(path[1].clone())
            {
                uses.push((arg, path[..2].to_vec()));
            }
        }
    }
    uses
}

fn judge(
    workspace: &Workspace,
    check: &Check,
    entities: &[Entity],
    arg: &Spanned<String>,
    path: &[String],
    findings: &mut Findings,
) {
    let field = &path[1];
    let lacking: Vec<&str> = entities
        .iter()
        .filter(|e| !e.fields.contains_key(field))
        .map(|e| e.key.as_str())
        .collect();
    if lacking.is_empty() {
        return;
    }
    let file = workspace.sources.get(arg.loc.source);
    let span = template_names::locate(&arg.value, path, 1).map_or(arg.loc.span, |range| {
        template_names::span_in_argument(&file.text, arg.loc.span, &arg.value, range)
    });
    let name = check.name.value.clone();
    if lacking.len() < entities.len() {
        let mut shown: Vec<String> = lacking
            .iter()
            .take(KEYS_SHOWN)
            .map(|k| format!("`{k}`"))
            .collect();
        if lacking.len() > KEYS_SHOWN {
            shown.push(format!("and {} more", lacking.len() - KEYS_SHOWN));
        }
        findings.warnings.push(FieldMissing {
            check: name,
            field: field.clone(),
            src: file.named(),
            span,
            missing: lacking.len(),
            entities: entities.len(),
            help: format!(
                "{} would fail with kiln::check::template when run; add `{field}` to their metadata, or leave them out with a `filter` or `exclude`",
                shown.join(", ")
            ),
        });
        return;
    }
    let known: BTreeSet<&str> = entities
        .iter()
        .flat_map(|e| e.fields.keys().map(String::as_str))
        .chain(BUILT_IN_FIELDS.iter().copied())
        .collect();
    let mut listed: Vec<String> = known
        .iter()
        .take(FIELDS_SHOWN)
        .map(|f| format!("`{f}`"))
        .collect();
    if known.len() > FIELDS_SHOWN {
        listed.push(format!("and {} more", known.len() - FIELDS_SHOWN));
    }
    let listed = format!("entity.<field> is one of {}", listed.join(", "));
    let help = match crate::config::closest(field, known.iter().copied()) {
        Some(best) => format!("did you mean `entity.{best}`? {listed}"),
        None => listed,
    };
    findings
        .errors
        .push(FieldProblem::Undefined(Box::new(UndefinedField {
            check: name,
            field: field.clone(),
            src: file.named(),
            span,
            entities: entities.len(),
            label: match entities.len() {
                1 => format!("the one entity has no `{field}`"),
                n => format!("none of the {n} entities has `{field}`"),
            },
            help,
        })));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(run: &str, entities: &[(&str, &str)]) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let flavor = format!(
            "flavor \"env\" {{\n    step \"base\"\n    check \"models\" {{\n        image \"base\"\n        entities \"data/*.yml\"\n        run {run}\n    }}\n}}\n"
        );
        std::fs::create_dir_all(dir.path().join("flavors/env/base")).unwrap();
        std::fs::write(dir.path().join("flavors/env/flavor.kdl"), flavor).unwrap();
        std::fs::write(
            dir.path().join("flavors/env/base/Dockerfile"),
            "FROM scratch\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        for (name, text) in entities {
            std::fs::write(dir.path().join("data").join(name), text).unwrap();
        }
        let workspace = crate::config::load(dir.path()).unwrap();
        (dir, workspace)
    }

    fn findings(workspace: &Workspace) -> Findings {
        check_fields(workspace, workspace.flavors.iter().flat_map(|f| &f.checks))
    }

    /// The flavor file's text at `span`.
    fn at(workspace: &Workspace, span: SourceSpan) -> String {
        let file = workspace
            .sources
            .iter()
            .find(|f| f.display == "flavors/env/flavor.kdl")
            .unwrap();
        file.text[span.offset()..span.offset() + span.len()].to_owned()
    }

    #[test]
    fn a_field_no_entity_has_is_an_error_at_its_name() {
        let (_dir, ws) = workspace(
            r#""sh" "-c" "cd {{ entity.dir }} && ./{{ entity.solver }} {{ entity.dri }}""#,
            &[
                ("a.yml", "key: a\nsolver: x\n"),
                ("b.yml", "key: b\nsolver: y\n"),
            ],
        );
        let found = findings(&ws);
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        let [FieldProblem::Undefined(undefined)] = &found.errors[..] else {
            panic!("{:?}", found.errors);
        };
        assert_eq!(undefined.field, "dri");
        assert_eq!(at(&ws, undefined.span), "dri");
        assert!(
            undefined.help.starts_with("did you mean `entity.dir`?"),
            "{}",
            undefined.help
        );
        assert_eq!(
            undefined.code().unwrap().to_string(),
            "kiln::check::undefined_field"
        );
    }

    #[test]
    fn a_field_some_entities_lack_is_a_warning_naming_them() {
        let (_dir, ws) = workspace(
            r#""run" "{{ entity.extra }}""#,
            &[("a.yml", "key: a\nextra: 1\n"), ("b.yml", "key: b\n")],
        );
        let found = findings(&ws);
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        let [warning] = &found.warnings[..] else {
            panic!("{:?}", found.warnings);
        };
        assert_eq!((warning.missing, warning.entities), (1, 2));
        assert!(
            warning.help.starts_with("`b` would fail"),
            "{}",
            warning.help
        );
        assert_eq!(warning.severity(), Some(miette::Severity::Warning));
    }

    #[test]
    fn without_entities_or_field_uses_nothing_is_said() {
        let (_dir, ws) = workspace(r#""run" "{{ entity.dri }}""#, &[]);
        let found = findings(&ws);
        assert!(found.errors.is_empty() && found.warnings.is_empty());
        // Built-ins need no discovery: a broken metadata file goes unread.
        let (_dir, ws) = workspace(
            r#""run" "{{ entity.key }} {{ entity.host_dir }}""#,
            &[("a.yml", "key: [unclosed\n")],
        );
        assert!(findings(&ws).errors.is_empty());
    }

    #[test]
    fn metadata_that_cannot_be_read_is_reported() {
        let (_dir, ws) = workspace(
            r#""run" "{{ entity.solver }}""#,
            &[("a.yml", "key: [unclosed\n")],
        );
        let found = findings(&ws);
        assert!(
            matches!(&found.errors[..], [FieldProblem::Discovery(e)] if matches!(**e, CheckError::Metadata { .. })),
            "{:?}",
            found.errors
        );
    }
}
