//! Limits on the templates kiln renders with minijinja (a check's `run` arguments,
//! Dockerfiles), checked before minijinja parses them.
//!
//! minijinja's parser limits how deep brackets and blocks nest (150), but not how long
//! a chain of operators is: `{{ ---…-1 }}` or `{{ x|f|f|…|f }}` with a few thousand links
//! overflows the stack. So each `{{ … }}` / `{% … %}` tag is limited in length and in
//! bracket nesting, and blocks (`{% if %}`, `{% for %}`, …) in nesting.
//!
//! What a template does when it runs is not limited here: a loop over
//! `range(100000)` inside another still renders for a long time.

use thiserror::Error;

/// The largest template kiln renders.
pub const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;
/// The longest `{{ … }}` or `{% … %}` tag.
pub const MAX_TAG_BYTES: usize = 512;
/// How deep `(`, `[` and `{` may nest inside one tag, and blocks inside each other.
pub const MAX_TEMPLATE_NESTING: usize = 32;

/// Why a template is refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TemplateLimit {
    #[error("the template is {size} bytes, more than {MAX_TEMPLATE_BYTES}")]
    TooLarge { size: usize },

    #[error("a tag is {len} bytes long, more than {MAX_TAG_BYTES}")]
    TagTooLong { offset: usize, len: usize },

    #[error("brackets nest {depth} deep in a tag, more than {MAX_TEMPLATE_NESTING}")]
    BracketsTooDeep { offset: usize, depth: usize },

    #[error("blocks nest {depth} deep, more than {MAX_TEMPLATE_NESTING}")]
    BlocksTooDeep { offset: usize, depth: usize },
}

impl TemplateLimit {
    /// Byte offset in the template of the tag concerned (0 for the whole template).
    pub fn offset(&self) -> usize {
        match self {
            TemplateLimit::TooLarge { .. } => 0,
            TemplateLimit::TagTooLong { offset, .. }
            | TemplateLimit::BracketsTooDeep { offset, .. }
            | TemplateLimit::BlocksTooDeep { offset, .. } => *offset,
        }
    }
}

/// Block tags that a matching `{% end… %}` closes.
const BLOCKS: &[&str] = &[
    "if",
    "for",
    "macro",
    "call",
    "filter",
    "with",
    "block",
    "autoescape",
];

/// Checks `text` against the limits above.
pub fn check(text: &str) -> Result<(), TemplateLimit> {
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateLimit::TooLarge { size: text.len() });
    }
    let b = text.as_bytes();
    let mut blocks = 0usize;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'{' {
            i += 1;
            continue;
        }
        let close: &[u8] = match b[i + 1] {
            b'{' => b"}}",
            b'%' => b"%}",
            b'#' => {
                // A comment: nothing inside is parsed.
                i = find(b, i + 2, b"#}").map_or(b.len(), |end| end + 2);
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i;
        let end = tag_end(b, start, close)?;
        if end - start > MAX_TAG_BYTES {
            return Err(TemplateLimit::TagTooLong {
                offset: start,
                len: end - start,
            });
        }
        if close == b"%}" {
            let body = String::from_utf8_lossy(&b[start + 2..end.saturating_sub(2).max(start + 2)]);
            let body = body.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
            let word = body.split_whitespace().next().unwrap_or_default();
            let opens = BLOCKS.contains(&word) || (word == "set" && !body.contains('='));
            if opens {
                blocks += 1;
                if blocks > MAX_TEMPLATE_NESTING {
                    return Err(TemplateLimit::BlocksTooDeep {
                        offset: start,
                        depth: blocks,
                    });
                }
            } else if word.starts_with("end") {
                blocks = blocks.saturating_sub(1);
            }
        }
        i = end;
    }
    Ok(())
}

/// The `{{ … }}` and `{% … %}` tags of `text`, each as the byte range of its inside
/// (between the brackets); comments left out. A tag past the limits of [`check`] ends
/// the list.
pub fn tags(text: &str) -> Vec<std::ops::Range<usize>> {
    let b = text.as_bytes();
    let mut tags = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        let close: &[u8] = match (b[i], b[i + 1]) {
            (b'{', b'{') => b"}}",
            (b'{', b'%') => b"%}",
            (b'{', b'#') => {
                i = find(b, i + 2, b"#}").map_or(b.len(), |end| end + 2);
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let Ok(end) = tag_end(b, i, close) else {
            break;
        };
        let inner_end = if b[..end].ends_with(close) {
            end - 2
        } else {
            end
        };
        tags.push(i + 2..inner_end.max(i + 2));
        i = end;
    }
    tags
}

/// Past the tag opening at `start`: its `close` outside string literals and brackets
/// (the end of the text if there is none); fails on brackets nested too deep.
fn tag_end(b: &[u8], start: usize, close: &[u8]) -> Result<usize, TemplateLimit> {
    let mut depth = 0usize;
    let mut i = start + 2;
    while i < b.len() {
        if depth == 0 && b[i..].starts_with(close) {
            return Ok(i + 2);
        }
        match b[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != quote {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_TEMPLATE_NESTING {
                    return Err(TemplateLimit::BracketsTooDeep {
                        offset: start,
                        depth,
                    });
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(b.len())
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_templates_pass() {
        for t in [
            "{{ entity.dir }}/run.sh",
            "FROM {{ base }}\nRUN echo {{ images[\"a-b\"] }}\n",
            "{% if x %}{% for a in b %}{{ a }}{% endfor %}{% endif %}",
            "{{ {'a': {'b': 1}} }}",
            "{{ \"}}\" }}",
            "{# {{ ((((( #}",
            "{% set x = 1 %}{% set y = 2 %}",
            "plain { text } without tags",
        ] {
            assert_eq!(check(t), Ok(()), "{t}");
        }
    }

    #[test]
    fn long_operator_chains_are_refused() {
        let t = format!("{{{{ {}1 }}}}", "-".repeat(5000));
        assert!(matches!(check(&t), Err(TemplateLimit::TagTooLong { .. })));
        let t = format!("{{{{ 1{} }}}}", "|string".repeat(1000));
        assert!(matches!(check(&t), Err(TemplateLimit::TagTooLong { .. })));
    }

    #[test]
    fn deep_brackets_and_blocks_are_refused() {
        let t = format!("{{{{ {}1{} }}}}", "(".repeat(40), ")".repeat(40));
        assert!(matches!(
            check(&t),
            Err(TemplateLimit::BracketsTooDeep { depth: 33, .. })
        ));
        let t = "{% if x %}".repeat(40) + &"{% endif %}".repeat(40);
        assert!(matches!(
            check(&t),
            Err(TemplateLimit::BlocksTooDeep { depth: 33, .. })
        ));
    }

    #[test]
    fn tags_are_found_without_comments() {
        let t = "run {{ entity.dir }} {# {{ no }} #}{% if x %}\"}}\"{% endif %}{{ \"}}\" }}";
        let inner: Vec<&str> = tags(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(
            inner,
            [" entity.dir ", " if x ", " endif ", " \"}}\" "],
            "{t}"
        );
        assert_eq!(tags("{{ open"), vec![2..7]);
    }

    #[test]
    fn a_quote_inside_hides_the_end() {
        let t = format!("{{{{ \"}}}}\" {} }}}}", "-".repeat(600));
        assert!(matches!(check(&t), Err(TemplateLimit::TagTooLong { .. })));
    }
}
