//! Parsing KDL text, turning the parser's errors into kiln diagnostics that name the file.

use kdl::KdlDocument;
use miette::SourceSpan;

use super::error::ConfigError;
use crate::model::SourceFile;

/// Parses a file as KDL v2; on failure, one diagnostic per problem the parser found.
pub fn parse(file: &SourceFile) -> Result<KdlDocument, Vec<ConfigError>> {
    KdlDocument::parse_v2(&file.text).map_err(|error| {
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

/// The parser sometimes reports a span from the start of an enclosing node to where it
/// gave up; pointing at where it gave up is what the user needs.
fn narrow(text: &str, span: SourceSpan) -> SourceSpan {
    let end = span.offset() + span.len();
    match text.get(span.offset()..end) {
        Some(covered) if covered.contains('\n') => SourceSpan::from((end, 0)),
        _ => span,
    }
}
