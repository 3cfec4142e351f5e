//! A failed build shown at its place: the instruction the builder failed at, found in
//! the step's Dockerfile as written (or as rendered, when templating changed its line),
//! so the error points at the file and line instead of repeating the instruction.
//!
//! The builders name the failing instruction by its text (`Step 3/5 : RUN make`,
//! `[3/5] RUN make`); kiln finds it among the Dockerfile's instructions by that text.
//! The instructions are split here rather than by `parse-dockerfile`, which gives no
//! span of a whole instruction.

use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

use crate::docker::DockerError;

use super::error::{BuildError, InstructionFailed};
use super::preflight;

/// `error` (a failed build of `image`) as a diagnostic pointing into the Dockerfile
/// when the instruction it names is found there; else `error` as it is.
pub fn at_instruction(
    error: DockerError,
    template: &str,
    template_shown: &str,
    rendered: &str,
) -> BuildError {
    let DockerError::BuildFailed {
        tag,
        instruction: Some(instruction),
        message,
        tail,
    } = error
    else {
        return error.into();
    };
    let Some(found) = find(rendered, &instruction) else {
        return DockerError::BuildFailed {
            tag,
            instruction: Some(instruction),
            message,
            tail,
        }
        .into();
    };
    let (text, shown, start) = match in_template(template, rendered, found.start) {
        Some(start) => (template, template_shown.to_owned(), start),
        None => (
            rendered,
            format!("{template_shown} (rendered)"),
            found.start,
        ),
    };
    let line = text[..start].matches('\n').count() + 1;
    let len = text[start..].find('\n').unwrap_or(text.len() - start);
    BuildError::InstructionFailed(Box::new(InstructionFailed {
        image: tag,
        place: format!("{shown}:{line}"),
        message,
        tail,
        src: NamedSource::new(shown, Arc::new(text.to_owned())),
        span: SourceSpan::from((start, len)),
    }))
}

/// An instruction of a Dockerfile: where it starts, and its text with continuation
/// lines joined and whitespace collapsed.
#[derive(Debug, PartialEq)]
struct Instruction {
    start: usize,
    text: String,
}

/// The first instruction of `dockerfile` whose text is `wanted`'s.
fn find(dockerfile: &str, wanted: &str) -> Option<Instruction> {
    let wanted = normalized(wanted);
    instructions(dockerfile)
        .into_iter()
        .find(|i| i.text.eq_ignore_ascii_case(&wanted) || same_but_keyword_case(&i.text, &wanted))
}

/// `run make` and `RUN make` are one instruction.
fn same_but_keyword_case(a: &str, b: &str) -> bool {
    match (a.split_once(' '), b.split_once(' ')) {
        (Some((ka, ra)), Some((kb, rb))) => ka.eq_ignore_ascii_case(kb) && ra == rb,
        _ => false,
    }
}

fn instructions(dockerfile: &str) -> Vec<Instruction> {
    let mut found = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut offset = 0;
    for line in dockerfile.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        let trimmed = content.trim_start();
        if current.is_none() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if current.is_some() && trimmed.starts_with('#') {
            // A comment inside a continued instruction is dropped by Docker.
            continue;
        }
        let (continued, part) = match content.trim_end().strip_suffix('\\') {
            Some(part) => (true, part),
            None => (false, content),
        };
        let entry =
            current.get_or_insert_with(|| (start + (content.len() - trimmed.len()), String::new()));
        entry.1.push_str(part);
        entry.1.push(' ');
        if !continued && let Some((start, text)) = current.take() {
            found.push(Instruction {
                start,
                text: normalized(&text),
            });
        }
    }
    if let Some((start, text)) = current {
        found.push(Instruction {
            start,
            text: normalized(&text),
        });
    }
    found
}

fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where the instruction starting at `start` of `rendered` starts in `template` (see
/// [`preflight::locate`], by its first line).
fn in_template(template: &str, rendered: &str, start: usize) -> Option<usize> {
    let line = rendered[start..].split('\n').next().unwrap_or_default();
    if line.trim().is_empty() {
        return None;
    }
    preflight::locate(template, rendered, start..start + line.len(), line).map(|s| s.offset())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(instruction: &str) -> DockerError {
        DockerError::BuildFailed {
            tag: "kiln:x".to_owned(),
            instruction: Some(instruction.to_owned()),
            message: "exit code: 3".to_owned(),
            tail: String::new(),
        }
    }

    fn place(error: BuildError) -> Option<(String, String)> {
        match error {
            BuildError::InstructionFailed(f) => {
                let start = f.span.offset();
                let text = f.src.inner()[start..start + f.span.len()].to_owned();
                Some((f.place, text))
            }
            _ => None,
        }
    }

    #[test]
    fn the_failing_instruction_is_found_at_its_line_in_the_template() {
        let template = "FROM {{ base }}\n# build\nRUN echo a \\\n    && exit 3\nRUN echo b\n";
        let rendered = "FROM kiln:base_1\n# build\nRUN echo a \\\n    && exit 3\nRUN echo b\n";
        let error = at_instruction(
            failed("RUN echo a     && exit 3"),
            template,
            "flavors/f/s/Dockerfile",
            rendered,
        );
        assert_eq!(
            place(error),
            Some((
                "flavors/f/s/Dockerfile:3".to_owned(),
                "RUN echo a \\".to_owned()
            ))
        );
    }

    #[test]
    fn a_line_templating_changed_is_shown_as_rendered() {
        let template = "FROM scratch\nCOPY {{ file }} /x\n";
        let rendered = "FROM scratch\nCOPY a.txt /x\n";
        let error = at_instruction(failed("COPY a.txt /x"), template, "D", rendered);
        assert_eq!(
            place(error),
            Some(("D (rendered):2".to_owned(), "COPY a.txt /x".to_owned()))
        );
    }

    #[test]
    fn an_instruction_not_in_the_dockerfile_stays_as_the_builder_said() {
        let error = at_instruction(failed("RUN other"), "FROM scratch\n", "D", "FROM scratch\n");
        assert!(matches!(
            error,
            BuildError::Docker(DockerError::BuildFailed { .. })
        ));
    }

    #[test]
    fn instructions_skip_comments_and_join_continuations() {
        let found = instructions("# c\n\n  RUN a \\\n  # inner\n  b\nCOPY x y");
        assert_eq!(
            found,
            vec![
                Instruction {
                    start: 7,
                    text: "RUN a b".to_owned()
                },
                Instruction {
                    start: 29,
                    text: "COPY x y".to_owned()
                }
            ]
        );
    }
}
