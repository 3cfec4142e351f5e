//! Parsing KDL text, turning the parser's errors into kiln diagnostics that name the file.

use kdl::KdlDocument;
use miette::SourceSpan;

use super::error::ConfigError;
use super::limits::{self, LimitError, Nesting};
use crate::model::SourceFile;

/// Parses a file as KDL v2 within [`limits`]; on failure, one diagnostic per problem the
/// parser found, or the one limit the text exceeds.
pub fn parse(file: &SourceFile) -> Result<KdlDocument, Vec<ConfigError>> {
    // Before anything could point into such a line: no diagnostic of the file is drawn.
    if let Some((line, columns)) = limits::wide_line(&file.text) {
        return Err(vec![ConfigError::LineTooLong {
            path: file.display.clone(),
            line,
            columns,
            limit: limits::MAX_LINE_COLUMNS,
        }]);
    }
    let parsed = limits::parse_kdl(&file.text).map_err(|limit| vec![refused(file, limit)])?;
    parsed.map_err(|error| {
        error
            .diagnostics
            .into_iter()
            .map(|d| ConfigError::Syntax {
                src: file.named(),
                span: narrow(&file.text, d.span),
                message: d.message.unwrap_or_else(|| "invalid KDL".to_owned()),
                label: d.label.unwrap_or_else(|| "here".to_owned()),
                help: d.help.unwrap_or_else(|| {
                    "kiln reads KDL v2: strings in quotes, booleans as #true/#false (https://kdl.dev)"
                        .to_owned()
                }),
            })
            .collect()
    })
}

/// The diagnostic for a text refused before parsing.
fn refused(file: &SourceFile, limit: LimitError) -> ConfigError {
    match limit {
        LimitError::TooDeep {
            what,
            depth,
            limit,
            offset,
            ..
        } => ConfigError::TooDeep {
            src: file.named(),
            span: SourceSpan::from((offset, if what == Nesting::Blocks { 1 } else { 2 })),
            what: what.to_string(),
            depth,
            limit,
            help: match what {
                Nesting::Blocks => format!(
                    "kiln files need a few levels (flavor → step → …); `{{ … }}` blocks may nest at most {limit} deep: close the blocks you opened"
                ),
                Nesting::Comments => format!(
                    "close each `/*` with `*/`; block comments may nest at most {limit} deep"
                ),
            },
        },
        other => ConfigError::TooComplex {
            path: file.display.clone(),
            source: other,
        },
    }
}

/// The parser sometimes reports a span from the start of an enclosing node to where it
/// gave up; pointing at where it gave up is what the user needs.
fn narrow(text: &str, span: SourceSpan) -> SourceSpan {
    let end = span.offset() + span.len();
    match text.get(span.offset()..end) {
        Some(covered) if covered.contains('\n') => SourceSpan::from((end, 0)),
        _ => span,
    }
}
