//! Text kiln did not write, on its way to a terminal: an entity's output and log, and
//! what a fetched result or a partition's results file says (keys, checks, dates,
//! paths). Printed raw, such text could set the terminal's title (OSC 0), clear it
//! (`ESC[2J`), hide a link behind other words (OSC 8), move the cursor over kiln's own
//! lines, or ring the bell; every place that prints it to the console goes through
//! [`printable`], and so does every value of the HTML page (`cat index.html` is a
//! terminal too, and a control character is no HTML).
//!
//! Escape sequences are parsed by `vte` (alacritty's parser, which `strip-ansi-escapes`
//! wraps; that crate drops tabs, which output keeps), so a sequence goes whole, its
//! parameters and text with it, however it is terminated.

use std::borrow::Cow;

/// What replaces a control character.
const REPLACEMENT: char = '\u{FFFD}';

/// `text` as it may reach a terminal: escape sequences (colours, cursor moves, OSC
/// titles and links, DCS strings) removed, `\r` dropped (it would let a line overwrite
/// its own start), every other control character but `\n` and `\t` — NUL, BEL, C1
/// controls, DEL — shown as U+FFFD. Text with none of those is returned as it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Cow::Borrowed(text);
    }
    let mut out = Printable(String::with_capacity(text.len()));
    vte::Parser::new().advance(&mut out, text.as_bytes());
    Cow::Owned(out.0)
}

/// What a parser hands on: printable characters and control bytes; the sequences it
/// recognised (`csi_dispatch`, `osc_dispatch` …) are left to the trait's defaults,
/// which drop them.
struct Printable(String);

impl vte::Perform for Printable {
    fn print(&mut self, c: char) {
        // DEL arrives here.
        self.0.push(if c.is_control() { REPLACEMENT } else { c });
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' => self.0.push('\n'),
            b'\t' => self.0.push('\t'),
            b'\r' => {}
            // The other C0 controls, and C1 controls (U+0080–U+009F) as their byte.
            _ => self.0.push(REPLACEMENT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_stays_as_it_is() {
        for text in ["", "ok\n", "a\tb\nc", "é ü 漢字 🙂", "[2J not an escape"] {
            assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn escapes_go_and_controls_show() {
        let cases = [
            ("\x1b]0;pwned\x07title", "title"),
            ("\x1b]0;pwned\x1b\\st", "st"),
            ("\x1b[2Jcleared", "cleared"),
            ("\x1b[31mred\x1b[0m", "red"),
            (
                "\x1b]8;;https://evil.example\x1b\\docs\x1b]8;;\x1b\\",
                "docs",
            ),
            ("\x1bPq#0;2;0;0;0\x1b\\sixel", "sixel"),
            ("nul\0bel\x07bs\x08", "nul\u{FFFD}bel\u{FFFD}bs\u{FFFD}"),
            ("c1 \u{9b}31m csi", "c1 \u{FFFD}31m csi"),
            ("del\x7f", "del\u{FFFD}"),
            ("line\r\nover\rwrite", "line\noverwrite"),
            ("tab\tand\nnewline", "tab\tand\nnewline"),
            // Cut off inside a sequence: the rest goes, nothing raw stays.
            ("end \x1b]0;never terminated", "end "),
            ("end \x1b[", "end "),
        ];
        for (raw, shown) in cases {
            assert_eq!(printable(raw), shown, "{raw:?}");
        }
    }
}
