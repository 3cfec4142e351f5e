//! Output of builds and checks, made fit to show: the tails kept in memory go to the
//! console, results files and reports, so terminal escape sequences (colours, window
//! titles) and other control characters are dropped from them. The full logs keep the
//! bytes as they came.

use std::collections::VecDeque;

/// How many lines of output a build failure or a check result shows.
pub const TAIL_LINES: usize = 20;

/// The longest line kept from a stream of bytes ([`Tail::push`]); longer lines are cut.
pub const MAX_LINE: usize = 4096;

/// `line` without ANSI escape sequences and control characters (tabs are kept).
pub fn printable(line: &str) -> String {
    console::strip_ansi_codes(line)
        .chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect()
}

/// The last lines of some output, made [`printable`]: fed whole lines
/// ([`Tail::line`]) or a stream of bytes ([`Tail::push`], lines cut at [`MAX_LINE`]).
#[derive(Debug)]
pub struct Tail {
    lines: VecDeque<String>,
    max: usize,
    /// Bytes of a line not ended by a newline yet.
    partial: Vec<u8>,
}

impl Default for Tail {
    /// The last [`TAIL_LINES`] lines.
    fn default() -> Self {
        Self::new(TAIL_LINES)
    }
}

impl Tail {
    /// Keeps the last `max` lines (none when `max` is 0).
    pub fn new(max: usize) -> Self {
        Self {
            lines: VecDeque::with_capacity(max.min(1024)),
            max,
            partial: Vec::new(),
        }
    }

    /// Keeps `line`, a whole line, dropping the oldest when full.
    pub fn line(&mut self, line: &str) {
        if self.max == 0 {
            return;
        }
        if self.lines.len() == self.max {
            self.lines.pop_front();
        }
        self.lines.push_back(printable(line));
    }

    /// Keeps the lines `bytes` ends, and the start of one it leaves open.
    pub fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                let line = String::from_utf8_lossy(&self.partial).into_owned();
                self.partial.clear();
                self.line(&line);
            } else if self.partial.len() < MAX_LINE {
                self.partial.push(byte);
            }
        }
    }

    /// Ends a line the output left unfinished (so a note of kiln's starts a line of
    /// its own, without an empty line before it).
    pub fn end_line(&mut self) {
        if !self.partial.is_empty() {
            self.push(b"\n");
        }
    }

    /// The lines kept, one per line; a line left unfinished is not among them
    /// ([`Tail::finish`] ends it).
    pub fn text(&self) -> String {
        self.lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// The lines kept, with a line left unfinished ended.
    pub fn finish(mut self) -> String {
        self.end_line();
        self.text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines_and_cuts_long_ones() {
        let mut tail = Tail::new(2);
        tail.push(b"one\ntw");
        tail.push(b"o\nthree\nfour");
        assert_eq!(tail.finish(), "three\nfour");
        let mut tail = Tail::new(1);
        tail.push(&vec![b'x'; MAX_LINE * 2]);
        assert_eq!(tail.finish().len(), MAX_LINE);
        let mut tail = Tail::new(0);
        tail.push(b"one\ntwo");
        assert_eq!(tail.finish(), "");
    }

    #[test]
    fn whole_lines_are_kept_printable_up_to_the_bound() {
        let mut tail = Tail::default();
        for n in 0..TAIL_LINES + 3 {
            tail.line(&format!("\u{1b}[31mline {n}\u{1b}[0m"));
        }
        let text = tail.text();
        assert_eq!(text.lines().count(), TAIL_LINES);
        assert_eq!(text.lines().next(), Some("line 3"));
        assert!(text.ends_with(&format!("line {}", TAIL_LINES + 2)));
    }

    #[test]
    fn a_note_starts_its_own_line_without_an_empty_one() {
        let mut tail = Tail::new(5);
        tail.push(b"done\n");
        tail.end_line();
        tail.push(b"note\n");
        assert_eq!(tail.finish(), "done\nnote");
        let mut tail = Tail::new(5);
        tail.push(b"half");
        tail.end_line();
        tail.push(b"note\n");
        assert_eq!(tail.finish(), "half\nnote");
    }

    #[test]
    fn colours_titles_and_control_characters_are_dropped() {
        assert_eq!(printable("\u{1b}[91moops\u{1b}[0m"), "oops");
        assert_eq!(printable("\u{1b}]0;title\u{7}after"), "after");
        assert_eq!(printable("a\tb\u{8}c\r"), "a\tbc");
        assert_eq!(printable("plain ünïcode"), "plain ünïcode");
    }
}
