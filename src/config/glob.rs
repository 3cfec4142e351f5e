//! Globs users write — a check's `entities` and `artifacts`, a step's `ignore`, the
//! flavor pattern of a workflow task or of `--flavor` — limited before they are compiled.
//!
//! globset turns each `{a,b}` into a regex group; nested deep enough (about 125 levels,
//! a 600-byte glob), the regex parser's nesting limit refuses the regex and
//! `Glob::compile_matcher` panics ("regex compilation shouldn't fail"). kiln never calls
//! `compile_matcher`: [`matcher`] checks the limits below, then compiles through a
//! `GlobSet`, which returns any remaining failure as an error.

use globset::{Glob, GlobSet, GlobSetBuilder};
use thiserror::Error;

/// The longest glob kiln compiles.
pub const MAX_GLOB_BYTES: usize = 1024;
/// How deep `{…}` alternatives may nest inside each other in a glob.
pub const MAX_GLOB_NESTING: usize = 16;

/// Why a glob cannot be used.
#[derive(Debug, Error)]
pub enum GlobError {
    #[error("the glob is {len} bytes long, more than {MAX_GLOB_BYTES}")]
    TooLong { len: usize },

    #[error("its `{{…}}` alternatives nest {depth} deep, more than {MAX_GLOB_NESTING}")]
    TooDeep { depth: usize },

    /// globset refused it (syntax, or a regex too large).
    #[error("{}", .0.kind())]
    Invalid(globset::Error),
}

impl GlobError {
    /// A help line saying what globs may be.
    pub fn help(&self) -> String {
        match self {
            GlobError::TooLong { .. } | GlobError::TooDeep { .. } => format!(
                "globs are at most {MAX_GLOB_BYTES} bytes with `{{…}}` nested at most {MAX_GLOB_NESTING} deep; list the alternatives flat, e.g. `{{a,b,c}}`"
            ),
            GlobError::Invalid(_) => "globs use `*`, `**`, `?`, `[abc]` and `{a,b}`".to_owned(),
        }
    }
}

/// Checks `pattern` against [`MAX_GLOB_BYTES`] and [`MAX_GLOB_NESTING`] without
/// parsing it (`\` escapes the next character; `[…]` holds literal braces).
pub fn check(pattern: &str) -> Result<(), GlobError> {
    if pattern.len() > MAX_GLOB_BYTES {
        return Err(GlobError::TooLong { len: pattern.len() });
    }
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' => {
                if matches!(chars.peek(), Some('!' | '^')) {
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                }
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
            }
            '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_GLOB_NESTING {
        return Err(GlobError::TooDeep { depth: deepest });
    }
    Ok(())
}

/// `pattern` parsed (not compiled), within the limits.
pub fn parse(pattern: &str) -> Result<Glob, GlobError> {
    check(pattern)?;
    Glob::new(pattern).map_err(GlobError::Invalid)
}

/// `pattern` compiled into a matcher, within the limits; never panics.
pub fn matcher(pattern: &str) -> Result<GlobSet, GlobError> {
    let glob = parse(pattern)?;
    GlobSetBuilder::new()
        .add(glob)
        .build()
        .map_err(GlobError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        let mut glob = "a".to_owned();
        for _ in 0..levels {
            glob = format!("{{a,{glob}}}");
        }
        glob
    }

    #[test]
    fn a_glob_within_the_limits_matches() {
        let m = matcher("data/**/{meta,metadata}.{yml,json}").unwrap();
        assert!(m.is_match("data/x/y/meta.yml"));
        assert!(!m.is_match("data/x/y/meta.txt"));
        assert!(matcher(&nested(MAX_GLOB_NESTING)).unwrap().is_match("a"));
    }

    #[test]
    fn deep_alternatives_are_refused_not_a_panic() {
        assert!(matches!(
            matcher(&nested(MAX_GLOB_NESTING + 1)),
            Err(GlobError::TooDeep { depth }) if depth == MAX_GLOB_NESTING + 1
        ));
        // 160 levels: the case globset's compile_matcher panics on.
        assert!(matches!(
            matcher(&nested(160)),
            Err(GlobError::TooLong { .. } | GlobError::TooDeep { .. })
        ));
    }

    #[test]
    fn escaped_and_class_braces_do_not_nest() {
        let escaped = "\\{".repeat(40) + "a";
        assert!(check(&escaped).is_ok());
        let class = "[{]".repeat(40);
        assert!(check(&class).is_ok());
    }

    #[test]
    fn long_globs_are_refused() {
        let long = "a".repeat(MAX_GLOB_BYTES + 1);
        assert!(matches!(matcher(&long), Err(GlobError::TooLong { .. })));
    }

    #[test]
    fn syntax_errors_stay_errors() {
        assert!(matches!(matcher("{a,b"), Err(GlobError::Invalid(_))));
    }
}
