//! Parsing KDL text, turning the parser's errors into kiln diagnostics that name the file.

use kdl::KdlDocument;

use super::error::ConfigError;
use super::source::SourceFile;

/// Parses a file as KDL v2; on failure, one diagnostic per problem the parser found.
pub fn parse(file: &SourceFile) -> Result<KdlDocument, Vec<ConfigError>> {
    KdlDocument::parse_v2(&file.text).map_err(|error| {
        error
            .diagnostics
            .into_iter()
            .map(|d| ConfigError::Syntax {
                src: file.named(),
                span: d.span,
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
