//! What is checked of a step before it is built: its Dockerfile renders (every
//! `{{ name }}` is a step it `needs`), every local source of a `COPY` or `ADD` is in
//! the build context kiln will send, and every secret a `RUN --mount=type=secret`
//! reads is one the step declares. Docker finds both only mid-build ("COPY failed: file
//! not found in build context"); `kiln validate` and `kiln plan` find them first, and a
//! build checks a step before sending its context.
//!
//! The check is conservative: a source it cannot decide (a variable, a URL, a stage or
//! image after `--from`, a here-document, a pattern Docker's and globset's syntax read
//! differently, a Dockerfile the parser does not take) is left to Docker.

use std::collections::BTreeSet;
use std::sync::Arc;

use globset::GlobBuilder;
use miette::{Diagnostic, NamedSource, SourceSpan};
use parse_dockerfile::{Instruction, Source as CopySource};
use thiserror::Error;

use super::dockerfile::{self, RENDERED_PATH, RenderError};
use super::naming::image_name;
use crate::hash::{self, ContextSpec, HashError};
use crate::model::{Flavor, Step, Workspace, display_path};

/// A `COPY`/`ADD` source that is not in the build context.
#[derive(Debug, Error, Diagnostic)]
#[error(
    "`{instruction}` in the Dockerfile of step `{step}` copies `{path}`, which is not in its build context"
)]
#[diagnostic(code(kiln::build::copy_source_missing))]
pub struct SourceMissing {
    pub step: String,
    pub instruction: &'static str,
    pub path: String,
    #[source_code]
    pub src: NamedSource<Arc<String>>,
    #[label("not in the context")]
    pub span: SourceSpan,
    #[help]
    pub help: String,
}

/// A `RUN --mount=type=secret,id=…` of a secret the step does not declare: BuildKit
/// would fail the `RUN` with "secret … not found", or run it without the file.
#[derive(Debug, Error, Diagnostic)]
#[error("the Dockerfile of step `{step}` reads the secret `{id}`, which the step does not declare")]
#[diagnostic(code(kiln::build::secret_undeclared))]
pub struct SecretUndeclared {
    pub step: String,
    pub id: String,
    #[source_code]
    pub src: NamedSource<Arc<String>>,
    #[label("not declared")]
    pub span: SourceSpan,
    #[help]
    pub help: String,
}

/// One problem found in a step's Dockerfile before its build.
#[derive(Debug, Error, Diagnostic)]
pub enum Problem {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Render(Box<RenderError>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    SourceMissing(Box<SourceMissing>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    SecretUndeclared(Box<SecretUndeclared>),

    /// The context cannot be listed (a symlink leading out of it, an unreadable folder).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Context(#[from] HashError),

    #[error("cannot read the Dockerfile `{path}`")]
    #[diagnostic(code(kiln::build::dockerfile_unreadable))]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Every problem of one step's Dockerfile, as one error of its node.
#[derive(Debug, Error, Diagnostic)]
#[error("the Dockerfile of step `{step}` would fail its build: {}", problems.first().map(ToString::to_string).unwrap_or_default())]
#[diagnostic(
    code(kiln::build::dockerfile_check),
    help("found before the build; `kiln validate` lists these for every step")
)]
pub struct Problems {
    pub step: String,
    #[related]
    pub problems: Vec<Problem>,
}

/// A step's Dockerfile as kiln will send it.
pub struct Dockerfile<'a> {
    pub step: &'a str,
    /// The Dockerfile's path as shown to the user.
    pub shown: &'a str,
    /// The template as written.
    pub template: &'a str,
    /// The image name of each step it needs, by step name.
    pub images: &'a [(String, String)],
    /// The ids of the secrets the step declares.
    pub secrets: &'a [String],
}

/// Renders the Dockerfile and checks its `COPY`/`ADD` sources against `context` (the
/// paths of the files the build context will hold).
pub fn check<'c>(
    dockerfile: &Dockerfile<'_>,
    context: impl IntoIterator<Item = &'c str>,
) -> Vec<Problem> {
    let rendered = match dockerfile::render(
        dockerfile.step,
        dockerfile.shown,
        dockerfile.template,
        dockerfile.images,
    ) {
        Ok(rendered) => rendered,
        Err(e) => return vec![Problem::Render(e)],
    };
    let entries = Entries::of(context);
    let Ok(parsed) = parse_dockerfile::parse(&rendered) else {
        // Docker says what is wrong with the syntax, with its own parser's view.
        return Vec::new();
    };
    let mut problems = Vec::new();
    for instruction in &parsed.instructions {
        match instruction {
            Instruction::Run(run) => {
                for flag in run.options.iter().filter(|f| f.name.value == "mount") {
                    if let Some(value) = &flag.value
                        && let Some(problem) = undeclared_secret(dockerfile, &rendered, value)
                    {
                        problems.push(problem);
                    }
                }
            }
            Instruction::Copy(copy) => {
                problems.extend(missing_sources(
                    dockerfile,
                    &rendered,
                    &entries,
                    "COPY",
                    &copy.options,
                    &copy.src,
                ));
            }
            Instruction::Add(add) => {
                problems.extend(missing_sources(
                    dockerfile,
                    &rendered,
                    &entries,
                    "ADD",
                    &add.options,
                    &add.src,
                ));
            }
            _ => {}
        }
    }
    problems
}

/// The local sources of a `COPY`/`ADD` that are not in the context.
fn missing_sources(
    dockerfile: &Dockerfile<'_>,
    rendered: &str,
    entries: &Entries,
    instruction: &'static str,
    options: &[parse_dockerfile::Flag<'_>],
    sources: &[CopySource<'_>],
) -> Vec<Problem> {
    if options.iter().any(|flag| flag.name.value == "from") {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for source in sources {
        let CopySource::Path(path) = source else {
            continue;
        };
        if entries.has(&path.value) != Some(false) {
            continue;
        }
        let (src, span) = place(dockerfile, rendered, path);
        problems.push(Problem::SourceMissing(Box::new(SourceMissing {
            step: dockerfile.step.to_owned(),
            instruction,
            path: path.value.to_string(),
            src,
            span,
            help: entries.help(dockerfile.step, &path.value),
        })));
    }
    problems
}

/// A `--mount` value of a secret the step does not declare, as a problem.
fn undeclared_secret(
    dockerfile: &Dockerfile<'_>,
    rendered: &str,
    mount: &parse_dockerfile::UnescapedString<'_>,
) -> Option<Problem> {
    let id = secret_id(&mount.value)?;
    if dockerfile.secrets.iter().any(|s| s == id) {
        return None;
    }
    let declared = if dockerfile.secrets.is_empty() {
        "it declares none".to_owned()
    } else {
        format!("it declares {}", dockerfile.secrets.join(", "))
    };
    let (src, span) = place(dockerfile, rendered, mount);
    Some(Problem::SecretUndeclared(Box::new(SecretUndeclared {
        step: dockerfile.step.to_owned(),
        id: id.to_owned(),
        src,
        span,
        help: format!(
            "{declared}; declare it in the step: secret \"{id}\" env=\"VAR\" (or file=\"path\")"
        ),
    })))
}

/// Where a problem with `text` of the rendered Dockerfile is shown: in the template as
/// written when it is found there, else in the rendered Dockerfile.
fn place(
    dockerfile: &Dockerfile<'_>,
    rendered: &str,
    text: &parse_dockerfile::UnescapedString<'_>,
) -> (NamedSource<Arc<String>>, SourceSpan) {
    match locate(
        dockerfile.template,
        rendered,
        text.span.clone(),
        &text.value,
    ) {
        Some(span) => (
            NamedSource::new(dockerfile.shown, Arc::new(dockerfile.template.to_owned())),
            span,
        ),
        None => {
            let span = span_in(rendered, text.span.clone(), &text.value).unwrap_or(0..0);
            (
                NamedSource::new(
                    format!("{} (rendered)", dockerfile.shown),
                    Arc::new(rendered.to_owned()),
                ),
                (span.start, span.len()).into(),
            )
        }
    }
}

/// Checks the Dockerfile of every step of the workspace against the context it would
/// be sent with (listed, not hashed), as `kiln validate` does: the problems of all
/// steps at once. A step's needed images are named as they would be, without hashes.
pub fn check_workspace(workspace: &Workspace) -> Vec<Problem> {
    let mut problems = Vec::new();
    for flavor in &workspace.flavors {
        for step in &flavor.steps {
            problems.extend(check_step(workspace, flavor, step));
        }
    }
    problems
}

fn check_step(workspace: &Workspace, flavor: &Flavor, step: &Step) -> Vec<Problem> {
    let spec = ContextSpec::for_step(step, workspace.settings.own_dirs());
    let context = match hash::list(&spec) {
        Ok(context) => context,
        Err(e) => return vec![Problem::Context(e)],
    };
    let template = match std::fs::read_to_string(&step.dockerfile.value) {
        Ok(template) => template,
        Err(source) => {
            return vec![Problem::Unreadable {
                path: display_path(&workspace.root, &step.dockerfile.value),
                source,
            }];
        }
    };
    let repository = &workspace.settings.repository;
    let images: Vec<(String, String)> = step
        .needs
        .iter()
        .map(|need| {
            let name = image_name(repository, &flavor.name.value, &need.value, "");
            (need.value.clone(), name)
        })
        .collect();
    let shown = display_path(&workspace.root, &step.dockerfile.value);
    let secrets: Vec<String> = step.secrets.iter().map(|s| s.id.value.clone()).collect();
    check(
        &Dockerfile {
            step: &step.name.value,
            shown: &shown,
            template: &template,
            images: &images,
            secrets: &secrets,
        },
        context.iter().map(String::as_str),
    )
}

/// The files of a context and every folder above them, as Docker's `COPY` sees them.
struct Entries {
    files: BTreeSet<String>,
    folders: BTreeSet<String>,
}

impl Entries {
    fn of<'c>(context: impl IntoIterator<Item = &'c str>) -> Self {
        let mut files = BTreeSet::new();
        let mut folders = BTreeSet::new();
        for path in context {
            if path == RENDERED_PATH {
                continue;
            }
            let mut end = 0;
            while let Some(slash) = path[end..].find('/') {
                end += slash;
                folders.insert(path[..end].to_owned());
                end += 1;
            }
            files.insert(path.to_owned());
        }
        Entries { files, folders }
    }

    /// Whether a `COPY` source names something in the context; `None` when that is for
    /// Docker to decide.
    fn has(&self, source: &str) -> Option<bool> {
        if source.contains('$') || source.contains("://") || source.starts_with("git@") {
            return None;
        }
        let path = clean(source);
        if path.is_empty() {
            return Some(true);
        }
        if !path.contains(['*', '?', '[', '\\']) {
            return Some(self.files.contains(&path) || self.folders.contains(&path));
        }
        // Docker matches patterns with Go's `filepath.Match` (`*` stops at `/`); globset
        // reads `{a,b}` and `**` differently, so those are Docker's to decide.
        if path.contains(['{', '}']) || path.contains("**") {
            return None;
        }
        let glob = GlobBuilder::new(&path)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .ok()?
            .compile_matcher();
        Some(
            self.files
                .iter()
                .chain(&self.folders)
                .any(|entry| glob.is_match(entry)),
        )
    }

    /// What to say about a missing `source` of step `step`'s Dockerfile.
    fn help(&self, step: &str, source: &str) -> String {
        let path = clean(source);
        let entries = || self.files.iter().chain(&self.folders).map(String::as_str);
        let name = path.rsplit('/').next().unwrap_or_default();
        let same_name = || entries().find(|e| e.rsplit('/').next() == Some(name));
        let first = match crate::config::closest(&path, entries())
            .or_else(|| same_name().map(str::to_owned))
        {
            Some(best) => format!("Did you mean `{best}`?"),
            None => {
                let top: Vec<String> = entries()
                    .filter(|p| !p.contains('/'))
                    .take(8)
                    .map(|p| format!("`{p}`"))
                    .collect();
                if top.is_empty() {
                    "The build context is empty.".to_owned()
                } else {
                    format!("The context's top level holds {}.", top.join(", "))
                }
            }
        };
        let second = if path.split('/').next() == Some(step) && !self.folders.contains(step) {
            format!(
                "The step's folder is the root of its context here; for EXASLCT's layout, where it goes in as `{step}/`, write step-folders \"…\" layout=\"subfolder\" in flavor.kdl."
            )
        } else {
            "A step's context is its folder plus its `include`s, minus `ignore` and .dockerignore."
                .to_owned()
        };
        format!("{first} {second}")
    }
}

/// A `COPY` source as a path inside the context: Docker takes `/a`, `./a` and `a/` as
/// `a`, and `..` never leaves the context.
fn clean(source: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

/// The id of a `--mount` value mounting a secret (`type=secret,id=token,…`); `None`
/// for other mounts, and for a secret mount without an id (BuildKit then takes the
/// target's file name, which kiln leaves to BuildKit).
fn secret_id(mount: &str) -> Option<&str> {
    let mut secret = false;
    let mut id = None;
    for part in mount.split(',') {
        match part.split_once('=') {
            Some(("type", "secret")) => secret = true,
            Some(("id", value)) if !value.is_empty() => id = Some(value),
            _ => {}
        }
    }
    secret.then_some(id).flatten()
}

/// The range of `value` in `text`, given the parser's `at`: `at` itself when it holds
/// the value (or at least lies on character boundaries: an unescaped value differs from
/// its text), shifted past a byte-order mark the parser skipped, or the value's first
/// occurrence; `None` when none of these is a range of `text`. (Found by fuzzing: a
/// Dockerfile starting with a BOM gave spans three bytes short, inside a character.)
fn span_in(text: &str, at: std::ops::Range<usize>, value: &str) -> Option<std::ops::Range<usize>> {
    if text.get(at.clone()) == Some(value) {
        return Some(at);
    }
    let bom = '\u{feff}'.len_utf8();
    if text.starts_with('\u{feff}') {
        let shifted = at.start + bom..at.end + bom;
        if text.get(shifted.clone()) == Some(value) {
            return Some(shifted);
        }
    }
    if text.get(at.clone()).is_some() {
        return Some(at);
    }
    text.find(value).map(|start| start..start + value.len())
}

/// Where `value` (at `at` in the rendered Dockerfile) stands in the template as written:
/// on the same line when rendering left that line as it was, else its only occurrence.
pub(super) fn locate(
    template: &str,
    rendered: &str,
    at: std::ops::Range<usize>,
    value: &str,
) -> Option<SourceSpan> {
    let at = span_in(rendered, at, value)?;
    let line = rendered[..at.start].matches('\n').count();
    let start_of = |text: &str, n: usize| -> Option<usize> {
        if n == 0 {
            return Some(0);
        }
        text.match_indices('\n').nth(n - 1).map(|(i, _)| i + 1)
    };
    let line_of = |text: &str, start: usize| -> String {
        text[start..]
            .split('\n')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let rendered_start = start_of(rendered, line)?;
    if let Some(template_start) = start_of(template, line)
        && line_of(template, template_start) == line_of(rendered, rendered_start)
    {
        let offset = template_start + (at.start - rendered_start);
        return Some((offset, at.len()).into());
    }
    let mut found = template.match_indices(value);
    match (found.next(), found.next()) {
        (Some((offset, _)), None) => Some((offset, value.len()).into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(template: &str, context: &[&str]) -> Vec<Problem> {
        let images = [("base".to_owned(), "kiln:f-base_0123".to_owned())];
        check(
            &Dockerfile {
                step: "deps",
                shown: "flavors/f/deps/Dockerfile",
                template,
                images: &images,
                secrets: &["token".to_owned()],
            },
            context.iter().copied(),
        )
    }

    fn missing(template: &str, context: &[&str]) -> Vec<String> {
        problems(template, context)
            .into_iter()
            .map(|p| match p {
                Problem::SourceMissing(m) => m.path,
                other => panic!("not a missing source: {other}"),
            })
            .collect()
    }

    #[test]
    fn sources_in_the_context_pass() {
        let context = ["a.txt", "scripts/install.sh", "deps/packages/apt"];
        let ok = "FROM {{ base }}\nCOPY a.txt /a\nCOPY scripts /s\nCOPY ./scripts/ /s\nCOPY /a.txt /b\n\
                  COPY [\"deps/packages\", \"/p\"]\nCOPY scr* /x\nCOPY deps/*/apt /y\nADD a.txt /z\nCOPY . /all\n";
        assert_eq!(missing(ok, &context), Vec::<String>::new());
    }

    #[test]
    fn a_missing_source_is_reported_at_its_place_in_the_template() {
        let template = "FROM {{ base }}\nCOPY a.txt b.txt /x/\nADD --chown=1 nope/ /y\n";
        let found = problems(template, &["a.txt"]);
        assert_eq!(found.len(), 2);
        let Problem::SourceMissing(first) = &found[0] else {
            panic!("{:?}", found[0])
        };
        assert_eq!(first.path, "b.txt");
        assert_eq!(first.instruction, "COPY");
        let offset = first.span.offset();
        assert_eq!(&template[offset..offset + first.span.len()], "b.txt");
        assert!(
            first.help.contains("Did you mean `a.txt`"),
            "{}",
            first.help
        );
        let Problem::SourceMissing(second) = &found[1] else {
            panic!()
        };
        assert_eq!(second.instruction, "ADD");
    }

    #[test]
    fn what_docker_decides_is_left_to_docker() {
        let template = "FROM {{ base }}\nARG D=x\nCOPY $D /x\nCOPY --from={{ base }} /nope /x\n\
                        ADD https://example.com/f /f\nCOPY <<EOF /f\nhi\nEOF\nCOPY {a,b}* /x\nCOPY **/x /x\n";
        assert_eq!(missing(template, &["a.txt"]), Vec::<String>::new());
        assert!(missing("FROM scratch\nCOPY nope* /x\n", &["a.txt"]) == ["nope*"]);
    }

    #[test]
    fn a_step_folder_path_hints_at_the_subfolder_layout() {
        let found = problems("FROM scratch\nCOPY deps/packages /p\n", &["packages/apt"]);
        let Problem::SourceMissing(m) = &found[0] else {
            panic!()
        };
        assert!(m.help.contains("layout=\"subfolder\""), "{}", m.help);
    }

    #[test]
    fn an_undeclared_image_name_is_a_render_problem() {
        let found = problems("FROM {{ other }}\n", &[]);
        assert!(matches!(found[..], [Problem::Render(_)]), "{found:?}");
    }

    #[test]
    fn a_line_changed_by_rendering_is_found_by_its_text() {
        let template = "FROM {{ base }}\n{% if true %}COPY gone /x{% endif %}\n";
        let found = problems(template, &[]);
        let Problem::SourceMissing(m) = &found[0] else {
            panic!()
        };
        let offset = m.span.offset();
        assert_eq!(&template[offset..offset + 4], "gone");
    }

    #[test]
    fn a_secret_the_step_does_not_declare_is_reported_at_its_mount() {
        let template = "FROM {{ base }}\nRUN --mount=type=secret,id=token --mount=type=cache,target=/c \\\n    --mount=type=secret,id=netrc,target=/root/.netrc make\n";
        let found = problems(template, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        let Problem::SecretUndeclared(undeclared) = &found[0] else {
            panic!("{:?}", found[0])
        };
        assert_eq!(undeclared.id, "netrc");
        let offset = undeclared.span.offset();
        assert_eq!(
            &template[offset..offset + undeclared.span.len()],
            "type=secret,id=netrc,target=/root/.netrc"
        );
        assert!(
            undeclared.help.contains("it declares token"),
            "{}",
            undeclared.help
        );
    }

    #[test]
    fn secret_ids_of_mounts() {
        assert_eq!(secret_id("type=secret,id=a"), Some("a"));
        assert_eq!(secret_id("id=a,type=secret,required=true"), Some("a"));
        assert_eq!(secret_id("type=cache,id=a,target=/c"), None);
        assert_eq!(secret_id("type=secret,target=/run/x"), None);
    }

    #[test]
    fn a_dockerfile_starting_with_a_byte_order_mark_is_checked_without_a_panic() {
        let template = "\u{feff}FROM {{ base }}\nCOPY »missing /x\n";
        let found = problems(template, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        let Problem::SourceMissing(missing) = &found[0] else {
            panic!("{:?}", found[0])
        };
        let offset = missing.span.offset();
        assert_eq!(&template[offset..offset + missing.span.len()], "»missing");
    }
}
