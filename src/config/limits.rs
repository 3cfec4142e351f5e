//! Limits on the text kiln reads, so that no input — a configuration file, an entity's
//! metadata file — can crash it or keep it busy for minutes.
//!
//! The KDL parser (kdl 6) recurses: once per `{ … }` level, once per `/* … */` level and
//! piece of a block comment, and once per place where it gives up and resumes after a
//! syntax error. Deep input overflows the stack, which aborts the process and cannot be
//! caught. So, before a KDL text reaches the parser:
//!
//! - its size is limited when it is read ([`read_limited`]);
//! - [`scan`] walks it once, knowing strings and comments, and refuses `{ … }` blocks or
//!   block comments nested deeper than [`MAX_NESTING`], naming the place;
//! - [`parse_kdl`] then bounds from above the stack the parser can need, from counts that
//!   do not depend on how the text splits into strings (every `{` and every punctuation
//!   character: a parser that resumes inside what should have been a string still sees
//!   only those), and runs the parser on a thread with that much stack; a text that would
//!   need more than [`MAX_PARSER_STACK`] is refused.

use std::io::Read;
use std::path::Path;

use kdl::{KdlDocument, KdlError};
use thiserror::Error;

/// The largest configuration file (`kiln.kdl`, `flavor.kdl`, a workflow file) kiln reads.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// The largest entity metadata file (YAML, JSON or KDL) kiln reads.
pub const MAX_METADATA_BYTES: u64 = 1024 * 1024;
/// How deep `{ … }` blocks, and `/* … */` comments, may nest in a KDL file.
pub const MAX_NESTING: usize = 64;
/// The widest line of a configuration file, in columns as a diagnostic draws them (a
/// tab up to 4, a character beyond ASCII up to 2): miette's renderer panics on a label
/// past column 65,535, and a diagnostic shows its line whole.
pub const MAX_LINE_COLUMNS: usize = 32 * 1024;
/// The most configuration errors one load reports; the rest are counted.
pub const MAX_ERRORS: usize = 100;
/// The most stack kiln gives the KDL parser (reserved address space: only what the
/// parser touches is used).
pub const MAX_PARSER_STACK: usize = 1024 * 1024 * 1024;

/// Parser stack per `{` and per other punctuation character, with a margin over what
/// kdl 6.7 was measured to use (an optimised build needs ~6.7 KiB per `{` level and at
/// most ~1.2 KiB per punctuation character; an unoptimised one ~34 KiB and ~7.1 KiB).
#[cfg(not(debug_assertions))]
const STACK_BASE: usize = 256 * 1024;
#[cfg(not(debug_assertions))]
const STACK_PER_BRACE: usize = 10 * 1024;
#[cfg(not(debug_assertions))]
const STACK_PER_PUNCT: usize = 2 * 1024;
#[cfg(debug_assertions)]
const STACK_BASE: usize = 1024 * 1024;
#[cfg(debug_assertions)]
const STACK_PER_BRACE: usize = 48 * 1024;
#[cfg(debug_assertions)]
const STACK_PER_PUNCT: usize = 10 * 1024;

/// Why a text was refused before parsing.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LimitError {
    #[error("the file is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },

    #[error("{what} nest {depth} deep at line {line}, more than the limit of {limit}")]
    TooDeep {
        what: Nesting,
        depth: usize,
        limit: usize,
        /// Byte offset of the opening that went past the limit.
        offset: usize,
        line: usize,
    },

    #[error(
        "the file holds {punctuation} punctuation characters ({braces} of them `{{`), more than kiln's KDL parser can take safely"
    )]
    TooComplex { punctuation: usize, braces: usize },

    #[error("the KDL parser failed: {0}")]
    ParserFailed(String),
}

/// What nests too deep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// `{ … }` children blocks.
    Blocks,
    /// `/* … */` comments inside each other.
    Comments,
}

impl std::fmt::Display for Nesting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Nesting::Blocks => "`{ … }` blocks",
            Nesting::Comments => "`/* … */` comments",
        })
    }
}

/// Reads `path` as UTF-8 text of at most `limit` bytes. The outer error is the file's
/// (missing, unreadable, not UTF-8, not a regular file); the inner one says it is too
/// large. Never reads more than `limit + 1` bytes, whatever the file is.
pub fn read_limited(path: &Path, limit: u64) -> std::io::Result<Result<String, LimitError>> {
    let not_a_file = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file");
    // Before opening: opening a FIFO waits for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_a_file());
    }
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_a_file());
    }
    if meta.len() > limit {
        return Ok(Err(LimitError::TooLarge {
            size: meta.len(),
            limit,
        }));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        // It grew while we read it.
        return Ok(Err(LimitError::TooLarge {
            size: bytes.len() as u64,
            limit,
        }));
    }
    String::from_utf8(bytes)
        .map(Ok)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Parses `text` as KDL v2 within the limits above: the outer error refuses the text
/// before parsing, the inner one is the parser's.
pub fn parse_kdl(text: &str) -> Result<Result<KdlDocument, KdlError>, LimitError> {
    if text.len() as u64 > MAX_CONFIG_BYTES.max(MAX_METADATA_BYTES) {
        return Err(LimitError::TooLarge {
            size: text.len() as u64,
            limit: MAX_CONFIG_BYTES.max(MAX_METADATA_BYTES),
        });
    }
    scan(text)?;
    let stack = parser_stack(text)?;
    std::thread::scope(|scope| {
        let parser = std::thread::Builder::new()
            .name("kiln-kdl".to_owned())
            .stack_size(stack)
            .spawn_scoped(scope, || KdlDocument::parse_v2(text))
            .map_err(|e| LimitError::ParserFailed(format!("cannot start its thread: {e}")))?;
        parser
            .join()
            .map_err(|_| LimitError::ParserFailed("it panicked".to_owned()))
    })
}

/// The stack the parser may need for `text`: an upper bound from counts that hold
/// whatever the parser makes of the text, or `TooComplex` beyond [`MAX_PARSER_STACK`].
fn parser_stack(text: &str) -> Result<usize, LimitError> {
    let mut braces = 0usize;
    let mut punctuation = 0usize;
    for c in text.chars() {
        if c == '{' {
            braces += 1;
        }
        if c.is_ascii_punctuation()
            || (c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r'))
            || (!c.is_ascii() && !c.is_alphanumeric())
        {
            punctuation += 1;
        }
    }
    let need = braces
        .checked_mul(STACK_PER_BRACE)
        .and_then(|b| punctuation.checked_mul(STACK_PER_PUNCT)?.checked_add(b))
        .and_then(|n| n.checked_add(STACK_BASE));
    match need {
        Some(need) if need <= MAX_PARSER_STACK => Ok(need),
        _ => Err(LimitError::TooComplex {
            punctuation,
            braces,
        }),
    }
}

/// The first line of `text` wider than [`MAX_LINE_COLUMNS`] (lines as a diagnostic
/// counts them, at each `\n`): its number, from 1, and its width, counted as wide as a
/// diagnostic could draw it.
pub fn wide_line(text: &str) -> Option<(usize, usize)> {
    text.split('\n').enumerate().find_map(|(index, line)| {
        // Bytes are an upper bound of the columns until a line could be too wide.
        if line.len() <= MAX_LINE_COLUMNS / 4 {
            return None;
        }
        let columns: usize = line
            .chars()
            .map(|c| match c {
                '\t' => 4,
                c if c.is_ascii() => 1,
                _ => 2,
            })
            .sum();
        (columns > MAX_LINE_COLUMNS).then_some((index + 1, columns))
    })
}

/// Refuses `{ … }` blocks or `/* … */` comments nested deeper than [`MAX_NESTING`],
/// reading strings, raw strings and comments the way KDL v2 does (a single-line string
/// ends at the line's end at the latest).
pub fn scan(text: &str) -> Result<(), LimitError> {
    let b = text.as_bytes();
    let too_deep = |what, depth, offset| LimitError::TooDeep {
        what,
        depth,
        limit: MAX_NESTING,
        offset,
        line: line_of(text, offset),
    };
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i = skip_quoted(b, i),
            b'#' => {
                let hashes = b[i..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + hashes) == Some(&b'"') {
                    i = skip_raw(b, i + hashes, hashes);
                } else {
                    i += hashes;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p + 1);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut nest = 0usize;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        nest += 1;
                        if nest > MAX_NESTING {
                            return Err(too_deep(Nesting::Comments, nest, i));
                        }
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        nest -= 1;
                        i += 2;
                        if nest == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep(Nesting::Blocks, depth, i));
                }
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Past the quoted string starting at `start` (`"…"` or `"""…"""`).
fn skip_quoted(b: &[u8], start: usize) -> usize {
    let multiline = b[start..].starts_with(b"\"\"\"");
    let mut i = start + if multiline { 3 } else { 1 };
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' if !multiline => return i + 1,
            b'"' if b[i..].starts_with(b"\"\"\"") => return i + 3,
            b'\n' | b'\r' if !multiline => return i,
            _ => i += 1,
        }
    }
    b.len()
}

/// Past the raw string whose quote is at `quote`, after `hashes` `#`.
fn skip_raw(b: &[u8], quote: usize, hashes: usize) -> usize {
    let multiline = b[quote..].starts_with(b"\"\"\"");
    let close: &[u8] = if multiline { b"\"\"\"" } else { b"\"" };
    let mut i = quote + close.len();
    while i < b.len() {
        if !multiline && matches!(b[i], b'\n' | b'\r') {
            return i;
        }
        if b[i..].starts_with(close) {
            let end = i + close.len();
            let closing = b[end..].iter().take(hashes).take_while(|&&c| c == b'#');
            if closing.count() == hashes {
                return end + hashes;
            }
        }
        i += 1;
    }
    b.len()
}

/// 1-based line of byte `offset`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&c| c == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str) -> Option<(Nesting, usize)> {
        match scan(text) {
            Err(LimitError::TooDeep { what, offset, .. }) => Some((what, offset)),
            _ => None,
        }
    }

    #[test]
    fn nesting_up_to_the_limit_passes() {
        let text = "a{".repeat(MAX_NESTING) + &"}".repeat(MAX_NESTING);
        assert_eq!(scan(&text), Ok(()));
        assert!(parse_kdl(&text).unwrap().is_ok());
    }

    #[test]
    fn one_level_more_is_refused_at_its_brace() {
        let text = "a{".repeat(MAX_NESTING + 1) + &"}".repeat(MAX_NESTING + 1);
        assert_eq!(
            depth_error(&text),
            Some((Nesting::Blocks, 2 * MAX_NESTING + 1))
        );
    }

    #[test]
    fn braces_in_strings_and_comments_do_not_count() {
        let braces = "{".repeat(200);
        for text in [
            format!("a \"{braces}\""),
            format!("a \"\"\"\n{braces}\n\"\"\""),
            format!("a #\"{braces}\"#"),
            format!("a ##\"\"\"\n\"#{braces}\n\"\"\"##"),
            format!("a // {braces}\n"),
            format!("a /* {braces} */"),
            format!("a \"\\\"{braces}\""),
        ] {
            assert_eq!(scan(&text), Ok(()), "{text}");
            assert!(parse_kdl(&text).unwrap().is_ok(), "{text}");
        }
    }

    #[test]
    fn a_string_ends_at_its_line_for_counting() {
        // Invalid KDL; the parser may resume after the line, so the braces count.
        let text = format!("a \"x\n{}", "b{".repeat(MAX_NESTING + 1));
        assert!(depth_error(&text).is_some());
    }

    #[test]
    fn nested_comments_are_limited() {
        let text = "/*".repeat(MAX_NESTING + 1) + &"*/".repeat(MAX_NESTING + 1);
        assert_eq!(
            depth_error(&text),
            Some((Nesting::Comments, 2 * MAX_NESTING))
        );
    }

    #[test]
    fn garbage_is_refused_or_parsed_never_overflows() {
        // Each of these makes the parser recurse once per repetition.
        for piece in ["}", ")", "=", "a=", "*/", "/*", "\u{feff}", "(a)=", "1)"] {
            let text = piece.repeat(20_000);
            match parse_kdl(&text) {
                Ok(parsed) => assert!(parsed.is_err(), "{piece}"),
                Err(LimitError::TooDeep { .. } | LimitError::TooComplex { .. }) => {}
                Err(other) => panic!("{piece}: {other}"),
            }
        }
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.kdl");
        std::fs::write(&file, "a 1\n").unwrap();
        assert_eq!(read_limited(&file, 4).unwrap(), Ok("a 1\n".to_owned()));
        assert_eq!(
            read_limited(&file, 3).unwrap(),
            Err(LimitError::TooLarge { size: 4, limit: 3 })
        );
        // A device never ends; a folder is no file.
        assert!(read_limited(Path::new("/dev/zero"), 10).is_err());
        assert!(read_limited(dir.path(), 10).is_err());
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
