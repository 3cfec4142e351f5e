//! The names a check's `run` template looks up, found by minijinja's own parser
//! (`Template::undeclared_variables`), and where each is written: in the template, and
//! in the KDL string that holds it.

use std::ops::Range;

use miette::SourceSpan;
use minijinja::Environment;

/// The one top-level name a check's `run` template has.
pub const ENTITY: &str = "entity";

/// What `entity` holds besides the metadata fields.
pub const BUILT_IN_FIELDS: &[&str] = &["key", "dir", "host_dir", "path"];

/// The names `template` looks up without defining them (`{% set %}`, loop variables
/// are its own) that are no global of minijinja (`range`, `dict`, …), each as the chain
/// of its attribute lookups (`entity.dri` is `["entity", "dri"]`), sorted. A template
/// that does not parse is minijinja's error.
pub fn lookups(template: &str) -> Result<Vec<Vec<String>>, minijinja::Error> {
    let env = Environment::new();
    let parsed = env.template_from_str(template)?;
    let mut found: Vec<Vec<String>> = parsed
        .undeclared_variables(true)
        .into_iter()
        .map(|name| name.split('.').map(str::to_owned).collect::<Vec<_>>())
        .filter(|path| !env.globals().any(|(global, _)| global == path[0]))
        .collect();
    found.sort();
    Ok(found)
}

/// The bytes of `template` where `path[last]` is written in the first lookup of
/// `path[..=last]` inside a tag (`dri` of `{{ entity.dri }}`); `None` if it is not
/// written as a plain chain of attributes.
pub fn locate(template: &str, path: &[String], last: usize) -> Option<Range<usize>> {
    let path = path.get(..=last)?;
    for tag in super::template::tags(template) {
        let inside = &template[tag.clone()];
        let tokens = tokens(inside);
        let is = |token: Option<&Token>, name: &str| matches!(token, Some(Token::Name(range)) if inside[range.clone()] == *name);
        for i in 0..tokens.len() {
            let root = i == 0 || tokens[i - 1] != Token::Dot;
            if !root || !is(tokens.get(i), &path[0]) {
                continue;
            }
            // `root . a . b`: names at i, i + 2, …, dots between.
            let chain = (1..path.len()).all(|n| {
                tokens.get(i + 2 * n - 1) == Some(&Token::Dot)
                    && is(tokens.get(i + 2 * n), &path[n])
            });
            if chain && let Some(Token::Name(at)) = tokens.get(i + 2 * (path.len() - 1)) {
                return Some(tag.start + at.start..tag.start + at.end);
            }
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Name(Range<usize>),
    Dot,
    Other,
}

/// The names and dots of a tag's inside, string literals skipped.
fn tokens(tag: &str) -> Vec<Token> {
    let b = tag.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != quote {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push(Token::Other);
            }
            b'.' => {
                out.push(Token::Dot);
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Token::Name(start..i));
            }
            c if c.is_ascii_digit() => {
                // A number, with its decimal point: `1.5` is no lookup.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
                out.push(Token::Other);
            }
            _ => {
                out.push(Token::Other);
                i += 1;
            }
        }
    }
    out
}

/// Where bytes `range` of a string argument are written in the KDL file `text`, the
/// argument holding `value` and written at `written`: exactly, when the value is
/// written as it is (no escapes); else where those bytes' text first appears in the
/// argument; else the whole argument.
pub fn span_in_argument(
    text: &str,
    written: SourceSpan,
    value: &str,
    range: Range<usize>,
) -> SourceSpan {
    let start = written.offset();
    let Some(raw) = text.get(start..start + written.len()) else {
        return written;
    };
    // `"…"`, `#"…"#` or a bare identifier.
    let open = raw.bytes().take_while(|&c| c == b'#').count()
        + usize::from(raw.trim_start_matches('#').starts_with('"'));
    if raw.get(open..).is_some_and(|rest| rest.starts_with(value)) {
        return (start + open + range.start, range.len()).into();
    }
    match value.get(range.clone()).and_then(|needle| raw.find(needle)) {
        Some(at) if !range.is_empty() => (start + at, range.len()).into(),
        _ => written,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(dotted: &str) -> Vec<String> {
        dotted.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn lookups_are_what_the_template_does_not_define() {
        assert_eq!(
            lookups("{{ entity.dir }}/{{ entiti.key }}").unwrap(),
            [path("entiti.key"), path("entity.dir")]
        );
        assert_eq!(
            lookups("{% set x = entity.key %}{% for i in range(2) %}{{ x }}{{ i }}{{ loop.index }}{% endfor %}")
                .unwrap(),
            [path("entity.key")],
            "set and loop variables and globals are the template's own"
        );
        assert_eq!(lookups("{{ entity['a b'] }}").unwrap(), [path("entity")]);
        assert!(lookups("{{ entity.dir ").is_err());
    }

    #[test]
    fn names_are_located_in_tags_not_in_text_or_strings() {
        let t = "entity.dri {{ \"entity.dri\" }} {{ x.entity.dri }} {{ entity . dri }}";
        let at = locate(t, &path("entity.dri"), 1).unwrap();
        assert_eq!(&t[at.clone()], "dri");
        assert_eq!(at.start, t.rfind("dri").unwrap());
        let at = locate("{{ entiti.key }}", &path("entiti.key"), 0).unwrap();
        assert_eq!(at, 3..9);
        assert_eq!(locate("{{ entity['dri'] }}", &path("entity.dri"), 1), None);
        assert_eq!(
            locate("{{ 1.5 }}{{ entity.dri }}", &path("entity.dri"), 1),
            Some(19..22)
        );
    }

    #[test]
    fn spans_land_on_the_name_in_the_kdl_argument() {
        let kdl = "run \"sh\" \"-c\" \"echo {{ entity.dri }}\"";
        let written: SourceSpan = (14, kdl.len() - 14).into();
        let value = "echo {{ entity.dri }}";
        let span = span_in_argument(kdl, written, value, 15..18);
        assert_eq!(&kdl[span.offset()..span.offset() + span.len()], "dri");

        let raw = "run #\"echo \"{{ entity.dri }}\"\"#";
        let value = "echo \"{{ entity.dri }}\"";
        let span = span_in_argument(raw, (4, raw.len() - 4).into(), value, 16..19);
        assert_eq!(&raw[span.offset()..span.offset() + span.len()], "dri");

        // With an escape before it, the name is found by its text.
        let escaped = "run \"a\\tb {{ entity.dri }}\"";
        let value = "a\tb {{ entity.dri }}";
        let span = span_in_argument(escaped, (4, escaped.len() - 4).into(), value, 14..17);
        assert_eq!(&escaped[span.offset()..span.offset() + span.len()], "dri");
    }
}
